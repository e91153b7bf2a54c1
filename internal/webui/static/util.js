// Small helpers for the views: escaping, formatting, agents' URLs.

const ESC = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
export const esc = s => String(s ?? '').replace(/[&<>"']/g, c => ESC[c]);
export const v = id => id?.value ?? '';

// html is a tagged template that escapes its values, except those made by
// raw (or arrays of them).
export class Raw { constructor(s) { this.s = s; } toString() { return this.s; } }
export const raw = s => new Raw(s);
export function html(strings, ...vals) {
  let out = strings[0];
  vals.forEach((x, i) => {
    if (Array.isArray(x)) out += x.map(y => (y instanceof Raw ? y.s : esc(y))).join('');
    else out += x instanceof Raw ? x.s : esc(x);
    out += strings[i + 1];
  });
  return raw(out);
}

export function num(x, digits = 2) {
  if (x === undefined || x === null || Number.isNaN(x)) return '–';
  return Number.isInteger(x) ? String(x) : x.toFixed(digits).replace(/\.?0+$/, '');
}

// mb formats megabytes (Mesos's unit of mem and disk).
export function mb(x) {
  if (x === undefined || x === null) return '–';
  if (x >= 1024 * 1024) return `${num(x / 1024 / 1024, 1)} TB`;
  if (x >= 1024) return `${num(x / 1024, 1)} GB`;
  return `${num(x, 0)} MB`;
}

export function bytes(x) {
  if (x === undefined || x === null) return '–';
  return x >= 1024 * 1024 ? mb(x / 1024 / 1024) : x >= 1024 ? `${num(x / 1024, 1)} KB` : `${x} B`;
}

// res formats a scalar resource by name.
export const res = (name, x) => (name === 'mem' || name === 'disk' ? mb(x) : num(x));

export function when(secs) {
  if (!secs) return '–';
  const d = new Date(secs * 1000);
  return d.toLocaleString();
}

export function ago(secs) {
  if (!secs) return '–';
  const s = Math.max(0, Date.now() / 1000 - secs);
  if (s < 60) return `${Math.round(s)}s ago`;
  if (s < 3600) return `${Math.round(s / 60)}m ago`;
  if (s < 86400) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

// agentBase is the base URL of an agent from its libprocess pid
// ("slave(1)@host:port"), or its info's hostname and port.
export function agentBase(agent) {
  const pid = agent?.pid || '';
  const at = pid.indexOf('@');
  const hostport = at >= 0 ? pid.slice(at + 1) : `${agent?.agent_info?.hostname}:${agent?.agent_info?.port || 5051}`;
  return `${location.protocol}//${hostport}`;
}

export const nanos = t => (t?.nanoseconds ? t.nanoseconds / 1e9 : 0);

// lastTimestamp is the time of a task's latest status update, in seconds.
export function lastTimestamp(t) {
  const st = t.statuses || [];
  return st.length ? st[st.length - 1].timestamp || 0 : 0;
}

// executorOf is the ID of a task's executor: its own for a command task.
export const executorOf = t => v(t.executor_id) || v(t.task_id);
