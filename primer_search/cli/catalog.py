"""`primer-search ops` and `primer-search seeds`: what the search space is made of."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from primer_search.canonical import canonical_hash
from primer_search.cli._console import console, print_json, reported_errors
from primer_search.dna import resolved_instruction_count
from primer_search.ops import REGISTRY, OpSpec
from primer_search.seeds import SEED_NOTES, load_seed, seed_names

# Instruction fields in the order the DNA format lists them.
FIELD_ORDER = ("input1", "input2", "constant", "dim", "branch", "callee")

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def register(app: typer.Typer) -> None:
    app.command("ops")(ops)
    app.command("seeds")(seeds)


def op_entry(spec: OpSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "group": spec.group,
        "arity": spec.arity,
        "uses": [f for f in FIELD_ORDER if f in spec.uses],
        "weighted": spec.weighted,
        "meaning": spec.meaning,
        "on_matrix": spec.on_matrix,
    }


def ops(json_out: JsonFlag = False) -> None:
    """List the op vocabulary: the paper's 39 primitives and CALL."""
    entries = [op_entry(spec) for spec in REGISTRY.values()]
    if json_out:
        print_json(entries)
        return
    table = Table(title=f"{len(entries)} ops", title_justify="left")
    for column in ("name", "group", "arity", "fields used", "meaning", "on a matrix"):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(
            e["name"],
            e["group"],
            str(e["arity"]),
            ", ".join(e["uses"]),
            e["meaning"],
            e["on_matrix"],
        )
    console.print(table)


def seed_entry(name: str) -> dict[str, Any]:
    dna = load_seed(name)
    return {
        "name": name,
        "note": SEED_NOTES.get(name, ""),
        "subprograms": len(dna.subprograms),
        "resolved_instructions": resolved_instruction_count(dna),
        "canonical_hash": canonical_hash(dna),
    }


def seeds(json_out: JsonFlag = False) -> None:
    """List the seed programs: the search starts from copies of them."""
    with reported_errors():
        entries = [seed_entry(name) for name in seed_names()]
    if json_out:
        print_json(entries)
        return
    table = Table(title=f"{len(entries)} seeds", title_justify="left")
    for column in ("name", "note", "instructions", "canonical hash"):
        table.add_column(column, overflow="fold")
    for e in entries:
        table.add_row(
            e["name"], e["note"], str(e["resolved_instructions"]), e["canonical_hash"][:12]
        )
    console.print(table)
    console.print("instructions: resolved, with every call expanded")
