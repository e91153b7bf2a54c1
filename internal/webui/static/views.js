// The pages. Each view is a function (root, model, params) that renders
// into root and returns {update(), stop()}: update re-renders what the
// model changes, stop ends the view's timers.

import { TERMINAL, scalars, reservedScalars } from './model.js';
import { jsonp } from './stream.js';
import { html, raw, esc, v, num, mb, bytes, res, when, ago, agentBase, nanos, lastTimestamp, executorOf } from './util.js';

const SCALARS = ['cpus', 'mem', 'disk', 'gpus'];

function table(head, rows, empty = 'None.') {
  if (!rows.length) return html`<p class="muted">${empty}</p>`;
  return html`<div class="scroll"><table><thead><tr>${head.map(h =>
    h.startsWith('#') ? html`<th class="num">${h.slice(1)}</th>` : h.startsWith('~') ? html`<th class="hide-sm">${h.slice(1)}</th>` : html`<th>${h}</th>`)}</tr></thead>
    <tbody>${rows}</tbody></table></div>`;
}

async function getJSON(url) {
  const resp = await fetch(url, { headers: { Accept: 'application/json' }, cache: 'no-store' });
  const text = await resp.text();
  if (!resp.ok) {
    const e = new Error(`${resp.status} ${text.trim() || resp.statusText}`);
    e.status = resp.status;
    throw e;
  }
  return JSON.parse(text);
}

// poll calls f now and every ms until stopped.
function poll(f, ms) {
  let stopped = false, timer;
  const run = async () => {
    try { await f(); } catch (e) { console.debug(e); }
    if (!stopped) timer = setTimeout(run, ms);
  };
  run();
  return () => { stopped = true; clearTimeout(timer); };
}

const fwName = (m, id) => m.frameworks.get(id)?.framework_info?.name || id;
const agentName = (m, id) => m.agents.get(id)?.agent_info?.hostname || id;
const fwRoles = info => info.roles?.length ? info.roles : [info.role || '*'];

const stateTag = s => html`<span class="state ${s || ''}">${s || '–'}</span>`;

function sandboxLink(t) {
  return html`<a href="#/sandbox/${v(t.agent_id)}/${v(t.framework_id)}/${encodeURIComponent(executorOf(t))}">sandbox</a>`;
}

function taskRows(m, tasks) {
  return tasks.map(t => {
    const s = scalars(t.resources), fid = v(t.framework_id), aid = v(t.agent_id);
    return html`<tr data-task-id="${v(t.task_id)}">
      <td class="wrap hide-sm"><code>${v(t.task_id)}</code></td><td class="wrap">${t.name || v(t.task_id)}</td><td>${stateTag(t.state)}</td>
      <td><a href="#/frameworks/${fid}">${fwName(m, fid)}</a></td>
      <td>${aid ? html`<a href="#/agents/${aid}">${agentName(m, aid)}</a>` : '–'}</td>
      <td class="num">${num(s.cpus)}</td><td class="num">${mb(s.mem)}</td>
      <td class="hide-sm">${ago(lastTimestamp(t))}</td><td>${aid ? sandboxLink(t) : ''}</td></tr>`;
  });
}
const TASK_HEAD = ['~ID', 'Name', 'State', 'Framework', 'Agent', '#CPUs', '#Mem', '~Updated', ''];

function sortTasks(list) {
  return list.sort((a, b) => (TERMINAL.has(a.state) - TERMINAL.has(b.state)) || (lastTimestamp(b) - lastTimestamp(a)));
}

// ---- overview

