"""`primer-search status [ID]`, `list`, `show ID [IID]`, `export ID`: read a search store.

These read the store directly (no server needed, and a search being driven by another process
reads fine: SQLite readers never block its writer). `--db` (or PRIMER_SEARCH_DB) names the
store; by default the SQLite file of service/store/database.py. The schema is upgraded on open,
as `serve` and `run` do. `--json` prints what the REST API answers for the same question.
The service is imported inside the commands, so the rest of the CLI never loads SQLAlchemy.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from primer_search.cli._console import console, print_json, reported_errors

if TYPE_CHECKING:
    from service.progress import SearchProgress
    from service.store import IndividualRecord, SearchStore

DB_ENV = "PRIMER_SEARCH_DB"  # service/settings.py names it too; the CLI reads it through typer

DbOption = Annotated[
    str | None,
    typer.Option(
        "--db",
        envvar=DB_ENV,
        help="The store: a SQLite file path or a postgresql:// URL [default: the user's data "
        "folder].",
        show_default=False,
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON (as the REST API does).")]
SearchId = Annotated[int, typer.Argument(metavar="ID", help="A search id.", show_default=False)]


def register(app: typer.Typer) -> None:
    app.command("status")(status)
    app.command("list")(list_searches)
    app.command("show")(show)
    app.command("export")(export)


@contextmanager
def opened_store(db: str | None) -> Iterator[SearchStore]:
    """The store at `db`, its schema upgraded; errors end as clean messages (exit 1)."""
    from service.store import SQLStore

    with reported_errors(), SQLStore(db, upgrade=True) as store:
        yield store


def status(
    search_id: Annotated[
        int | None,
        typer.Argument(metavar="[ID]", help="A search id [default: every running or paused one]."),
    ] = None,
    db: DbOption = None,
    json_out: JsonFlag = False,
) -> None:
    """How a search is doing: status, counts, best fitness, elapsed time, evaluations/hour."""
    from service.api.schemas import SearchDetailPublic
    from service.progress import search_progress
    from service.store import SearchStatus

    with opened_store(db) as store:
        if search_id is None:
            active = [SearchStatus.RUNNING, SearchStatus.PAUSED]
            ids = [s.id for s in store.list_searches(limit=1000, status=active).items]
        else:
            ids = [search_id]
        progress = [search_progress(store, i) for i in ids]
    if json_out:
        print_json([SearchDetailPublic.from_progress(p).model_dump(mode="json") for p in progress])
        return
    if not progress:
        console.print("no search is running or paused (see `primer-search list`)")
    for p in progress:
        _print_progress(p)


def _print_progress(p: SearchProgress) -> None:
    s = p.search
    c = {status.value: n for status, n in p.counts.items()}
    rate = f"{p.evaluations_per_hour:.1f}/hour" if p.evaluations_per_hour is not None else "-"
    lines = [
        f"search {s.id} ({s.name}): {s.status.value}" + (" (driven)" if s.lease_active else ""),
        f"  evaluated {p.evaluated} (done {c['done']}, stopped at a hurdle {c['stopped']}, "
        f"failed {c['failed']}); running {c['running']}, pending {c['pending']}; "
        f"cache hits {c['cached']}, rejected {c['rejected']}",
        f"  best fitness {_fitness(s.best_fitness)}"
        + (f" (individual {s.best_iid})" if s.best_iid is not None else ""),
        f"  elapsed {_duration(p.elapsed_seconds)}, {rate}",
    ]
    if s.error:
        lines.append(f"  error: {s.error}")
    for line in lines:
        console.print(line, markup=False)


def list_searches(
    db: DbOption = None,
    status_filter: Annotated[
        str | None, typer.Option("--status", help="Only searches with this status.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="How many, newest first.")] = 50,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many.")] = 0,
    json_out: JsonFlag = False,
) -> None:
    """List the searches in the store, newest first."""
    from service.api.schemas import SearchesPublic
    from service.store import SearchStatus

    wanted = None
    if status_filter is not None:
        valid = [s.value for s in SearchStatus]
        if status_filter not in valid:
            raise typer.BadParameter(
                f"{status_filter!r} is not one of {', '.join(valid)}", param_hint="--status"
            )
        wanted = SearchStatus(status_filter)
    with opened_store(db) as store:
        page = store.list_searches(offset, limit, wanted)
    if json_out:
        print_json(SearchesPublic.from_page(page).model_dump(mode="json"))
        return
    table = Table(title=f"{page.total} search(es)", title_justify="left")
    for column in ("id", "name", "status", "individuals", "finished", "best fitness", "created"):
        table.add_column(column, overflow="fold")
    for s in page.items:
        table.add_row(
            str(s.id),
            s.name,
            s.status.value,
            str(s.num_individuals),
            str(s.num_finished),
            _fitness(s.best_fitness),
            _time(s.created_at),
        )
    console.print(table)


def show(
    search_id: SearchId,
    iid: Annotated[
        int | None,
        typer.Argument(metavar="[IID]", help="An individual of the search [default: none]."),
    ] = None,
    db: DbOption = None,
    json_out: JsonFlag = False,
) -> None:
    """Show a search and its config, or one individual: code, mutation, parent, result."""
    from service.api.schemas import IndividualDetailPublic, SearchDetailPublic
    from service.export import readable_code
    from service.progress import search_progress

    with opened_store(db) as store:
        if iid is None:
            progress = search_progress(store, search_id)
            if json_out:
                print_json(SearchDetailPublic.from_progress(progress).model_dump(mode="json"))
                return
            _print_progress(progress)
            console.print("  config:", markup=False)
            for key, value in progress.search.config.items():
                console.print(f"    {key}: {value}", markup=False)
            return
        record = store.get_individual(search_id, iid)
    code = readable_code(record.dna)
    if json_out:
        detail = IndividualDetailPublic.from_record_with_code(record, code)
        print_json(detail.model_dump(mode="json"))
        return
    _print_individual(record)
    typer.echo(code or "", nl=False)


def _print_individual(r: IndividualRecord) -> None:
    parent = "the seed" if r.parent_iid is None else f"individual {r.parent_iid}"
    lines = [
        f"individual {r.iid} of search {r.search_id}: {r.status.value} ({r.kind})",
        f"  fitness {_fitness(r.fitness)}, parameters {r.parameter_count or '-'}, "
        f"attempts {r.attempts}, worker {r.worker or '-'}",
        f"  parent: {parent}; mutation: {r.mutation_type or 'none (a copy)'}",
        f"  hash {r.program_hash}",
    ]
    if r.mutation:
        details = {k: v for k, v in r.mutation.items() if k != "type" and v not in (None, 0)}
        lines.append(f"  mutation record: {details}")
    if r.error:
        lines.append(f"  error: {r.error}")
    for line in lines:
        console.print(line, markup=False)
    console.print("")


def export(
    search_id: SearchId,
    top: Annotated[int, typer.Option("--top", min=1, max=1000, help="How many, best first.")] = 10,
    fmt: Annotated[
        str, typer.Option("--format", help="json (DNAs to load again) or code.")
    ] = "json",
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", help="Write to this file [default: stdout].", dir_okay=False
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Export the best programs of a search (fully trained ones only) as JSON or as code."""
    from service.export import export_code, export_json

    if fmt not in ("json", "code"):
        raise typer.BadParameter(f"{fmt!r} is not json or code", param_hint="--format")
    with opened_store(db) as store:
        if fmt == "code":
            text = export_code(store, search_id, top)
        else:
            import json

            text = json.dumps(export_json(store, search_id, top), indent=2) + "\n"
    if output is None:
        typer.echo(text, nl=False)
        return
    try:
        output.write_text(text)
    except OSError as exc:
        raise typer.BadParameter(
            f"cannot write {output}: {exc.strerror}", param_hint="--output"
        ) from None
    console.print(f"wrote {output}", markup=False)


def _fitness(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


def _time(value: datetime) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S")
