// One individual: its metrics and hurdles, the diff against its parent with the mutation that
// made it, its program, and its lineage back to the seed, each step a link.

import { api, markReady, showPageError } from "./api.js";
import * as f from "./format.js";

const $ = (id) => document.getElementById(id);
const searchId = Number(document.body.dataset.searchId);
const iid = Number(document.body.dataset.iid);
const CONTEXT = 3; // unchanged lines shown around each change of the diff

function renderHeader(search, ind) {
  document.title = `#${ind.iid} of ${search.name} · primer-search`;
  const crumb = $("crumb-search");
  crumb.textContent = `${search.name} (#${search.id})`;
  crumb.href = f.searchUrl(search.id);
  $("crumb-individual").textContent = `Individual #${ind.iid}`;
  $("individual-title").textContent = `Individual #${ind.iid}`;
  $("individual-status").replaceChildren(f.badge(ind.status));
  const sub = $("individual-sub");
  const parent =
    ind.parent_iid === null
      ? "the seed"
      : f.el("a", {
          href: f.individualUrl(searchId, ind.parent_iid),
          text: `#${ind.parent_iid}`,
          dataset: { testid: "parent-link" },
        });
  sub.replaceChildren(
    ind.mutation_type ? `${f.mutationName(ind.mutation_type)} mutation of ` : "a copy of ",
    parent,
    ` · ${ind.kind} · proposed ${f.dateTime(ind.created_at)} · hash `,
    f.el("code", { text: ind.program_hash.slice(0, 12) }),
  );
  const failure = $("individual-failure");
  failure.hidden = !ind.error;
  failure.textContent = ind.error
    ? `${ind.status === "rejected" ? "Rejected" : "Failed"}: ${ind.error}`
    : "";
}

function renderMetrics(search, ind) {
  const r = ind.result || {};
  const hurdles = search.config.hurdles || 0;
  $("individual-metrics").replaceChildren(
    f.card(
      "Fitness",
      f.num(ind.fitness, 4),
      ind.status === "stopped" ? `truncated at hurdle ${ind.hurdle_reached}` : "log-perplexity",
      "metric-fitness",
    ),
    f.card(
      "Perplexity",
      f.perplexity(ind.perplexity ?? (ind.fitness === null ? null : Math.exp(ind.fitness))),
      "",
      "metric-perplexity",
    ),
    f.card(
      "Parameters",
      f.int(ind.parameter_count),
      r.d_model ? `d_model ${r.d_model}` : "",
      "metric-params",
    ),
    f.card(
      "Step time",
      f.stepTime(ind.step_seconds),
      r.tokens_per_second ? `${f.compact(r.tokens_per_second)} tokens/s` : "",
      "metric-step",
    ),
    f.card(
      "Hurdles",
      hurdles ? `${ind.hurdle_reached} / ${hurdles}` : "none",
      ind.status === "stopped" ? `stopped at hurdle ${ind.hurdle_reached}` : "",
      "metric-hurdles",
    ),
    f.card("Attempts", f.int(ind.attempts), ind.worker || "", "metric-attempts"),
    f.card(
      "Training",
      f.duration(r.train_seconds),
      r.total_seconds ? `${f.duration(r.total_seconds)} in all` : "",
      "metric-training",
    ),
  );
}

