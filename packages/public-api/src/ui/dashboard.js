/* global document, window */
// The dkv dashboard: polls the overview (one request at a time, every POLL_MS) and redraws the
// page from it. Plain browser JavaScript: nothing to build or install. Every URL is relative to
// the page, so it stays on the origin the page came from and a Basic-auth prompt covers it.
// Data from the server is only ever set as text (textContent, attributes), never as HTML.
'use strict';

const POLL_MS = 1500;
const OVERVIEW_URL = 'v1/cluster/overview';
const SVG_NS = 'http://www.w3.org/2000/svg';
const PALETTE = [
  '#2e90fa',
  '#f79009',
  '#12b76a',
  '#ee46bc',
  '#7a5af8',
  '#06aed4',
  '#f04438',
  '#84cc16',
  '#9e77ed',
  '#fd853a',
  '#15b79e',
  '#667085',
];
const RING_OUTER = 96;
const RING_INNER = 60;
/** The outer band: each node's share as one arc, the same colours in the same order. */
const SHARE_OUTER = 110;
const SHARE_INNER = 101;

/** A node's colour: by its place among the ids sorted, so it stays the same from one poll to the next. */
function colourOf(id, ids) {
  const index = ids.indexOf(id);
  return PALETTE[(index < 0 ? 0 : index) % PALETTE.length];
}

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, String(value));
  for (const child of children) node.append(child instanceof window.Node ? child : document.createTextNode(String(child)));
  return node;
}

function svg(tag, attributes) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

