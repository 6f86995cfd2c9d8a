"""`primer-search run` and `primer-search resume`: drive a search in this process (issue 5).

    primer-search run --evaluations 40 --budget 20s --population 10 --tournament 3
    primer-search run --config search.yaml --db postgresql://...
    primer-search resume 3

`run` creates the search in the store (the config from `--config FILE`, JSON or YAML, each
option overriding the file) and drives it here: a Ray embedded in this process by default, or
the cluster at `--ray-address` (RAY_ADDRESS honoured), with a live progress bar. `resume ID`
drives an interrupted search (stopped, paused, or whose driver died) to its end; it refuses a
finished search and one that another live driver holds (its lease), naming that driver.

Ctrl-C (or SIGTERM) stops cleanly: the evaluators are killed, the candidates they were training
stay in the store and are trained again on resume, and the search's status becomes STOPPED;
the exact `primer-search resume ID` command is printed. Nothing finished is lost: every result
was recorded when it came back. A second Ctrl-C aborts at once (still resumable: the lease of a
dead driver expires after its TTL).

The service (SQL store, Ray, driver) is imported inside the commands: the core package never
imports it at module level, and the other commands never load it.
"""

from __future__ import annotations

import json
import shlex
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from primer_search.cli._console import console, err_console, reported_errors
from primer_search.errors import ConfigError

if TYPE_CHECKING:
    from service.driver import DriverExit, DriverProgress, SearchDriver
    from service.store import SearchStore

DB_ENV = "PRIMER_SEARCH_DB"  # service/settings.py names it too; the CLI reads it through typer

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar=DB_ENV,
        help="The store: a SQLite file path or a postgresql:// URL (default: a file in the "
        "user's data folder).",
        show_default=False,
    ),
]
RayAddressOption = Annotated[
    str | None,
    typer.Option(
        "--ray-address",
        help="An existing Ray cluster: ray://HOST:10001, HOST:6379 or auto (default: "
        "RAY_ADDRESS, else a Ray embedded in this process).",
        show_default=False,
    ),
]
CacheDirOption = Annotated[
    Path | None,
    typer.Option("--cache-dir", help="Tokenizers and token shards (default: the user cache)."),
]
LeaseTtlOption = Annotated[
    float,
    typer.Option(
        "--lease-ttl",
        min=1.0,
        help="Seconds after which this driver's lease expires if it stops heartbeating (then "
        "another driver may take the search over).",
    ),
]
DEFAULT_LEASE_TTL = 30.0


def register(app: typer.Typer) -> None:
    app.command("run")(run)
    app.command("resume")(resume)


def run(
    config_file: Annotated[
        Path | None,
        typer.Option("--config", help="A search config (JSON or YAML); options override it."),
    ] = None,
    seed: Annotated[
        str | None, typer.Option("--seed", help="A seed name or a DNA JSON file.")
    ] = None,
    preset: Annotated[str | None, typer.Option("--preset", help="Model preset.")] = None,
    budget: Annotated[
        str | None, typer.Option("--budget", help="Per candidate: 30s, 2000steps, 1Mtokens.")
    ] = None,
    population: Annotated[int | None, typer.Option("--population", min=2)] = None,
    tournament: Annotated[int | None, typer.Option("--tournament", min=1)] = None,
    evaluations: Annotated[
        int | None, typer.Option("--evaluations", min=1, help="Candidates to train.")
    ] = None,
    deadline: Annotated[
        float | None, typer.Option("--deadline", help="Stop proposing after this many seconds.")
    ] = None,
    evaluators: Annotated[int | None, typer.Option("--evaluators", min=1)] = None,
    cpus: Annotated[float | None, typer.Option("--cpus", help="CPUs per evaluator.")] = None,
    gpus: Annotated[float | None, typer.Option("--gpus", help="GPUs per evaluator.")] = None,
    data: Annotated[
        str | None,
        typer.Option("--data", help="builtin, lm1b, lm1b:DIR, a text file, or TRAIN,VALID."),
    ] = None,
    hurdles: Annotated[int | None, typer.Option("--hurdles", min=0)] = None,
    rng_seed: Annotated[int | None, typer.Option("--rng-seed", min=0)] = None,
    name: Annotated[str | None, typer.Option("--name")] = None,
    db: DbOption = None,
    ray_address: RayAddressOption = None,
    cache_dir: CacheDirOption = None,
    lease_ttl: LeaseTtlOption = DEFAULT_LEASE_TTL,
) -> None:
    """Create a search and drive it here, with a live progress bar; Ctrl-C stops it cleanly."""
    options = {
        "seed": seed,
        "preset": preset,
        "budget": budget,
        "population_size": population,
        "tournament_size": tournament,
        "max_evaluations": evaluations,
        "deadline_seconds": deadline,
        "evaluators": evaluators,
        "hurdles": hurdles,
        "rng_seed": rng_seed,
        "name": name,
    }
    with reported_errors():
        from service.search_engine import seed_dna_of
        from service.store import SQLStore

        config = build_config(config_file, options, data, cpus, gpus)
        with SQLStore(db, upgrade=True) as store:
            search_id = store.create_search(
                config.name, config.model_dump(mode="json"), seed_dna_of(config)
            )
            console.print(f"search {search_id} ({config.name}) created in {_where(store)}")
            command = _resume_command(search_id, db, ray_address, cache_dir)
            _drive(store, search_id, command, ray_address, cache_dir, lease_ttl)