function chart(history) {
  const W = 600, H = 140;
  if (history.length < 2) return html`<p class="muted">Collecting samples…</p>`;
  const t0 = history[0].t, t1 = history[history.length - 1].t || t0 + 1;
  const line = (key, tot) => history.map(p => {
    const x = ((p.t - t0) / Math.max(1, t1 - t0)) * W;
    const y = H - (p[tot] ? (p[key] / p[tot]) * (H - 4) : 0) - 2;
    return `${x.toFixed(1)},${y.toFixed(1)}`;
  }).join(' ');
  const last = history[history.length - 1];
  return html`<svg viewBox="0 0 ${W} ${H}" preserveAspectRatio="none" role="img"
      aria-label="Used CPUs and memory, as a share of the cluster, over the last ${Math.round((t1 - t0) / 1000)} seconds">
    <line x1="0" y1="${H - 2}" x2="${W}" y2="${H - 2}" stroke="currentColor" stroke-opacity=".2"/>
    <polyline class="used-cpus" fill="none" stroke-width="2" vector-effect="non-scaling-stroke" points="${line('cpus', 'cpusTotal')}"/>
    <polyline class="used-mem" fill="none" stroke-width="2" vector-effect="non-scaling-stroke" points="${line('mem', 'memTotal')}"/>
  </svg>
  <div class="legend"><span class="c">CPUs ${num(last.cpus)} of ${num(last.cpusTotal)}</span>
  · <span class="m">mem ${mb(last.mem)} of ${mb(last.memTotal)}</span> · 100% at the top</div>`;
}

function sumRoles(roles, key) {
  const out = {};
  for (const r of roles || []) for (const [k, x] of Object.entries(r[key] || {})) out[k] = (out[k] || 0) + x;
  return out;
}

export function overview(root, m) {
  root.innerHTML = html`<h1>Cluster</h1><div class="cards" id="ov-cards"></div>
    <h2>Resources</h2><div id="ov-res"></div>
    <h2>Used over time</h2><div class="card chart" id="ov-chart"></div>
    <h2>By role</h2><div id="ov-roles"><p class="muted">Loading…</p></div>`.s;
  let roles = null;
  const update = () => {
    const tasks = [...m.tasks.values()];
    const count = s => tasks.filter(t => t.state === s).length;
    const fws = [...m.frameworks.values()].filter(f => !f.completed);
    const card = (n, l) => html`<div class="card" data-card="${l}"><div class="n">${n}</div><div class="l">${l}</div></div>`;
    root.querySelector('#ov-cards').innerHTML = html`${card(m.agents.size, 'agents')}
      ${card(fws.filter(f => f.active).length + ' / ' + fws.length, 'frameworks active')}
      ${card(count('TASK_RUNNING'), 'tasks running')}
      ${card(count('TASK_STAGING') + count('TASK_STARTING'), 'tasks staging')}
      ${card(count('TASK_FINISHED'), 'tasks finished')}
      ${card(tasks.filter(t => TERMINAL.has(t.state) && t.state !== 'TASK_FINISHED').length, 'tasks failed, killed or lost')}`.s;
    const total = m.total(), used = m.used(), offered = roles ? sumRoles(roles, 'offered') : null;
    const reserved = {};
    for (const a of m.agents.values()) {
      for (const r of Object.values(reservedScalars(a.total_resources || a.agent_info.resources))) {
        for (const [k, x] of Object.entries(r)) reserved[k] = (reserved[k] || 0) + x;
      }
    }
    const names = SCALARS.filter(n => total[n] || n === 'cpus' || n === 'mem');
    root.querySelector('#ov-res').innerHTML = table(['Resource', '#Total', '#Used', '#Offered', '#Reserved', '#Idle'],
      names.map(n => html`<tr data-resource="${n}"><td>${n}</td><td class="num">${res(n, total[n] || 0)}</td>
        <td class="num">${res(n, used[n] || 0)}</td><td class="num">${offered ? res(n, offered[n] || 0) : '…'}</td>
        <td class="num">${res(n, reserved[n] || 0)}</td>
        <td class="num">${res(n, Math.max(0, (total[n] || 0) - (used[n] || 0) - (offered?.[n] || 0)))}</td></tr>`)).s;
    root.querySelector('#ov-chart').innerHTML = chart(m.history).s;
    if (roles) root.querySelector('#ov-roles').innerHTML = rolesTable(roles).s;
  };
  const stop = poll(async () => { roles = (await getJSON('/roles')).roles; update(); }, 5000);
  update();
  return { update, stop };
}

