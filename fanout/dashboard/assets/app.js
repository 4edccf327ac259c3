// fanout's dashboard: renders the jobs list or one job from the JSON API,
// polling it every second. Every value from the server goes into the page
// as text (textContent), never as markup.
"use strict";

const BASE = "/ui/";
const POLL_MS = 1000;
const SVGNS = "http://www.w3.org/2000/svg";
const TOKEN_KEY = "fanout-ui-token";
const COLORS = { done: "#2f9e44", running: "#1c7ed6", retrying: "#f59f00", pending: "#adb5bd", dead: "#e03131", backup: "#7048e8" };

function el(tag, attrs, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "text") e.textContent = v;
    else if (k === "style") e.style.cssText = v; // CSSOM: allowed by the page's CSP, unlike a style attribute
    else if (k === "on") for (const [ev, fn] of Object.entries(v)) e.addEventListener(ev, fn);
    else e.setAttribute(k, v);
  }
  for (const k of kids) if (k !== null && k !== undefined) e.append(k);
  return e;
}

function svg(tag, attrs, ...kids) {
  const e = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "text") e.textContent = v; else e.setAttribute(k, v);
  }
  for (const k of kids) if (k) e.append(k);
  return e;
}

function bytes(n) {
  if (!n) return "0 B";
  const u = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let i = 0;
  while (n >= 1024 && i < u.length - 1) { n /= 1024; i++; }
  return (i === 0 ? Math.round(n) : n.toFixed(n < 10 ? 2 : 1)) + " " + u[i];
}

function num(n) { return (n || 0).toLocaleString("en-US"); }

function dur(s) {
  if (s === undefined || s === null || !isFinite(s)) return "–";
  if (s < 1) return Math.round(s * 1000) + " ms";
  if (s < 60) return s.toFixed(s < 10 ? 1 : 0) + " s";
  const m = Math.floor(s / 60), h = Math.floor(m / 60);
  if (h > 0) return h + " h " + (m % 60) + " min";
  return m + " min " + Math.round(s % 60) + " s";
}

function rate(v, unit) { return v > 0 ? (v >= 100 ? Math.round(v) : v.toFixed(v >= 10 ? 1 : 2)) + " " + unit : "–"; }

function age(planned, at) {
  if (!planned || planned.startsWith("0001")) return "–";
  return dur((Date.parse(at) - Date.parse(planned)) / 1000);
}

function stateBadge(state) { return el("span", { class: "state " + state, text: state }); }

function progressBar(r, wide) {
  const t = Math.max(r.tasks, 1);
  const pct = (n) => (100 * n / t).toFixed(2) + "%";
  const bar = el("span", { class: "bar" + (wide ? " wide" : ""), title: `${r.done} of ${r.tasks} tasks done` });
  bar.append(el("span", { class: "done", style: `left:0;width:${pct(r.done)}` }));
  bar.append(el("span", { class: "running", style: `left:${pct(r.done)};width:${pct(r.running)}` }));
  bar.append(el("span", { class: "dead", style: `left:${pct(r.done + r.running)};width:${pct(r.dead)}` }));
  return bar;
}

async function getJSON(path) {
  const res = await fetch(BASE + path, { cache: "no-store", credentials: "omit" });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error || res.status + " " + res.statusText);
  return body;
}

function setLive(at, err) {
  const live = document.getElementById("live");
  if (err) { live.textContent = "not updating: " + err; live.className = "live stale"; return; }
  live.textContent = "live · " + new Date(at).toLocaleTimeString();
  live.className = "live";
}

// ---- the jobs list ----