def resume(
    search_id: Annotated[int, typer.Argument(metavar="ID", help="The search to drive on.")],
    db: DbOption = None,
    ray_address: RayAddressOption = None,
    cache_dir: CacheDirOption = None,
    lease_ttl: LeaseTtlOption = DEFAULT_LEASE_TTL,
) -> None:
    """Drive an interrupted search (stopped, paused or crashed) to its end."""
    with reported_errors():
        from service.store import SQLStore

        with SQLStore(db, upgrade=True) as store:
            command = _resume_command(search_id, db, ray_address, cache_dir)
            _drive(store, search_id, command, ray_address, cache_dir, lease_ttl)


# -- the config ------------------------------------------------------------------------------------


def build_config(
    config_file: Path | None,
    options: dict[str, Any],
    data: str | None,
    cpus: float | None,
    gpus: float | None,
) -> Any:
    """The SearchConfig from the file and the options given (None: not given)."""
    from pydantic import ValidationError

    from service.search_config import SearchConfig

    values = read_config_file(config_file) if config_file else {}
    given = {key: value for key, value in options.items() if value is not None}
    seed = given.pop("seed", None)
    if seed is not None:
        values.update(_seed_fields(seed))
    values.update(given)
    if data is not None:
        values["data"] = {**values.get("data", {}), **_data_fields(data)}
    resources = {"num_cpus": cpus, "num_gpus": gpus}
    if any(v is not None for v in resources.values()):
        given_resources = {k: v for k, v in resources.items() if v is not None}
        values["resources"] = {**values.get("resources", {}), **given_resources}
    try:
        return SearchConfig.model_validate(values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'config'}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigError(f"invalid search config: {problems}") from None


