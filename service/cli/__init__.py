"""The whole `primer-search` command line: the core's commands plus the service's.

`primer_search.cli` holds the commands that need only the core (ops, seeds, dna, train); the
commands that need the store, Ray or the HTTP server (run, resume, serve, status, list, show,
export, demo) live here and are added to the same typer app, so the core package never imports
the service (STYLE.md principle 2). The console script `primer-search` is `service.cli:main`.
"""

from __future__ import annotations

from primer_search.cli import app
from primer_search.cli import main as _core_main
from service.cli import demo, inspect, run, serve

run.register(app)  # run, resume: drive a search in this process
serve.register(app)  # serve: the REST API and the drivers
inspect.register(app)  # status, list, show, export: read a search store
demo.register(app)  # demo: a small real search (make demo)

__all__ = ["app", "main"]


def main() -> None:
    """The console script `primer-search` (pyproject.toml) and `python -m service`."""
    _core_main()