function renderJobs(main, data) {
  const rows = data.jobs.map((r) => el("tr", { "data-job": r.job, "data-state": r.state },
    el("td", { class: "mono" }, el("a", { href: BASE + "jobs/" + encodeURIComponent(r.job), text: r.job })),
    el("td", {}, stateBadge(r.state)),
    el("td", {}, progressBar(r, false), el("span", { class: "dim", text: ` ${num(r.done)}/${num(r.tasks)}` })),
    el("td", { class: "n", text: num(r.running) }),
    el("td", { class: "n", text: num(r.dead) }),
    el("td", { class: "n", text: r.records_in ? (r.records_estimated ? "≈ " : "") + num(r.records_in) : "–" }),
    el("td", { class: "n", text: `${bytes(r.bytes_done)} / ${bytes(r.bytes)}` }),
    el("td", { class: "n", text: rate(r.tasks_per_second, "tasks/s") }),
    el("td", { class: "n", text: r.eta_seconds ? dur(r.eta_seconds) : "–" }),
    el("td", { class: "n", text: age(r.planned, data.at) }),
    el("td", { class: "mono dim", text: r.output }),
    r.error ? el("td", { class: "error", text: r.error }) : null));
  const table = el("table", { id: "jobs" },
    el("thead", {}, el("tr", {}, ...["Job", "State", "Progress", "Running", "Failed", "Records", "Read", "Rate", "ETA", "Age", "Output"]
      .map((h, i) => el("th", { class: i >= 3 && i <= 9 ? "n" : null, text: h })))),
    el("tbody", {}, ...rows));
  const card = el("div", { class: "card" }, el("h2", { text: `Jobs (${data.jobs.length})` }));
  if (data.error) card.append(el("p", { class: "error", text: data.error }));
  card.append(data.jobs.length ? table : el("p", { class: "dim", text: "No job in the queue yet." }));
  main.replaceChildren(card);
}

// ---- one job ----

function fact(label, value, note) {
  return el("div", {}, el("small", { text: label }), el("b", { text: value }), note ? el("small", { text: note }) : null);
}

function median(xs) {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// stragglerLimit is the running time past which a task counts as a
// straggler: the job's backup factor (or 2) times the median recent task.
function stragglerLimit(ov) {
  const recent = (ov.recent_ns || []).map((n) => n / 1e9);
  if (recent.length < 3) return Infinity;
  return (ov.backup_after || 2) * median(recent);
}

function axisY(g, x0, y0, h, max, fmt) {
  for (const f of [0, 0.5, 1]) {
    const y = y0 + h - f * h;
    g.append(svg("line", { x1: x0, x2: x0 + 4, y1: y, y2: y, stroke: "#ccc" }));
    g.append(svg("text", { x: x0 - 4, y: y + 4, "text-anchor": "end", text: fmt(max * f) }));
  }
}

// statesChart stacks the task counts of every look: done, running,
// retrying, pending, dead.
function statesChart(hist, total) {
  const W = 640, H = 220, L = 48, T = 8, B = 22, R = 8;
  const w = W - L - R, h = H - T - B;
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, id: "chart-states", role: "img", "aria-label": "task states over time" });
  const keys = ["done", "running", "retrying", "pending", "dead"];
  if (hist.length === 0) return s;
  const t0 = Date.parse(hist[0].t), t1 = Math.max(Date.parse(hist[hist.length - 1].t), t0 + 1000);
  const max = Math.max(total, 1);
  const x = (t) => L + (Date.parse(t) - t0) / (t1 - t0) * w;
  const y = (v) => T + h - v / max * h;
  let below = hist.map(() => 0);
  for (const k of keys) {
    const top = hist.map((p, i) => below[i] + (p[k] || 0));
    const pts = hist.map((p, i) => `${x(p.t).toFixed(1)},${y(top[i]).toFixed(1)}`);
    const back = hist.map((p, i) => `${x(p.t).toFixed(1)},${y(below[i]).toFixed(1)}`).reverse();
    if (hist.length === 1) { pts.push(`${L + w},${y(top[0])}`); back.unshift(`${L + w},${y(below[0])}`); }
    s.append(svg("polygon", { points: pts.concat(back).join(" "), fill: COLORS[k], "fill-opacity": 0.85, "data-series": k }));
    below = top;
  }
  axisY(s, L, T, h, max, (v) => Math.round(v).toString());
  s.append(svg("text", { x: L, y: H - 6, text: new Date(t0).toLocaleTimeString() }));
  s.append(svg("text", { x: L + w, y: H - 6, "text-anchor": "end", text: new Date(t1).toLocaleTimeString() }));
  return s;
}

function legend(keys) {
  return el("div", { class: "legend" }, ...keys.map((k) => el("span", {}, el("i", { style: `background:${COLORS[k]}` }), k)));
}

