"""`primer-search demo` (`make demo`): a real, small search on the embedded defaults.

The same path as `primer-search run`: a SQLite store (in `.demo/` unless --db says otherwise),
a local Ray with warm evaluator actors, the built-in corpus (generated and tokenized on the first
run, then cached), Transformer children trained with TensorFlow under a wall-clock budget, and
regularized evolution. Nothing printed is made up. It ends with the best program and how to look
at the search.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from primer_search.cli._console import console, reported_errors

DEMO_DB = Path(".demo") / "primer-search.db"


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    evaluations: Annotated[int, typer.Option("--evaluations", min=1)] = 24,
    population: Annotated[int, typer.Option("--population", min=2)] = 8,
    tournament: Annotated[int, typer.Option("--tournament", min=1)] = 3,
    budget: Annotated[str, typer.Option("--budget", help="Per candidate.")] = "6s",
    evaluators: Annotated[int, typer.Option("--evaluators", min=1)] = 2,
    rng_seed: Annotated[int, typer.Option("--rng-seed", min=0)] = 0,
    db: Annotated[str, typer.Option("--db", help="Store URL or SQLite path.")] = str(DEMO_DB),
) -> None:
    """Run a small real search: tiny preset, built-in corpus, a few seconds per candidate."""
    from service.cli.run import run

    if "://" not in db:
        Path(db).parent.mkdir(parents=True, exist_ok=True)
    console.print(
        f"[bold]primer-search demo[/]: {evaluations} candidates of {budget} each, "
        f"population {population}, tournament {tournament}, {evaluators} Ray evaluators, "
        f"store {db}"
    )
    run(
        config_file=None,
        seed="transformer",
        preset="tiny",
        budget=budget,
        population=population,
        tournament=tournament,
        evaluations=evaluations,
        deadline=None,
        evaluators=evaluators,
        cpus=1.0,
        gpus=None,
        data="builtin",
        hurdles=None,
        rng_seed=rng_seed,
        name="demo",
        db=db,
        ray_address=None,
        cache_dir=None,
    )
    _show_best(db)


def _show_best(db: str) -> None:
    with reported_errors():
        from primer_search.dna import parse_dna
        from primer_search.render import render
        from service.settings import DEFAULT_PORT
        from service.store import SQLStore

        with SQLStore(db, upgrade=True) as store:
            newest = store.list_searches(offset=0, limit=1).items  # newest first
            if not newest or newest[0].best_iid is None:
                return
            search = newest[0]
            assert search.best_iid is not None
            best = store.get_individual(search.id, search.best_iid)
            assert best.dna is not None and best.fitness is not None
            console.print(f"\nbest program (#{best.iid}, validation log-ppl {best.fitness:.4f}):")
            console.print(render(parse_dna(best.dna), show_dead=False), highlight=False)
            console.print(
                f"look at the search: primer-search show {search.id} --db {db}\n"
                f"or open the dashboard: primer-search serve --db {db}, then "
                f"http://127.0.0.1:{DEFAULT_PORT}/search/{search.id}"
            )
