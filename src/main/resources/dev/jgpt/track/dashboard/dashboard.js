// jgpt dashboard: the run list and the curves of the checked runs, kept live by server-sent events
// from /api/events. Everything is built with textContent: run names, configs and samples are data.
"use strict";

const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
// build-nanogpt's reference lines for GPT-2 124M's shape
const REF_VAL = 3.2924, REF_HS_GPT2 = 0.2945, REF_HS_GPT3 = 0.337;

const state = {
  runs: [],            // summaries, newest first
  checked: [],         // names whose curves are drawn
  focus: null,         // the run shown below the charts
  x: "steps",
  metrics: {},         // name -> {train: Map step->entry, val, hellaswag: Map, samples: [], }
  details: {},         // name -> /api/runs/NAME
  detailStamp: {},     // name -> summary fields the detail was fetched at
  source: null,
  watching: "",
  charts: {},
  tab: "overview",
};

const $ = (id) => document.getElementById(id);
function el(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else if (k === "style") e.setAttribute("style", v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c);
  return e;
}

// ---- formatting ----------------------------------------------------------------------------------
const num = (v) => typeof v === "number" ? v : v === "NaN" ? NaN : v === "Infinity" ? Infinity : v === "-Infinity" ? -Infinity : null;
function fmtLoss(v) { v = num(v); return v == null ? "–" : Number.isFinite(v) ? v.toFixed(4) : String(v); }
function fmtCount(n) {
  if (n == null) return "–";
  const units = ["", "K", "M", "B", "T"]; let u = 0;
  while (Math.abs(n) >= 1000 && u < units.length - 1) { n /= 1000; u++; }
  return u === 0 ? String(n) : n.toFixed(1) + units[u];
}
function fmtDuration(s) {
  if (s == null) return "–";
  s = Math.round(s); // to the nearest second, as jgpt runs rounds it: both show one wall time
  const h = Math.floor(s / 3600), m = Math.floor(s / 60) % 60, sec = s % 60;
  if (h >= 24) return Math.floor(h / 24) + "d" + String(h % 24).padStart(2, "0") + "h";
  if (h > 0) return h + "h" + String(m).padStart(2, "0") + "m";
  return m + "m" + String(sec).padStart(2, "0") + "s";
}
// axis labels: 2.0e-3 rather than 0.002 and 0.002 again; 10K rather than 10000
function fmtTick(v) {
  if (v == null) return "";
  const a = Math.abs(v);
  if (a === 0) return "0";
  if (a < 0.01) return v.toExponential(1);
  if (a >= 10000) return fmtCount(v);
  return String(+v.toPrecision(4));
}
// the nearest of 1, 2, ..., 9 times a power of ten, below (floor) or above (ceil): a log axis ends on a tick
function niceLog(v, round) {
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  return Math.max(1, round(v / p)) * p;
}
// whole steps on the x axis
const STEP_INCRS = [1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 2500, 5000, 10000, 20000, 25000, 50000, 1e5, 2e5, 2.5e5, 5e5, 1e6,
  2e6, 2.5e6, 5e6, 1e7, 2e7, 2.5e7, 5e7, 1e8, 2e8, 2.5e8, 5e8, 1e9, 2e9, 2.5e9, 5e9, 1e10, 2e10, 2.5e10, 5e10, 1e11];
function fmtBytes(b) { return fmtCount(b) + "B"; }
function show(v) { return v == null ? "null" : typeof v === "object" ? JSON.stringify(v) : String(v); }
// counted from the oldest run, so a run starting later takes a new color and leaves the others theirs
function ownColor(name) {
  const i = state.runs.findIndex((r) => r.name === name);
  return COLORS[(i < 0 ? 0 : state.runs.length - 1 - i) % COLORS.length];
}
// Past ten runs the colors repeat, so two checked runs could be drawn alike: a checked run keeps the
// color it was first drawn in, its own unless another checked run has that, else the first one free.
const drawnColors = new Map();
function colorOf(name) {
  for (const n of [...drawnColors.keys()]) if (!state.checked.includes(n)) drawnColors.delete(n);
  if (!state.checked.includes(name)) return ownColor(name);
  for (const n of state.checked) {
    if (drawnColors.has(n)) continue;
    const taken = new Set(drawnColors.values());
    const own = ownColor(n);
    drawnColors.set(n, !taken.has(own) ? own : COLORS.find((c) => !taken.has(c)) || own);
  }
  return drawnColors.get(name);
}