// throughput turns the looks into tasks/s (over a few looks, to smooth it).
function throughput(hist) {
  const out = [];
  for (let i = 1; i < hist.length; i++) {
    const a = hist[Math.max(0, i - 5)], b = hist[i];
    const dt = (Date.parse(b.t) - Date.parse(a.t)) / 1000;
    out.push({ t: b.t, v: dt > 0 ? Math.max(0, b.done - a.done) / dt : 0 });
  }
  return out;
}

function throughputChart(hist, bytesPerTask) {
  const W = 640, H = 180, L = 64, T = 8, B = 22, R = 8;
  const w = W - L - R, h = H - T - B;
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, id: "chart-throughput", role: "img", "aria-label": "throughput" });
  const pts = throughput(hist);
  if (pts.length === 0) return s;
  const t0 = Date.parse(pts[0].t), t1 = Math.max(Date.parse(pts[pts.length - 1].t), t0 + 1000);
  const max = Math.max(...pts.map((p) => p.v), 0.001);
  const poly = pts.map((p) => `${(L + (Date.parse(p.t) - t0) / (t1 - t0) * w).toFixed(1)},${(T + h - p.v / max * h).toFixed(1)}`);
  s.append(svg("polyline", { points: poly.join(" "), fill: "none", stroke: COLORS.running, "stroke-width": 2 }));
  axisY(s, L, T, h, max, (v) => bytesPerTask > 0 ? bytes(v * bytesPerTask) + "/s" : v.toFixed(1));
  s.append(svg("text", { x: L, y: H - 6, text: new Date(t0).toLocaleTimeString() }));
  s.append(svg("text", { x: L + w, y: H - 6, "text-anchor": "end", text: new Date(t1).toLocaleTimeString() }));
  return s;
}

// timesChart is the histogram of recent task times, with the running
// tasks as ticks under it: stragglers orange, backups purple.
function timesChart(ov) {
  const W = 640, H = 200, L = 40, T = 8, B = 40, R = 10;
  const w = W - L - R, h = H - T - B;
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, id: "chart-times", role: "img", "aria-label": "task time distribution" });
  const recent = (ov.recent_ns || []).map((n) => n / 1e9);
  const running = (ov.running || []).map((r) => ({ ...r, s: r.running_ns / 1e9 }));
  const limit = stragglerLimit(ov);
  const maxT = Math.max(...recent, ...running.map((r) => r.s), isFinite(limit) ? limit : 0, 0.001) * 1.05;
  const bins = 30, counts = new Array(bins).fill(0);
  for (const v of recent) counts[Math.min(bins - 1, Math.floor(v / maxT * bins))]++;
  const cmax = Math.max(...counts, 1);
  const x = (v) => L + v / maxT * w;
  counts.forEach((c, i) => {
    if (!c) return;
    const bh = c / cmax * h;
    s.append(svg("rect", { x: (L + i * w / bins + 1).toFixed(1), y: (T + h - bh).toFixed(1), width: (w / bins - 2).toFixed(1), height: bh.toFixed(1), fill: COLORS.done, "data-count": c }));
  });
  s.append(svg("line", { x1: L, x2: L + w, y1: T + h, y2: T + h, stroke: "#999" }));
  if (isFinite(limit)) {
    s.append(svg("line", { x1: x(limit), x2: x(limit), y1: T, y2: T + h + 14, stroke: COLORS.retrying, "stroke-dasharray": "4 3" }));
    s.append(svg("text", { x: x(limit) + 3, y: T + 10, text: "straggler ≥ " + dur(limit) }));
  }
  for (const r of running) {
    const backup = r.chunk.endsWith("+b"), straggler = r.s >= limit;
    const color = backup ? COLORS.backup : straggler ? COLORS.retrying : COLORS.running;
    const cx = x(r.s);
    const tick = svg("path", { d: `M${cx.toFixed(1)},${T + h + 3} l-4,8 l8,0 z`, fill: color, class: backup ? "backup" : straggler ? "straggler" : "running" });
    tick.append(svg("title", { text: `${r.chunk} on ${r.worker}: running ${dur(r.s)}` }));
    s.append(tick);
  }
  if (!recent.length && !running.length) {
    s.append(svg("text", { x: L + w / 2, y: T + h / 2, "text-anchor": "middle", text: "no task times: the queue keeps them while the job runs" }));
  }
  s.append(svg("text", { x: L, y: H - 4, text: "0" }));
  s.append(svg("text", { x: L + w, y: H - 4, "text-anchor": "end", text: dur(maxT) }));
  s.append(svg("text", { x: L + w / 2, y: H - 4, "text-anchor": "middle", text: `${recent.length} recent tasks, median ${dur(median(recent))}` }));
  return s;
}