function formatBytes(bytes) {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

function formatCount(count) {
  return Number(count).toLocaleString('en-US');
}

function formatRate(perSecond) {
  return perSecond >= 10 ? perSecond.toFixed(0) : perSecond.toFixed(1);
}

function formatSeconds(seconds) {
  if (seconds === null) return '–';
  return seconds < 1 ? `${(seconds * 1000).toFixed(seconds < 0.01 ? 2 : 1)} ms` : `${seconds.toFixed(2)} s`;
}

/** An age as `dkv hints` shows one (the CLI's formatAge): `850ms`, `12.3s`, `4m05s`, `2h03m`. */
function formatAge(ms) {
  if (ms < 1000) return `${Math.round(ms)}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const minutes = Math.floor(ms / 60_000);
  if (minutes < 60) return `${minutes}m${String(Math.floor((ms % 60_000) / 1000)).padStart(2, '0')}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, '0')}m`;
}

/** An SVG path of a band (radii `inner`..`outer`) between fractions `start` and `end` of the circle, clockwise from the top. */
function arcPath(start, end, outer = RING_OUTER, inner = RING_INNER) {
  const point = (fraction, radius) => {
    const angle = fraction * 2 * Math.PI - Math.PI / 2;
    return `${(radius * Math.cos(angle)).toFixed(3)} ${(radius * Math.sin(angle)).toFixed(3)}`;
  };
  // A whole circle cannot be one arc command: draw it as two halves.
  if (end - start >= 0.999999) return `${arcPath(0, 0.5, outer, inner)} ${arcPath(0.5, 1, outer, inner)}`;
  const large = end - start > 0.5 ? 1 : 0;
  return `M ${point(start, outer)} A ${outer} ${outer} 0 ${large} 1 ${point(end, outer)} L ${point(end, inner)} A ${inner} ${inner} 0 ${large} 0 ${point(start, inner)} Z`;
}

function renderRing(overview, ids) {
  const ring = document.getElementById('ring');
  const parts = overview.ring.map((arc) => {
    const path = svg('path', { d: arcPath(arc.start, arc.end), fill: colourOf(arc.node, ids), 'data-node': arc.node });
    const title = svg('title', {});
    title.textContent = arc.node;
    path.append(title);
    return path;
  });
  let from = 0;
  const shares = overview.nodes
    .filter((node) => node.ringShare > 0)
    .map((node) => {
      const path = svg('path', {
        d: arcPath(from, from + node.ringShare, SHARE_OUTER, SHARE_INNER),
        fill: colourOf(node.id, ids),
        'data-share': node.id,
      });
      const title = svg('title', {});
      title.textContent = `${node.id}: ${(node.ringShare * 100).toFixed(1)} % of the ring`;
      path.append(title);
      from += node.ringShare;
      return path;
    });
  const up = overview.nodes.filter((node) => node.status === 'up').length;
  const label = svg('text', { x: 0, y: 4 });
  label.textContent = `${up} / ${overview.nodes.length} up`;
  const sub = svg('text', { x: 0, y: 16, class: 'sub' });
  sub.textContent = overview.rebalancing ? 'rebalancing' : `epoch ${overview.epoch}`;
  ring.replaceChildren(...parts, ...shares, label, sub);
}

function movingCell(node) {
  const progress = node.progress;
  if (!progress || progress.rangesPlanned === 0)
    return el('td', {}, node.status === 'joining' || node.status === 'leaving' ? 'waiting' : '');
  const bar = el('progress', { max: progress.rangesPlanned, value: progress.rangesDone });
  return el('td', { class: 'moving' }, bar, ` ${progress.rangesDone}/${progress.rangesPlanned} ranges, ${formatBytes(progress.bytes)}`);
}

function renderNodes(overview, ids) {
  const rows = overview.nodes.map((node) =>
    el(
      'tr',
      { 'data-node': node.id, 'data-status': node.status },
      el('td', {}, el('span', { class: 'swatch', style: `background:${colourOf(node.id, ids)}` })),
      el('td', { class: 'id' }, node.id),
      el('td', {}, el('span', { class: 'state', 'data-status': node.status }, node.status)),
      el('td', {}, node.zone || ''),
      el('td', {}, node.address),
      el('td', { class: 'num' }, formatCount(node.vnodes)),
      el('td', { class: 'num' }, `${(node.ringShare * 100).toFixed(1)} %`),
      el('td', { class: 'num' }, formatCount(node.keys)),
      el('td', { class: 'num' }, formatBytes(node.bytes)),
      movingCell(node),
      el('td', { class: 'num' }, node.clockOffsetMs === undefined ? '' : `${node.clockOffsetMs} ms`),
    ),
  );
  document.querySelector('#nodes tbody').replaceChildren(...rows);
}

function renderRequests(overview) {
  const rows = Object.entries(overview.requests.operations).map(([operation, summary]) =>
    el(
      'tr',
      { 'data-operation': operation },
      el('td', {}, operation.toUpperCase()),
      el('td', { class: 'num' }, formatRate(summary.perSecond)),
      el('td', { class: 'num' }, formatRate(summary.errorsPerSecond)),
      el('td', { class: 'num' }, formatSeconds(summary.p99Seconds)),
    ),
  );
  document.querySelector('#requests tbody').replaceChildren(...rows);
  document.getElementById('window').textContent = `(this process, last ${overview.requests.windowSeconds} s)`;
}

function renderHints(overview) {
  const rows = (overview.hints || []).map((backlog) =>
    el(
      'tr',
      { 'data-target': backlog.target },
      el('td', { class: 'id' }, backlog.target),
      el('td', { class: 'num' }, formatCount(backlog.count)),
      el('td', { class: 'num' }, formatBytes(backlog.bytes)),
      el('td', { class: 'num' }, formatAge(backlog.oldestAgeMs)),
    ),
  );
  if (rows.length === 0) rows.push(el('tr', { class: 'hint' }, el('td', { colspan: 4 }, 'none pending')));
  document.querySelector('#hints-by-target tbody').replaceChildren(...rows);
}

function describeEvent(event) {
  if (event.kind === 'added') return `${event.node} added (${event.to})`;
  if (event.kind === 'removed') return `${event.node} removed (was ${event.from})`;
  return `${event.node}: ${event.from} → ${event.to}`;
}

function renderEvents(overview) {
  const items = overview.events.map((event) =>
    el(
      'li',
      { 'data-node': event.node, 'data-kind': event.kind },
      el('time', { datetime: new Date(event.time).toISOString() }, new Date(event.time).toLocaleTimeString()),
      describeEvent(event),
    ),
  );
  if (items.length === 0) items.push(el('li', { class: 'hint' }, 'none since this process started'));
  document.getElementById('events').replaceChildren(...items);
}

function renderSummary(overview) {
  const text = (id, value) => {
    document.getElementById(id).textContent = value;
  };
  const up = overview.nodes.filter((node) => node.status === 'up').length;
  const moving = overview.nodes.filter((node) => node.progress && node.progress.rangesPlanned > 0);
  text('process', overview.process);
  text('epoch', overview.epoch);
  text('quorums', `${overview.replication.n} / ${overview.replication.w} / ${overview.replication.r}`);
  text('nodes-up', `${up} of ${overview.nodes.length}`);
  text('hints', formatCount(overview.hintsPending));
  text(
    'moving',
    moving.length === 0
      ? overview.rebalancing
        ? 'starting'
        : 'no'
      : moving.map((node) => `${node.id} ${Math.round((100 * node.progress.rangesDone) / node.progress.rangesPlanned)} %`).join(', '),
  );
  text('clock', overview.clockProblem ? overview.clockProblem : overview.clockOffsetMs === null ? '–' : `${overview.clockOffsetMs} ms`);
}

function render(overview) {
  const ids = overview.nodes.map((node) => node.id).sort();
  renderSummary(overview);
  renderRing(overview, ids);
  renderNodes(overview, ids);
  renderHints(overview);
  renderRequests(overview);
  renderEvents(overview);
}

function setConnection(ok, detail) {
  const status = document.getElementById('connection');
  status.dataset.state = ok ? 'live' : 'lost';
  status.textContent = ok ? `live, updated ${new Date().toLocaleTimeString()}` : `cannot reach the cluster (${detail}); retrying`;
}

async function poll() {
  try {
    const response = await window.fetch(OVERVIEW_URL, {
      cache: 'no-store',
      credentials: 'same-origin',
      headers: { accept: 'application/json' },
    });
    if (!response.ok) throw new Error(`HTTP ${response.status}`);
    render(await response.json());
    setConnection(true);
  } catch (error) {
    setConnection(false, error instanceof Error ? error.message : String(error));
  } finally {
    window.setTimeout(poll, POLL_MS);
  }
}

poll();