function quotaText(q, key) {
  const e = Object.entries(q?.[key] || {});
  return e.length ? e.map(([k, x]) => `${k}:${res(k, x)}`).join(', ') : '–';
}

function rolesTable(roles) {
  const fmt = o => SCALARS.filter(n => o?.[n]).map(n => `${n}:${res(n, o[n])}`).join(', ') || '–';
  return table(['Role', '#Weight', 'Frameworks', 'Allocated', 'Offered', 'Reserved', 'Quota guarantee', 'Quota limit', 'Consumed'],
    roles.map(r => html`<tr data-role="${r.name}"><td>${r.name}</td><td class="num">${num(r.weight)}</td>
      <td class="num">${(r.frameworks || []).length}</td><td>${fmt(r.allocated)}</td><td>${fmt(r.offered)}</td>
      <td>${fmt(r.reserved)}</td><td>${quotaText(r.quota, 'guarantee')}</td><td>${quotaText(r.quota, 'limit')}</td>
      <td>${quotaText(r.quota, 'consumed')}</td></tr>`), 'No roles yet.');
}

export function roles(root) {
  root.innerHTML = html`<h1>Roles</h1><p class="muted">Weights and quota are set with the operator API
    (UPDATE_WEIGHTS, UPDATE_QUOTA) or <code>/weights</code> and <code>/quota</code>.</p><div id="roles-table"><p class="muted">Loading…</p></div>`.s;
  const stop = poll(async () => {
    try {
      root.querySelector('#roles-table').innerHTML = rolesTable((await getJSON('/roles')).roles).s;
    } catch (e) {
      root.querySelector('#roles-table').innerHTML = html`<p class="notice bad">Cannot read /roles: ${e.message}</p>`.s;
    }
  }, 5000);
  return { update() {}, stop };
}

// ---- frameworks

export function frameworks(root, m) {
  root.innerHTML = '<h1>Frameworks</h1><div id="fw-list"></div>';
  const update = () => {
    const list = [...m.frameworks.values()].sort((a, b) => (a.completed - b.completed) || nanos(b.registered_time) - nanos(a.registered_time));
    root.querySelector('#fw-list').innerHTML = table(['Name', 'ID', 'Roles', 'Principal', 'Status', '#Tasks', '#CPUs', '#Mem', 'Registered'],
      list.map(f => {
        const info = f.framework_info, id = v(info.id);
        const u = m.used(t => v(t.framework_id) === id);
        const n = [...m.tasks.values()].filter(t => v(t.framework_id) === id && !TERMINAL.has(t.state)).length;
        const status = f.completed ? 'completed' : f.active ? 'active' : f.connected ? 'inactive' : 'disconnected';
        return html`<tr data-framework-id="${id}"><td><a href="#/frameworks/${id}">${info.name || id}</a></td><td><code>${id}</code></td>
          <td>${fwRoles(info).join(', ')}</td><td>${info.principal || '–'}</td>
          <td class="${f.active ? 'ok' : f.completed ? 'muted' : 'warn'}">${status}</td>
          <td class="num">${n}</td><td class="num">${num(u.cpus || 0)}</td><td class="num">${mb(u.mem || 0)}</td>
          <td>${when(nanos(f.registered_time))}</td></tr>`;
      }), 'No frameworks.').s;
  };
  update();
  return { update, stop() {} };
}

