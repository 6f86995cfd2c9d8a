"""The controller and store alone (issue 5): a real SearchDriver, a real store, real Ray, and an
INSTANT evaluator that does not train, so what is measured is our overhead, not training.

    .venv/bin/python benchmarks/controller_overhead.py [--postgres URL] [--evaluations 2000]
        [--evaluators 2,4,8] [--population 25000] [--out FILE]

The evaluator is `InstantEvaluator` below: a Ray actor with the methods of workers/evaluator.py's
Evaluator that answers each candidate at once with a made-up TrainResult: a fitness derived from
the program's canonical hash (with --fitness toy, also from a toy landscape: see LANDSCAPE), so
the same program always scores the same and the fitness cache's hits agree with it; hurdle
records against which the engine's bars (the population's median at each hurdle) stop most
children (about 90% with --hurdles 2); and about 2% failures. It imports no TensorFlow and
opens no corpus.

For each backend (a SQLite file in a temporary folder; PostgreSQL in a temporary schema of the
database at --postgres or $PRIMER_SEARCH_TEST_POSTGRES_URL, skipped if neither is given):

1. For each count in --evaluators, a new search (tiny preset, built-in data, --hurdles halving
   hurdles, population 100, tournament 10, the static gate and the store's fitness cache on, as
   by default) is driven to --evaluations evaluations by `SearchDriver(evaluator_class=
   InstantEvaluator)` on a local Ray of --ray-cpus CPUs. Sustained rates count from the first
   result to the last, so Ray's start and the evaluators' start are excluded. Evaluations/s
   counts trained candidates (the budget's unit); individuals/s adds the cache hits and gate
   rejections, which cost the driver a stored row each but no evaluator. A proxy times the
   store's calls, and SQLAlchemy's events count statements and commits, per evaluation.
2. One more search is driven until it holds --population individuals (then paused, as the API
   would; its rows are real, not bulk-inserted), then the API (`create_app`, a manager that
   drives nothing) is served by uvicorn in a thread on a free local port, and httpx measures
   over real HTTP the p50 / p95 / max latency of `GET /searches/{id}` and of pages of 50
   individuals: the best by fitness, a page in the middle, and only the stopped ones; and the
   store's calls behind each, made directly. On PostgreSQL, once more after VACUUM ANALYZE of
   the search's tables (what autovacuum would have done by then; the test server runs none).

Each search has a database of its own, so none finds another's programs in the fitness cache:
like any search alone on its training configuration, the driver then looks up a new program in
its own memory, not in the store (DriverFitnessCache). The driver writes once per turn
(`record_turn`: the results back, the new proposals and the hand-outs in one transaction), or
once for turns that waited together. Its writer makes those calls (service/turn_writer.py): a
child process by default (`--writer process`), whose writes `writer` reports (writes per
evaluation, turns per write, milliseconds from sending a write to seeing it done, and the
process's CPU time); the store proxy and SQL counts then cover the driver's own calls only
(heartbeats, status reads). With `--writer thread` the writes run on a thread of the driver and
are in `store_calls_per_evaluation` too; their time overlaps the driver's own: `store_ms` is
time on that thread, not time the driver waited.
Targets (issue 5): >= 100 evaluations/s, p95 < 100 ms. Prints JSON (`--out FILE` writes it too).
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))
import _common  # noqa: E402
from store_support import postgres_schema  # noqa: E402

import primer_search  # noqa: E402
from primer_search.canonical import canonical_hash  # noqa: E402
from primer_search.dna import parse_dna  # noqa: E402
from primer_search.training.budget import BudgetUnit, parse_budget  # noqa: E402
from primer_search.training.hurdles import hurdle_positions, passes  # noqa: E402

# From its own module: `primer_search.training` itself would load TensorFlow on this name.
from primer_search.training.result import (  # noqa: E402
    FailureKind,
    HurdleRecord,
    Status,
    TrainResult,
)
from service.store import SearchStatus  # noqa: E402
from workers.evaluator import EvaluationRequest, EvaluatorSetup  # noqa: E402

EVALUATOR_LABEL = "instant (no training; measures controller + store + Ray overhead)"
TARGETS = {"evaluations_per_s": 100, "p95_ms": 100}
API = "/api/v1"


# -- the instant evaluator --------------------------------------------------------------------


class InstantEvaluator:
    """NOT A TRAINER: answers each candidate at once with a made-up TrainResult (module doc).

    Same methods as workers/evaluator.py's Evaluator, so workers/pool.py runs it as a Ray actor.
    Defined in the script: Ray pickles classes of `__main__` by value into its workers."""

    def __init__(self, setup: EvaluatorSetup):
        self.setup = setup
        self.vocab_size = setup.data.vocab_size or setup.model_config.vocab_size
        self.worker = f"instant:{os.getpid()}"

    def describe(self) -> dict[str, Any]:
        return {
            "worker": self.worker,
            "corpus_identity": f"instant/{self.setup.data.source}/{self.vocab_size}",
            "vocab_size": self.vocab_size,
        }

    def identity(self) -> str:
        return self.worker

    def evaluate(self, request: EvaluationRequest) -> dict[str, Any]:
        started = time.perf_counter()
        result = instant_result(request, self.setup, self.vocab_size)
        total = time.perf_counter() - started
        return result.model_copy(update={"total_seconds": total}).model_dump(mode="json")


# The fitness landscape the instant evaluator makes up (--fitness). "hash", the default (as in
# the results quoted so far), draws the whole final log-ppl from the hash: a landscape with no
# direction, where the search soon sits on a local optimum whose neighbours are all evaluated,
# so most of its children are cache hits. "toy" has a direction, like a real one: 0.25 nats per
# unit of the L1 distance between the (op, width) counts of the program's lowered graph and
# Primer-EZ's (the toy fitness of benchmarks/engine_throughput.py; the Transformer seed is 4
# units away), at most 1.0, plus 0.05 nats of noise from the hash. With 2 hurdles stopping ~90%
# of the children, its search too makes about 1.8 cache hits per evaluation by 2,000.
# Set by main() before the actor class is first pickled (Ray pickles __main__ by value).
LANDSCAPE = "hash"


def final_log_ppl(dna: Any, u: float) -> float:
    """The made-up final log-ppl, in [3.4, 4.6) (the tiny preset's range on the built-in
    corpus); `u` in [0, 1) is drawn from the program's hash."""
    if LANDSCAPE == "hash":
        return 3.4 + 1.2 * u
    from collections import Counter

    from primer_search.graph import lower
    from primer_search.seeds import load_seed

    def profile(program: Any) -> Counter[tuple[str, int]]:
        return Counter((node.op, node.mult) for node in lower(program).nodes)

    target, own = profile(load_seed("primer_ez")), profile(dna)
    distance = sum(abs(own[k] - target[k]) for k in own.keys() | target.keys())
    return 3.4 + min(1.0, 0.25 * distance) + 0.05 * u


