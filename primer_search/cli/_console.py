"""What every command shares: the consoles, JSON output, and the error edge."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer
from rich.console import Console

from primer_search.errors import DNAValidationError, PrimerSearchError

# soft_wrap: a message stays on one line, for grep. Rich looks up sys.stdout / sys.stderr when
# it prints, so test runners that swap them still capture the output.
console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)


def print_json(value: Any) -> None:
    """Plain JSON on stdout (no colours, no wrapping), for scripts and `jq`."""
    typer.echo(json.dumps(value, indent=2))


def print_issues(error: DNAValidationError, to_stderr: bool = True) -> None:
    out = err_console if to_stderr else console
    out.print(f"invalid DNA ({len(error.issues)} problem(s)):", markup=False)
    for issue in error.issues:
        out.print(f"  - {issue}", markup=False)


@contextmanager
def reported_errors() -> Iterator[None]:
    """Turn an error raised on purpose into a message on stderr and exit status 1. Anything
    else is a bug and keeps its traceback."""
    try:
        yield
    except DNAValidationError as exc:
        err_console.print("error:", end=" ", style="bold red")
        print_issues(exc)
        raise typer.Exit(1) from None
    except PrimerSearchError as exc:
        err_console.print("error:", end=" ", style="bold red")
        err_console.print(str(exc), markup=False)
        raise typer.Exit(1) from None