function explainView(x) {
  const reasons = (x.reasons || []).length
    ? html`<ul class="reasons">${x.reasons.map(r => html`<li data-code="${r.code}"><code>${r.code}</code> ${r.message}</li>`)}</ul>`
    : html`<p class="ok">Nothing holds this framework's offers back.</p>`;
  const roles = table(['Role', 'Offers', '#Weight', '#Dominant share', 'Role rank', 'Framework rank', 'Quota'],
    (x.roles || []).map(r => html`<tr data-role="${r.role}" data-suppressed="${!!r.suppressed}"><td>${r.role}</td>
      <td class="${r.suppressed ? 'bad' : 'ok'}">${r.suppressed ? 'suppressed' : 'wanted'}</td>
      <td class="num">${num(r.weight)}</td><td class="num">${num(r.dominant_share, 4)}</td>
      <td>${r.rank} of ${r.roles}</td><td>${r.framework_rank} of ${r.frameworks}</td>
      <td class="wrap">${r.quota ? `limits ${quotaText(r.quota, 'limits')}; consumed ${quotaText(r.quota, 'consumed')}${(r.quota.limit_reached || []).length ? '; limit reached: ' + r.quota.limit_reached.join(', ') : ''}` : '–'}</td></tr>`));
  const filters = table(['Agent', 'Role', 'Resources', 'Until'],
    (x.filters || []).map(f => html`<tr><td><a href="#/agents/${f.agent_id}">${f.hostname || f.agent_id}</a></td><td>${f.role}</td>
      <td class="wrap">${f.resources}</td><td>${when(f.until)}</td></tr>`), 'No active offer filters.');
  const agents = table(['Agent', 'Free', 'Why not offered'],
    (x.agents || []).map(a => html`<tr><td><a href="#/agents/${a.agent_id}">${a.hostname || a.agent_id}</a></td><td class="wrap">${a.free}</td>
      <td class="wrap">${(a.reasons || []).length ? a.reasons.map(r => html`<div><code>${r.code}</code> ${r.message}</div>`) : html`<span class="ok">can be offered</span>`}</td></tr>`), 'No agents.');
  const offers = table(['Offer', 'Agent', 'Role', 'Resources', 'Since'],
    (x.outstanding_offers || []).map(o => html`<tr><td><code>${o.offer_id}</code></td><td>${o.hostname || o.agent_id}</td><td>${o.role}</td>
      <td class="wrap">${o.resources}</td><td>${ago(o.since)}</td></tr>`), 'No outstanding offers.');
  return html`${reasons}<h3>Roles</h3>${roles}<h3>Offer filters</h3>${filters}<h3>Agents</h3>${agents}<h3>Outstanding offers</h3>${offers}`;
}

export function framework(root, m, [id]) {
  root.innerHTML = html`<h1>Framework <span id="fw-name"></span></h1><div id="fw-info"></div>
    <h2>Tasks</h2><div id="fw-tasks"></div>
    <h2>Why does it get the offers it gets? <button id="fw-explain-refresh" type="button">Refresh</button></h2>
    <div id="explain" aria-live="polite"><p class="muted">Asking the master…</p></div>`.s;
  const update = () => {
    const f = m.frameworks.get(id);
    if (!f) {
      root.querySelector('#fw-info').innerHTML = html`<p class="notice">${m.synced ? 'The master does not know this framework (any more).' : 'Loading…'}</p>`.s;
      return;
    }
    const info = f.framework_info;
    root.querySelector('#fw-name').textContent = info.name || id;
    root.querySelector('#fw-info').innerHTML = html`<dl class="kv">
      <dt>ID</dt><dd><code>${id}</code></dd><dt>Roles</dt><dd>${fwRoles(info).join(', ')}</dd>
      <dt>User</dt><dd>${info.user}</dd><dt>Principal</dt><dd>${info.principal || '–'}</dd>
      <dt>Status</dt><dd>${f.completed ? 'completed' : f.active ? 'active' : 'inactive'}${f.connected === false && !f.completed ? ', disconnected' : ''}</dd>
      <dt>Capabilities</dt><dd>${(info.capabilities || []).map(c => c.type).join(', ') || '–'}</dd>
      <dt>Registered</dt><dd>${when(nanos(f.registered_time))}</dd>
      <dt>Failover timeout</dt><dd>${info.failover_timeout ? num(info.failover_timeout) + ' s' : '–'}</dd>
      ${info.webui_url ? html`<dt>Web UI</dt><dd><a href="${info.webui_url}">${info.webui_url}</a></dd>` : ''}</dl>`.s;
    const tasks = sortTasks([...m.tasks.values()].filter(t => v(t.framework_id) === id));
    root.querySelector('#fw-tasks').innerHTML = table(TASK_HEAD, taskRows(m, tasks), 'No tasks.').s;
  };
  const el = root.querySelector('#explain');
  const explain = async () => {
    try {
      const x = await getJSON(`/master/explain/framework?framework=${encodeURIComponent(id)}`);
      el.innerHTML = explainView(x).s;
    } catch (e) {
      el.innerHTML = (e.status === 404
        ? html`<p class="notice" data-explain="404">The master has no explanation for this framework (404: ${e.message.replace(/^404\s*/, '')}). It may be gone, or the master may not offer the explainer.</p>`
        : html`<p class="notice bad">Cannot ask the master: ${e.message}</p>`).s;
    }
  };
  const stop = poll(explain, 5000);
  root.querySelector('#fw-explain-refresh').addEventListener('click', explain);
  update();
  return { update, stop };
}

