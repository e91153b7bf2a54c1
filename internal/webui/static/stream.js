// The operator event stream: one SUBSCRIBE on the master's /api/v1, in
// JSON with RecordIO framing ("<length>\n<json>"), read incrementally.

// RecordIO splits a byte stream into records: push chunks, get records.
export class RecordIO {
  constructor() { this.buf = new Uint8Array(0); this.dec = new TextDecoder(); }
  push(chunk) {
    const b = new Uint8Array(this.buf.length + chunk.length);
    b.set(this.buf); b.set(chunk, this.buf.length);
    this.buf = b;
    const out = [];
    for (;;) {
      const nl = this.buf.indexOf(10);
      if (nl < 0) break;
      const n = Number(this.dec.decode(this.buf.subarray(0, nl)).trim());
      if (!Number.isInteger(n) || n < 0) throw new Error('bad RecordIO length');
      if (this.buf.length < nl + 1 + n) break;
      out.push(this.dec.decode(this.buf.subarray(nl + 1, nl + 1 + n)));
      this.buf = this.buf.slice(nl + 1 + n);
    }
    return out;
  }
}

// subscribe keeps a SUBSCRIBE stream open for ever: it calls onEvent with
// each event, onStatus(text, live) when the connection changes, and
// reconnects after the stream ends or fails. On a standby master (307) it
// moves the page to the leader through /master/redirect.
export function subscribe(onEvent, onStatus) {
  let backoff = 500;
  const loop = async () => {
    for (;;) {
      const ctl = new AbortController();
      let watchdog;
      try {
        onStatus('connecting…', false);
        const resp = await fetch('/api/v1', {
          method: 'POST', redirect: 'manual', signal: ctl.signal, cache: 'no-store',
          headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
          body: JSON.stringify({ type: 'SUBSCRIBE' }),
        });
        if (resp.type === 'opaqueredirect' || (resp.status >= 300 && resp.status < 400)) {
          onStatus('following the leader…', false);
          location.href = '/master/redirect' + location.hash;
          return;
        }
        if (!resp.ok) {
          const text = (await resp.text()).slice(0, 200);
          throw new Error(`${resp.status} ${text || resp.statusText}`);
        }
        const reader = resp.body.getReader();
        const rio = new RecordIO();
        let heartbeat = 15;
        const arm = () => {
          clearTimeout(watchdog);
          watchdog = setTimeout(() => ctl.abort(), heartbeat * 3000);
        };
        arm();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          arm();
          for (const rec of rio.push(value)) {
            const ev = JSON.parse(rec);
            if (ev.type === 'SUBSCRIBED') {
              heartbeat = ev.subscribed?.heartbeat_interval_seconds || heartbeat;
              backoff = 500;
              onStatus('live', true);
            }
            onEvent(ev);
          }
        }
        throw new Error('the stream ended');
      } catch (err) {
        onStatus(`disconnected (${err.message || err}); retrying`, false);
      } finally {
        clearTimeout(watchdog);
        ctl.abort();
      }
      await new Promise(r => setTimeout(r, backoff));
      backoff = Math.min(backoff * 2, 10000);
    }
  };
  loop();
}

let jsonpSeq = 0;

// jsonp GETs url (another origin: an agent) as JSONP, as Mesos's web UI
// reads agents, and resolves with the value.
export function jsonp(url, timeoutMs = 10000) {
  return new Promise((resolve, reject) => {
    const name = `__mesoJSONP${++jsonpSeq}`;
    const s = document.createElement('script');
    const done = () => { clearTimeout(t); delete window[name]; s.remove(); };
    const t = setTimeout(() => { done(); reject(new Error(`timed out: ${url}`)); }, timeoutMs);
    window[name] = v => { done(); resolve(v); };
    s.onerror = () => { done(); reject(new Error(`failed: ${url}`)); };
    s.src = url + (url.includes('?') ? '&' : '?') + 'jsonp=' + name;
    document.head.appendChild(s);
  });
}