function table(id, heads, rows, numeric) {
  return el("table", { id },
    el("thead", {}, el("tr", {}, ...heads.map((h, i) => el("th", { class: numeric && numeric.includes(i) ? "n" : null, text: h })))),
    el("tbody", {}, ...rows));
}

let actionNote = "";

async function act(job, action) {
  const token = sessionStorage.getItem(TOKEN_KEY) || "";
  if (!token) { actionNote = "enter the dashboard's token first"; refresh(); return; }
  actionNote = action + "…";
  try {
    const res = await fetch(BASE + "api/jobs/" + encodeURIComponent(job) + "/" + action, {
      method: "POST", cache: "no-store", credentials: "omit", headers: { "X-Fanout-Token": token },
    });
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.error || res.statusText);
    actionNote = action === "redrive" ? `redriven: ${(body.chunks || []).length} failed chunk(s) run again, ${body.enqueued} enqueued` : action + ": done";
  } catch (e) {
    actionNote = action + " failed: " + e.message;
  }
  refresh();
}

// actions fills the actions bar once per page (so that the token field
// keeps its focus and value while the rest redraws every second) and
// updates which buttons apply.
function actions(data) {
  const bar = document.getElementById("actions");
  const job = data.row.job;
  if (!bar.dataset.job) {
    bar.dataset.job = job;
    if (!data.token_required) {
      bar.append(el("span", { class: "dim", text: "Actions are disabled (start the dashboard with --ui-token)." }));
    } else {
      const input = el("input", { id: "token", type: "password", placeholder: "dashboard token", autocomplete: "off" });
      input.value = sessionStorage.getItem(TOKEN_KEY) || "";
      input.addEventListener("input", () => sessionStorage.setItem(TOKEN_KEY, input.value));
      bar.append(input,
        el("button", { id: "redrive", title: "run the failed chunks again", on: { click: () => act(job, "redrive") }, text: "Redrive" }),
        el("button", { id: "cancel", class: "danger", title: "stop the job for good", on: { click: () => { if (confirm("Cancel job " + job + "?")) act(job, "cancel"); } }, text: "Cancel" }),
        el("span", { id: "action-note", class: "dim" }));
    }
    bar.hidden = false;
  }
  const can = new Set(data.actions);
  for (const name of ["redrive", "cancel"]) {
    const b = document.getElementById(name);
    if (b) { b.disabled = !can.has(name); b.hidden = name === "cancel" && !can.has(name); }
  }
  const note = document.getElementById("action-note");
  if (note) note.textContent = actionNote;
}