// ---- agents

export function agents(root, m) {
  root.innerHTML = '<h1>Agents</h1><div id="ag-list"></div>';
  const update = () => {
    const list = [...m.agents.values()].sort((a, b) => a.agent_info.hostname.localeCompare(b.agent_info.hostname));
    root.querySelector('#ag-list').innerHTML = table(['Hostname', 'ID', 'Status', '#CPUs', '#Mem', '#Disk', '#Tasks', 'Registered'],
      list.map(a => {
        const id = v(a.agent_info.id), tot = scalars(a.total_resources || a.agent_info.resources);
        const u = m.used(t => v(t.agent_id) === id);
        const n = [...m.tasks.values()].filter(t => v(t.agent_id) === id && !TERMINAL.has(t.state)).length;
        return html`<tr data-agent-id="${id}"><td><a href="#/agents/${id}">${a.agent_info.hostname}</a></td><td><code>${id}</code></td>
          <td class="${a.active ? 'ok' : 'warn'}">${a.active ? 'active' : 'deactivated'}</td>
          <td class="num">${num(u.cpus || 0)} / ${num(tot.cpus || 0)}</td><td class="num">${mb(u.mem || 0)} / ${mb(tot.mem || 0)}</td>
          <td class="num">${mb(tot.disk || 0)}</td><td class="num">${n}</td><td>${when(nanos(a.registered_time))}</td></tr>`;
      }), 'No agents registered.').s;
  };
  update();
  return { update, stop() {} };
}

function attrText(a) {
  if (a.scalar) return num(a.scalar.value);
  if (a.text) return a.text.value;
  if (a.ranges) return a.ranges.range.map(r => `[${r.begin}-${r.end}]`).join(',');
  if (a.set) return `{${a.set.item.join(',')}}`;
  return '';
}