def instant_result(request: EvaluationRequest, setup: EvaluatorSetup, vocab: int) -> TrainResult:
    """A TrainResult made up from the program (LANDSCAPE) and its hash: a final log-ppl, 1.5
    nats worse at the start of training and improving linearly, stopped at the first hurdle
    whose bar it misses."""
    dna = parse_dna(request.dna)
    program_hash = canonical_hash(dna)
    u = [int(program_hash[i : i + 8], 16) / 16**8 for i in (0, 8, 16, 24)]
    budget = parse_budget(request.budget)
    step_seconds = 0.05 * (0.8 + 0.4 * u[1])
    batch = setup.train_config.batch_tokens
    total_steps = {
        BudgetUnit.SECONDS: budget.amount / step_seconds,
        BudgetUnit.STEPS: budget.amount,
        BudgetUnit.TOKENS: budget.amount / batch,
    }[budget.unit]

    def steps_at(position: float) -> int:
        return max(1, math.ceil(total_steps * position / budget.amount))

    final = final_log_ppl(dna, u[0])
    common: dict[str, Any] = {
        "budget": request.budget,
        "seed": request.seed,
        "program_hash": program_hash,
        "model_preset": setup.model_config.name,
        "train_preset": setup.train_config.name,
        "vocab_size": vocab,
        "seq_len": setup.model_config.seq_len,
        "batch_tokens": batch,
        "device": "none (instant evaluator)",
        "versions": {"primer-search": primer_search.__version__, "evaluator": "instant"},
        "parameter_count": int(setup.model_config.target_params * (0.8 + 0.4 * u[2])),
        "validation_tokens": setup.data.validation_tokens,
    }
    if u[3] < 0.02:
        return TrainResult(
            status=Status.FAILED,
            failure_kind=FailureKind.NON_FINITE,
            failure_reason="instant evaluator: a made-up NaN loss",
            **common,
        )
    hurdles = []
    thresholds = list(request.thresholds) + [None] * request.hurdles
    for k, position in enumerate(hurdle_positions(budget.amount, request.hurdles), start=1):
        fitness = final + 1.5 * (1 - position / budget.amount)
        passed = passes(fitness, thresholds[k - 1])
        steps = steps_at(position)
        hurdles.append(
            HurdleRecord(
                index=k,
                position=position,
                steps=steps,
                tokens=steps * batch,
                train_seconds=steps * step_seconds,
                fitness=fitness,
                perplexity=math.exp(fitness),
                threshold=thresholds[k - 1],
                passed=passed,
            )
        )
        if not passed:
            return _trained(
                Status.STOPPED_AT_HURDLE, fitness, steps, step_seconds, hurdles, k, common
            )
    return _trained(Status.OK, final, steps_at(budget.amount), step_seconds, hurdles, None, common)


