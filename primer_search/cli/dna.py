"""`primer-search dna ...`: show, validate and size one program."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from primer_search.canonical import canonical_hash
from primer_search.cli._console import (
    console,
    err_console,
    print_issues,
    print_json,
    reported_errors,
)
from primer_search.config import PRESETS, ModelConfig, get_preset
from primer_search.dna import DNA, parse_dna, validate_dna
from primer_search.errors import DNAValidationError
from primer_search.render import render
from primer_search.seeds import load_program, seed_names
from primer_search.sizing import Sizing, fit_base_unit

app = typer.Typer(help="Show, validate and size DNA programs.", no_args_is_help=True)


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="dna")


Program = Annotated[
    str,
    typer.Argument(
        metavar="NAME_OR_FILE",
        help=f"A seed name ({', '.join(seed_names())}) or a DNA JSON file.",
        show_default=False,
    ),
]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON.")]


@app.command("show")
def show(
    program: Program,
    code: Annotated[bool, typer.Option("--code", help="Readable TF-like code, not JSON.")] = False,
) -> None:
    """Print a program as DNA JSON, or as readable code with --code."""
    with reported_errors():
        dna = load_program(program)
    typer.echo(render(dna) if code else dna.to_json(indent=1), nl=not code)  # render ends in \n


@app.command("validate")
def validate(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE",
            help="A DNA JSON file.",
            exists=True,
            dir_okay=False,
            readable=True,
            show_default=False,
        ),
    ],
    json_out: JsonFlag = False,
) -> None:
    """Check a DNA file against every rule of the search space.

    Exit 0 if it is valid; otherwise list every problem and exit 1.
    """
    try:
        text = file.read_bytes()
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {file}: {exc.strerror}", param_hint="FILE") from None
    dna: DNA | None = None
    try:
        dna = parse_dna(text)
        issues = validate_dna(dna)
    except DNAValidationError as exc:  # could not even be parsed
        issues = exc.issues
    valid = not issues
    if json_out:
        print_json(
            {
                "file": str(file),
                "valid": valid,
                "canonical_hash": canonical_hash(dna) if dna is not None and valid else None,
                "issues": [issue.to_dict() for issue in issues],
            }
        )
    elif valid:
        assert dna is not None
        console.print(f"{file}: valid DNA, canonical hash {canonical_hash(dna)}", markup=False)
    else:
        console.print(f"{file}:", end=" ", markup=False)
        print_issues(DNAValidationError(issues), to_stderr=False)
    if not valid:
        raise typer.Exit(1)


@app.command("params")
def params(
    program: Program,
    preset: Annotated[
        str, typer.Option("--preset", help=f"Model preset: {', '.join(PRESETS)}.")
    ] = "tiny",
    build: Annotated[
        bool,
        typer.Option(
            "--build/--no-build",
            help="Also build the Keras model and count its variables (imports TensorFlow).",
        ),
    ] = True,
    json_out: JsonFlag = False,
) -> None:
    """Parameter count of a program's LM: analytic, and built.

    The analytic count is at the base unit that puts the model in the preset's range; the built
    count is the number of the Keras model's trainable variables. They must agree (exit 1 if not).
    """
    with reported_errors():
        dna = load_program(program)
        config = get_preset(preset)
        sizing = fit_base_unit(dna, config)
        built = _built_parameter_count(dna, config, sizing) if build else None
    report: dict[str, Any] = {
        "program": program,
        "preset": config.name,
        "min_params": config.min_params,
        "max_params": config.max_params,
        "base_unit": sizing.base_unit,
        "d_model": sizing.d_model,
        "num_layers": config.num_layers,
        "block_params": sizing.block_params,
        "analytic_params": sizing.total_params,
        "built_params": built,
    }
    if json_out:
        print_json(report)
    else:
        _print_params(report)
    if built is not None and built != sizing.total_params:
        err_console.print("error: the built model does not have the analytic count (a bug)")
        raise typer.Exit(1)


def _built_parameter_count(dna: DNA, config: ModelConfig, sizing: Sizing) -> int:
    # TensorFlow is imported here only: the other commands stay fast.
    from primer_search.model import build_model, trainable_parameter_count

    return trainable_parameter_count(build_model(dna, config, sizing))


def _print_params(r: dict[str, Any]) -> None:
    built = "not built (--no-build)" if r["built_params"] is None else f"{r['built_params']:,}"
    rows = [
        ("program", r["program"]),
        ("preset", f"{r['preset']} (range {r['min_params']:,} to {r['max_params']:,})"),
        ("base unit", str(r["base_unit"])),
        ("d_model", str(r["d_model"])),
        ("per block", f"{r['block_params']:,} x {r['num_layers']} layers"),
        ("analytic", f"{r['analytic_params']:,}"),
        ("built", built),
    ]
    for key, value in rows:
        console.print(f"{key:<10} {value}", markup=False)