export function agent(root, m, [id]) {
  root.innerHTML = html`<h1>Agent <span id="ag-name"></span></h1><div id="ag-info"></div>
    <h2>Resources</h2><div id="ag-res"></div><h2>Attributes</h2><div id="ag-attrs"></div>
    <h2>Containers <span class="muted" id="ag-live"></span></h2><div id="ag-containers"><p class="muted">Asking the agent…</p></div>
    <h2>Tasks</h2><div id="ag-tasks"></div>`.s;
  let prev = new Map();
  const update = () => {
    const a = m.agents.get(id);
    if (!a) {
      root.querySelector('#ag-info').innerHTML = html`<p class="notice">${m.synced ? 'The master does not know this agent (any more).' : 'Loading…'}</p>`.s;
      return;
    }
    const info = a.agent_info;
    root.querySelector('#ag-name').textContent = info.hostname;
    root.querySelector('#ag-info').innerHTML = html`<dl class="kv"><dt>ID</dt><dd><code>${id}</code></dd>
      <dt>Address</dt><dd>${a.pid || ''}</dd><dt>Status</dt><dd>${a.active ? 'active' : 'deactivated'}</dd>
      <dt>Version</dt><dd>${a.version || '–'}</dd><dt>Registered</dt><dd>${when(nanos(a.registered_time))}</dd>
      <dt>Endpoints</dt><dd><a href="${agentBase(a)}/state">/state</a> · <a href="${agentBase(a)}/monitor/statistics">/monitor/statistics</a></dd></dl>`.s;
    const tot = scalars(a.total_resources || info.resources), u = m.used(t => v(t.agent_id) === id);
    const reserved = reservedScalars(a.total_resources || info.resources);
    root.querySelector('#ag-res').innerHTML = table(['Resource', '#Total', '#Used by tasks', 'Reserved'],
      Object.keys(tot).sort().map(n => html`<tr><td>${n}</td><td class="num">${res(n, tot[n])}</td><td class="num">${res(n, u[n] || 0)}</td>
        <td>${Object.entries(reserved).filter(([, r]) => r[n]).map(([role, r]) => `${role}: ${res(n, r[n])}`).join(', ') || '–'}</td></tr>`)).s;
    root.querySelector('#ag-attrs').innerHTML = table(['Name', 'Value'],
      (info.attributes || []).map(x => html`<tr><td>${x.name}</td><td>${attrText(x)}</td></tr>`), 'No attributes.').s;
    const tasks = sortTasks([...m.tasks.values()].filter(t => v(t.agent_id) === id));
    root.querySelector('#ag-tasks').innerHTML = table(TASK_HEAD, taskRows(m, tasks), 'No tasks.').s;
  };
  const stats = async () => {
    const a = m.agents.get(id);
    if (!a) return;
    const el = root.querySelector('#ag-containers');
    try {
      const list = await jsonp(`${agentBase(a)}/monitor/statistics`);
      const next = new Map();
      el.innerHTML = table(['Executor', 'Framework', 'Source', '#CPU use', '#CPU limit', '#Mem (RSS)', '#Mem limit', ''],
        list.map(c => {
          const s = c.statistics || {}, cpu = (s.cpus_user_time_secs || 0) + (s.cpus_system_time_secs || 0);
          const key = `${c.framework_id}/${c.executor_id}`;
          next.set(key, { cpu, t: s.timestamp });
          const p = prev.get(key);
          const use = p && s.timestamp > p.t ? (cpu - p.cpu) / (s.timestamp - p.t) : null;
          const t = { agent_id: { value: id }, framework_id: { value: c.framework_id }, executor_id: { value: c.executor_id } };
          return html`<tr data-executor-id="${c.executor_id}"><td class="wrap"><code>${c.executor_id}</code></td>
            <td><a href="#/frameworks/${c.framework_id}">${fwName(m, c.framework_id)}</a></td><td class="wrap">${c.source || '–'}</td>
            <td class="num">${use === null ? '…' : num(use, 3)}</td><td class="num">${num(s.cpus_limit)}</td>
            <td class="num">${bytes(s.mem_rss_bytes)}</td><td class="num">${bytes(s.mem_limit_bytes)}</td><td>${sandboxLink(t)}</td></tr>`;
        }), 'No containers running.').s;
      prev = next;
      root.querySelector('#ag-live').textContent = `(live from the agent, ${new Date().toLocaleTimeString()})`;
    } catch (e) {
      el.innerHTML = html`<p class="notice bad">Cannot read the agent's /monitor/statistics: ${e.message}</p>`.s;
    }
  };
  const stop = poll(stats, 2000);
  update();
  return { update, stop };
}

// ---- tasks