// ---- the URL keeps the selection, so a reload shows the same -------------------------------------
function readHash() {
  const p = new URLSearchParams(location.hash.slice(1));
  if (p.has("runs")) state.checked = p.get("runs").split(",").filter(Boolean).map(decodeName);
  if (p.has("focus")) state.focus = p.get("focus");
  if (p.get("x") === "tokens") state.x = "tokens";
  if (p.has("tab")) state.tab = p.get("tab");
}
// each name encoded on its own, so a folder named "a,b" stays one run; a hash written before (names
// joined bare) reads the same wherever a name holds no "%"
function decodeName(n) {
  try { return decodeURIComponent(n); } catch (e) { return n; }
}
function writeHash() {
  const p = new URLSearchParams();
  p.set("runs", state.checked.map(encodeURIComponent).join(","));
  if (state.focus) p.set("focus", state.focus);
  p.set("x", state.x);
  p.set("tab", state.tab);
  history.replaceState(null, "", "#" + p.toString());
}

// ---- live updates -----------------------------------------------------------------------------
function connect() {
  const watch = [...new Set([...state.checked, ...(state.focus ? [state.focus] : [])])];
  const key = watch.join("\n");
  if (state.source && state.watching === key) return;
  if (state.source) state.source.close();
  state.watching = key;
  const q = watch.map((w) => "watch=" + encodeURIComponent(w)).join("&");
  const source = new EventSource("/api/events" + (q ? "?" + q : ""));
  state.source = source;
  source.onopen = () => setLive(true);
  source.onerror = () => setLive(false);
  source.addEventListener("runs", (ev) => onRuns(JSON.parse(ev.data)));
  source.addEventListener("metrics", (ev) => onMetrics(JSON.parse(ev.data)));
}
function setLive(on) {
  const l = $("live");
  l.textContent = on ? "live" : "reconnecting";
  l.classList.toggle("off", !on);
}

function onRuns(data) {
  $("dir").textContent = data.dir + "/";
  state.runs = data.runs;
  const names = new Set(state.runs.map((r) => r.name));
  const first = !state.initialized;
  state.initialized = true;
  state.checked = state.checked.filter((n) => names.has(n));
  if (first && state.checked.length === 0 && state.runs.length > 0) {
    // the newest run, and any other still training
    state.checked = state.runs.filter((r, i) => i === 0 || r.status === "running").slice(0, 4).map((r) => r.name);
  }
  if (!state.focus || !names.has(state.focus)) state.focus = state.checked[0] || (state.runs[0] && state.runs[0].name) || null;
  writeHash();
  renderRuns();
  renderDetail();
  connect();
}

function onMetrics(msg) {
  let m = state.metrics[msg.run];
  if (!m || msg.reset) m = state.metrics[msg.run] = {train: new Map(), val: new Map(), hellaswag: new Map(), samples: []};
  for (const e of msg.entries) {
    if (e.type === "train") m.train.set(e.step, e);
    else if (e.type === "val") m.val.set(e.step, e);
    else if (e.type === "hellaswag") m.hellaswag.set(e.step, e);
    else if (e.type === "sample" && typeof e.text === "string") m.samples.push(e);
  }
  scheduleDraw();
  if (msg.run === state.focus && state.tab === "samples") renderSamples();
}

let drawPending = false;
function scheduleDraw() {
  if (drawPending) return;
  drawPending = true;
  requestAnimationFrame(() => { drawPending = false; drawCharts(); });
}

// ---- run list ---------------------------------------------------------------------------------
// Rows are kept per run and updated in place: the list refreshes twice a second while a run trains,
// and a row rebuilt under the pointer would swallow clicks.
const rows = new Map();

