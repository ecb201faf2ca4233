/* global document, window, fetch, location, URLSearchParams, AbortSignal, getComputedStyle */
/*
 * The Governor status page: polls /status.json (every 2 s; `?poll=<ms>` sets another interval,
 * 500 at least) and redraws every panel without reloading. Plain DOM and <canvas>, nothing
 * loaded from elsewhere. Every text from the server goes in through textContent.
 */
'use strict';

const POLL_MS = Math.max(500, Number(new URLSearchParams(location.search).get('poll')) || 2000);
const FETCH_TIMEOUT_MS = 5000;

const CHARTS = {
  busy: { format: (v) => `${Math.round(v * 100)} %`, floor: 1, step: false },
  queueWaitP95Ms: { format: formatMs, floor: 10, step: false },
  rps: { format: (v) => formatNumber(v), floor: 5, step: false },
  fleetSize: { format: (v) => String(Math.round(v)), floor: 2, step: true, integer: true },
};
const LINE_ORDER = ['local', 'fleet'];

let latest;

function $(id) {
  return document.getElementById(id);
}

/** A new element: el('td', { class: 'num' }, 'text', childNode...). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value !== undefined && value !== null && value !== false) node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children) {
    if (child === undefined || child === null) continue;
    node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

function formatNumber(v) {
  if (v === null || v === undefined) return '–';
  if (Math.abs(v) >= 1000) return `${(v / 1000).toFixed(v >= 10000 ? 0 : 1)}k`;
  return v >= 10 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(1);
}

function formatMs(v) {
  if (v === null || v === undefined) return '–';
  return v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${Math.round(v)} ms`;
}

function formatPercent(v) {
  return v === null || v === undefined ? '–' : `${Math.round(v * 100)} %`;
}

function formatDuration(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} m`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h} h ${m % 60} m`;
  return `${Math.floor(h / 24)} d ${h % 24} h`;
}

const clockFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
function formatTime(at) {
  return clockFormat.format(new Date(at));
}

function setRows(tbody, rows) {
  tbody.replaceChildren(...rows);
}

function renderHeader(s) {
  const f = s.fleet;
  const me = f.self ? `${f.self}${f.myRank === null ? '' : ` (rank ${f.myRank})`}` : null;
  $('identity').textContent = [f.name, f.region, me].filter(Boolean).join(' · ');
  const { paused, since, by } = s.control;
  const stopgo = $('stopgo');
  stopgo.textContent = paused ? 'STOP' : 'GO';
  stopgo.className = `badge ${paused ? 'badge-stop' : 'badge-go'}`;
  stopgo.title = paused ? 'Scaling decisions are stopped region-wide; serving goes on' : 'Scaling decisions are in force';
  $('control-note').textContent = since === null ? '' : `since ${formatTime(since)}${by ? ` · ${by}` : ''}`;
  const shutdown = $('shutdown');
  shutdown.hidden = !s.shutdownPhase;
  shutdown.textContent = s.shutdownPhase ? `shutdown: ${s.shutdownPhase}` : '';
}

function renderFleet(s) {
  const f = s.fleet;
  const counts = [f.size !== null && `${f.size} members`, f.running !== null && `${f.running} running`];
  if (f.pending) counts.push(`${f.pending} pending`);
  if (f.leaving) counts.push(`${f.leaving} leaving`);
  $('fleet-counts').textContent = counts.filter(Boolean).join(' · ');
  setRows(
    $('fleet').tBodies[0],
    f.instances.map((i) =>
      el(
        'tr',
        { class: i.self ? 'self' : undefined },
        el('td', {}, String(i.rank)),
        el('td', { class: 'id' }, i.id, i.self ? el('span', { class: 'tag' }, 'this') : null),
        el('td', {}, el('span', { class: `state state-${i.state}` }, i.state)),
        el('td', { 'data-label': 'age' }, formatDuration(s.now - i.launchTime)),
        el('td', { class: 'num', 'data-label': 'busy' }, busyBar(i.busy)),
        el('td', { class: 'num', 'data-label': 'queue · p95' }, i.queueDepth === null ? '–' : `${i.queueDepth} · ${formatMs(i.queueWaitP95Ms)}`),
        el('td', { class: 'num', 'data-label': 'req/s' }, formatNumber(i.rps)),
      ),
    ),
  );
  const note = $('fleet-note');
  const problems = [];
  if (f.instances.length === 0) problems.push('The fleet has not been listed yet.');
  if (f.stale) problems.push(`The last fleet listing failed${f.error ? `: ${f.error.message}` : ''}; showing the last good one.`);
  if (f.viewAt !== null) problems.push(`Listed ${formatDuration(s.now - f.viewAt)} ago.`);
  note.hidden = problems.length === 0;
  note.textContent = problems.join(' ');
}

function busyBar(busy) {
  if (busy === null || busy === undefined) return '–';
  const level = busy >= 0.8 ? 'hot' : busy >= 0.5 ? 'warm' : 'cool';
  const fill = el('span', { class: 'fill' });
  // Through the CSSOM: a style attribute would be refused by the page's content security policy.
  fill.style.width = `${Math.min(100, Math.round(busy * 100))}%`;
  return el('span', { class: 'busy' }, el('span', { class: `bar bar-${level}` }, fill), formatPercent(busy));
}

const journalItems = new Map();
function renderJournal(s) {
  const list = $('journal');
  const wanted = new Set(s.journal.map((e) => e.seq));
  for (const [seq, item] of journalItems) {
    if (!wanted.has(seq)) {
      item.remove();
      journalItems.delete(seq);
    }
  }
  // Newest first: each entry not shown yet goes on top, in seq order.
  for (const entry of s.journal) {
    if (journalItems.has(entry.seq)) continue;
    const details = entry.facts || entry.data;
    const item = el(
      'li',
      { class: 'entry', 'data-seq': entry.seq },
      el('time', { datetime: new Date(entry.at).toISOString() }, formatTime(entry.at)),
      el('span', { class: `kind kind-${entry.kind}` }, entry.kind),
      el('strong', { class: 'name' }, entry.name),
      el('span', { class: 'reason' }, entry.reason),
      details
        ? el('details', {}, el('summary', {}, 'facts'), el('pre', {}, JSON.stringify({ facts: entry.facts, data: entry.data }, null, 2)))
        : null,
    );
    list.prepend(item);
    journalItems.set(entry.seq, item);
  }
  $('journal-empty').hidden = s.journal.length > 0;
}

function renderRules(s) {
  const { lastReload, errors, active } = s.rules;
  const reload = $('rules-reload');
  if (!lastReload) reload.textContent = 'Rules have not been loaded yet.';
  else {
    const files = `${lastReload.files.length} file${lastReload.files.length === 1 ? '' : 's'}`;
    reload.textContent = lastReload.ok
      ? `Loaded ${active.length} rule${active.length === 1 ? '' : 's'} from ${files} at ${formatTime(lastReload.at)}.`
      : `Reload at ${formatTime(lastReload.at)} rejected (${errors.length} error${errors.length === 1 ? '' : 's'}); ${
          active.length ? 'the last good set stays active.' : 'no rule set is active.'
        }`;
  }
  reload.className = `note ${lastReload && !lastReload.ok ? 'bad' : ''}`;
  $('rule-errors').replaceChildren(
    ...errors.map((e) => el('li', {}, el('code', {}, `${e.file}:${e.path}`), ` ${e.message}`, e.expected ? ` (expected ${e.expected})` : '')),
  );
  setRows(
    $('rules').tBodies[0],
    active.map((r) => el('tr', {}, el('td', {}, r.name), el('td', {}, el('span', { class: 'event' }, r.event)), el('td', { class: 'muted' }, r.file))),
  );
  const intents = s.intents.filter((i) => i && i.type);
  $('intents').replaceChildren(
    ...(intents.length
      ? intents.map((i) => el('li', {}, el('span', { class: 'event' }, i.type), ` by ${i.rule} since ${formatTime(i.at)}`))
      : [el('li', { class: 'muted' }, 'none')]),
  );
}

function renderTasks(s) {
  const tasks = [...s.tasks].sort((a, b) => a.name.localeCompare(b.name));
  setRows(
    $('tasks').tBodies[0],
    tasks.map((t) =>
      el(
        'tr',
        { title: t.error ? `${t.error.code || 'error'}: ${t.error.message}` : undefined },
        el('td', {}, t.name),
        el('td', {}, el('span', { class: `outcome outcome-${t.outcome}` }, t.outcome), ` ${formatDuration(s.now - t.lastStart)} ago`),
        el('td', { class: 'num optional' }, String(t.runs)),
        el('td', { class: `num ${t.failures ? 'bad' : ''}` }, String(t.failures)),
        el('td', { class: 'num optional' }, t.durationMs === undefined ? '–' : formatMs(t.durationMs)),
      ),
    ),
  );
}

/** Draws the lines of one chart over the window ending at `now`; returns how many points it drew. */
function drawChart(canvas, lines, spec, now, windowSeconds) {
  const dpr = window.devicePixelRatio || 1;
  const width = canvas.clientWidth;
  const height = canvas.clientHeight;
  if (width === 0 || height === 0) return 0;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  const ctx = canvas.getContext('2d');
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, width, height);

  const css = getComputedStyle(document.documentElement);
  const color = (name) => css.getPropertyValue(name).trim();
  const pad = { left: 46, right: 8, top: 8, bottom: 20 };
  const plotW = width - pad.left - pad.right;
  const plotH = height - pad.top - pad.bottom;
  const start = now - windowSeconds * 1000;
  const all = LINE_ORDER.flatMap((name) => lines[name] || []);
  const dataMax = all.reduce((max, [, v]) => Math.max(max, v), 0);
  const { top, step } = niceScale(Math.max(spec.floor, dataMax * 1.1), spec.integer);
  const x = (at) => pad.left + ((at - start) / (windowSeconds * 1000)) * plotW;
  const y = (v) => pad.top + plotH - (v / top) * plotH;

  ctx.font = '11px system-ui, sans-serif';
  ctx.lineWidth = 1;
  ctx.strokeStyle = color('--grid');
  ctx.fillStyle = color('--muted');
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (let v = 0; v <= top + step / 2; v += step) {
    ctx.beginPath();
    ctx.moveTo(pad.left, Math.round(y(v)) + 0.5);
    ctx.lineTo(width - pad.right, Math.round(y(v)) + 0.5);
    ctx.stroke();
    ctx.fillText(spec.format(v), pad.left - 6, y(v));
  }
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  const minutes = windowSeconds / 60;
  for (let m = 0; m <= minutes; m += 15) {
    const at = start + m * 60_000;
    ctx.fillText(m === minutes ? 'now' : `-${minutes - m}m`, Math.min(Math.max(x(at), pad.left + 12), width - pad.right - 12), height - pad.bottom + 5);
  }

  let drawn = 0;
  for (const name of LINE_ORDER) {
    const points = (lines[name] || []).filter(([at]) => at >= start);
    if (points.length === 0) continue;
    const stroke = color(name === 'local' ? '--line-local' : '--line-fleet');
    ctx.beginPath();
    points.forEach(([at, v], i) => {
      if (i === 0) ctx.moveTo(x(at), y(v));
      else {
        if (spec.step) ctx.lineTo(x(at), y(points[i - 1][1]));
        ctx.lineTo(x(at), y(v));
      }
    });
    ctx.strokeStyle = stroke;
    ctx.lineWidth = 1.75;
    ctx.lineJoin = 'round';
    ctx.stroke();
    if (name === LINE_ORDER.find((n) => (lines[n] || []).length)) {
      ctx.lineTo(x(points[points.length - 1][0]), y(0));
      ctx.lineTo(x(points[0][0]), y(0));
      ctx.closePath();
      ctx.globalAlpha = 0.12;
      ctx.fillStyle = stroke;
      ctx.fill();
      ctx.globalAlpha = 1;
    }
    drawn += points.length;
  }
  if (drawn === 0) {
    ctx.fillStyle = color('--muted');
    ctx.textAlign = 'center';
    ctx.textBaseline = 'middle';
    ctx.fillText('no data yet', pad.left + plotW / 2, pad.top + plotH / 2);
  }
  return drawn;
}