function renderJob(main, data) {
  const ov = data.overview, r = data.row, c = ov.commit;
  document.getElementById("crumb").textContent = "/ " + ov.job;
  actions(data);

  const head = el("div", { class: "card", id: "summary" },
    el("h2", {}, el("span", { class: "mono", text: ov.job + " " }), stateBadge(ov.state)),
    el("div", { class: "dim mono", text: `${ov.function || ""} → ${ov.output}` }),
    el("div", { style: "margin-top:.6em" }, progressBar(r, true)),
    el("div", { class: "facts" },
      fact("tasks done", `${num(r.done)} / ${num(r.tasks)}`, `${num(ov.map_chunks)} map chunks`),
      fact("running", num(r.running), r.retrying ? `${num(r.retrying)} retrying` : null),
      fact("failed", num(r.dead)),
      fact("read", bytes(r.bytes_done), "of " + bytes(r.bytes)),
      fact("records", c ? num(c.records_in) : r.records_counted ? num(r.records_in) : r.records_estimated ? "≈ " + num(r.records_in) : "–",
        c ? `${num(c.records_out)} out` : r.records_counted ? `${num(r.records_out)} out, of the tasks done` : r.records_estimated ? `≈ ${num(r.records_out)} out, from ${r.sampled_markers} chunk markers` : "counted at commit"),
      c ? fact("rate", rate(r.records_per_second, "records/s"), data.timings && data.timings.wall ? "over the job's " + dur(data.timings.wall) : null) :
      fact("rate", r.records_per_second ? "≈ " + rate(r.records_per_second, "records/s") : rate(r.tasks_per_second, "tasks/s"),
        [r.records_per_second ? rate(r.tasks_per_second, "tasks/s") : null, r.bytes_per_second ? bytes(r.bytes_per_second) + "/s" : null].filter(Boolean).join(", ") || null),
      fact("ETA", r.eta_seconds ? dur(r.eta_seconds) : "–"),
      fact("age", age(ov.planned, data.at))),
    ov.failure ? el("p", { class: "error", id: "failure", text: ov.failure }) : null,
    ov.redrive_hold ? el("p", { class: "error", id: "redrive-hold", text: `Held by a redrive since ${new Date(ov.redrive_hold.since).toISOString()}` +
      (ov.redrive_hold.by ? ` (taken by ${ov.redrive_hold.by})` : "") + ": " + ov.redrive_hold.hint + (data.actions.includes("redrive") ? ", or press Redrive." : ".") }) : null,
    r.error ? el("p", { class: "error", text: r.error }) : null);

  const bytesPerTask = ov.map_chunks ? ov.bytes / ov.map_chunks : 0;
  const cur = throughput(data.history).pop();
  const perByte = (r.records_estimated || r.records_counted) && r.bytes_done ? r.records_in / r.bytes_done : 0;
  let tput = cur ? `${rate(cur.v, "tasks/s")}, ${bytes(cur.v * bytesPerTask)}/s` + (perByte ? `, ≈ ${rate(cur.v * bytesPerTask * perByte, "records/s")}` : "") : "–";
  if (c && data.timings && data.timings.wall) {
    const wall = data.timings.wall;
    tput = `${rate(c.records_in / wall, "records/s")}, ${bytes(c.bytes_in / wall)}/s over ${dur(wall)}`;
  }
  const charts = el("div", { class: "grid" },
    el("div", { class: "card" }, el("h2", { text: "Task states" }), statesChart(data.history, ov.tasks),
      legend(["done", "running", "retrying", "pending", "dead"])),
    el("div", { class: "card" }, el("h2", { text: "Throughput (bytes/s read)" }), throughputChart(data.history, bytesPerTask),
      el("div", { class: "legend", id: "throughput-now", text: tput })),
    el("div", { class: "card" }, el("h2", { text: "Task times" }), timesChart(ov),
      el("div", { class: "legend" }, el("span", {}, el("i", { style: `background:${COLORS.done}` }), "finished"),
        el("span", {}, el("i", { style: `background:${COLORS.running}` }), "running"),
        el("span", {}, el("i", { style: `background:${COLORS.retrying}` }), "straggler"),
        el("span", {}, el("i", { style: `background:${COLORS.backup}` }), "backup"))));

  const limit = stragglerLimit(ov);
  const slow = (ov.running || []).slice(0, 10).map((t) => {
    const backup = t.chunk.endsWith("+b"), straggler = t.running_ns / 1e9 >= limit;
    return el("tr", {}, el("td", { class: "mono" }, t.chunk.replace(/\+b$/, ""), " ",
      backup ? el("span", { class: "flag backup", text: "backup" }) : null,
      straggler ? el("span", { class: "flag straggler", text: "straggler" }) : null),
    el("td", { class: "mono", text: t.worker }), el("td", { class: "n", text: t.epoch }), el("td", { class: "n", text: dur(t.running_ns / 1e9) }));
  });
  const running = el("div", { class: "card" }, el("h2", { text: "Slowest running tasks" }),
    slow.length ? table("slowest", ["Task", "Worker", "Attempt", "Running"], slow, [2, 3]) : el("p", { class: "dim", text: "None running." }));

  const deadRows = (ov.dead_letters || []).map((d) => el("tr", { "data-chunk": d.Chunk },
    el("td", { class: "mono", text: d.Chunk }), el("td", { class: "n", text: d.Failures }), el("td", { class: "n", text: d.Deliveries }),
    el("td", { class: "reason", text: d.Reason })));
  for (const f of (c && c.failed) || []) {
    deadRows.push(el("tr", { "data-chunk": f.chunk }, el("td", { class: "mono", text: f.chunk }), el("td", { class: "n", text: "–" }),
      el("td", { class: "n", text: "–" }), el("td", { class: "reason", text: f.reason })));
  }
  const dead = el("div", { class: "card" }, el("h2", { text: `Failed tasks (${num(r.dead)})` }),
    deadRows.length ? table("dead", ["Task", "Failures", "Deliveries", "Reason"], deadRows, [1, 2]) : el("p", { class: "dim", text: "None." }),
    deadRows.length && deadRows.length < r.dead ? el("p", { class: "dim", text: `the first ${num(deadRows.length)} listed` }) : null);

  const parts = [];
  // Rejected records: the commit record's, or those of the sampled chunks.
  const rejSrc = c || data.sample;
  if (rejSrc) {
    const rej = [];
    for (const [k, v] of Object.entries(rejSrc.rejected_by_rule || {})) rej.push(el("tr", {}, el("td", { text: "rule" }), el("td", { class: "mono", text: k }), el("td", { class: "n", text: num(v) })));
    for (const [k, v] of Object.entries(rejSrc.rejected_by_column || {})) rej.push(el("tr", {}, el("td", { text: "column" }), el("td", { class: "mono", text: k }), el("td", { class: "n", text: num(v) })));
    const title = c ? `Rejected records (${num(c.rejected || 0)})` : `Rejected records in ${data.sample.markers} sampled chunks (${num(data.sample.rejected || 0)})`;
    parts.push(el("div", { class: "card" }, el("h2", { text: title }),
      rej.length ? table("rejected", ["By", "Name", "Records"], rej, [2]) : el("p", { class: "dim", text: "None." })));
  }
  if (c) {
    const prow = (data.partitions || []).map((p) => el("tr", {}, el("td", { class: "mono", text: p.partition || "(unpartitioned)" }),
      el("td", { class: "n", text: num(p.files) }), el("td", { class: "n", text: num(p.rows) }), el("td", { class: "n", text: bytes(p.bytes) })));
    const count = data.partition_count || prow.length;
    parts.push(el("div", { class: "card" }, el("h2", { text: `Committed files per partition (${num(count)})` }),
      table("partitions", ["Partition", "Files", "Rows", "Bytes"], prow, [1, 2, 3]),
      count > prow.length ? el("p", { class: "dim", text: `the ${num(prow.length)} with the most bytes` }) : null));
  } else {
    parts.push(el("div", { class: "card" }, el("h2", { text: "Committed files per partition" }),
      el("p", { class: "dim", text: "Listed by the commit record, once the job commits." })));
  }
  const cost = el("div", { class: "card", id: "cost" }, el("h2", { text: "Cost estimate" }),
    el("div", { class: "facts" },
      fact("S3 requests", c ? num(c.s3_requests_estimate) : "≥ " + num(ov.s3_requests_floor), c ? "estimated by the commit" : "plan's floor"),
      fact("Lambda GB-seconds", c ? (c.lambda_gb_seconds || 0).toFixed(1) : r.lambda_gb_seconds ? "≈ " + r.lambda_gb_seconds.toFixed(1) : "–",
        c ? null : r.lambda_gb_seconds ? `from ${r.sampled_markers} chunk markers` : "counted at commit (Lambda workers only)"),
      fact("retries", c ? num(c.retries) : "–"), fact("backups won", c ? num(c.backups || 0) : "–"),
      fact("task p50 / p95 / max", data.timings ? [data.timings.p50, data.timings.p95, data.timings.max].map(dur).join(" / ") : "–")));
  main.replaceChildren(head, charts, el("div", { class: "grid" }, running, dead), el("div", { class: "grid" }, ...parts, cost));
}

// ---- polling ----

let timer = null;

async function refresh() {
  clearTimeout(timer);
  const main = document.getElementById("main");
  const m = location.pathname.match(/^\/ui\/jobs\/([^/]+)$/);
  try {
    if (m) {
      const data = await getJSON("api/jobs/" + m[1]);
      renderJob(main, data);
      setLive(data.at);
    } else {
      const data = await getJSON("api/jobs");
      renderJobs(main, data);
      setLive(data.at);
    }
  } catch (e) {
    setLive(null, e.message);
  }
  timer = setTimeout(refresh, POLL_MS);
}

document.addEventListener("DOMContentLoaded", refresh);
