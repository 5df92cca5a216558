/**
 * The inspector page's script, served as /app.js. Plain browser JavaScript kept in a string
 * (see page.ts for why); it must not contain backticks or dollar-brace.
 *
 * Rules it keeps:
 * - Every piece of data reaches the DOM through textContent or setAttribute on elements it
 *   made itself; never innerHTML. Task titles, outputs and notes are shown as typed.
 * - Drawings (SVG made by Graphviz on the server) are parsed as XML and rebuilt element by
 *   element, keeping only drawing elements and drawing attributes: no script, no event
 *   handler, no link survives.
 * - The token comes in the URL fragment (#token=…), which browsers never send anywhere; the
 *   page takes it out of the address bar and keeps it in memory, sending it only in the
 *   Authorization header of its own commands. Without it the page is read-only.
 */
export const PAGE_SCRIPT = String.raw`(function () {
'use strict';
var token = null;
var found = /(?:^#|&)token=([^&]+)/.exec(location.hash);
if (found) {
  token = decodeURIComponent(found[1]);
  history.replaceState(null, '', location.pathname + location.search);
}
var S = { tasks: new Map(), bps: new Map(), supervisor: null, counts: {}, timeline: [], graphVersion: -1,
  mode: 'live', canCommand: false, selected: null, selectedBp: null, records: 0 };
var STATES = ['pending', 'ready', 'running', 'blocked', 'retrying', 'failed', 'completed', 'cancelled'];
var TABLE_LIMIT = 500;
var NS = 'http://www.w3.org/2000/svg';
var $ = function (id) { return document.getElementById(id); };

function el(tag, cls, text) {
  var e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined && text !== null) e.textContent = String(text);
  return e;
}
function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
function pad(n, w) { n = String(n); while (n.length < w) n = '0' + n; return n; }
// Milliseconds shown: transitions of one batch are often within the same second.
function time(ms) {
  if (!ms) return '';
  var d = new Date(ms);
  return pad(d.getHours(), 2) + ':' + pad(d.getMinutes(), 2) + ':' + pad(d.getSeconds(), 2) + '.' + pad(d.getMilliseconds(), 3);
}
function say(text) { $('message').textContent = text; }

// ---- drawings: parse, keep only what draws ---------------------------------------
var SVG_TAGS = { svg: 1, g: 1, title: 1, path: 1, polygon: 1, polyline: 1, ellipse: 1, circle: 1, rect: 1, line: 1, text: 1 };
var SVG_ATTRS = { id: 1, 'class': 1, d: 1, points: 1, fill: 1, stroke: 1, 'stroke-width': 1, 'stroke-dasharray': 1,
  cx: 1, cy: 1, rx: 1, ry: 1, r: 1, x: 1, y: 1, x1: 1, y1: 1, x2: 1, y2: 1, viewBox: 1, transform: 1, width: 1, height: 1,
  'text-anchor': 1, 'font-family': 1, 'font-size': 1, 'font-weight': 1, 'font-style': 1 };
function copySvg(node) {
  var out = document.createElementNS(NS, node.nodeName);
  for (var i = 0; i < node.attributes.length; i++) {
    var a = node.attributes[i];
    if (SVG_ATTRS[a.name] === 1) out.setAttribute(a.name, a.value);
  }
  for (var c = node.firstChild; c; c = c.nextSibling) {
    if (c.nodeType === 1 && SVG_TAGS[c.nodeName] === 1) out.appendChild(copySvg(c));
    else if (c.nodeType === 3) out.appendChild(document.createTextNode(c.data));
  }
  return out;
}
function cleanSvg(text) {
  var doc = new DOMParser().parseFromString(text, 'image/svg+xml');
  var root = doc.documentElement;
  if (!root || root.nodeName !== 'svg' || doc.getElementsByTagName('parsererror').length) return null;
  return copySvg(root);
}
function nodeName(g) {
  var t = g.querySelector('title');
  return t ? t.textContent : null;
}
function show(container, svgText, onNode) {
  clear(container);
  var svg = svgText ? cleanSvg(svgText) : null;
  if (!svg) { container.appendChild(el('p', 'muted', 'no drawing')); return; }
  container.appendChild(svg);
  if (onNode) svg.addEventListener('click', function (ev) {
    var g = ev.target.closest ? ev.target.closest('g.node') : null;
    if (g) onNode(nodeName(g));
  });
}

// ---- the model -----------------------------------------------------------------
function reset(m) {
  S.tasks = new Map(); S.bps = new Map(); S.timeline = [];
  merge(m);
}
function merge(m) {
  m.tasks.forEach(function (t) { S.tasks.set(t.id, t); });
  m.breakpoints.forEach(function (b) { S.bps.set(b.id, b); });
  if (m.supervisor) S.supervisor = m.supervisor;
  S.counts = m.counts;
  S.timeline = S.timeline.concat(m.timeline).slice(-300);
  if (m.graphVersion !== S.graphVersion) { S.graphVersion = m.graphVersion; loadGraph(); }
}

function render() {
  renderCounts(); renderTable(); renderGraphStates(); renderPending(); renderDetail(); renderCharts(); renderTimeline();
  var sup = S.supervisor;
  $('supervisor').textContent = sup ? 'supervisor: ' + sup.state : '';
  // Pausing a project leaves the supervisor in running: the paused projects are the news.
  var paused = sup ? sup.pausedProjects : [];
  $('paused').hidden = paused.length === 0;
  $('paused').textContent = paused.length ? 'paused: ' + paused.join(', ') : '';
}

function renderCounts() {
  var box = $('counts'); clear(box);
  box.appendChild(el('span', 'chip', 'total ' + (S.counts.total || 0)));
  STATES.forEach(function (s) {
    var chip = el('span', 'chip st-' + s, s + ' ' + (S.counts[s] || 0));
    chip.setAttribute('data-state', s);
    box.appendChild(chip);
  });
}

function renderTable() {
  var body = $('tasks').tBodies[0]; clear(body);
  var n = 0;
  S.tasks.forEach(function (t) {
    if (n++ >= TABLE_LIMIT) return;
    var tr = el('tr', 'st-' + t.state + (t.id === S.selected ? ' selected' : ''));
    tr.setAttribute('data-task', t.id);
    tr.appendChild(el('td', 'id', t.id));
    tr.appendChild(el('td', 'title', t.title));
    tr.appendChild(el('td', '', t.projectId));
    tr.appendChild(el('td', 'state', t.state));
    tr.appendChild(el('td', '', t.attempts));
    tr.appendChild(el('td', 'note', t.error || t.blocked || t.output || ''));
    tr.addEventListener('click', function () { select(t.id); });
    body.appendChild(tr);
  });
  $('tasks-more').textContent = S.tasks.size > TABLE_LIMIT ? (S.tasks.size - TABLE_LIMIT) + ' more tasks not listed' : '';
}

var graphLoading = 0;
function loadGraph() {
  var mine = ++graphLoading;
  fetch('/graph').then(function (r) { return r.json(); }).then(function (d) {
    if (mine !== graphLoading) return;
    if (!d.svg) { clear($('graph')); $('graph').appendChild(el('p', 'muted', d.reason || 'no graph')); return; }
    show($('graph'), d.svg, select);
    renderGraphStates();
  }).catch(function (e) { say('could not load the graph: ' + e.message); });
}
function renderGraphStates() {
  var nodes = $('graph').querySelectorAll('g.node');
  for (var i = 0; i < nodes.length; i++) {
    var id = nodeName(nodes[i]);
    var t = S.tasks.get(id);
    nodes[i].setAttribute('class', 'node' + (t ? ' st-' + t.state : '') + (id === S.selected ? ' selected' : ''));
    nodes[i].setAttribute('data-task', id);
  }
}

function select(id) {
  if (!S.tasks.has(id)) return;
  S.selected = id;
  render();
}
function selectedTask() {
  if (S.selected && S.tasks.has(S.selected)) return S.tasks.get(S.selected);
  var pick = null;
  S.tasks.forEach(function (t) { if (!pick && (t.state === 'running' || t.state === 'blocked')) pick = t; });
  return pick;
}

function button(label, cls, enabled, onClick) {
  var b = el('button', cls, label);
  b.disabled = !enabled;
  if (!enabled) b.title = token ? 'this view takes no commands' : 'read-only: open the URL the CLI printed, with its #token';
  b.addEventListener('click', onClick);
  return b;
}
function canAct() { return !!token && S.canCommand; }

function renderDetail() {
  var box = $('detail'); clear(box);
  var t = selectedTask();
  if (!t) { box.appendChild(el('p', 'muted', 'click a task')); return; }
  box.setAttribute('data-task', t.id);
  box.appendChild(el('h3', 'title', t.title));
  var dl = el('dl');
  [['id', t.id], ['project', t.projectId], ['state', t.state], ['attempts', t.attempts], ['retries', t.retries],
   ['depends on', t.dependencies.join(', ') || '—'], ['blocked', t.blocked], ['last change', time(t.at)]].forEach(function (p) {
    if (p[1] === null || p[1] === undefined) return;
    dl.appendChild(el('dt', '', p[0])); dl.appendChild(el('dd', p[0] === 'state' ? 'state' : '', p[1]));
  });
  box.appendChild(dl);
  if (t.error) { box.appendChild(el('h4', '', 'last error')); box.appendChild(el('pre', 'error', t.error)); }
  if (t.output) { box.appendChild(el('h4', '', 'output')); box.appendChild(el('pre', 'output', t.output)); }
  var open = ['pending', 'ready', 'running', 'blocked', 'retrying'].indexOf(t.state) >= 0;
  box.appendChild(button('Cancel', 'cancel', canAct() && open, function () {
    // Cancelling cannot be undone: a stray click must not stop a task.
    if (window.confirm('Cancel task ' + t.id + '? Its running process is stopped.')) command('cancel', { target: t.id });
  }));
  box.appendChild(button('Retry', 'retry', canAct() && t.state === 'failed', function () { command('retry', { target: t.id }); }));
}

function renderPending() {
  var list = $('pending'); clear(list);
  var hist = $('bp-history'); clear(hist);
  var open = { triggered: 1, awaiting: 1, autoResolving: 1 };
  S.bps.forEach(function (b) {
    var li = el('li', 'bp st-bp-' + b.state);
    li.setAttribute('data-bp', b.id);
    li.addEventListener('click', function () { S.selectedBp = b.id; renderCharts(); });
    var head = el('div');
    head.appendChild(el('strong', '', b.id + ' '));
    head.appendChild(el('span', 'bp-type', b.type + ' (' + b.priority + ') '));
    head.appendChild(el('span', 'bp-state', b.state));
    li.appendChild(head);
    li.appendChild(el('div', 'bp-message', b.message));
    li.appendChild(el('div', 'muted', (b.taskId ? 'task ' + b.taskId : 'project ' + b.projectId) + ' · ' + time(b.createdAt)));
    if (open[b.state] === 1) {
      var note = el('input'); note.placeholder = 'note (optional)'; note.className = 'note';
      li.appendChild(note);
      li.appendChild(button('Approve', 'approve', canAct(), function () { command('approve', { target: b.id, note: note.value }); }));
      li.appendChild(button('Reject', 'reject', canAct(), function () { command('reject', { target: b.id, note: note.value }); }));
      list.appendChild(li);
    } else {
      if (b.resolution) li.appendChild(el('div', 'muted', b.resolution.action + ' by ' + b.resolution.by + (b.resolution.note ? ': ' + b.resolution.note : '')));
      hist.insertBefore(li, hist.firstChild);
    }
  });
  if (!list.firstChild) list.appendChild(el('li', 'muted', 'none'));
}

var charts = null;
function loadCharts() {
  fetch('/machines').then(function (r) { return r.json(); }).then(function (d) {
    charts = d;
    show($('chart-task'), d.task); show($('chart-breakpoint'), d.breakpoint); show($('chart-supervisor'), d.supervisor);
    renderCharts();
  }).catch(function (e) { say('could not load the statecharts: ' + e.message); });
}
function highlight(container, state) {
  var nodes = container.querySelectorAll('g.node');
  for (var i = 0; i < nodes.length; i++) nodes[i].setAttribute('class', 'node' + (nodeName(nodes[i]) === state ? ' current' : ''));
}
function renderCharts() {
  if (!charts) return;
  var t = selectedTask();
  highlight($('chart-task'), t ? t.state : null);
  var b = S.selectedBp && S.bps.get(S.selectedBp);
  if (!b) S.bps.forEach(function (x) { if (!b || x.state === 'awaiting') b = x; });
  highlight($('chart-breakpoint'), b ? b.state : null);
  highlight($('chart-supervisor'), S.supervisor ? S.supervisor.state : null);
}

function renderTimeline() {
  var list = $('timeline'); clear(list);
  for (var i = S.timeline.length - 1, n = 0; i >= 0 && n < 150; i--, n++) {
    var e = S.timeline[i];
    var change = e.paused && e.from === e.to ? (e.paused.length ? 'paused: ' + e.paused.join(', ') : 'no project paused') : (e.from === null ? '' : e.from + ' → ') + e.to;
    var li = el('li');
    li.appendChild(el('time', '', time(e.at)));
    li.appendChild(document.createTextNode('  ' + e.actorId + '  ' + e.event + '  ' + change));
    list.appendChild(li);
  }
}

// ---- commands --------------------------------------------------------------------
function command(name, body) {
  if (!token) { say('read-only: open the URL the CLI printed, with its #token'); return; }
  fetch('/api/' + name, { method: 'POST', headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + token }, body: JSON.stringify(body) })
    .then(function (r) { return r.json(); })
    .then(function (a) { say(a.message); })
    .catch(function (e) { say(name + ' failed: ' + e.message); });
}

// ---- replay slider ---------------------------------------------------------------
var sliding = null;
function setupReplay(records) {
  $('replay').hidden = false;
  var slider = $('slider');
  slider.max = String(records); slider.value = String(records);
  $('slider-label').textContent = records + ' / ' + records + ' records';
  slider.addEventListener('input', function () {
    clearTimeout(sliding);
    sliding = setTimeout(function () {
      var at = slider.value;
      fetch('/api/model?at=' + encodeURIComponent(at)).then(function (r) { return r.json(); }).then(function (m) {
        reset(m); render();
        $('slider-label').textContent = at + ' / ' + records + ' records' + (m.at ? ' · ' + new Date(m.at).toLocaleString() : '');
      });
    }, 60);
  });
}

// ---- the stream ------------------------------------------------------------------
function connect() {
  var es = new EventSource('/events');
  es.addEventListener('hello', function (e) {
    var h = JSON.parse(e.data);
    S.mode = h.mode; S.canCommand = h.canCommand;
    $('mode').textContent = h.mode;
    $('access').textContent = canAct() ? 'can act' : 'read-only';
    $('access').className = 'badge' + (canAct() ? ' ok' : '');
    if (h.mode === 'replay' && h.records !== null && $('replay').hidden) setupReplay(h.records);
  });
  es.addEventListener('model', function (e) { reset(JSON.parse(e.data)); render(); $('conn').textContent = 'connected'; $('conn').className = 'badge ok'; });
  es.addEventListener('diff', function (e) { if (S.mode !== 'replay') { merge(JSON.parse(e.data)); render(); } });
  es.addEventListener('problem', function (e) {
    var p = JSON.parse(e.data);
    $('problem').hidden = p.message === null;
    $('problem').textContent = p.message === null ? '' : p.message;
  });
  // The server's last word: the page stops reconnecting to a run that is over.
  es.addEventListener('finished', function (e) {
    var f = JSON.parse(e.data);
    es.close();
    $('conn').textContent = f.exitCode !== null ? 'run finished (exit ' + f.exitCode + ')' : f.status || 'inspector stopped';
    $('conn').className = 'badge';
  });
  es.onerror = function () { if (es.readyState !== 2) { $('conn').textContent = 'disconnected (retrying)'; $('conn').className = 'badge warn'; } };
}
loadCharts();
connect();
})();
`;
