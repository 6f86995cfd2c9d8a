// A search's statistics (GET /searches/{id}/statistics, aggregated on the server): what each
// mutation type did, the hurdles' pass rates and the training they saved, and why candidates
// failed or were rejected, with the cache hits.

import * as f from "./format.js";

const $ = (id) => document.getElementById(id);

function rateBar(rate) {
  return f.el(
    "span",
    { class: "rate" },
    f.el(
      "span",
      { class: "bar slim" },
      f.el("span", { style: `width:${((rate ?? 0) * 100).toFixed(1)}%` }),
    ),
    f.percent(rate),
  );
}

function statsTable(head, rows, emptyText) {
  if (!rows.length) return f.el("p", { class: "empty-text", text: emptyText });
  return f.el(
    "table",
    { class: "data compact" },
    f.el(
      "thead",
      {},
      f.el(
        "tr",
        {},
        head.map(([text, cls]) => f.el("th", { class: cls, text })),
      ),
    ),
    f.el(
      "tbody",
      {},
      rows.map((cells) =>
        f.el(
          "tr",
          {},
          cells.map(([value, cls]) => f.el("td", { class: cls }, value)),
        ),
      ),
    ),
  );
}

export function renderStatistics(stats) {
  const N = "num";
  $("mutation-stats").replaceChildren(
    statsTable(
      [
        ["Mutation"],
        ["Applied", N],
        ["Compared", N],
        ["Beat parent", N],
        ["Rate"],
        ["Mean Δ fitness", N],
      ],
      stats.mutations.map((m) => [
        [f.mutationName(m.mutation_type)],
        [f.int(m.applied), N],
        [f.int(m.compared), N],
        [f.int(m.beat_parent), N],
        [rateBar(m.compared ? m.beat_parent / m.compared : null)],
        [
          f.el("span", {
            class: deltaClass(m.mean_fitness_change),
            text: f.signed(m.mean_fitness_change, 4),
          }),
          N,
        ],
      ]),
      "No mutation applied yet.",
    ),
  );
  const h = stats.hurdles;
  $("hurdle-note").textContent = h.count
    ? `halving hurdles at ${h.positions.map((p) => f.percent(p, 1)).join(", ")} of the budget`
    : "";
  if (!h.count) {
    $("hurdle-stats").replaceChildren(
      f.el("p", {
        class: "empty-text",
        text: "This search has no hurdles: every candidate trains its whole budget.",
      }),
    );
  } else {
    $("hurdle-stats").replaceChildren(
      statsTable(
        [["Hurdle"], ["At", N], ["Reached", N], ["Passed", N], ["Pass rate"]],
        h.levels.map((l) => [
          [`hurdle ${l.hurdle}`],
          [f.percent(h.positions[l.hurdle - 1], 1), N],
          [f.int(l.reached), N],
          [f.int(l.passed), N],
          [rateBar(l.pass_rate)],
        ]),
        "",
      ),
      h.stopped
        ? f.el(
            "p",
            { class: "stat-line", dataset: { testid: "hurdle-saved" } },
            `${f.int(h.stopped)} candidate${h.stopped === 1 ? "" : "s"} stopped at a hurdle, saving `,
            f.el("strong", { text: f.percent(h.budget_fraction_saved, 1) }),
            " of the training that every evaluated candidate would have had without hurdles",
            h.training_seconds_saved === null ? "." : ` (${f.duration(h.training_seconds_saved)}).`,
          )
        : f.el("p", {
            class: "stat-line muted",
            dataset: { testid: "hurdle-saved" },
            text: "No candidate stopped at a hurdle yet.",
          }),
    );
  }
  const reasons = (list, empty) =>
    statsTable(
      [["Reason"], ["Count", N]],
      list.map((r) => [
        [f.el("span", { class: "reason-text", text: r.reason })],
        [f.int(r.count), N],
      ]),
      empty,
    );
  $("failure-stats").replaceChildren(
    f.el(
      "div",
      { dataset: { testid: "failures" } },
      f.el("h3", { text: `Failures (${f.int(stats.counts.failed)})` }),
      reasons(stats.failures, "No candidate failed."),
    ),
    f.el(
      "div",
      { dataset: { testid: "rejections" } },
      f.el("h3", { text: `Rejections (${f.int(stats.rejected)})` }),
      reasons(stats.rejections, "No candidate was rejected."),
    ),
    f.el(
      "div",
      { dataset: { testid: "cache" } },
      f.el("h3", { text: `Cache hits (${f.int(stats.cache_hits)})` }),
      f.el("p", {
        class: "empty-text",
        text: stats.cache_hits
          ? `${f.int(stats.cache_hits)} proposal${stats.cache_hits === 1 ? "" : "s"} had a program already evaluated (same canonical hash): their fitness came from the cache, at no training cost.`
          : "No proposal repeated a program already evaluated.",
      }),
    ),
  );
}

function deltaClass(x) {
  return x === null ? "" : x < 0 ? "good" : x > 0 ? "bad" : "";
}