function renderHurdles(ind) {
  const list = ind.result?.hurdles;
  const box = $("individual-hurdles");
  if (!list?.length && !ind.hurdle_fitness.length) {
    box.replaceChildren(f.el("p", { class: "empty-text", text: "Not evaluated at any hurdle." }));
    return;
  }
  const rows = list?.length
    ? list.map((h) => [
        h.index,
        f.compact(h.steps),
        f.num(h.fitness, 4),
        h.threshold === null ? f.DASH : f.num(h.threshold, 4),
        h.passed ? "passed" : "stopped",
      ])
    : ind.hurdle_fitness.map((fit, k) => [
        k + 1,
        f.DASH,
        f.num(fit, 4),
        f.DASH,
        k + 1 === ind.hurdle_reached && ind.status === "stopped" ? "stopped" : "passed",
      ]);
  box.replaceChildren(
    f.el(
      "table",
      { class: "data compact" },
      f.el(
        "thead",
        {},
        f.el(
          "tr",
          {},
          ["Hurdle", "Steps", "Fitness", "Threshold", ""].map((t, k) =>
            f.el("th", { class: k && k < 4 ? "num" : "", text: t }),
          ),
        ),
      ),
      f.el(
        "tbody",
        {},
        rows.map((cells) =>
          f.el(
            "tr",
            {},
            cells.map((c, k) =>
              f.el("td", {
                class: k && k < 4 ? "num" : c === "stopped" ? "bad" : c === "passed" ? "good" : "",
                text: c,
              }),
            ),
          ),
        ),
      ),
    ),
  );
}

function renderResult(ind) {
  const r = ind.result;
  const box = $("individual-result");
  if (!r) {
    box.replaceChildren(
      f.el("p", {
        class: "empty-text",
        text: ind.kind === "train" ? "No training result yet." : `Not trained (${ind.kind}).`,
      }),
    );
    return;
  }
  const rows = [
    ["budget", r.budget],
    ["steps", f.int(r.steps)],
    ["tokens", f.int(r.tokens)],
    ["training", f.duration(r.train_seconds)],
    ["compilation", f.duration(r.compile_seconds)],
    ["evaluation", f.duration(r.eval_seconds)],
    ["final training loss", f.num(r.final_train_loss, 4)],
    ["validation tokens", f.int(r.validation_tokens)],
    ["presets", r.model_preset ? `${r.model_preset} / ${r.train_preset}` : undefined],
    ["device", r.device],
    [
      "XLA",
      r.jit_compile === undefined
        ? undefined
        : r.jit_compile
          ? "yes"
          : r.jit_fallback_reason || "no",
    ],
  ].filter(([, v]) => v !== undefined && v !== f.DASH);
  box.replaceChildren(
    f.el(
      "dl",
      { class: "kv" },
      rows.flatMap(([k, v]) => [f.el("dt", { text: k }), f.el("dd", { text: v })]),
    ),
    f.el(
      "details",
      {},
      f.el("summary", { text: "the whole record (JSON)" }),
      f.el("pre", { class: "json", text: JSON.stringify(r, null, 2) }),
    ),
  );
}

// -- code, diff, mutation -------------------------------------------------------------------------

const TOKEN =
  /(#.*$)|\b(def|return)\b|\b(x\d+)\b|\b(sub\d+|main)\b|\b([a-z][a-z0-9_]*)(?=\()|(\b\d+(?:\.\d+)?(?:e-?\d+)?u?\b)/g;
const TOKEN_CLASS = [null, "c-comment", "c-keyword", "c-var", "c-sub", "c-op", "c-num"];

// A line of the readable code as spans: comments, keywords, states, subprograms, ops, numbers.
function highlighted(text) {
  const out = [];
  let last = 0;
  for (const m of text.matchAll(TOKEN)) {
    if (m.index > last) out.push(text.slice(last, m.index));
    const group = m.findIndex((g, k) => k > 0 && g !== undefined);
    out.push(f.el("span", { class: TOKEN_CLASS[group], text: m[0] }));
    last = m.index + m[0].length;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}

function codeLine(text, gutter, cls = "") {
  return f.el(
    "div",
    { class: `line ${cls}` },
    ...gutter.map((g) => f.el("span", { class: "ln", text: g ?? "" })),
    f.el("span", { class: "src" }, highlighted(text)),
  );
}

function renderProgram(ind) {
  const box = $("program");
  if (!ind.code) {
    box.replaceChildren(f.el("p", { class: "empty-text", text: "No program stored." }));
    return;
  }
  const lines = ind.code.replace(/\n$/, "").split("\n");
  $("program-meta").textContent = `${lines.length} lines`;
  box.replaceChildren(
    f.el(
      "pre",
      { id: "program-code", dataset: { testid: "program-code" } },
      lines.map((t, k) => codeLine(t, [k + 1])),
    ),
  );
}

function describeValue(v) {
  if (v === null || v === undefined) return "∅";
  if (typeof v === "number")
    return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)));
  if (typeof v !== "object") return String(v).toLowerCase();
  if (v.op) {
    const name = v.op === "CALL" ? `sub${v.callee}` : String(v.op).toLowerCase();
    return `${name}(x${v.input1}, x${v.input2})`;
  }
  return JSON.stringify(v);
}

