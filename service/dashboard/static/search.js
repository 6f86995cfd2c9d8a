// One search: its progress, the fitness of every evaluated individual, the Pareto views, the
// individuals table and the statistics; polled every few seconds while the search can change.
// The fitness points come incrementally (`/points?after=last_seq`): a poll sends only the
// results recorded since the previous one.

import { api, markReady, showPageError } from "./api.js";
import { ScatterChart, paretoFront } from "./chart.js";
import * as f from "./format.js";
import { renderStatistics } from "./statistics.js";
import { PopulationTable } from "./table.js";

const $ = (id) => document.getElementById(id);
const searchId = Number(document.body.dataset.searchId);
const POLL_MS = 3000;
const PAUSED_POLL_MS = 10000; // a paused search only finishes the work it had in flight
const POINTS_PAGE = 50000; // the API's largest answer (MAX_POINTS; pages.py prefetches it)

const COLORS = {
  done: "#2563eb",
  front: "#f59e0b",
  best: "#0f172a",
  failed: "#dc2626",
  hurdles: ["#f97316", "#a855f7", "#14b8a6", "#ec4899", "#84cc16", "#64748b", "#eab308", "#06b6d4"],
};

const points = {
  seq: [],
  iid: [],
  status: [],
  fitness: [],
  perplexity: [],
  hurdle_reached: [],
  parameter_count: [],
  step_seconds: [],
  seconds: [],
  mutation_type: [],
  parent_iid: [],
};
let lastSeq = 0;
let search = null;
let stats = null;
let xMode = "index";
let timer = null;

const fitnessChart = new ScatterChart($("fitness-chart"), {
  label: "fitness of every evaluated individual",
  yLog: true,
  yLabel: "validation perplexity",
  formatY: f.tick,
  describe: describePoint,
  onPick: (i) => openIndividual(points.iid[i]),
});
const paramsChart = new ScatterChart($("pareto-params"), {
  label: "perplexity against parameter count",
  yLog: true,
  xLabel: "parameters",
  yLabel: "perplexity",
  formatX: f.compact,
  formatY: f.tick,
});
const stepChart = new ScatterChart($("pareto-step"), {
  label: "perplexity against step time",
  yLog: true,
  xLabel: "seconds per training step",
  yLabel: "perplexity",
  formatX: f.stepTime,
  formatY: f.tick,
});
const table = new PopulationTable(searchId, $("population-table"));

function openIndividual(iid) {
  window.location.href = f.individualUrl(searchId, iid);
}

function yOf(i) {
  if (points.status[i] === "failed") return null;
  return points.perplexity[i] ?? (points.fitness[i] === null ? null : Math.exp(points.fitness[i]));
}

function describePoint(i) {
  const s = points.status[i];
  const lines = [
    `#${points.iid[i]} · ${s}${s === "stopped" ? ` at hurdle ${points.hurdle_reached[i]}` : ""}`,
  ];
  if (s !== "failed")
    lines.push(`perplexity ${f.perplexity(yOf(i))} · fitness ${f.num(points.fitness[i], 4)}`);
  const parent = points.parent_iid[i];
  lines.push(
    `${f.mutationName(points.mutation_type[i])} of ${parent === null ? "the seed" : `#${parent}`}`,
  );
  if (points.parameter_count[i] !== null) {
    lines.push(
      `${f.compact(points.parameter_count[i])} params · ${f.stepTime(points.step_seconds[i])} / step`,
    );
  }
  lines.push(`evaluation ${f.int(i + 1)} · at ${f.duration(points.seconds[i])}`);
  return lines;
}

async function fetchPoints() {
  for (;;) {
    const page = await api(`/searches/${searchId}/points?after=${lastSeq}&limit=${POINTS_PAGE}`);
    const first = points.iid.length === 0;
    for (const key of Object.keys(points)) {
      const column = page[key];
      if (first)
        points[key] = column; // the whole search at once: no copy
      else for (let i = 0; i < column.length; i++) points[key].push(column[i]);
    }
    if (page.last_seq !== null) lastSeq = page.last_seq;
    if (page.count < POINTS_PAGE) return page.count;
  }
}

// -- the charts -----------------------------------------------------------------------------------

function hurdleCount() {
  let k = stats?.hurdles.count ?? search?.config.hurdles ?? 0;
  for (const h of points.hurdle_reached) if (h > k) k = h;
  return k;
}