function makeRow(name) {
  const box = el("input", {type: "checkbox", title: "draw " + name});
  box.addEventListener("click", (ev) => ev.stopPropagation());
  box.addEventListener("change", () => {
    state.checked = box.checked ? [...state.checked, name] : state.checked.filter((n) => n !== name);
    writeHash(); connect(); renderRuns(); scheduleDraw(); // the swatches show the colors the curves take
  });
  const c = {
    box, swatch: el("span", {class: "swatch"}), badge: el("span", {class: "badge"}), diverged: el("span", {class: "warn"}),
    warn: el("span", {class: "warn", text: "\u26A0"}), bar: el("span"), steps: document.createTextNode(""),
    train: el("td", {class: "num"}), val: el("td", {class: "num"}), hs: el("td", {class: "num"}),
    tokens: el("td", {class: "num"}), wall: el("td", {class: "num"}), changes: el("td", {class: "changes"}),
  };
  c.status = el("td", {}, c.badge, c.diverged, c.warn);
  c.row = el("tr", {"data-run": name, onclick: () => setFocus(name)},
    el("td", {}, box), el("td", {}, c.swatch, el("span", {class: "run-name", text: name})), c.status,
    el("td", {}, el("span", {class: "progress"}, c.bar), c.steps), c.train, c.val, c.hs, c.tokens, c.wall, c.changes);
  return c;
}

function renderRuns() {
  const body = document.querySelector("#runs tbody");
  $("no-runs").hidden = state.runs.length > 0;
  const names = new Set(state.runs.map((r) => r.name));
  for (const [name, c] of rows) if (!names.has(name)) { c.row.remove(); rows.delete(name); }
  for (const r of state.runs) {
    let c = rows.get(r.name);
    if (!c) rows.set(r.name, c = makeRow(r.name));
    c.row.classList.toggle("focus", r.name === state.focus);
    c.box.checked = state.checked.includes(r.name);
    c.swatch.style.background = colorOf(r.name);
    c.badge.className = "badge " + r.status;
    c.badge.textContent = r.status;
    c.status.title = r.error || "";
    c.diverged.textContent = r.diverged_at != null ? "diverged at " + r.diverged_at : "";
    c.warn.hidden = r.problems.length === 0;
    c.warn.title = r.problems.join("\n");
    const total = r.max_steps;
    c.bar.style.width = (total ? 100 * Math.min(1, r.steps_done / total) : 0).toFixed(1) + "%";
    c.steps.textContent = r.steps_done + "/" + (total == null ? "?" : total);
    c.train.textContent = fmtLoss(r.train_loss);
    c.val.textContent = fmtLoss(r.best_val_loss);
    c.hs.textContent = r.hellaswag == null ? "\u2013" : num(r.hellaswag).toFixed(4);
    c.tokens.textContent = fmtCount(r.tokens);
    c.wall.textContent = fmtDuration(r.wall_seconds);
    c.changes.textContent = r.changed_from_config_file.map((d) => d.key + "=" + show(d.right) + " (file " + show(d.left) + ")").join(", ");
    body.append(c.row); // moves an existing row into list order
  }
}

function setFocus(name) {
  state.focus = name;
  writeHash(); renderRuns(); renderDetail(); connect();
}

// ---- charts -----------------------------------------------------------------------------------
function seriesOf(map, field, scale) {
  const steps = [...map.keys()].sort((a, b) => a - b);
  const xs = [], ys = [];
  for (const s of steps) {
    const v = num(map.get(s)[field]);
    if (v == null) continue;
    xs.push(s * scale);
    ys.push(Number.isFinite(v) ? v : null);
  }
  return [xs, ys];
}

