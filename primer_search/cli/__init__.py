"""The `primer-search` command line: a thin edge over the library.

Each command group is a module of this package with a `register(app)` function; adding a
command is a new module and one line in `_register_commands`. The commands that need the
store, Ray or the HTTP server live in `service.cli`, which adds them to this same app. Commands
call importable library functions and do nothing clever themselves (Flax's lm1b entry point,
STYLE.md).

Errors the library raises on purpose (`PrimerSearchError`) are shown as one clean message and
exit status 1 (see `_console.reported_errors`); usage errors exit 2, as click's do. Commands
that do not build a model never import TensorFlow, so they answer in well under a second.
"""

from __future__ import annotations

import os

import typer

app = typer.Typer(
    name="primer-search",
    help="The evolutionary architecture search of the Primer paper (So et al., 2021).",
    no_args_is_help=True,
    add_completion=False,
    # A traceback means a bug: show it plainly, without rich's locals.
    pretty_exceptions_show_locals=False,
)


def _register_commands() -> None:
    from primer_search.cli import catalog, dna, train

    catalog.register(app)  # ops, seeds
    dna.register(app)  # dna show / validate / params
    train.register(app)  # train


_register_commands()


def main() -> None:
    """Run the command line (service.cli.main adds the service's commands to the same app)."""
    # The CLI is the process edge: quiet TensorFlow's C++ start-up logs for commands that
    # build a model, unless the user asked for them.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    app()