function renderFitness() {
  const n = points.iid.length;
  const K = hurdleCount();
  // Categories: failed (a band above the plot), stopped at hurdle 1..K, trained to the end.
  const categories = [{ label: "failed", color: COLORS.failed, mark: "cross" }];
  for (let k = 1; k <= K; k++) {
    categories.push({
      label: `stopped at hurdle ${k}`,
      color: COLORS.hurdles[(k - 1) % COLORS.hurdles.length],
      alpha: 0.7,
    });
  }
  categories.push({
    label: K ? `passed all ${K} hurdle${K > 1 ? "s" : ""}` : "trained to the end",
    color: COLORS.done,
  });
  const x = new Array(n);
  const y = new Array(n);
  const category = new Array(n);
  const best = { x: [], y: [], color: COLORS.best, label: "best so far", step: true, width: 2 };
  let bestY = Infinity;
  for (let i = 0; i < n; i++) {
    x[i] = xMode === "index" ? i + 1 : points.seconds[i];
    y[i] = yOf(i);
    const s = points.status[i];
    category[i] =
      s === "failed"
        ? 0
        : s === "stopped"
          ? Math.min(Math.max(points.hurdle_reached[i], 1), K)
          : K + 1;
    if (s === "done" && y[i] !== null && y[i] < bestY) {
      bestY = y[i];
      best.x.push(x[i]);
      best.y.push(y[i]);
    }
  }
  if (best.x.length) best.extendTo = x[n - 1];
  const allFailed = n > 0 && category.every((c) => c === 0);
  fitnessChart.options.xLabel = xMode === "index" ? "evaluation #" : "wall time since the start";
  fitnessChart.options.xTime = xMode === "time";
  fitnessChart.options.formatX = xMode === "index" ? f.int : f.duration;
  fitnessChart.setData({
    x,
    y,
    category,
    categories,
    lines: [best],
    stripLabel: "failed",
    emptyText: emptyText(),
    note: allFailed ? "Every evaluated candidate failed: the reasons are listed below." : "",
  });
}

function emptyText() {
  if (!search) return "";
  if (f.LIVE_STATUSES.has(search.status) && search.status !== "paused")
    return "No candidate evaluated yet: the first results appear here as they arrive.";
  return "No candidate was evaluated in this search.";
}

function renderPareto() {
  const done = [];
  for (let i = 0; i < points.iid.length; i++) if (points.status[i] === "done") done.push(i);
  const empty = points.iid.length ? "No candidate was trained to the end." : emptyText();
  for (const [chart, column] of [
    [paramsChart, "parameter_count"],
    [stepChart, "step_seconds"],
  ]) {
    const x = done.map((i) => points[column][i]);
    const y = done.map((i) => yOf(i));
    const front = paretoFront(x, y);
    const onFront = new Set(front.index);
    chart.options.describe = (j) => describePoint(done[j]);
    chart.options.onPick = (j) => openIndividual(points.iid[done[j]]);
    chart.setData({
      x,
      y,
      category: done.map((_, j) => (onFront.has(j) ? 1 : 0)),
      categories: [
        { label: "trained to the end", color: COLORS.done, alpha: 0.55 },
        { label: "on the Pareto front", color: COLORS.front, radius: 3.6, alpha: 1 },
      ],
      lines: [{ x: front.x, y: front.y, color: COLORS.front, step: true, width: 1.5 }],
      emptyText: empty,
    });
  }
}

// -- the header and the cards ---------------------------------------------------------------------

function renderHeader() {
  const c = search.config;
  document.title = `${search.name} (search ${search.id}) · primer-search`;
  $("crumb-search").textContent = `${search.name} (#${search.id})`;
  $("search-title").textContent = search.name;
  $("search-status").replaceChildren(f.badge(search.status));
  const data = c.data ? c.data.source : "builtin";
  $("search-sub").textContent = [
    `#${search.id}`,
    c.seed ? `seed ${c.seed}` : "given DNA",
    `preset ${c.preset}`,
    `${c.budget} per candidate`,
    `population ${c.population_size}, tournament ${c.tournament_size}`,
    c.hurdles ? `${c.hurdles} hurdle${c.hurdles > 1 ? "s" : ""}` : "no hurdles",
    `${data} data`,
    `created ${f.dateTime(search.created_at)}`,
  ].join(" · ");
  const s = search.status;
  $("btn-pause").disabled = !(s === "running" || s === "created");
  $("btn-resume").disabled = !(
    s === "paused" ||
    s === "stopped" ||
    s === "created" ||
    (s === "running" && !search.driven)
  );
  $("btn-stop").disabled = !(s === "running" || s === "paused" || s === "created");
  $("live").hidden = !f.LIVE_STATUSES.has(s);
  renderNote();
}

function renderNote() {
  const box = $("search-note");
  const s = search.status;
  let text = "";
  let kind = "";
  if (s === "failed")
    [text, kind] = [`The search failed: ${search.error || "no reason recorded"}`, "error"];
  else if (s === "finished")
    text = `Finished ${f.dateTime(search.finished_at)} after ${f.int(search.evaluated)} evaluations.`;
  else if (s === "stopped")
    text = `Stopped ${f.dateTime(search.finished_at)}; Resume goes on from where it stopped.`;
  else if (s === "paused")
    text = "Paused: the candidates in training finish, no new ones are proposed.";
  box.className = `alert ${kind}`;
  box.textContent = text;
  box.hidden = !text;
  box.dataset.testid = "search-note";
}

