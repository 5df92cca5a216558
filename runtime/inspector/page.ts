/**
 * The inspector page's markup and style. They are modules (strings) rather than files so
 * that `tsc` carries them into dist/ with the rest and the CLI serves them from wherever
 * it is installed; nothing is fetched from elsewhere (the page works offline). The
 * script is in page-script.ts; the Content-Security-Policy allows only these three.
 */
import { STATE_COLOURS } from '../graph-export.js';

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export const PAGE_HTML = (title: string): string => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="/app.css">
<script src="/app.js" defer></script>
</head>
<body>
<header>
  <h1>${escapeHtml(title)}</h1>
  <span id="mode" class="badge">connecting…</span>
  <span id="conn" class="badge">…</span>
  <span id="access" class="badge">read-only</span>
  <span id="supervisor" class="badge"></span>
  <span id="paused" class="badge warn" hidden></span>
</header>
<div id="problem" role="alert" hidden></div>
<div id="replay" hidden>
  <label for="slider">time</label>
  <input id="slider" type="range" min="0" max="0" value="0">
  <span id="slider-label"></span>
</div>
<div id="counts" aria-label="tasks per state"></div>
<div id="message" role="status"></div>
<main>
  <section id="left">
    <h2>Plan</h2>
    <div id="graph" class="drawing"><p class="muted">drawing…</p></div>
    <h2>Tasks</h2>
    <table id="tasks"><thead><tr><th>task</th><th>title</th><th>project</th><th>state</th><th>attempts</th><th>note</th></tr></thead><tbody></tbody></table>
    <p id="tasks-more" class="muted"></p>
  </section>
  <section id="right">
    <h2>Breakpoints waiting</h2>
    <ul id="pending"></ul>
    <h2>Selected task</h2>
    <div id="detail"><p class="muted">click a task</p></div>
    <h2>Task statechart</h2>
    <div id="chart-task" class="drawing chart"></div>
    <h2>Breakpoint statechart</h2>
    <div id="chart-breakpoint" class="drawing chart"></div>
    <h2>Supervisor statechart</h2>
    <div id="chart-supervisor" class="drawing chart"></div>
    <h2>Breakpoint history</h2>
    <ul id="bp-history"></ul>
    <h2>Timeline</h2>
    <ul id="timeline"></ul>
  </section>
</main>
</body>
</html>
`;


export const PAGE_STYLE = `
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #111827; background: #f9fafb; }
header { display: flex; gap: .5em; align-items: center; padding: .5em 1em; background: #111827; color: #f9fafb; }
header h1 { font-size: 1.1em; margin: 0 1em 0 0; }
.badge { border-radius: 1em; padding: .1em .7em; background: #374151; font-size: .85em; }
.badge.ok { background: #065f46; } .badge.warn { background: #92400e; }
#replay { padding: .5em 1em; display: flex; gap: 1em; align-items: center; background: #eef2ff; }
#replay[hidden] { display: none; }
#slider { flex: 1; }
#counts { display: flex; flex-wrap: wrap; gap: .4em; padding: .5em 1em; }
.chip { border-radius: .3em; padding: .1em .6em; border: 1px solid #d1d5db; }
#message { padding: 0 1em; min-height: 1.4em; color: #1d4ed8; }
main { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); gap: 1em; padding: 0 1em 1em; }
h2 { font-size: 1em; margin: 1em 0 .3em; }
.drawing { background: #fff; border: 1px solid #e5e7eb; border-radius: .4em; overflow: auto; max-height: 60vh; }
/* Drawn at Graphviz's own size (its width and height), shrunk to fit, never blown up. */
.drawing svg { max-width: 100%; height: auto; display: block; margin: 0 auto; }
.chart { max-height: 30vh; }
table { border-collapse: collapse; width: 100%; background: #fff; table-layout: fixed; }
th:nth-child(1), th:nth-child(3), th:nth-child(4) { width: 12%; } th:nth-child(5) { width: 8%; }
td { overflow-wrap: anywhere; }
#left, #right { min-width: 0; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .1em 1em; margin: .3em 0; } dd { margin: 0; }
td, th { border-bottom: 1px solid #e5e7eb; padding: .2em .5em; text-align: left; vertical-align: top; }
tr[data-task] { cursor: pointer; } tr.selected { outline: 2px solid #2563eb; }
td.note { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.muted { color: #6b7280; }
pre { white-space: pre-wrap; word-break: break-word; background: #f3f4f6; padding: .5em; max-height: 12em; overflow: auto; }
ul, ol { padding-left: 1.2em; }
#pending li { background: #fff7ed; border: 1px solid #fdba74; border-radius: .4em; padding: .4em; margin-bottom: .4em; list-style: none; }
#pending input { width: 60%; }
button { cursor: pointer; } button:disabled { cursor: not-allowed; }
#timeline { max-height: 30vh; overflow: auto; font-size: .9em; background: #fff; border: 1px solid #e5e7eb; list-style: none; padding: 0 .5em; }
#timeline time { font-variant-numeric: tabular-nums; color: #6b7280; }
#problem { padding: .4em 1em; background: #fee2e2; color: #991b1b; }
header .badge[hidden], #problem[hidden] { display: none; }
g.node.current > path, g.node.current > polygon, g.node.current > ellipse { stroke: #2563eb; stroke-width: 3px; fill: #dbeafe; }
g.node.selected > path { stroke: #2563eb; stroke-width: 3px; }
g.node { cursor: pointer; }
${Object.entries(STATE_COLOURS)
  .map(([s, c]) => `.st-${s} { background: ${c}; } g.node.st-${s} > path, g.node.st-${s} > polygon { fill: ${c}; }`)
  .join('\n')}
`;
