// The searches of this store, paged, with their progress and actions, and the form that
// launches a new one. Polled while a search on the page can change.

import { api, fieldErrors, markReady, showPageError } from "./api.js";
import * as f from "./format.js";

const $ = (id) => document.getElementById(id);
const PAGE = 20;
const POLL_MS = 5000;
let offset = 0;
let timer = null;

function progressCell(s) {
  // Pages of searches carry no config: a running search's budget is on its own page.
  const bar = f.el(
    "div",
    { class: "bar" },
    f.el("span", { style: `width:${s.status === "finished" ? 100 : 0}%` }),
  );
  return f.el(
    "td",
    { class: "progress" },
    f.el("div", { class: "progress-text", text: `${f.int(s.evaluated)} evaluated` }),
    bar,
  );
}

function actionButtons(s) {
  const enabled = {
    pause: s.status === "running" || s.status === "created",
    resume: ["paused", "stopped", "created"].includes(s.status),
    stop: ["running", "paused", "created"].includes(s.status),
  };
  return Object.entries(enabled)
    .filter(([, on]) => on)
    .map(([action]) =>
      f.el("button", {
        type: "button",
        class: `btn small${action === "stop" ? " danger" : ""}`,
        text: action,
        dataset: { testid: `${action}-${s.id}` },
        onclick: async (event) => {
          event.target.disabled = true;
          try {
            await api(`/searches/${s.id}/${action}`, { method: "POST" });
          } catch (error) {
            $("connection").textContent = `${action} refused: ${error.detail || error.message}`;
          }
          await load();
        },
      }),
    );
}

function row(s) {
  const best = s.best_fitness === null ? null : Math.exp(s.best_fitness);
  return f.el(
    "tr",
    { dataset: { searchId: s.id, status: s.status } },
    f.el("td", { class: "num", text: s.id }),
    f.el(
      "td",
      {},
      f.el("a", { href: f.searchUrl(s.id), text: s.name, dataset: { testid: "search-link" } }),
    ),
    f.el(
      "td",
      {},
      f.badge(s.status),
      s.error ? f.el("div", { class: "reason", title: s.error, text: s.error }) : null,
    ),
    progressCell(s),
    f.el(
      "td",
      { class: "num" },
      s.best_iid === null
        ? f.DASH
        : f.el("a", { href: f.individualUrl(s.id, s.best_iid), text: f.perplexity(best) }),
    ),
    f.el("td", { class: "num", text: f.rate(s.evaluations_per_hour) }),
    f.el("td", { class: "num", text: f.duration(s.elapsed_seconds) }),
    f.el("td", { class: "nowrap", text: f.dateTime(s.created_at) }),
    f.el("td", { class: "actions-col" }, actionButtons(s)),
  );
}

// The progress of the running searches of the page comes from their detail (config + counts).
async function fillProgress(rows) {
  await Promise.all(
    rows.map(async (s) => {
      const d = await api(`/searches/${s.id}`);
      const c = d.config;
      const cell = document.querySelector(`tr[data-search-id="${s.id}"] td.progress`);
      if (!cell) return;
      let fraction = d.status === "finished" ? 1 : 0;
      if (c.max_evaluations) fraction = Math.max(fraction, d.evaluated / c.max_evaluations);
      if (c.deadline_seconds && d.elapsed_seconds)
        fraction = Math.max(fraction, d.elapsed_seconds / c.deadline_seconds);
      fraction = Math.min(1, fraction);
      cell.querySelector(".progress-text").textContent = c.max_evaluations
        ? `${f.int(d.evaluated)} / ${f.int(c.max_evaluations)}`
        : `${f.int(d.evaluated)} evaluated`;
      cell.querySelector(".bar span").style.width = `${(fraction * 100).toFixed(1)}%`;
    }),
  );
}

async function load() {
  const page = await api(`/searches?offset=${offset}&limit=${PAGE}`);
  const table = $("searches-table");
  if (page.data.length === 0) f.emptyRow(table, "No search yet: launch one with the form.");
  else table.tBodies[0].replaceChildren(...page.data.map(row));
  $("searches-count").textContent = `${f.int(page.total)} search${page.total === 1 ? "" : "es"}`;
  const last = Math.min(offset + PAGE, page.total);
  $("searches-page-info").textContent = page.total ? `${offset + 1}–${last} of ${page.total}` : "";
  $("searches-prev").disabled = offset === 0;
  $("searches-next").disabled = last >= page.total;
  $("searches-pager").hidden = page.total <= PAGE;
  await fillProgress(page.data);
  clearTimeout(timer);
  if (page.data.some((s) => f.LIVE_STATUSES.has(s.status)))
    timer = setTimeout(() => load().catch(() => {}), POLL_MS);
}

$("searches-prev").addEventListener("click", () => {
  offset = Math.max(0, offset - PAGE);
  load();
});
$("searches-next").addEventListener("click", () => {
  offset += PAGE;
  load();
});

// -- the launch form ------------------------------------------------------------------------------

function config(form) {
  const v = (name) => form.elements[name].value.trim();
  const n = (name) => (v(name) === "" ? undefined : Number(v(name)));
  const data = { source: v("data_source") };
  if (v("vocab_size")) data.vocab_size = n("vocab_size");
  if (data.source === "text")
    data.train_paths = v("train_paths")
      .split("\n")
      .map((p) => p.trim())
      .filter(Boolean);
  return {
    name: v("name"),
    seed: v("seed"),
    preset: v("preset"),
    data,
    budget: v("budget"),
    hurdles: n("hurdles"),
    population_size: n("population_size"),
    tournament_size: n("tournament_size"),
    max_evaluations: n("max_evaluations"),
    evaluators: n("evaluators"),
    rng_seed: n("rng_seed"),
  };
}

async function launch(event) {
  event.preventDefault();
  const form = event.target;
  const errors = $("launch-errors");
  errors.hidden = true;
  $("launch-submit").disabled = true;
  try {
    const created = await api("/searches", { method: "POST", body: config(form) });
    window.location.href = f.searchUrl(created.id);
  } catch (error) {
    errors.replaceChildren(...fieldErrors(error).map((text) => f.el("div", { text })));
    errors.hidden = false;
    $("launch-submit").disabled = false;
  }
}

async function loadSeeds() {
  const seeds = await api("/seeds");
  const select = $("f-seed");
  select.replaceChildren(
    ...seeds.data.map((s) => f.el("option", { value: s.name, text: s.name, title: s.note })),
  );
  select.value = seeds.data.some((s) => s.name === "transformer") ? "transformer" : select.value;
}

$("launch-form").addEventListener("submit", launch);
$("f-data").addEventListener("change", (e) => {
  $("f-paths-label").hidden = e.target.value !== "text";
});

Promise.all([load(), loadSeeds()])
  .then(() => markReady())
  .catch((error) => {
    showPageError(error);
    markReady("error");
  });