function renderSummary() {
  const c = search.config;
  const counts = search.counts;
  const evaluated = search.evaluated ?? counts.evaluated;
  const fractions = [];
  if (c.max_evaluations) fractions.push(evaluated / c.max_evaluations);
  if (c.deadline_seconds && search.elapsed_seconds !== null)
    fractions.push(search.elapsed_seconds / c.deadline_seconds);
  const progress = search.status === "finished" ? 1 : Math.min(1, Math.max(0, ...fractions));
  const bestPpl = search.best_fitness === null ? null : Math.exp(search.best_fitness);
  const progressCard = f.card(
    "Evaluated",
    f.int(evaluated),
    c.max_evaluations
      ? `of ${f.int(c.max_evaluations)} · ${f.percent(progress)}`
      : `${f.percent(progress)} of the deadline`,
    "card-evaluated",
  );
  progressCard.append(
    f.el("div", { class: "bar" }, f.el("span", { style: `width:${(progress * 100).toFixed(1)}%` })),
  );
  const bestCard = f.card(
    "Best perplexity",
    f.perplexity(bestPpl),
    search.best_iid === null
      ? "none trained to the end yet"
      : ` · fitness ${f.num(search.best_fitness, 4)}`,
    "card-best",
  );
  if (search.best_iid !== null) {
    bestCard.querySelector(".card-note").prepend(
      f.el("a", {
        href: f.individualUrl(searchId, search.best_iid),
        text: `#${search.best_iid}`,
        dataset: { testid: "best-link" },
      }),
    );
  }
  $("summary").replaceChildren(
    progressCard,
    bestCard,
    f.card(
      "Evals / hour",
      f.rate(search.evaluations_per_hour),
      `elapsed ${f.duration(search.elapsed_seconds)}`,
      "card-rate",
    ),
    f.card(
      "In flight",
      f.int(counts.running + counts.pending),
      `${f.int(counts.running)} training, ${f.int(counts.pending)} waiting`,
      "card-flight",
    ),
    f.card(
      "Failed",
      f.int(counts.failed),
      evaluated ? `${f.percent(counts.failed / evaluated, 1)} of evaluated` : "",
      "card-failed",
    ),
    f.card(
      "Stopped early",
      f.int(counts.stopped_at_hurdle),
      search.config.hurdles ? "at a hurdle" : "no hurdles",
      "card-stopped",
    ),
    f.card("Cache hits", f.int(counts.cache_hits), "known programs", "card-cache"),
    f.card("Rejected", f.int(counts.rejected), "by the static gate", "card-rejected"),
  );
}

// -- actions and polling --------------------------------------------------------------------------

async function act(action) {
  for (const id of ["btn-pause", "btn-resume", "btn-stop"]) $(id).disabled = true;
  try {
    search = await api(`/searches/${searchId}/${action}`, { method: "POST" });
  } catch (error) {
    $("connection").textContent = `${action} refused: ${error.detail || error.message}`;
    search = await api(`/searches/${searchId}`);
  }
  renderHeader();
  renderSummary();
  schedule(500);
}

for (const action of ["pause", "resume", "stop"])
  $(`btn-${action}`).addEventListener("click", () => act(action));

for (const button of $("fitness-x").querySelectorAll("button")) {
  button.addEventListener("click", () => {
    xMode = button.dataset.x;
    for (const b of $("fitness-x").querySelectorAll("button"))
      b.classList.toggle("on", b === button);
    renderFitness();
  });
}

function schedule(ms) {
  clearTimeout(timer);
  timer = null;
  if (search && f.LIVE_STATUSES.has(search.status))
    timer = setTimeout(poll, ms ?? (search.status === "paused" ? PAUSED_POLL_MS : POLL_MS));
}

async function refresh() {
  const before = points.iid.length;
  const [detail, , statistics] = await Promise.all([
    api(`/searches/${searchId}`),
    fetchPoints(),
    api(`/searches/${searchId}/statistics`),
  ]);
  search = detail;
  stats = statistics;
  renderHeader();
  renderSummary();
  renderStatistics(stats);
  if (points.iid.length !== before) {
    renderFitness();
    renderPareto();
  }
  await table.load();
  $("connection").textContent = f.LIVE_STATUSES.has(search.status) ? `updated ${f.clock()}` : "";
}

async function poll() {
  const wasLive = f.LIVE_STATUSES.has(search.status);
  try {
    await refresh();
    // The results recorded just before the search ended may have missed this round's points.
    if (wasLive && !f.LIVE_STATUSES.has(search.status)) await refresh();
  } catch (error) {
    $("connection").textContent = `connection lost (${error.message}); retrying`;
  }
  schedule();
}

async function start() {
  try {
    const [detail, , statistics] = await Promise.all([
      api(`/searches/${searchId}`),
      fetchPoints(),
      api(`/searches/${searchId}/statistics`),
      table.load(),
    ]);
    search = detail;
    stats = statistics;
    renderHeader();
    renderSummary();
    renderStatistics(stats);
    renderFitness();
    renderPareto();
    // Ready once the browser has painted what was drawn: a task queued from the next frame's
    // callback runs after that frame is rendered.
    await new Promise((resolve) => requestAnimationFrame(() => setTimeout(resolve, 0)));
    markReady(points.iid.length ? "ok" : "empty");
    schedule();
  } catch (error) {
    showPageError(error);
    markReady("error");
  }
}

start();
