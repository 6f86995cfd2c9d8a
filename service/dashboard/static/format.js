// Small DOM and formatting helpers shared by the pages. Text always goes in through
// textContent: nothing from the API is ever parsed as HTML.

export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

export const DASH = "–";

// Numbers are formatted by hand, not with toLocaleString: the first Intl call of a page costs
// tens of milliseconds, and a page formats thousands of numbers.
function grouped(text) {
  const dot = text.indexOf(".");
  const whole = dot < 0 ? text : text.slice(0, dot);
  const sign = whole[0] === "-" ? "-" : "";
  const digits = whole.slice(sign.length).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return sign + digits + (dot < 0 ? "" : text.slice(dot));
}

export function int(n) {
  return n === null || n === undefined || !Number.isFinite(n)
    ? DASH
    : grouped(Math.round(n).toString());
}

export function num(x, digits = 3) {
  if (x === null || x === undefined || !Number.isFinite(x)) return DASH;
  return grouped(x.toFixed(digits));
}

// An axis tick: round values stay short ("150", not "150.0").
export function tick(x) {
  if (!Number.isFinite(x)) return DASH;
  return Math.abs(x) >= 1e4 ? compact(x) : Number(x.toPrecision(6)).toString();
}

// A rate per hour: whole numbers from 100 up.
export function rate(x) {
  return x === null || x === undefined || !Number.isFinite(x) ? DASH : num(x, x >= 100 ? 0 : 1);
}

export function signed(x, digits = 3) {
  if (x === null || x === undefined || !Number.isFinite(x)) return DASH;
  return (x > 0 ? "+" : x < 0 ? "−" : "±") + Math.abs(x).toFixed(digits);
}

export function perplexity(x) {
  if (x === null || x === undefined || !Number.isFinite(x)) return DASH;
  return x >= 1000 ? int(x) : x >= 100 ? x.toFixed(1) : x.toFixed(2);
}

// 1,491,952 -> "1.49M": parameter counts and other large counts on axes and cards.
export function compact(n) {
  if (n === null || n === undefined || !Number.isFinite(n)) return DASH;
  const a = Math.abs(n);
  if (a >= 1e9) return `${trim(n / 1e9)}G`;
  if (a >= 1e6) return `${trim(n / 1e6)}M`;
  if (a >= 1e4) return `${trim(n / 1e3)}k`;
  return trim(n);
}

function trim(x) {
  return Number(x.toPrecision(3)).toString();
}

export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return DASH;
  if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
  if (seconds < 90) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
  if (seconds < 5400) return `${(seconds / 60).toFixed(seconds < 600 ? 1 : 0)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

export function stepTime(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return DASH;
  return seconds < 1 ? `${(seconds * 1000).toPrecision(3)} ms` : `${seconds.toFixed(2)} s`;
}

export function percent(x, digits = 0) {
  if (x === null || x === undefined || !Number.isFinite(x)) return DASH;
  return `${(x * 100).toFixed(digits)}%`;
}

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const two = (n) => String(n).padStart(2, "0");

// "22 Nov 2026, 21:11" in the browser's time zone.
export function dateTime(iso) {
  if (!iso) return DASH;
  const d = new Date(iso);
  return `${d.getDate()} ${MONTHS[d.getMonth()]} ${d.getFullYear()}, ${two(d.getHours())}:${two(d.getMinutes())}`;
}

export function clock(d = new Date()) {
  return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

export function badge(status) {
  return el("span", { class: `badge s-${status}`, text: status, dataset: { status } });
}

export function mutationName(type) {
  return type ? type.replaceAll("_", " ") : "seed copy";
}

export const searchUrl = (id) => `/search/${id}`;
export const individualUrl = (id, iid) => `/search/${id}/individual/${iid}`;

export const LIVE_STATUSES = new Set(["created", "running", "paused"]);

// A card of the summary rows: a label, a value, and an optional line under it.
export function card(label, value, note, testid) {
  return el(
    "div",
    { class: "card", dataset: testid ? { testid } : undefined },
    el("div", { class: "card-label", text: label }),
    el("div", { class: "card-value", text: value }),
    note ? el("div", { class: "card-note", text: note, title: note }) : null,
  );
}

export function emptyRow(table, text) {
  const columns = table.tHead.rows[0].cells.length;
  const body = table.tBodies[0];
  body.replaceChildren(el("tr", { class: "empty" }, el("td", { colspan: columns, text })));
}