// One chart: several [xs, ys] tables joined on x, with each series' options.
function drawChart(id, title, yLabel, tables, opts, log) {
  const box = $(id);
  const width = Math.max(300, box.clientWidth);
  const height = box.parentElement.classList.contains("wide") ? 340 : 250;
  const usable = tables.filter((t) => t[0].length > 0);
  const key = JSON.stringify([title, opts.map((o) => o.label), width, state.x]);
  if (usable.length === 0) {
    if (state.charts[id]) { state.charts[id].destroy(); delete state.charts[id]; }
    box.textContent = "";
    box.append(el("div", {class: "uplot"}, el("div", {class: "u-title", text: title}),
      el("div", {class: "empty", text: "no data yet"})));
    return;
  }
  const kept = [];
  tables.forEach((t, i) => { if (t[0].length > 0) kept.push(opts[i]); });
  const data = uPlot.join(usable.map((t) => [t[0], t[1]]));
  const chart = state.charts[id];
  if (chart && chart._key === key) { chart.setData(data); return; }
  if (chart) chart.destroy();
  box.textContent = "";
  // a log axis spans the data, not whole decades (a loss from 11 to 3 would sit in a sliver of 1..100)
  const logRange = (u, min, max) => min == null || !(min > 0) ? [1, 10] : [niceLog(min / 1.05, Math.floor), niceLog(max * 1.05, Math.ceil)];
  const u = new uPlot({
    title, width, height,
    scales: {x: {time: false}, y: log ? {distr: 3, range: logRange} : {}},
    axes: [{label: state.x === "tokens" ? "tokens" : "step", incrs: STEP_INCRS, values: (u, vals) => vals.map(fmtTick)},
      {label: yLabel, size: 64, values: (u, vals) => vals.map(fmtTick)}],
    series: [{label: state.x}, ...kept],
    legend: {live: true},
    cursor: {drag: {x: true, y: false}},
  }, data, box);
  u._key = key;
  state.charts[id] = u;
}

function drawCharts() {
  const runs = state.checked.map((n) => state.runs.find((r) => r.name === n)).filter(Boolean);
  const loss = [], lossOpts = [], hs = [], hsOpts = [], lr = [], lrOpts = [], norm = [], normOpts = [], speed = [], speedOpts = [];
  let points = 0, reference = false, xMin = Infinity, xMax = -Infinity;
  for (const r of runs) {
    const m = state.metrics[r.name];
    if (!m) continue;
    const scale = state.x === "tokens" ? num(r.tokens_per_step) || 0 : 1;
    if (state.x === "tokens" && !scale) continue;
    const color = colorOf(r.name);
    reference = reference || r.gpt2_124m_shape;
    const train = seriesOf(m.train, "loss", scale);
    // a diverged run: drawn to the divergence, then marked
    const div = r.diverged_at;
    if (div != null) {
      const cut = train[0].findIndex((x) => x >= div * scale);
      if (cut >= 0) { train[0] = train[0].slice(0, cut); train[1] = train[1].slice(0, cut); }
    }
    points += train[1].filter((v) => v != null).length;
    loss.push(train); lossOpts.push({label: r.name + " train", stroke: color + "99", width: 1, spanGaps: true, points: {show: false}});
    const val = seriesOf(m.val, "loss", scale);
    loss.push(val); lossOpts.push({label: r.name + " val", stroke: color, width: 2.5, spanGaps: true, points: {show: true, size: 6, fill: color}});
    if (div != null && train[1].length) {
      loss.push([[div * scale], [train[1][train[1].length - 1]]]);
      lossOpts.push({label: r.name + " diverged at step " + div, stroke: "#d62728", paths: () => null,
        points: {show: true, size: 12, width: 3, stroke: "#d62728", fill: "#fff"}});
    }
    hs.push(seriesOf(m.hellaswag, "acc_norm", scale));
    hsOpts.push({label: r.name, stroke: color, width: 2, spanGaps: true, points: {show: true, size: 5, fill: color}});
    for (const [arr, opt, f] of [[lr, lrOpts, "lr"], [norm, normOpts, "norm"], [speed, speedOpts, "tok_per_sec"]]) {
      const s = seriesOf(m.train, f, scale);
      if (div != null) { const c = s[0].findIndex((x) => x >= div * scale); if (c >= 0) { s[0] = s[0].slice(0, c); s[1] = s[1].slice(0, c); } }
      arr.push(s); opt.push({label: r.name, stroke: color, width: 1.2, spanGaps: true, points: {show: false}});
    }
    for (const t of [train, val]) if (t[0].length) { xMin = Math.min(xMin, t[0][0]); xMax = Math.max(xMax, t[0][t[0].length - 1]); }
  }
  if (reference && xMin <= xMax) {
    const line = (y) => [[xMin, xMax === xMin ? xMin + 1 : xMax], [y, y]];
    loss.push(line(REF_VAL)); lossOpts.push({label: "OpenAI GPT-2 124M val " + REF_VAL, stroke: "#c0392b", dash: [8, 5], width: 1.5, points: {show: false}});
    hs.push(line(REF_HS_GPT2)); hsOpts.push({label: "GPT-2 124M " + REF_HS_GPT2, stroke: "#c0392b", dash: [8, 5], width: 1.5, points: {show: false}});
    hs.push(line(REF_HS_GPT3)); hsOpts.push({label: "GPT-3 124M " + REF_HS_GPT3, stroke: "#7d3c98", dash: [8, 5], width: 1.5, points: {show: false}});
  }
  drawChart("chart-loss", "Loss", "loss", loss, lossOpts, true);
  $("chart-loss").setAttribute("data-points", String(points));
  const anyHs = hs.some((t) => t[0].length > 0);
  $("card-hellaswag").hidden = !anyHs;
  if (anyHs) drawChart("chart-hellaswag", "HellaSwag (acc_norm)", "acc_norm", hs, hsOpts, false);
  drawChart("chart-lr", "Learning rate", "lr", lr, lrOpts, false);
  drawChart("chart-norm", "Gradient norm (before clipping)", "norm", norm, normOpts, true);
  // three small charts: the last takes the whole row
  $("chart-speed").parentElement.classList.toggle("wide", !anyHs);
  drawChart("chart-speed", "Throughput", "tokens/s", speed, speedOpts, false);
}

