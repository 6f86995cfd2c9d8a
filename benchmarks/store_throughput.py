"""The store alone (issue 5, "Store"): how fast it records results, how fast it answers pages.

    .venv/bin/python benchmarks/store_throughput.py [--postgres URL] [--results 1000]

For each backend (a SQLite file in a temporary folder; PostgreSQL in a temporary schema of the
database at --postgres or $PRIMER_SEARCH_TEST_POSTGRES_URL, skipped if neither is given):

* results_per_s: `record_result` calls per second, each writing one individual's result AND an
  engine state of --state-bytes (default 4,000) in one transaction, as the driver does;
* evaluations_per_s: the driver's whole cycle per evaluation, three transactions:
  `record_proposals` (one proposal and the engine state), `mark_running`, `record_result`;
* at --population (default 25,000) individuals in one search (bulk-inserted through
  `record_proposals` in batches of 1,000, then given results by one SQL statement, a mix of
  statuses, then ANALYZE), the p50 / p95 latency of the API's reads: the first page of 50
  sorted by fitness, a page in the middle, a page filtered by status, `status_counts`,
  `get_search`, a lineage and the mutation statistics.

Targets (issue 5): >= 100 results/s, p95 < 100 ms. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import bindparam, update

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
import _common  # noqa: E402
from store_support import engine_state, postgres_schema, proposal  # noqa: E402

from service.store import Evaluation, IndividualStatus, SQLStore, upgrade_schema  # noqa: E402
from service.store.schema import individuals  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("PRIMER_SEARCH_TEST_POSTGRES_URL"))
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--results", type=int, default=1000, help="timed results per backend")
    parser.add_argument("--state-bytes", type=int, default=4000, help="engine state size")
    parser.add_argument("--population", type=int, default=25_000)
    parser.add_argument("--repeats", type=int, default=200, help="timed calls per read")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


@contextmanager
def database(backend: str, args: argparse.Namespace) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield str(Path(folder) / "bench.db")
    else:
        with postgres_schema(args.postgres) as url:
            yield url.render_as_string(hide_password=False)


def evaluation(fitness: float) -> Evaluation:
    return Evaluation(
        status=IndividualStatus.DONE,
        fitness=fitness,
        perplexity=math.exp(fitness),
        parameter_count=1_500_000,
        step_seconds=0.05,
        result={"status": "ok", "fitness": fitness, "steps": 1000, "device": "CPU"},
    )


def measure_writes(store: SQLStore, n: int, state_bytes: int) -> dict[str, float]:
    sid = store.create_search("writes", {"population_size": 100}, proposal(0).dna)
    for start in range(0, n, 500):
        batch = [proposal(i) for i in range(start, min(n, start + 500))]
        store.record_proposals(sid, batch, engine_state(start, state_bytes))
    started = time.perf_counter()
    for i in range(n):
        store.record_result(sid, i, evaluation(3.0 + i / n), engine_state(i, state_bytes))
    results_per_s = n / (time.perf_counter() - started)

    sid = store.create_search("cycles", {"population_size": 100}, proposal(0).dna)
    started = time.perf_counter()
    for i in range(n):
        store.record_proposals(sid, [proposal(i)], engine_state(i, state_bytes))
        store.mark_running(sid, i, "evaluator-0")
        store.record_result(sid, i, evaluation(3.0 + i / n), engine_state(i, state_bytes))
    evaluations_per_s = n / (time.perf_counter() - started)
    return {"results_per_s": results_per_s, "evaluations_per_s": evaluations_per_s}


def fill_population(store: SQLStore, size: int, rng: random.Random) -> tuple[int, float]:
    """A search of `size` individuals with results, inserted in bulk; returns (id, seconds)."""
    sid = store.create_search("population", {"population_size": 100}, proposal(0).dna)
    started = time.perf_counter()
    for start in range(0, size, 1000):
        batch = [
            proposal(i, parent=rng.randrange(start) if start else None)
            for i in range(start, min(size, start + 1000))
        ]
        store.record_proposals(sid, batch, engine_state(start, 4000))
    rows = []
    for i in range(size):
        draw = rng.random()
        status = "done" if draw < 0.8 else "stopped" if draw < 0.9 else "failed"
        fitness = None if status == "failed" else rng.uniform(3.0, 6.0)
        rows.append({"b_iid": i, "b_status": status, "b_fitness": fitness})
    rows[-50:] = [
        {"b_iid": r["b_iid"], "b_status": "pending", "b_fitness": None} for r in rows[-50:]
    ]
    # The finish order, as record_turn numbers it: 1, 2, ... for the final ones, None pending.
    finished = 0
    for row in rows:
        final = row["b_status"] != "pending"
        finished += final
        row["b_seq"] = finished if final else None
    statement = (
        update(individuals)
        .where(individuals.c.search_id == sid, individuals.c.iid == bindparam("b_iid"))
        .values(
            status=bindparam("b_status"),
            fitness=bindparam("b_fitness"),
            finish_seq=bindparam("b_seq"),
        )
    )
    with store._transaction(write=True) as conn:  # a benchmark shortcut past the interface
        conn.execute(statement, rows)
    seconds = time.perf_counter() - started
    # Planner statistics, as autovacuum (PostgreSQL) or `PRAGMA optimize` (SQLite) would have
    # gathered them long before a search grows to this size.
    if store.dialect == "postgresql":
        with store._engine.connect() as conn:  # VACUUM runs outside a transaction
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    else:
        with store._transaction(write=True) as conn:
            conn.exec_driver_sql("ANALYZE")
    return sid, seconds


def measure_reads(store: SQLStore, sid: int, size: int, repeats: int) -> dict[str, Any]:
    calls: dict[str, Callable[[], Any]] = {
        "first_page_by_fitness": lambda: store.list_individuals(sid, limit=50, sort_by="fitness"),
        "middle_page_by_fitness": lambda: store.list_individuals(
            sid, offset=size // 2, limit=50, sort_by="fitness"
        ),
        "first_page_by_fitness_desc": lambda: store.list_individuals(
            sid, limit=50, sort_by="fitness", descending=True
        ),
        "failed_page_by_created": lambda: store.list_individuals(
            sid, limit=50, sort_by="created", status=IndividualStatus.FAILED
        ),
        "status_counts": lambda: store.status_counts(sid),
        "get_search": lambda: store.get_search(sid),
        "lineage": lambda: store.lineage(sid, size - 100),
        "mutation_statistics": lambda: store.mutation_statistics(sid),
    }
    return {name: _common.latency(call, repeats) for name, call in calls.items()}


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    with database(backend, args) as url:
        upgrade_schema(url)
        with SQLStore(url) as store:
            report: dict[str, Any] = measure_writes(store, args.results, args.state_bytes)
            sid, seconds = fill_population(store, args.population, random.Random(args.seed))
            report["population_fill_s"] = round(seconds, 2)
            report["reads"] = measure_reads(store, sid, args.population, args.repeats)
    report["results_per_s"] = round(report["results_per_s"], 1)
    report["evaluations_per_s"] = round(report["evaluations_per_s"], 1)
    return report


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    report: dict[str, Any] = {
        "benchmark": "store_throughput",
        "machine": {
            "python": platform.python_version(),
            "cpus": os.cpu_count(),
            "load_avg_1m": os.getloadavg()[0],
        },
        "settings": {
            "results": args.results,
            "state_bytes": args.state_bytes,
            "population": args.population,
            "repeats": args.repeats,
        },
        "targets": {"results_per_s": 100, "p95_ms": 100},
        "backends": {},
    }
    for backend in args.backends.split(","):
        if backend == "postgresql" and not args.postgres:
            report["backends"][backend] = "skipped: no --postgres URL"
            continue
        report["backends"][backend] = run_backend(backend, args)
    report["machine"]["load_avg_1m_after"] = os.getloadavg()[0]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
