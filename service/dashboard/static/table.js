// The individuals of one search as a table paged and sorted on the server: one request per
// page, whatever the size of the search.

import { api } from "./api.js";
import * as f from "./format.js";

export class PopulationTable {
  constructor(searchId, table) {
    this.searchId = searchId;
    this.table = table;
    this.state = {
      offset: 0,
      limit: 25,
      sortBy: "fitness",
      order: "asc",
      status: "",
      population: false,
    };
    this.total = 0;
    this.loading = null;
    this.bindControls();
  }

  bindControls() {
    const $ = (id) => document.getElementById(id);
    for (const th of this.table.querySelectorAll("th[data-sort]")) {
      th.tabIndex = 0;
      const sort = () => {
        const key = th.dataset.sort;
        const same = this.state.sortBy === key;
        this.state.order = same && this.state.order === "asc" ? "desc" : "asc";
        this.state.sortBy = key;
        this.state.offset = 0;
        this.load();
      };
      th.addEventListener("click", sort);
      th.addEventListener("keydown", (e) => e.key === "Enter" && sort());
    }
    $("table-status").addEventListener("change", (e) => this.filter({ status: e.target.value }));
    $("table-population").addEventListener("change", (e) =>
      this.filter({ population: e.target.checked }),
    );
    $("table-size").addEventListener("change", (e) =>
      this.filter({ limit: Number(e.target.value) }),
    );
    $("page-first").addEventListener("click", () => this.go(0));
    $("page-prev").addEventListener("click", () => this.go(this.state.offset - this.state.limit));
    $("page-next").addEventListener("click", () => this.go(this.state.offset + this.state.limit));
    $("page-last").addEventListener("click", () =>
      this.go(Math.floor(Math.max(0, this.total - 1) / this.state.limit) * this.state.limit),
    );
    this.table.tBodies[0].addEventListener("click", (e) => {
      const row = e.target.closest("tr[data-iid]");
      if (row && !e.target.closest("a"))
        window.location.href = f.individualUrl(this.searchId, row.dataset.iid);
    });
  }

  filter(change) {
    Object.assign(this.state, change, { offset: 0 });
    this.load();
  }

  go(offset) {
    const clamped = Math.max(0, Math.min(offset, Math.max(0, this.total - 1)));
    if (clamped === this.state.offset) return;
    this.state.offset = clamped;
    this.load();
  }

  query() {
    const s = this.state;
    const q = new URLSearchParams({
      offset: s.offset,
      limit: s.limit,
      sort_by: s.sortBy,
      order: s.order,
    });
    if (s.status) q.append("status", s.status);
    if (s.population) q.set("population", "true");
    return q;
  }

  // Loads the current page; a load asked for while one runs replaces it (last one wins).
  async load() {
    const request = this.query().toString();
    this.pending = request;
    try {
      const page = await api(`/searches/${this.searchId}/individuals?${request}`);
      if (this.pending !== request) return;
      this.total = page.total;
      this.render(page);
    } catch (error) {
      if (this.pending === request)
        f.emptyRow(this.table, `Could not load the individuals: ${error.message}`);
    }
  }

  render(page) {
    const { offset, limit, sortBy, order } = this.state;
    for (const th of this.table.querySelectorAll("th[data-sort]")) {
      th.classList.toggle("sorted-asc", th.dataset.sort === sortBy && order === "asc");
      th.classList.toggle("sorted-desc", th.dataset.sort === sortBy && order === "desc");
    }
    const id = this.searchId;
    if (page.data.length === 0) {
      f.emptyRow(
        this.table,
        this.state.status || this.state.population
          ? "No individual matches."
          : "No individual yet.",
      );
    } else {
      this.table.tBodies[0].replaceChildren(
        ...page.data.map((r) =>
          f.el(
            "tr",
            { dataset: { iid: r.iid, status: r.status } },
            f.el(
              "td",
              { class: "num" },
              f.el("a", {
                href: f.individualUrl(id, r.iid),
                text: `#${r.iid}`,
                dataset: { testid: "individual-link" },
              }),
            ),
            f.el("td", {}, f.badge(r.status)),
            f.el("td", { class: "num mono", text: f.num(r.fitness, 4) }),
            f.el("td", { class: "num", text: f.perplexity(r.perplexity) }),
            f.el("td", { class: "num", text: f.int(r.parameter_count) }),
            f.el("td", { class: "num", text: f.stepTime(r.step_seconds) }),
            f.el("td", { class: "nowrap", text: f.mutationName(r.mutation_type) }),
            f.el(
              "td",
              { class: "num" },
              r.parent_iid === null
                ? f.el("span", { class: "muted", text: "seed" })
                : f.el("a", { href: f.individualUrl(id, r.parent_iid), text: `#${r.parent_iid}` }),
            ),
            f.el("td", { class: "num", text: r.hurdle_reached }),
            f.el("td", { class: "num", text: r.attempts }),
            f.el("td", { class: "reason", title: r.error || undefined, text: r.error || "" }),
          ),
        ),
      );
    }
    const last = Math.min(offset + limit, page.total);
    document.getElementById("page-info").textContent =
      page.total === 0
        ? "0 individuals"
        : `${f.int(offset + 1)}–${f.int(last)} of ${f.int(page.total)}`;
    document.getElementById("page-first").disabled = offset === 0;
    document.getElementById("page-prev").disabled = offset === 0;
    document.getElementById("page-next").disabled = last >= page.total;
    document.getElementById("page-last").disabled = last >= page.total;
  }
}