// ---- one run in detail ----------------------------------------------------------------------------
async function detail(name) {
  const r = state.runs.find((x) => x.name === name);
  const stamp = r ? [r.status, r.steps_done, r.best_val_loss].join() : "";
  if (state.details[name] && state.detailStamp[name] === stamp) return state.details[name];
  const res = await fetch("/api/runs/" + encodeURIComponent(name));
  if (!res.ok) return null;
  state.details[name] = await res.json();
  state.detailStamp[name] = stamp;
  return state.details[name];
}

async function renderDetail() {
  const name = state.focus;
  $("detail").hidden = !name;
  if (!name) return;
  $("detail-name").textContent = name;
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("active", b.dataset.tab === state.tab);
  for (const t of ["overview", "config", "compare", "samples", "checkpoints"]) $("tab-" + t).hidden = t !== state.tab;
  const d = await detail(name);
  if (!d || state.focus !== name) return;
  try {
    if (state.tab === "overview") renderOverview(d);
    else if (state.tab === "config") renderConfig(d);
    else if (state.tab === "compare") renderCompareChoices();
    else if (state.tab === "samples") renderSamples();
    else if (state.tab === "checkpoints") renderCheckpoints(d);
  } catch (e) {
    // a file of an unexpected shape costs this tab, never the page
    const box = $("tab-" + state.tab);
    box.textContent = "";
    box.append(el("p", {class: "problems", text: "cannot show this run's " + state.tab + ": " + e.message}));
  }
}

function facts(pairs) {
  const dl = el("dl", {class: "facts"});
  for (const [k, v] of pairs) if (v != null) dl.append(el("dt", {text: k}), el("dd", {}, v instanceof Node ? v : document.createTextNode(String(v))));
  return dl;
}

