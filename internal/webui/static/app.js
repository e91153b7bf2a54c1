// meso's web UI: a hash router over the views, a model kept live by the
// operator event stream, and keyboard shortcuts.

import { Model } from './model.js';
import { subscribe } from './stream.js';
import * as views from './views.js';

const model = new Model();
window.mesoModel = model; // for tests and the curious, in the console

const routes = [
  [/^\/?$/, views.overview, 'overview'],
  [/^\/frameworks\/?$/, views.frameworks, 'frameworks'],
  [/^\/frameworks\/([^/]+)$/, views.framework, 'frameworks'],
  [/^\/agents\/?$/, views.agents, 'agents'],
  [/^\/agents\/([^/]+)$/, views.agent, 'agents'],
  [/^\/tasks\/?$/, views.tasks, 'tasks'],
  [/^\/sandbox\/([^/]+)\/([^/]+)\/([^/]+)$/, views.sandbox, 'tasks'],
  [/^\/roles\/?$/, views.roles, 'roles'],
];

const root = document.getElementById('view');
let current = null;

function route() {
  current?.stop();
  current = null;
  const h = location.hash.replace(/^#/, '') || '/';
  const [path, q = ''] = h.split('?');
  for (const [re, view, nav] of routes) {
    const m = path.match(re);
    if (!m) continue;
    for (const a of document.querySelectorAll('nav a[data-nav]')) {
      if (a.dataset.nav === nav) a.setAttribute('aria-current', 'page');
      else a.removeAttribute('aria-current');
    }
    current = view(root, model, m.slice(1).map(decodeURIComponent), new URLSearchParams(q));
    document.title = `meso · ${nav}`;
    return;
  }
  root.innerHTML = '<h1>Not found</h1><p>No such page. <a href="#/">Overview</a>.</p>';
}

// Re-render at most every 250 ms however fast events come.
let pending = false;
model.onChange(() => {
  if (pending) return;
  pending = true;
  setTimeout(() => { pending = false; current?.update(); }, 250);
});

const conn = document.getElementById('conn');
subscribe(ev => model.apply(ev), (text, live) => {
  conn.textContent = text;
  conn.className = 'conn ' + (live ? 'live' : 'down');
  document.body.dataset.live = live ? 'true' : 'false';
});

setInterval(() => { if (model.synced) model.sample(); }, 2000);

addEventListener('hashchange', () => { route(); root.focus({ preventScroll: true }); });
addEventListener('keydown', e => {
  if (e.ctrlKey || e.metaKey || e.altKey || /^(INPUT|SELECT|TEXTAREA)$/.test(e.target.tagName)) return;
  const pages = { 1: '#/', 2: '#/frameworks', 3: '#/agents', 4: '#/tasks', 5: '#/roles' };
  if (pages[e.key]) { location.hash = pages[e.key]; e.preventDefault(); }
  if (e.key === '/') {
    e.preventDefault();
    if (!location.hash.startsWith('#/tasks')) location.hash = '#/tasks';
    setTimeout(() => document.getElementById('tk-name')?.focus(), 0);
  }
});

route();