export function tasks(root, m, _args, query) {
  root.innerHTML = html`<h1>Tasks</h1>
    <form class="filters" id="tk-filters" role="search" onsubmit="return false">
      <label>State <select name="state"><option value="">any</option><option value="active">active</option>
        <option value="terminal">completed</option>
        ${['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING', 'TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED',
          'TASK_LOST', 'TASK_ERROR', 'TASK_DROPPED', 'TASK_UNREACHABLE', 'TASK_GONE'].map(s => html`<option>${s}</option>`)}</select></label>
      <label>Framework <select name="framework"><option value="">any</option></select></label>
      <label>Agent <select name="agent"><option value="">any</option></select></label>
      <label>Name or ID <input name="name" type="search" id="tk-name" placeholder="filter" autocomplete="off"></label>
    </form><div id="tk-count" class="muted" aria-live="polite"></div><div id="tk-list"></div>`.s;
  const form = root.querySelector('#tk-filters');
  for (const k of ['state', 'framework', 'agent', 'name']) if (query.get(k)) form.elements[k].value = query.get(k);
  const options = (sel, entries) => {
    const cur = sel.value;
    sel.innerHTML = html`<option value="">any</option>${entries.map(([val, label]) => html`<option value="${val}">${label}</option>`)}`.s;
    sel.value = cur;
  };
  const update = () => {
    const fs = [...m.frameworks.values()].map(f => [v(f.framework_info.id), f.framework_info.name || v(f.framework_info.id)]);
    if (query.get('framework') && !fs.some(([x]) => x === query.get('framework'))) fs.push([query.get('framework'), query.get('framework')]);
    options(form.elements.framework, fs);
    options(form.elements.agent, [...m.agents.values()].map(a => [v(a.agent_info.id), a.agent_info.hostname]));
    const f = Object.fromEntries(new FormData(form));
    const name = (f.name || '').toLowerCase();
    const list = sortTasks([...m.tasks.values()].filter(t =>
      (!f.state || (f.state === 'active' ? !TERMINAL.has(t.state) : f.state === 'terminal' ? TERMINAL.has(t.state) : t.state === f.state)) &&
      (!f.framework || v(t.framework_id) === f.framework) && (!f.agent || v(t.agent_id) === f.agent) &&
      (!name || (t.name || '').toLowerCase().includes(name) || v(t.task_id).toLowerCase().includes(name))));
    root.querySelector('#tk-count').textContent = `${list.length} of ${m.tasks.size} tasks${list.length > 500 ? ', the first 500 shown' : ''}`;
    root.querySelector('#tk-list').innerHTML = table(TASK_HEAD, taskRows(m, list.slice(0, 500)), 'No tasks match.').s;
  };
  form.addEventListener('input', update);
  update();
  return { update, stop() {} };
}

// ---- sandbox

const TAIL = 64 * 1024;