function renderOverview(d) {
  const box = $("tab-overview");
  box.textContent = "";
  // run.json is a file like any other: anything in it may be missing or of the wrong type
  const rec = d.record && typeof d.record === "object" ? d.record : {};
  const sessions = Array.isArray(rec.sessions) ? rec.sessions.filter((x) => x && typeof x === "object") : [];
  const s = sessions[sessions.length - 1] || {};
  const file = rec.config_file && typeof rec.config_file === "object" ? rec.config_file : null;
  const overrides = file && Array.isArray(file.overrides) ? file.overrides.map(String) : [];
  const links = el("span");
  for (const f of ["config.yaml", "metrics.jsonl", "console.log", "samples.txt", "run.json", "status.json"]) {
    links.append(el("a", {href: "/files/" + encodeURIComponent(d.name) + "/" + f, target: "_blank", text: f}), document.createTextNode("  "));
  }
  box.append(facts([
    ["status", d.status + (d.error ? ": " + d.error : "") + (d.diverged_at != null ? " (diverged at step " + d.diverged_at + ")" : "")],
    ["steps", d.steps_done + " / " + (d.max_steps == null ? "?" : d.max_steps)],
    ["tokens", d.tokens == null ? "unknown" : d.tokens.toLocaleString("en-US")],
    ["wall time", d.wall_seconds == null ? "unknown" : fmtDuration(d.wall_seconds)],
    ["last train loss", fmtLoss(d.train_loss)],
    ["best validation loss", d.best_val_loss == null ? "–" : fmtLoss(d.best_val_loss) + " at step " + d.best_val_step],
    ["HellaSwag acc_norm", d.hellaswag == null ? "–" : num(d.hellaswag).toFixed(4)],
    ["started", sessions.length ? sessions.map((x) => String(x.started)).join(", ") : "unknown"],
    ["jgpt", s.jgpt_version != null ? String(s.jgpt_version) + (s.git_commit != null ? " (commit " + String(s.git_commit).slice(0, 12) + (s.git_dirty === true ? ", with uncommitted changes" : "") + ")" : "") : "unknown"],
    ["host", s.host != null ? String(s.host) + " \u2014 " + String(s.os) : "unknown"],
    ["JVM", s.jvm != null ? String(s.jvm) + ", " + (typeof s.processes === "number" && s.processes > 1 ? s.processes + " processes, each " : "")
      + String(s.threads) + " threads of " + String(s.cores) + " cores" : "unknown"],
    ["config file", file ? String(file.path) + (overrides.length ? "  --set " + overrides.join("  --set ") : "") : "unknown"],
    ["changed from file", d.changed_from_config_file.length ? d.changed_from_config_file.map((x) => x.key + ": " + show(x.left) + " \u2192 " + show(x.right)).join(", ") : "nothing"],
    ["files", links],
  ]));
  if (d.problems.length) {
    const ul = el("ul", {class: "problems"});
    for (const p of d.problems) ul.append(el("li", {text: p}));
    box.append(el("h4", {text: "skipped while reading"}), ul);
  }
}

function renderConfig(d) {
  const box = $("tab-config");
  box.textContent = "";
  box.append(el("pre", {text: d.config_text == null ? "no config.yaml" : d.config_text}));
  const file = d.record && d.record.config_file;
  if (file && typeof file === "object" && typeof file.content === "string") {
    const det = el("details", {}, el("summary", {text: "the config file it was started from: " + String(file.path)}), el("pre", {text: file.content}));
    box.append(det);
  }
}

function flatten(o, prefix, out) {
  for (const [k, v] of Object.entries(o || {})) {
    const key = prefix ? prefix + "." + k : k;
    if (v && typeof v === "object" && !Array.isArray(v)) flatten(v, key, out); else out[key] = v;
  }
  return out;
}

function renderCompareChoices() {
  const a = $("compare-a"), b = $("compare-b");
  const prevA = a.value || state.focus, prevB = b.value || state.checked.find((n) => n !== state.focus) || "";
  for (const sel of [a, b]) {
    sel.textContent = "";
    for (const r of state.runs) sel.append(el("option", {value: r.name, text: r.name}));
  }
  a.value = state.runs.some((r) => r.name === prevA) ? prevA : state.focus;
  b.value = state.runs.some((r) => r.name === prevB) ? prevB : (state.runs.find((r) => r.name !== a.value) || {}).name || "";
  renderCompare();
}