/** A round top of the y axis at or above `max`, split into 4 or fewer steps. */
function niceScale(max, integer) {
  const raw = max / 4;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  let step = [1, 2, 2.5, 5, 10].map((f) => f * magnitude).find((s) => s >= raw);
  if (integer) step = Math.max(1, Math.ceil(step));
  return { top: Math.ceil(max / step) * step, step };
}

function renderCharts(s) {
  for (const canvas of document.querySelectorAll('canvas[data-chart]')) {
    const name = canvas.dataset.chart;
    const spec = CHARTS[name];
    const lines = s.charts[name] || {};
    canvas.dataset.points = String(drawChart(canvas, lines, spec, s.now, s.windowSeconds));
    const current = LINE_ORDER.map((n) => lines[n] && lines[n][lines[n].length - 1]).find(Boolean);
    document.querySelector(`[data-value-of="${name}"]`).textContent = current ? spec.format(current[1]) : '';
  }
}

function render(s) {
  renderHeader(s);
  renderFleet(s);
  renderCharts(s);
  renderJournal(s);
  renderRules(s);
  renderTasks(s);
}

function setConnection(ok, text) {
  const node = $('connection');
  node.className = `connection ${ok ? 'live' : 'offline'}`;
  node.textContent = text;
}

async function poll() {
  try {
    const res = await fetch('/status.json', { cache: 'no-store', signal: AbortSignal.timeout(FETCH_TIMEOUT_MS) });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    latest = await res.json();
    render(latest);
    setConnection(true, `live · ${formatTime(latest.now)}`);
  } catch (err) {
    setConnection(false, `offline (${err.message}) · retrying`);
  } finally {
    window.setTimeout(poll, POLL_MS);
  }
}

window.addEventListener('resize', () => {
  if (latest) renderCharts(latest);
});
poll();