def _trained(
    status: Status,
    fitness: float,
    steps: int,
    step_seconds: float,
    hurdles: list[HurdleRecord],
    stopped_at: int | None,
    common: dict[str, Any],
) -> TrainResult:
    return TrainResult(
        status=status,
        fitness=fitness,
        perplexity=math.exp(fitness),
        hurdles=hurdles,
        stopped_at_hurdle=stopped_at,
        steps=steps,
        tokens=steps * common["batch_tokens"],
        train_seconds=steps * step_seconds,
        step_seconds=step_seconds,
        tokens_per_second=common["batch_tokens"] / step_seconds,
        final_train_loss=fitness + 0.05,
        **common,
    )


# -- driving a search -------------------------------------------------------------------------


class TimedStore:
    """The store with the seconds spent in each of its methods summed: the driver's view of it.
    Everything else passes through. The driver builds the engine's fitness cache on this proxy
    (service/store/fitness_cache.py, DriverFitnessCache), so its reads are timed too; its
    writes are part of `record_turn`."""

    def __init__(self, store: Any):
        self._store = store
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.statements = self.commits = 0

    def reset(self) -> None:
        self.seconds, self.calls = {}, {}
        self.statements = self.commits = 0

    @contextlib.contextmanager
    def counting_sql(self) -> Iterator[None]:
        """Counts the SQL statements and commits sent, meanwhile (a benchmark's look past the
        store's interface at its engine)."""
        from sqlalchemy import event

        def statement(*_: Any) -> None:
            self.statements += 1

        def commit(*_: Any) -> None:
            self.commits += 1

        engine = self._store._engine
        event.listen(engine, "before_cursor_execute", statement)
        event.listen(engine, "commit", commit)
        try:
            yield
        finally:
            event.remove(engine, "before_cursor_execute", statement)
            event.remove(engine, "commit", commit)

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._store, name)
        if not callable(value):
            return value

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return value(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started
                self.calls[name] = self.calls.get(name, 0) + 1

        return timed


class Clock:
    """The driver's progress callback: when each individual was recorded (a result, or a settled
    cache hit or rejection), from the first result on, and this process's CPU time over that
    span; the store's timings restart at the first result, to cover the same span. With
    `pause_at`, it pauses the search (as the API would) once it holds that many individuals."""

    def __init__(self, store: TimedStore, pause_at: int | None = None):
        self.store = store
        self.pause_at = pause_at
        self.events: list[tuple[float, bool]] = []  # (when, whether it was an evaluation)
        self.cpu = (0.0, 0.0)
        self.driver: Any = None  # set once made: its writer's counts restart with the store's
        self.writes = (0, 0, 0.0)  # the writer's (writes, turns, seconds) at the first result

    def progress(self, progress: Any) -> None:
        if progress.latest is None:
            return
        now, cpu = time.perf_counter(), time.process_time()
        evaluation = progress.evaluation is not None
        if not self.events:
            if not evaluation:
                return  # still starting
            self.store.reset()
            self.cpu = (cpu, cpu)
            stats = self.driver._writer.stats  # a benchmark's look inside the driver
            self.writes = (stats.writes, stats.turns, stats.seconds)
        self.events.append((now, evaluation))
        self.cpu = (self.cpu[0], cpu)
        rows = progress.evaluated + progress.cache_hits + progress.rejected + progress.in_flight
        if self.pause_at is not None and rows >= self.pause_at:
            self.pause_at = None
            running = {SearchStatus.RUNNING}
            self.store._store.update_status(progress.search_id, SearchStatus.PAUSED, running)


def search_config(args: argparse.Namespace, evaluators: int, evaluations: int) -> dict[str, Any]:
    return {
        "name": f"controller-overhead-{evaluators}x{evaluations}",
        "seed": "transformer",
        "data": {"source": "builtin"},  # never opened: the instant evaluator reads no data
        "preset": "tiny",
        "budget": args.budget,
        "hurdles": args.hurdles,
        "population_size": 100,
        "tournament_size": 10,
        "max_evaluations": evaluations,
        "evaluators": evaluators,
        "resources": {"num_cpus": args.evaluator_cpus},
        "rng_seed": args.seed,
        # use_cache and the static gate: on, their defaults
    }


def drive(
    store: Any,
    args: argparse.Namespace,
    evaluators: int,
    evaluations: int,
    individuals: int | None = None,
) -> dict[str, Any]:
    """Creates a search and drives it with instant evaluators to `evaluations`, or (pausing it)
    to `individuals` individuals; what it took."""
    from service.driver import DriverExit, SearchDriver
    from service.search_config import SearchConfig
    from service.search_engine import seed_dna_of

    config = SearchConfig.model_validate(search_config(args, evaluators, evaluations))
    sid = store.create_search(config.name, config.model_dump(mode="json"), seed_dna_of(config))
    timed = TimedStore(store)
    clock = Clock(timed, pause_at=individuals)
    goal = f"{individuals} individuals" if individuals else f"{evaluations} evaluations"
    _common.log(f"  {store.dialect}: {evaluators} evaluators, {goal} ...")
    with tempfile.TemporaryDirectory() as cache_dir:
        driver = SearchDriver(
            timed,
            sid,
            cache_dir=cache_dir,
            on_progress=clock.progress,
            evaluator_class=InstantEvaluator,
            writer_process=args.writer == "process",
        )
        clock.driver = driver
        started = time.perf_counter()
        children_cpu = _children_cpu()
        with timed.counting_sql():
            exit = driver.run()
        children_cpu = _children_cpu() - children_cpu
    assert exit in (DriverExit.FINISHED, DriverExit.PAUSED), exit
    report = summary(store, sid, started, clock, timed)
    stats = driver._writer.stats
    writes, turns, seconds = (
        now - then
        for now, then in zip((stats.writes, stats.turns, stats.seconds), clock.writes, strict=True)
    )
    report["writer"] = {
        "kind": type(driver._writer).__name__,
        "writes_per_evaluation": round(writes / report["timed_evaluations"], 3),
        "turns_per_write": round(turns / writes, 2),
        "ms_per_write": round(1000 * seconds / writes, 3),
        # The writer process's CPU time, start-up (imports, about 1 s) included, per
        # evaluation of the whole drive; 0 for a thread (its time is the driver's).
        "process_cpu_ms_per_evaluation": round(1000 * children_cpu / report["evaluations"], 3),
    }
    return report


def _children_cpu() -> float:
    """CPU seconds of this process's children that have ended (the driver's writer process is
    waited for when the drive ends; Ray's processes outlive the benchmark)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def summary(
    store: Any, sid: int, started: float, clock: Clock, timed: TimedStore
) -> dict[str, Any]:
    counts = {status.value: n for status, n in store.status_counts(sid).items() if n}
    events = clock.events
    span = events[-1][0] - events[0][0]
    timed_evaluations = sum(evaluation for _, evaluation in events) - 1  # after the first
    per_eval = 1000 / timed_evaluations  # seconds in the span -> ms per evaluation
    per_individual = 1000 / (len(events) - 1)
    store_seconds = sum(timed.seconds.values())
    report: dict[str, Any] = {
        "search_id": sid,
        "individuals": sum(counts.values()),
        "evaluations": sum(counts.get(s, 0) for s in ("done", "stopped", "failed")),
        "cache_hits": counts.get("cached", 0),
        "rejected": counts.get("rejected", 0),
        "statuses": counts,
        "start_to_first_result_s": round(events[0][0] - started, 2),
        "timed_evaluations": timed_evaluations,
        "evaluations_per_s": round(timed_evaluations / span, 1),
        "individuals_per_s": round((len(events) - 1) / span, 1),
        "per_evaluation": {
            "wall_ms": round(span * per_eval, 3),
            "driver_process_cpu_ms": round((clock.cpu[1] - clock.cpu[0]) * per_eval, 3),
            "store_ms": round(store_seconds * per_eval, 3),
            "sql_statements": round(timed.statements * per_eval / 1000, 2),
            "commits": round(timed.commits * per_eval / 1000, 2),
        },
        "per_individual": {
            "wall_ms": round(span * per_individual, 3),
            "store_ms": round(store_seconds * per_individual, 3),
        },
        "store_calls_per_evaluation": {
            name: {
                "ms": round(seconds * per_eval, 3),
                "calls": round(timed.calls[name] * per_eval / 1000, 2),
            }
            for name, seconds in sorted(timed.seconds.items(), key=lambda item: -item[1])
        },
    }
    if len(events) >= 10_000:  # does the rate hold as the search goes on and its tables grow?
        report["by_fifth_of_individuals"] = [fifth_rates(part) for part in fifths(events)]
    return report


def fifths(events: list[tuple[float, bool]]) -> list[list[tuple[float, bool]]]:
    size = len(events) // 5
    return [events[i * size : (i + 1) * size] for i in range(5)]


def fifth_rates(events: list[tuple[float, bool]]) -> dict[str, float]:
    span = events[-1][0] - events[0][0]
    evaluations = sum(evaluation for _, evaluation in events)
    return {
        "evaluations_per_s": round(evaluations / span, 1),
        "individuals_per_s": round(len(events) / span, 1),
        "cache_hit_share": round(1 - evaluations / len(events), 3),
    }


# -- the API over HTTP ------------------------------------------------------------------------


@contextlib.contextmanager
def serving(store: Any) -> Iterator[str]:
    """The API on `store`, served by uvicorn in a thread (tests/dashboard_support.py), with a
    manager that drives nothing: the benchmark drove the search already. Yields its base URL."""
    from api_support import RecordingManager
    from dashboard_support import serve

    from service.api import create_app
    from service.settings import Settings

    with serve(create_app(store, RecordingManager(), Settings())) as base:
        yield base


def measure_api(store: Any, sid: int, individuals: int, repeats: int) -> dict[str, Any]:
    """Each read over HTTP, and the store's calls behind it made directly (no HTTP, no JSON):
    the difference is the API's own cost."""
    import httpx

    from service.store import IndividualStatus

    stopped = IndividualStatus.STOPPED
    middle = individuals // 2
    search = f"{API}/searches/{sid}"
    page = f"{search}/individuals?sort_by=fitness&limit=50"
    reads: dict[str, tuple[str, Callable[[], Any]]] = {
        "GET /searches/{id}": (
            search,
            lambda: (store.get_search(sid), store.status_counts(sid)),
        ),
        "individuals: best 50 by fitness": (
            page,
            lambda: store.list_individuals(sid, 0, 50, "fitness"),
        ),
        "individuals: 50 by fitness from the middle": (
            f"{page}&offset={middle}",
            lambda: store.list_individuals(sid, middle, 50, "fitness"),
        ),
        "individuals: 50 stopped by fitness": (
            f"{page}&status=stopped",
            lambda: store.list_individuals(sid, 0, 50, "fitness", status=stopped),
        ),
    }
    report: dict[str, Any] = {}
    with serving(store) as base, httpx.Client(base_url=base, timeout=30) as client:
        for name, (path, direct) in reads.items():

            def get(path: str = path) -> None:
                client.get(path).raise_for_status()

            report[name] = _common.latency(get, repeats, warmup=10, digits=2)
            report[name]["response_bytes"] = len(client.get(path).content)
            report[name]["store_calls_alone"] = _common.latency(
                direct, repeats, warmup=10, digits=2
            )
    return report


def vacuum_analyze(store: Any) -> None:
    with store._engine.connect() as conn:  # VACUUM runs outside a transaction
        conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql(
            "VACUUM ANALYZE searches, individuals, fitness_cache"
        )


def table_stats(store: Any) -> dict[str, Any] | None:
    """PostgreSQL's view of the tables after the drive: rows, dead row versions (every update of
    the search's row, one per driver turn, about one per evaluation, leaves one until vacuumed;
    so does each result's update of its individual), size on disk."""
    if store.dialect != "postgresql":
        return None
    query = (
        "SELECT relname, n_live_tup, n_dead_tup, autovacuum_count, autoanalyze_count, "
        "pg_total_relation_size(relid) FROM pg_stat_user_tables "
        "WHERE relname IN ('searches', 'individuals', 'fitness_cache') "
        "AND schemaname = current_schema()"
    )
    with store._engine.connect() as conn:  # a benchmark's look past the store's interface
        rows = conn.exec_driver_sql(query).all()
    keys = ("live_rows", "dead_rows", "autovacuums", "autoanalyzes", "total_bytes")
    return {row[0]: dict(zip(keys, row[1:], strict=True)) for row in rows}


# -- the benchmark ----------------------------------------------------------------------------


@contextlib.contextmanager
def database(backend: str, args: argparse.Namespace) -> Iterator[Any]:
    """A new, upgraded store: each search gets its own, so none sees another's fitness cache."""
    from service.store import SQLStore

    with contextlib.ExitStack() as stack:
        if backend == "sqlite":
            url: Any = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "bench.db"
        else:
            url = stack.enter_context(postgres_schema(args.postgres))
        yield stack.enter_context(SQLStore(url, upgrade=True))


def run_backend(backend: str, args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {"drives": []}
    for evaluators in args.evaluators:
        with database(backend, args) as store:
            result = drive(store, args, evaluators, args.evaluations)
        report["drives"].append({"evaluators": evaluators, **result})
        _common.log(
            f"    {result['evaluations_per_s']} evaluations/s, "
            f"{result['individuals_per_s']} individuals/s"
        )
    with database(backend, args) as store:
        evaluators, size = args.population_evaluators, args.population
        population = drive(store, args, evaluators, size, individuals=size)
        population["evaluators"] = evaluators
        _common.log(
            f"    {population['evaluations_per_s']} evaluations/s, "
            f"{population['individuals_per_s']} individuals/s; measuring the API ..."
        )
        population["postgresql_tables"] = table_stats(store)
        sid, size = population["search_id"], population["individuals"]
        population["api"] = measure_api(store, sid, size, args.repeats)
        if store.dialect == "postgresql":
            # What autovacuum would have done by now on a server that runs it (the test
            # server's is off: see machine.postgresql_autovacuum), as store_throughput.py does.
            vacuum_analyze(store)
            population["api_after_vacuum_analyze"] = measure_api(store, sid, size, args.repeats)
    report["population"] = population
    return report


def verdict(backends: dict[str, Any]) -> dict[str, Any]:
    rates = [
        d["evaluations_per_s"]
        for b in backends.values()
        if isinstance(b, dict)
        for d in (*b["drives"], b["population"])
    ]
    p95s = [
        e["p95_ms"]
        for b in backends.values()
        if isinstance(b, dict)
        for e in b["population"]["api"].values()
    ]
    return {
        "min_evaluations_per_s": min(rates, default=None),
        "evaluations_per_s_met": bool(rates) and min(rates) >= TARGETS["evaluations_per_s"],
        "max_p95_ms": max(p95s, default=None),
        "p95_met": bool(p95s) and max(p95s) < TARGETS["p95_ms"],
    }


def machine(args: argparse.Namespace) -> dict[str, Any]:
    import ray
    import sqlalchemy

    info = {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "ray": ray.__version__,
        "sqlalchemy": sqlalchemy.__version__,
    }
    if args.postgres:
        with database("postgresql", args) as store, store._engine.connect() as conn:
            info["postgresql"] = conn.exec_driver_sql("SHOW server_version").scalar()
            autovacuum = conn.exec_driver_sql("SHOW autovacuum").scalar()
            info["postgresql_autovacuum"] = autovacuum
    return info


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", default=os.environ.get("PRIMER_SEARCH_TEST_POSTGRES_URL"))
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--evaluations", type=int, default=2000, help="per timed search")
    parser.add_argument(
        "--evaluators",
        type=lambda text: [int(n) for n in text.split(",")],
        default=[2, 4, 8],
        help="evaluator counts to time, comma-separated",
    )
    parser.add_argument("--population", type=int, default=25_000, help="individuals to drive to")
    parser.add_argument("--population-evaluators", type=int, default=4)
    parser.add_argument("--evaluator-cpus", type=float, default=0.25, help="Ray CPUs per actor")
    parser.add_argument("--ray-cpus", type=int, default=2, help="the local Ray's CPUs")
    parser.add_argument("--budget", default="30s", help="the budget the results pretend to")
    parser.add_argument("--hurdles", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=200, help="timed requests per endpoint")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--fitness",
        choices=("hash", "toy"),
        default="hash",
        help="the made-up fitness landscape (LANDSCAPE): with a direction, or none",
    )
    parser.add_argument(
        "--writer",
        choices=("process", "thread"),
        default="process",
        help="where the driver writes its turns: a child process (the default), or a thread",
    )
    parser.add_argument("--out", default=None, help="also write the JSON here")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    global LANDSCAPE
    LANDSCAPE = args.fitness
    from service.runtime import init_ray

    load_before = _common.load_average()
    init_ray(num_cpus=args.ray_cpus)
    report: dict[str, Any] = {
        "benchmark": "controller_overhead",
        "evaluator": EVALUATOR_LABEL,
        "command": " ".join(["benchmarks/controller_overhead.py", *(argv or sys.argv[1:])]),
        "machine": machine(args),
        "load_avg_before": load_before,
        "fitness_landscape": args.fitness,
        "config": {
            **search_config(args, 0, 0),
            "name": None,
            "evaluators": args.evaluators,
            "max_evaluations": args.evaluations,
            "population_individuals": args.population,
            "population_evaluators": args.population_evaluators,
            "ray_cpus": args.ray_cpus,
            "writer": args.writer,
            "requests_per_endpoint": args.repeats,
            "static_gate": "on (tiny preset's parameter range)",
            "fitness_cache": "on (the store's table; a fresh database per search)",
            "population_data": "driven: the individuals of an instant search, paused at "
            "--population individuals; not bulk-inserted",
        },
        "targets": TARGETS,
        "backends": {},
    }
    for backend in args.backends.split(","):
        if backend == "postgresql" and not args.postgres:
            report["backends"][backend] = "skipped: no --postgres URL"
            continue
        _common.log(f"{backend}:")
        report["backends"][backend] = run_backend(backend, args)
    report["load_avg_after"] = _common.load_average()
    report["verdict"] = verdict(report["backends"])
    _common.emit(report, args.out)


if __name__ == "__main__":
    main()