export function sandbox(root, m, [aid, fid, eid], query) {
  const rel = (query.get('path') || '').replace(/^\/+|\/+$/g, '');
  let file = query.get('file');
  root.innerHTML = html`<h1>Sandbox of <code>${eid}</code></h1>
    <p class="muted">Framework <a href="#/frameworks/${fid}">${fwName(m, fid)}</a> on agent <a href="#/agents/${aid}">${agentName(m, aid)}</a></p>
    <nav aria-label="Path" id="sb-crumbs"></nav><div id="sb-list"><p class="muted">Asking the agent…</p></div>
    <div id="sb-viewer"></div>`.s;
  const here = (p, f) => `#/sandbox/${aid}/${fid}/${encodeURIComponent(eid)}?` + new URLSearchParams(Object.entries({ path: p, ...(f ? { file: f } : {}) })).toString();
  let stopped = false, timer, base, dir;
  const start = async () => {
    const a = m.agents.get(aid);
    if (!a) {
      if (m.synced) root.querySelector('#sb-list').innerHTML = html`<p class="notice bad">The master does not know agent ${aid}.</p>`.s;
      return false;
    }
    base = agentBase(a);
    // The executor's directory, from the agent's /state (a running or
    // a completed executor); else the virtual path Mesos attaches.
    try {
      const st = await jsonp(`${base}/state`);
      for (const f of [...(st.frameworks || []), ...(st.completed_frameworks || [])]) {
        if (f.id !== fid) continue;
        for (const e of [...(f.executors || []), ...(f.completed_executors || [])]) if (e.id === eid) dir = dir || e.directory;
      }
    } catch (e) { console.debug(e); }
    dir = dir || `/frameworks/${fid}/executors/${eid}/runs/latest`;
    const path = rel ? `${dir}/${rel}` : dir;
    root.querySelector('#sb-crumbs').innerHTML = html`<a href="${here('')}">sandbox</a>${rel.split('/').filter(Boolean).map((seg, i, all) =>
      html` / <a href="${here(all.slice(0, i + 1).join('/'))}">${seg}</a>`)}`.s;
    let entries;
    try {
      entries = await jsonp(`${base}/files/browse?path=${encodeURIComponent(path)}`);
    } catch (e) {
      root.querySelector('#sb-list').innerHTML = html`<p class="notice bad">Cannot browse ${path} on the agent: ${e.message}</p>`.s;
      return true;
    }
    entries.sort((x, y) => x.path.localeCompare(y.path));
    root.querySelector('#sb-list').innerHTML = table(['Name', '#Size', 'Mode', 'Modified', ''], entries.map(e => {
      const name = e.path.slice(e.path.lastIndexOf('/') + 1), isDir = e.mode.startsWith('d');
      return html`<tr><td>${isDir ? html`<a href="${here(rel ? rel + '/' + name : name)}">${name}/</a>` : html`<a href="${here(rel, name)}">${name}</a>`}</td>
        <td class="num">${isDir ? '' : bytes(e.size)}</td><td><code>${e.mode}</code></td><td>${when(e.mtime)}</td>
        <td>${isDir ? '' : html`<a href="${base}/files/download?path=${encodeURIComponent(e.path)}" download>download</a>`}</td></tr>`;
    }), 'Empty directory.').s;
    if (!file && !rel && entries.some(e => e.path.endsWith('/stdout'))) file = 'stdout';
    if (file) view(`${path}/${file}`);
    return true;
  };
  const view = path => {
    const name = path.slice(path.lastIndexOf('/') + 1);
    const tabs = rel ? '' : html`<div class="tabs" role="group" aria-label="Log">${['stdout', 'stderr'].map(n =>
      html`<a class="tab" href="${here('', n)}" aria-current="${n === name ? 'page' : 'false'}">${n}</a>`)}</div>`;
    root.querySelector('#sb-viewer').innerHTML = html`<h2>${name} <span class="muted" id="sb-status"></span></h2>${tabs}
      <p><label><input type="checkbox" id="sb-follow" checked> follow</label>
      · <a href="${base}/files/download?path=${encodeURIComponent(path)}" download>download</a></p>
      <pre class="log" id="sb-log" tabindex="0" aria-label="${name}" aria-live="off"></pre>`.s;
    const pre = root.querySelector('#sb-log'), status = root.querySelector('#sb-status');
    let offset = -1;
    const tick = async () => {
      if (stopped) return;
      try {
        if (offset < 0) {
          const r = await jsonp(`${base}/files/read?path=${encodeURIComponent(path)}&offset=-1`);
          offset = Math.max(0, r.offset - TAIL);
          if (offset > 0) pre.textContent = `[… ${bytes(offset)} before]\n`;
        }
        for (;;) {
          const r = await jsonp(`${base}/files/read?path=${encodeURIComponent(path)}&offset=${offset}&length=${TAIL}`);
          if (!r.data) break;
          const atBottom = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 4;
          pre.append(r.data);
          offset = r.offset + new TextEncoder().encode(r.data).length;
          if (root.querySelector('#sb-follow')?.checked && atBottom) pre.scrollTop = pre.scrollHeight;
          if (r.data.length < TAIL / 2) break;
        }
        status.textContent = `(${bytes(offset)}, tailing)`;
      } catch (e) {
        status.textContent = `(${e.message})`;
      }
      if (!stopped) timer = setTimeout(tick, 1000);
    };
    tick();
  };
  let started = false, starting = false;
  const update = async () => {
    if (started || starting) return;
    starting = true;
    started = await start();
    starting = false;
  };
  update();
  return { update, stop() { stopped = true; clearTimeout(timer); } };
}