// What the mutation did, in words (primer_search/mutation.py's MutationRecord): positions are
// the parent's, except an insertion's, which is the child's.
function mutationSummary(m) {
  if (!m) return ["A copy of its parent: no mutation."];
  const sub =
    m.subprogram === null || m.subprogram === undefined
      ? ""
      : m.subprogram === 0
        ? "main"
        : `sub${m.subprogram}`;
  const code = (v, cls) => f.el("code", { class: cls, text: describeValue(v) });
  const parts = [f.el("strong", { text: f.mutationName(m.type) })];
  const given = (v) => v !== null && v !== undefined;
  if (![m.subprogram, m.instruction, m.field, m.old, m.new].some(given)) return parts; // no details recorded
  parts.push(": ");
  switch (m.type) {
    case "delete":
      parts.push(`removed instruction ${m.instruction} of ${sub}, `, code(m.old, "old"));
      break;
    case "insert":
      parts.push(`inserted `, code(m.new, "new"), ` at position ${m.instruction} of ${sub}`);
      break;
    case "delete_and_insert":
      parts.push(
        `removed instruction ${m.instruction} of ${sub}, `,
        code(m.old, "old"),
        `, and inserted `,
        code(m.new, "new"),
        ` at position ${m.second_instruction}`,
      );
      break;
    case "swap":
      parts.push(`swapped instructions ${m.instruction} and ${m.second_instruction} of ${sub}`);
      break;
    case "change_bank":
      parts.push(
        `changed `,
        f.el("code", { text: m.field }),
        ` from `,
        code(m.old, "old"),
        ` to `,
        code(m.new, "new"),
      );
      break;
    default: // change_field
      parts.push(
        `changed `,
        f.el("code", { text: m.field || "a field" }),
        ` of instruction ${m.instruction} of ${sub} from `,
        code(m.old, "old"),
        ` to `,
        code(m.new, "new"),
      );
  }
  if (m.retries) parts.push(` (after ${m.retries} discarded tr${m.retries === 1 ? "y" : "ies"})`);
  if (m.same_graph) parts.push(" — it still computes its parent's graph");
  return parts;
}