def read_config_file(path: Path) -> dict[str, Any]:
    """A JSON or YAML mapping of SearchConfig fields."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the config file {path}: {exc.strerror}") from None
    try:
        if path.suffix.lower() in (".yaml", ".yml"):
            import yaml

            values = yaml.safe_load(text)
        else:
            values = json.loads(text)
    except Exception as exc:  # a JSON or YAML syntax error: say where
        raise ConfigError(f"cannot parse the config file {path}: {exc}") from None
    if not isinstance(values, dict):
        raise ConfigError(f"the config file {path} must hold a mapping of config fields")
    return values


def _seed_fields(seed: str) -> dict[str, Any]:
    from primer_search.seeds import seed_names

    if seed in seed_names():
        return {"seed": seed, "dna": None}
    path = Path(seed).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"--seed {seed!r} is neither a seed ({', '.join(seed_names())}) nor a DNA JSON file"
        )
    try:
        return {"seed": None, "dna": json.loads(path.read_text())}
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read the DNA file {path}: {exc}") from None


def _data_fields(data: str) -> dict[str, Any]:
    from primer_search.data import parse_data_arg

    spec = parse_data_arg(data)
    return {
        "source": spec.source,
        "train_paths": list(spec.train_paths),
        "validation_paths": list(spec.validation_paths),
        "data_dir": spec.data_dir,
    }


# -- driving -------------------------------------------------------------------------------------


def _drive(
    store: SearchStore,
    search_id: int,
    resume_command: str,
    ray_address: str | None,
    cache_dir: Path | None,
    lease_ttl: float,
) -> None:
    from primer_search.data import default_cache_dir
    from service.driver import DriverExit, SearchDriver
    from service.runtime import init_ray

    driver = SearchDriver(
        store, search_id, cache_dir=cache_dir or default_cache_dir(), lease_ttl=lease_ttl
    )
    driver.acquire()  # refuse (finished, or driven elsewhere) before starting anything
    with progress_display(store, search_id) as show:
        driver.on_progress = show
        with stop_on_interrupt(driver):
            try:
                init_ray(ray_address)
            except BaseException:
                store.release_lease(search_id, driver.holder)
                raise
            exit = driver.drive()
    _report_exit(store, search_id, exit, resume_command)
    if exit in (DriverExit.FAILED, DriverExit.LEASE_LOST):
        raise typer.Exit(1)


@contextmanager
def stop_on_interrupt(driver: SearchDriver) -> Iterator[None]:
    """The first Ctrl-C (or SIGTERM) asks the driver to stop at its next turn; a second one
    raises KeyboardInterrupt."""
    interrupted = False

    def handler(signum: int, frame: object) -> None:
        nonlocal interrupted
        if interrupted:
            raise KeyboardInterrupt
        interrupted = True
        err_console.print("stopping (the work in flight is kept for resume; Ctrl-C again aborts)")
        driver.request_stop()

    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def progress_display(store: SearchStore, search_id: int) -> Iterator[Any]:
    """A live bar (evaluations, best fitness, failures, in flight) and one line per individual
    recorded. Off a terminal only the lines are printed."""
    columns = (
        TextColumn("[bold]search {task.fields[search]}[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("evaluations  best {task.fields[best]}  failed {task.fields[failed]}"),
        TextColumn("in flight {task.fields[in_flight]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console, transient=False) as bar:
        task = bar.add_task("", total=None, search=search_id, best="-", failed=0, in_flight=0)

        def show(progress: DriverProgress) -> None:
            best = "-" if progress.best_fitness is None else f"{progress.best_fitness:.4f}"
            bar.update(
                task,
                completed=progress.evaluated,
                total=progress.max_evaluations,
                best=best,
                failed=progress.failed,
                in_flight=progress.in_flight,
            )
            if progress.latest is not None:
                bar.console.print(_individual_line(progress), highlight=False)

        yield show


def _individual_line(progress: DriverProgress) -> str:
    proposal, evaluation = progress.latest, progress.evaluation
    assert proposal is not None
    what = proposal.mutation.type.value if proposal.mutation else "seed copy"
    parent = "seed" if proposal.parent_id is None else f"#{proposal.parent_id}"
    head = f"  #{proposal.id:<4} {what:<18} from {parent:<6}"
    if evaluation is None:  # settled when proposed
        detail = proposal.rejection if proposal.rejection else ""
        return f"{head} {proposal.kind.value} {detail}".rstrip()
    if evaluation.fitness is None:
        return f"{head} failed: {evaluation.error}"
    stopped = ""
    if evaluation.status.value == "stopped":
        stopped = f" (stopped at hurdle {evaluation.hurdle_reached})"
    return f"{head} log-ppl {evaluation.fitness:.4f}{stopped}"


def _report_exit(store: SearchStore, search_id: int, exit: DriverExit, resume_command: str) -> None:
    from service.driver import DriverExit

    search = store.get_search(search_id)
    best = "none yet"
    if search.best_fitness is not None:
        best = f"#{search.best_iid}, validation log-ppl {search.best_fitness:.4f}"
    if exit is DriverExit.FINISHED:
        console.print(f"search {search_id} finished: best {best}")
        console.print(f"see it with: primer-search show {search_id}")
    elif exit in (DriverExit.STOPPED, DriverExit.PAUSED, DriverExit.DETACHED):
        console.print(f"search {search_id} {search.status.value}: best so far {best}")
        console.print(f"resume it with: {resume_command}")
    elif exit is DriverExit.LEASE_LOST:
        err_console.print(
            f"error: search {search_id} was taken over by another driver "
            f"({search.lease_holder}); this one stopped"
        )
    else:
        err_console.print(f"error: search {search_id} failed: {search.error}")
        err_console.print(f"after fixing the cause, resume it with: {resume_command}")


def _resume_command(
    search_id: int, db: str | None, ray_address: str | None, cache_dir: Path | None
) -> str:
    """The exact command that resumes this search (with the options that located it)."""
    words = ["primer-search", "resume", str(search_id)]
    if db is not None:
        words += ["--db", db]
    if ray_address is not None:
        words += ["--ray-address", ray_address]
    if cache_dir is not None:
        words += ["--cache-dir", str(cache_dir)]
    return shlex.join(words)


def _where(store: SearchStore) -> str:
    url = getattr(store, "url", None)
    return url.render_as_string(hide_password=True) if url is not None else "the store"
