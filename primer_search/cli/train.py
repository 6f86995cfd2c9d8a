"""`primer-search train`: train one program under a budget and print its fitness (issue 3).

A thin edge over `primer_search.training.train_candidate`: it reads the arguments, opens the
corpus, draws a progress bar on a terminal (stderr, so `--json` output stays clean) and prints
the result. Exit status: 0 when the program trained (to the end or to a hurdle that stopped it),
1 when it failed (the reason is printed) or an argument was wrong.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from primer_search.cli._console import console, err_console, print_json, reported_errors
from primer_search.config import PRESETS, get_preset
from primer_search.errors import ConfigError
from primer_search.seeds import load_program, seed_names

# The validation set a search measures fitness on (service/search_config.py's DataConfig default):
# `train` reports the same number a search would record for the program.
SEARCH_VALIDATION_TOKENS = 16_384

if TYPE_CHECKING:
    from primer_search.training import ProgressEvent, TrainResult


def register(app: typer.Typer) -> None:
    app.command("train")(train)


def train(
    program: Annotated[
        str,
        typer.Argument(
            metavar="NAME_OR_FILE",
            help=f"A seed name ({', '.join(seed_names())}) or a DNA JSON file.",
            show_default=False,
        ),
    ],
    data: Annotated[
        str,
        typer.Option(
            "--data",
            help="builtin, lm1b, lm1b:DIR, a text file (one sentence a line), or TRAIN,VALID.",
        ),
    ] = "builtin",
    preset: Annotated[
        str, typer.Option("--preset", help=f"Model and training preset: {', '.join(PRESETS)}.")
    ] = "tiny",
    budget: Annotated[
        str,
        typer.Option(
            "--budget", help="Training seconds, steps or tokens: 60s, 5m, 2000steps, 1Mtokens."
        ),
    ] = "60s",
    hurdles: Annotated[
        int, typer.Option("--hurdles", help="Halving hurdles H (the paper: 4).", min=0)
    ] = 0,
    thresholds: Annotated[
        str | None,
        typer.Option(
            "--thresholds",
            help="One validation log-ppl bar per hurdle, comma-separated; 'none' for no bar. "
            "A program worse than a bar stops there.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seeds the weights and the data order.")] = 0,
    validation_tokens: Annotated[
        int,
        typer.Option(
            "--validation-tokens",
            min=1,
            help="Size of the fixed validation set; a search's default is the same.",
        ),
    ] = SEARCH_VALIDATION_TOKENS,
    json_out: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
    cache_dir: Annotated[
        Path | None,
        typer.Option("--cache-dir", help="Tokenizers and token shards (default: the user cache)."),
    ] = None,
) -> None:
    """Train one program under a budget and print its validation log-perplexity."""
    with reported_errors():
        from primer_search.data import default_cache_dir, open_corpus, parse_data_arg
        from primer_search.training import (
            HurdlePlan,
            get_train_preset,
            parse_budget,
            train_candidate,
        )

        dna = load_program(program)
        model_config, train_config = get_preset(preset), get_train_preset(preset)
        parsed_budget = parse_budget(budget)
        bars = parse_thresholds(thresholds)
        HurdlePlan.create(parsed_budget, hurdles, bars)  # argument errors before any work
        spec = replace(
            parse_data_arg(data, vocab_size=model_config.vocab_size),
            validation_tokens=validation_tokens,
        )
        with err_console.status(f"opening the {spec.source} corpus", spinner="dots"):
            corpus = open_corpus(spec, cache_dir or default_cache_dir())
        with progress_bar(program, enabled=err_console.is_terminal) as progress:
            result = train_candidate(
                dna,
                model_config,
                train_config,
                corpus,
                parsed_budget,
                hurdles,
                bars,
                seed=seed,
                progress=progress,
            )
    if json_out:
        print_json(result.model_dump(mode="json"))
    else:
        print_result(result)
    if result.failed:
        raise typer.Exit(1)


def parse_thresholds(text: str | None) -> list[float | None] | None:
    """ "4.2,3.9,none" -> [4.2, 3.9, None]."""
    if text is None:
        return None
    bars: list[float | None] = []
    for part in (p.strip() for p in text.split(",")):
        if part.lower() in ("none", "-", ""):
            bars.append(None)
            continue
        try:
            bars.append(float(part))
        except ValueError:
            raise ConfigError(
                f"threshold {part!r} is neither a number (a log-ppl bar) nor 'none'"
            ) from None
    return bars


@contextmanager
def progress_bar(name: str, enabled: bool) -> Iterator[Callable[[ProgressEvent], None] | None]:
    """A rich bar on stderr fed by train_candidate's progress events; nothing off a terminal."""
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("step {task.fields[steps]}"),
        TextColumn("loss {task.fields[loss]}"),
        TimeElapsedColumn(),
    )
    labels = {
        "build": "building",
        "compile": "compiling",
        "train": "training",
        "eval": "evaluating",
    }
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task(name, total=1.0, steps=0, loss="-")

        def update(event: ProgressEvent) -> None:
            loss = f"{event.loss:.3f}" if event.loss is not None else bar.tasks[0].fields["loss"]
            bar.update(
                task,
                completed=event.fraction,
                description=f"{name}: {labels.get(event.phase, event.phase)}",
                steps=event.steps,
                loss=loss,
            )

        yield update


def print_result(result: TrainResult) -> None:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    status = result.status.value
    if result.stopped_at_hurdle is not None:
        status += f" (hurdle {result.stopped_at_hurdle})"
    table.add_row("status", status)
    if result.failure_reason:
        table.add_row("reason", result.failure_reason)
    if result.fitness is not None:
        table.add_row("fitness", f"{result.fitness:.4f} nats (validation log-perplexity)")
        table.add_row("perplexity", f"{result.perplexity:.2f}")
    for h in result.hurdles:
        bar = "none" if h.threshold is None else f"{h.threshold:.4f}"
        verdict = "passed" if h.passed else "stopped"
        table.add_row(
            f"hurdle {h.index}", f"{h.fitness:.4f} at step {h.steps} (bar {bar}: {verdict})"
        )
    table.add_row("budget", f"{result.budget}: {result.steps} steps, {result.tokens:,} tokens")
    table.add_row(
        "time",
        f"train {result.train_seconds:.1f}s, compile {result.compile_seconds:.1f}s, "
        f"eval {result.eval_seconds:.1f}s, total {result.total_seconds:.1f}s",
    )
    if result.step_seconds is not None and result.tokens_per_second is not None:
        table.add_row(
            "speed",
            f"{result.step_seconds * 1000:.1f} ms/step, {result.tokens_per_second:,.0f} tok/s",
        )
    if result.parameter_count is not None:
        table.add_row(
            "model",
            f"{result.parameter_count:,} parameters, d_model {result.d_model}, "
            f"{result.training_flops_per_token:,} training FLOPs/token",
        )
    if result.peak_memory_bytes is not None:
        table.add_row(
            "memory", f"{result.peak_memory_bytes / 2**20:,.0f} MiB ({result.peak_memory_source})"
        )
    table.add_row("device", f"{result.device}{', XLA' if result.jit_compile else ''}")
    console.print(table)