function renderDiff(diff, error) {
  const box = $("diff");
  if (error) {
    $("mutation").replaceChildren();
    box.replaceChildren(f.el("p", { class: "empty-text", text: `No diff: ${error.message}` }));
    return;
  }
  $("mutation").replaceChildren(...mutationSummary(diff.mutation));
  const changed = diff.lines.filter((l) => l.op !== "equal").length;
  $("diff-summary").textContent =
    `against ${diff.parent_label} · ${changed} line${changed === 1 ? "" : "s"} changed`;
  if (!changed) {
    box.replaceChildren(
      f.el("p", {
        class: "empty-text",
        text: "The code is the same as its parent's (a change the readable code does not show, e.g. an ignored field).",
      }),
    );
    return;
  }
  // Unchanged runs longer than the context collapse into a button that shows them.
  const near = diff.lines.map(() => false);
  diff.lines.forEach((l, k) => {
    if (l.op === "equal") return;
    for (let j = Math.max(0, k - CONTEXT); j <= Math.min(diff.lines.length - 1, k + CONTEXT); j++)
      near[j] = true;
  });
  const pre = f.el("pre", { id: "diff-code", dataset: { testid: "diff-code" } });
  let hidden = [];
  const flush = () => {
    if (!hidden.length) return;
    const rows = hidden.map((l) => codeLine(l.text, [l.old, l.new, " "]));
    const fold = f.el("button", {
      type: "button",
      class: "fold",
      text: `⋯ ${hidden.length} unchanged line${hidden.length === 1 ? "" : "s"}`,
    });
    fold.addEventListener("click", () => fold.replaceWith(...rows));
    pre.append(fold);
    hidden = [];
  };
  diff.lines.forEach((l, k) => {
    if (l.op === "equal" && !near[k]) {
      hidden.push(l);
      return;
    }
    flush();
    const sign = l.op === "insert" ? "+" : l.op === "delete" ? "−" : " ";
    pre.append(
      codeLine(
        l.text,
        [l.old, l.new, sign],
        l.op === "equal" ? "" : l.op === "insert" ? "ins" : "del",
      ),
    );
  });
  flush();
  box.replaceChildren(pre);
}

// -- lineage --------------------------------------------------------------------------------------

function renderLineage(search, lineage) {
  const steps = [...lineage.data].reverse(); // the seed's child first
  const seed = search.config.seed || "given DNA";
  $("lineage-meta").textContent =
    `${steps.length} generation${steps.length === 1 ? "" : "s"} from the seed`;
  const items = [
    f.el(
      "li",
      { class: "step seed", dataset: { testid: "lineage-seed" } },
      f.el("span", { class: "dot" }),
      f.el(
        "div",
        { class: "step-main" },
        f.el("strong", { text: `seed ${seed}` }),
        f.el("div", {
          class: "muted",
          text: lineage.reaches_seed
            ? "where the search started"
            : "(the chain is cut: an ancestor is missing)",
        }),
      ),
    ),
  ];
  for (const s of steps) {
    const current = s.iid === iid;
    const change = s.fitness_change;
    items.push(
      f.el(
        "li",
        {
          class: `step${current ? " current" : ""}`,
          dataset: { testid: "lineage-step", iid: s.iid },
        },
        f.el("span", { class: "dot" }),
        f.el(
          "div",
          { class: "step-main" },
          current
            ? f.el("strong", { text: `#${s.iid} (this one)` })
            : f.el("a", {
                href: f.individualUrl(searchId, s.iid),
                text: `#${s.iid}`,
                dataset: { testid: "lineage-link" },
              }),
          " ",
          f.badge(s.status),
          f.el("div", { class: "muted", text: f.mutationName(s.mutation_type) }),
        ),
        f.el(
          "div",
          { class: "step-fit" },
          f.el("div", { class: "mono", text: f.num(s.fitness, 4) }),
          f.el("div", {
            class: `mono ${change === null ? "muted" : change < 0 ? "good" : change > 0 ? "bad" : ""}`,
            text: change === null ? "" : f.signed(change, 4),
          }),
        ),
      ),
    );
  }
  $("lineage").replaceChildren(...items);
}

async function start() {
  const base = `/searches/${searchId}`;
  try {
    const [search, ind, lineage, diff] = await Promise.allSettled([
      api(base),
      api(`${base}/individuals/${iid}`),
      api(`${base}/individuals/${iid}/lineage`),
      api(`${base}/individuals/${iid}/diff`),
    ]);
    for (const part of [search, ind, lineage]) if (part.status === "rejected") throw part.reason;
    renderHeader(search.value, ind.value);
    renderMetrics(search.value, ind.value);
    renderHurdles(ind.value);
    renderResult(ind.value);
    renderProgram(ind.value);
    renderDiff(diff.value, diff.status === "rejected" ? diff.reason : null);
    renderLineage(search.value, lineage.value);
    markReady();
  } catch (error) {
    showPageError(error);
    markReady("error");
  }
}

start();