async function renderCompare() {
  const a = $("compare-a").value, b = $("compare-b").value;
  const box = $("compare-result");
  box.textContent = "";
  if (!a || !b || a === b) { box.append(el("p", {class: "muted", text: "Choose two different runs."})); return; }
  const [da, db] = await Promise.all([detail(a), detail(b)]);
  if (!da || !db) return;
  const fa = flatten(da.config, "", {}), fb = flatten(db.config, "", {});
  const keys = [...new Set([...Object.keys(fa), ...Object.keys(fb)])].filter((k) => k !== "log.name" && show(fa[k]) !== show(fb[k]));
  box.textContent = "";
  if (!da.config || !db.config) box.append(el("p", {class: "problems", text: "one of the runs has no readable config"}));
  if (keys.length === 0) { box.append(el("p", {class: "muted", text: "Same config (apart from the name)."})); return; }
  const t = el("table", {class: "data"}, el("thead", {}, el("tr", {}, el("th", {text: "key"}), el("th", {text: a}), el("th", {text: b}))));
  const body = el("tbody");
  for (const k of keys) body.append(el("tr", {}, el("td", {text: k}), el("td", {text: show(fa[k])}), el("td", {text: show(fb[k])})));
  t.append(body);
  box.append(t);
}

function renderSamples() {
  const m = state.metrics[state.focus];
  const sel = $("sample-step"), box = $("samples");
  const samples = m ? m.samples : [];
  const steps = [...new Set(samples.map((s) => s.step))].sort((x, y) => y - x);
  const prev = Number(sel.value);
  sel.textContent = "";
  for (const s of steps) sel.append(el("option", {value: String(s), text: s + " (" + samples.filter((x) => x.step === s).length + ")"}));
  if (steps.includes(prev) && sel.dataset.run === state.focus) sel.value = String(prev);
  sel.dataset.run = state.focus;
  box.textContent = "";
  if (steps.length === 0) { box.append(el("p", {class: "muted", text: "No samples yet."})); return; }
  const step = Number(sel.value);
  for (const s of samples.filter((x) => x.step === step).sort((x, y) => x.index - y.index)) {
    box.append(el("div", {class: "sample"}, el("h4", {text: "sample " + s.index}), el("pre", {text: s.text})));
  }
}

function renderCheckpoints(d) {
  const box = $("tab-checkpoints");
  box.textContent = "";
  if (!d.checkpoints.length) { box.append(el("p", {class: "muted", text: "No checkpoints yet."})); return; }
  const t = el("table", {class: "data"}, el("thead", {}, el("tr", {}, ...["checkpoint", "step", "validation loss", "size"].map((h) => el("th", {text: h})))));
  const body = el("tbody");
  for (const c of d.checkpoints) {
    body.append(el("tr", {}, el("td", {text: c.name}), el("td", {class: "num", text: String(c.step)}),
      el("td", {class: "num", text: fmtLoss(c.val_loss)}), el("td", {class: "num", text: fmtBytes(c.bytes)})));
  }
  t.append(body);
  box.append(t, el("p", {class: "muted", text: "Sample from the newest: jgpt generate --model " + d.dir}));
}

// ---- wiring ---------------------------------------------------------------------------------------
readHash();
$("x-axis").value = state.x;
$("x-axis").addEventListener("change", (ev) => { state.x = ev.target.value; writeHash(); scheduleDraw(); });
for (const b of document.querySelectorAll("#tabs button")) {
  b.addEventListener("click", () => { state.tab = b.dataset.tab; writeHash(); renderDetail(); });
}
$("compare-a").addEventListener("change", renderCompare);
$("compare-b").addEventListener("change", renderCompare);
$("sample-step").addEventListener("change", renderSamples);
window.addEventListener("resize", () => { for (const c of Object.values(state.charts)) c._key = null; scheduleDraw(); });
connect();
