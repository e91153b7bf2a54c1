// The cluster model, kept up to date from the operator event stream.

export const TERMINAL = new Set(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST',
  'TASK_ERROR', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR']);

const v = id => id?.value ?? '';

// scalars sums the scalar resources of a list by name.
export function scalars(resources) {
  const out = {};
  for (const r of resources || []) {
    if (r.type === 'SCALAR' || r.scalar) out[r.name] = (out[r.name] || 0) + (r.scalar?.value || 0);
  }
  return out;
}

// reservedScalars sums the reserved scalar resources of a list by role.
export function reservedScalars(resources) {
  const out = {};
  for (const r of resources || []) {
    const res = r.reservations?.length ? r.reservations[r.reservations.length - 1].role : r.role;
    if (!res || res === '*' || !r.scalar) continue;
    const m = out[res] ||= {};
    m[r.name] = (m[r.name] || 0) + r.scalar.value;
  }
  return out;
}

export class Model {
  constructor() {
    this.reset();
    this.listeners = new Set();
    this.history = []; // {t, cpus, mem, cpusTotal, memTotal}
    this.version = 0;
  }
  reset() {
    this.agents = new Map();      // agent ID → operator API Agent
    this.frameworks = new Map();  // framework ID → operator API Framework (+ completed flag)
    this.tasks = new Map();       // framework ID/task ID → Task
    this.executors = [];
    this.synced = false;
  }
  onChange(f) { this.listeners.add(f); return () => this.listeners.delete(f); }
  changed() {
    this.version++;
    for (const f of this.listeners) f(this);
  }
  key(t) { return `${v(t.framework_id)}/${v(t.task_id)}`; }

  apply(ev) {
    switch (ev.type) {
      case 'SUBSCRIBED': this.load(ev.subscribed.get_state || {}); break;
      case 'TASK_ADDED': { const t = ev.task_added.task; this.tasks.set(this.key(t), t); break; }
      case 'TASK_UPDATED': {
        const u = ev.task_updated, st = u.status || {};
        const k = `${v(u.framework_id)}/${v(st.task_id)}`;
        const t = this.tasks.get(k) || { task_id: st.task_id, framework_id: u.framework_id, agent_id: st.agent_id, name: v(st.task_id) };
        t.state = u.state;
        t.statuses = [...(t.statuses || []), st];
        this.tasks.set(k, t);
        break;
      }
      case 'AGENT_ADDED': { const a = ev.agent_added.agent; this.agents.set(v(a.agent_info.id), a); break; }
      case 'AGENT_REMOVED': this.agents.delete(v(ev.agent_removed.agent_id)); break;
      case 'FRAMEWORK_ADDED':
      case 'FRAMEWORK_UPDATED': {
        const f = (ev.framework_added || ev.framework_updated).framework;
        this.frameworks.set(v(f.framework_info.id), f);
        break;
      }
      case 'FRAMEWORK_REMOVED': {
        const info = ev.framework_removed.framework_info, id = v(info.id);
        const f = this.frameworks.get(id) || { framework_info: info };
        f.completed = true; f.active = false; f.connected = false;
        this.frameworks.set(id, f);
        break;
      }
      default: return; // HEARTBEAT and the rest change nothing shown
    }
    this.changed();
  }

  load(s) {
    this.reset();
    for (const a of s.get_agents?.agents || []) this.agents.set(v(a.agent_info.id), a);
    const fw = s.get_frameworks || {};
    for (const f of fw.frameworks || []) this.frameworks.set(v(f.framework_info.id), f);
    for (const f of fw.completed_frameworks || []) {
      f.completed = true;
      this.frameworks.set(v(f.framework_info.id), f);
    }
    const ts = s.get_tasks || {};
    for (const list of ['completed_tasks', 'unreachable_tasks', 'orphan_tasks', 'pending_tasks', 'tasks']) {
      for (const t of ts[list] || []) this.tasks.set(this.key(t), t);
    }
    this.executors = s.get_executors?.executors || [];
    this.synced = true;
  }

  // used sums the scalar resources of the tasks that are not terminal,
  // optionally only those that pass keep.
  used(keep = () => true) {
    const out = {};
    for (const t of this.tasks.values()) {
      if (TERMINAL.has(t.state) || !keep(t)) continue;
      for (const [k, x] of Object.entries(scalars(t.resources))) out[k] = (out[k] || 0) + x;
    }
    return out;
  }
  total() {
    const out = {};
    for (const a of this.agents.values()) {
      for (const [k, x] of Object.entries(scalars(a.total_resources || a.agent_info.resources))) out[k] = (out[k] || 0) + x;
    }
    return out;
  }
  sample(now = Date.now()) {
    const u = this.used(), tot = this.total();
    this.history.push({ t: now, cpus: u.cpus || 0, mem: u.mem || 0, cpusTotal: tot.cpus || 0, memTotal: tot.mem || 0 });
    if (this.history.length > 360) this.history.shift();
  }
}
