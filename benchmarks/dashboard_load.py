"""The dashboard's search page at 25,000 individuals (issue 6): how long until it is drawn.

    .venv/bin/python benchmarks/dashboard_load.py [--population 25000] [--repeats 7]
        [--out benchmarks/results/dashboard_load.json]

A SQLite store in a temporary folder gets one search of --population individuals, bulk-inserted
(proposals through `record_proposals` in batches of 1,000, then their results by one SQL
statement, as benchmarks/store_throughput.py does): realistic results from
tests/dashboard_support.py's `outcome` (fitness improving along the search, two halving hurdles
stopping about a third at each, about 3 % failures with reasons, parameter counts and step
times), the six mutation types, parents drawn from earlier individuals, 2 % cache hits and 1 %
rejections. The app (create_app, the real SQLStore) is served by uvicorn in a thread, and Debian's
headless Chromium (Selenium, the tests' flags) opens /search/{id}.

Timed: from navigation start to the page's ready flag (`body[data-ready="1"]`, set once the
fitness chart holds every point, the Pareto charts, the table's first page and the statistics
are drawn: the page's own `performance.now()` at that moment). "cold": the browser's cache
cleared before each load (every asset fetched); "warm": loaded again (the assets come from the
cache; the API data is always fetched). Also the server's time for each API call the page makes
and the browser's timing of each. Target: p50 < 1 s. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, update

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))
import _common  # noqa: E402
import numpy as np  # noqa: E402
from dashboard_support import (  # noqa: E402
    browser_missing,
    engine_state,
    evaluation,
    open_ready,
    outcome,
    search_config,
    serve,
    start_chromium,
)
from store_support import proposal  # noqa: E402

from primer_search.evolution import ProposalKind  # noqa: E402
from primer_search.mutation import MutationType  # noqa: E402
from service.store import IndividualStatus, SearchStatus, SQLStore  # noqa: E402
from service.store.schema import individuals, searches  # noqa: E402

DEFAULT_OUT = REPO_ROOT / "benchmarks" / "results" / "dashboard_load.json"
MUTATIONS = [m.value for m in MutationType]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--population", type=int, default=25_000)
    parser.add_argument("--repeats", type=int, default=7, help="loads per cache state")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="also write the JSON here")
    parser.add_argument("--screenshot", default=None, help="save the loaded page as this PNG")
    return parser.parse_args(argv)


def fill(store: SQLStore, size: int, seed: int) -> tuple[int, int]:
    """One finished search of `size` individuals, 97 % trained (with results), 2 % cache hits,
    1 % rejected; results arrived every 0.5 s over the search's run. Returns the search's id
    and the number of individuals with a training result (the points the chart must draw)."""
    rng = random.Random(seed)
    np_rng = np.random.default_rng(seed)
    config = search_config(name=f"{size} individuals", max_evaluations=size, population_size=100)
    sid = store.create_search(config["name"], config, proposal(0).dna)
    store.update_status(sid, SearchStatus.RUNNING, {SearchStatus.CREATED})
    kinds = {}
    for start in range(0, size, 1000):
        batch = []
        for i in range(start, min(size, start + 1000)):
            draw = rng.random()
            kind = ProposalKind.CACHED if draw < 0.02 else ProposalKind.TRAIN
            kind = ProposalKind.REJECTED if 0.02 <= draw < 0.03 else kind
            kinds[i] = kind
            parent = rng.randrange(i) if i >= 100 else None
            batch.append(proposal(i, parent, rng.choice(MUTATIONS), kind, cached_fitness=4.3))
        store.record_proposals(sid, batch, engine_state([], start))
    finished_before = store.get_search(sid).num_finished  # cache hits and rejections
    started = datetime.now(timezone.utc) - timedelta(seconds=size * 0.5 + 60)
    rows: list[dict[str, Any]] = []
    best: tuple[float, int] = (math.inf, -1)
    population: list[int] = []
    for i in range(size):
        if kinds[i] is not ProposalKind.TRAIN:
            continue
        o = outcome(np_rng, i, size, int(config["hurdles"]))
        e = evaluation(o)
        finished = started + timedelta(seconds=0.5 * i + 0.3)
        rows.append(
            {
                "b_iid": i,
                "b_status": e.status.value,
                "b_fitness": e.fitness,
                "b_perplexity": e.perplexity,
                "b_hurdle_fitness": list(e.hurdle_fitness),
                "b_hurdle_reached": e.hurdle_reached,
                "b_error": e.error,
                "b_parameter_count": e.parameter_count,
                "b_step_seconds": e.step_seconds,
                "b_result": e.result,
                "b_started_at": finished - timedelta(seconds=30),
                "b_finished_at": finished,
                "b_finish_seq": finished_before + len(rows) + 1,
            }
        )
        if e.status is IndividualStatus.DONE and e.fitness is not None:
            best = min(best, (e.fitness, i))
            population = [*population, i][-100:]
    statement = (
        update(individuals)
        .where(individuals.c.search_id == sid, individuals.c.iid == bindparam("b_iid"))
        .values(
            status=bindparam("b_status"),
            fitness=bindparam("b_fitness"),
            perplexity=bindparam("b_perplexity"),
            hurdle_fitness=bindparam("b_hurdle_fitness"),
            hurdle_reached=bindparam("b_hurdle_reached"),
            error=bindparam("b_error"),
            parameter_count=bindparam("b_parameter_count"),
            step_seconds=bindparam("b_step_seconds"),
            result=bindparam("b_result"),
            started_at=bindparam("b_started_at"),
            finished_at=bindparam("b_finished_at"),
            finish_seq=bindparam("b_finish_seq"),
            attempts=1,
            worker="evaluator-0:1",
        )
    )
    with store._transaction(write=True) as conn:  # a benchmark shortcut past the interface
        conn.execute(statement, rows)
        conn.execute(
            update(searches)
            .where(searches.c.id == sid)
            .values(
                num_finished=finished_before + len(rows),
                best_fitness=best[0],
                best_iid=best[1],
                started_at=started,
                engine_state=engine_state(population, size),
            )
        )
    store.update_status(sid, SearchStatus.FINISHED, {SearchStatus.RUNNING})
    with store._transaction(write=True) as conn:
        conn.exec_driver_sql("ANALYZE")  # what `PRAGMA optimize` would have gathered by now
    return sid, len(rows)


def api_timings(base: str, sid: int, repeats: int) -> dict[str, float]:
    """The median wall time of each API call the search page makes, from Python."""
    calls = {
        "search": f"/api/v1/searches/{sid}",
        "points": f"/api/v1/searches/{sid}/points?after=0&limit=50000",
        "statistics": f"/api/v1/searches/{sid}/statistics",
        "individuals_page": f"/api/v1/searches/{sid}/individuals?offset=0&limit=50"
        "&sort_by=fitness&order=asc",
    }
    out: dict[str, float] = {}
    for name, path in calls.items():
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            with urllib.request.urlopen(base + path) as response:
                body = response.read()
            times.append((time.perf_counter() - started) * 1000)
        out[f"{name}_ms"] = round(statistics.median(times), 1)
        out[f"{name}_bytes"] = len(body)
    return out


def load_once(driver: Any, url: str, cold: bool) -> dict[str, Any]:
    if cold:
        driver.execute_cdp_cmd("Network.clearBrowserCache", {})
    driver.get("about:blank")
    open_ready(driver, url, timeout=60)
    timing = driver.execute_script(
        """
        const api = {};
        let apiStart = Infinity;
        let apiEnd = 0;
        for (const e of performance.getEntriesByType("resource")) {
          const m = e.name.match(/\\/api\\/v1\\/searches\\/\\d+(\\/(\\w+))?/);
          if (!m) continue;
          api[m[2] || "search"] = Math.round(e.responseEnd - e.startTime);
          apiStart = Math.min(apiStart, e.startTime);
          apiEnd = Math.max(apiEnd, e.responseEnd);
        }
        const ready = Number(document.body.dataset.readyMs);
        return {ready,
                api_start: Math.round(apiStart),
                api_end: Math.round(apiEnd),
                render: Math.round(ready - apiEnd),
                points: Number(document.getElementById("fitness-chart").dataset.points),
                rows: document.querySelectorAll("#population-table tbody tr[data-iid]").length,
                api};
        """
    )
    return timing


def summary(values: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(values), 1),
        "max_ms": round(max(values), 1),
        "min_ms": round(min(values), 1),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    missing = browser_missing()
    if missing:
        print(json.dumps({"benchmark": "dashboard_load", "skipped": True, "reason": missing}))
        return
    from api_support import RecordingManager

    from service.api import create_app
    from service.settings import Settings

    report: dict[str, Any] = {
        "benchmark": "dashboard_load",
        "command": " ".join([".venv/bin/python benchmarks/dashboard_load.py", *sys.argv[1:]]),
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_avg_1m": round(os.getloadavg()[0], 2),
        },
        "settings": {"population": args.population, "repeats": args.repeats},
        "target": {"p50_ms": 1000},
    }
    with tempfile.TemporaryDirectory() as folder:
        store = SQLStore(Path(folder) / "dashboard.db", upgrade=True)
        started = time.perf_counter()
        sid, evaluated = fill(store, args.population, args.seed)
        report["fill_s"] = round(time.perf_counter() - started, 1)
        app = create_app(store, RecordingManager(), Settings())
        with serve(app) as base:
            report["api"] = api_timings(base, sid, 5)
            driver = start_chromium()
            report["machine"]["chromium"] = driver.capabilities.get("browserVersion")
            try:
                url = f"{base}/search/{sid}"
                load_once(driver, url, cold=True)  # the server's and the browser's first run
                loads: dict[str, list[dict[str, Any]]] = {"cold": [], "warm": []}
                for _ in range(args.repeats):
                    loads["cold"].append(load_once(driver, url, cold=True))
                    loads["warm"].append(load_once(driver, url, cold=False))
                if args.screenshot:
                    from dashboard_support import full_page_screenshot

                    full_page_screenshot(driver, Path(args.screenshot))
            finally:
                driver.quit()
        store.close()
    report["individuals_with_results"] = evaluated
    report["points_drawn"] = sorted({load["points"] for runs in loads.values() for load in runs})
    report["table_rows"] = loads["warm"][-1]["rows"]
    for state, runs in loads.items():
        report[state] = summary([run["ready"] for run in runs])
        report[state]["ready_ms"] = [run["ready"] for run in runs]
        # Where the time goes: the page's requests start after the HTML and the scripts
        # (api_start), the last answer arrives (api_end), then parsing and drawing (render).
        for part in ("api_start", "api_end", "render"):
            report[state][f"{part}_p50_ms"] = statistics.median(run[part] for run in runs)
        report[state]["browser_api_ms"] = runs[-1]["api"]
    report["machine"]["load_avg_1m_after"] = round(os.getloadavg()[0], 2)
    report["all_points_drawn"] = report["points_drawn"] == [evaluated]
    report["meets_target"] = report["cold"]["p50_ms"] < 1000 and report["warm"]["p50_ms"] < 1000
    _common.emit(report, args.out)


if __name__ == "__main__":
    main()
