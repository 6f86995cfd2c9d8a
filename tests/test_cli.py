"""The `primer-search` command line (issue 2): every command, its JSON, and its error paths,
which must end in a clean message and a non-zero status, never a traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from primer_search.canonical import canonical_hash
from primer_search.cli import app
from primer_search.config import get_preset
from primer_search.dna import (
    DNA,
    Instruction,
    Subprogram,
    parse_dna,
    resolved_instruction_count,
)
from primer_search.ops import REGISTRY
from primer_search.render import render
from primer_search.seeds import SEED_NOTES, load_seed, seed_names
from primer_search.sizing import fit_base_unit

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, list(args))


def assert_clean_failure(result, code: int = 1) -> None:
    """Failed on purpose: the status, and no Python traceback anywhere."""
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output


def write(tmp_path: Path, name: str, content: str | bytes) -> Path:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


INVALID = json.dumps(
    {
        "subprograms": [{"instructions": [{"op": "NOPE", "input1": 7}]}],
        "dims": [3],
    }
)


def subprocess_env() -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


# ---------------------------------------------------------------------------------------------
# ops and seeds


def test_help_lists_the_commands() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("ops", "seeds", "dna"):
        assert command in result.stdout
    result = invoke("dna", "--help")
    for command in ("show", "validate", "params"):
        assert command in result.stdout


def test_ops_table_lists_the_whole_registry() -> None:
    result = invoke("ops")
    assert result.exit_code == 0
    for name in REGISTRY:
        assert name in result.stdout


def test_ops_json_is_the_registry() -> None:
    result = invoke("ops", "--json")
    assert result.exit_code == 0
    entries = json.loads(result.stdout)
    assert [e["name"] for e in entries] == list(REGISTRY)
    for e in entries:
        spec = REGISTRY[e["name"]]
        assert (e["group"], e["arity"], e["meaning"], e["on_matrix"]) == (
            spec.group,
            spec.arity,
            spec.meaning,
            spec.on_matrix,
        )
        assert set(e["uses"]) == set(spec.uses)
        assert e["weighted"] == spec.weighted


def test_seeds_table() -> None:
    result = invoke("seeds")
    assert result.exit_code == 0
    for name in seed_names():
        assert name in result.stdout
        assert canonical_hash(load_seed(name))[:12] in result.stdout


def test_seeds_json() -> None:
    result = invoke("seeds", "--json")
    assert result.exit_code == 0
    entries = json.loads(result.stdout)
    assert [e["name"] for e in entries] == seed_names()
    for e in entries:
        dna = load_seed(e["name"])
        assert e["note"] == SEED_NOTES.get(e["name"], "")
        assert e["resolved_instructions"] == resolved_instruction_count(dna)
        assert e["canonical_hash"] == canonical_hash(dna)
        assert e["subprograms"] == len(dna.subprograms)


# ---------------------------------------------------------------------------------------------
# dna show


def test_show_prints_the_seed_as_dna_json() -> None:
    result = invoke("dna", "show", "transformer")
    assert result.exit_code == 0
    assert parse_dna(result.stdout) == load_seed("transformer")


def test_show_code_prints_the_rendering() -> None:
    result = invoke("dna", "show", "transformer", "--code")
    assert result.exit_code == 0
    assert result.stdout == render(load_seed("transformer"))


def test_show_reads_a_file(tmp_path: Path) -> None:
    dna = DNA(subprograms=(Subprogram(instructions=(Instruction(op="TANH"),)),))
    path = write(tmp_path, "tanh.json", dna.to_json())
    result = invoke("dna", "show", str(path), "--code")
    assert result.exit_code == 0
    assert "x2 = tanh(x0)" in result.stdout


def test_show_unknown_name_is_a_clean_error() -> None:
    result = invoke("dna", "show", "no_such_seed")
    assert_clean_failure(result)
    assert "'no_such_seed' is neither a seed" in result.stderr
    assert "transformer" in result.stderr  # says what would be valid


def test_show_invalid_file_lists_the_issues(tmp_path: Path) -> None:
    result = invoke("dna", "show", str(write(tmp_path, "bad.json", INVALID)))
    assert_clean_failure(result)
    assert "3 problem(s)" in result.stderr
    assert "subprogram 0, instruction 0, field 'op': unknown op 'NOPE'" in result.stderr


# ---------------------------------------------------------------------------------------------
# dna validate


def test_validate_a_valid_file(tmp_path: Path) -> None:
    dna = load_seed("transformer")
    result = invoke("dna", "validate", str(write(tmp_path, "t.json", dna.to_json())))
    assert result.exit_code == 0
    assert "valid DNA" in result.stdout
    assert canonical_hash(dna) in result.stdout


def test_validate_lists_every_issue_and_exits_1(tmp_path: Path) -> None:
    result = invoke("dna", "validate", str(write(tmp_path, "bad.json", INVALID)))
    assert_clean_failure(result)
    lines = result.stdout.splitlines()
    assert "invalid DNA (3 problem(s))" in lines[0]
    assert "  - field 'dims.0': dim multiplier 3 is not one of" in lines[1]
    assert "  - subprogram 0, instruction 0, field 'op': unknown op 'NOPE'" in lines[2]
    assert "  - subprogram 0, instruction 0, field 'input1': state 7 does not exist" in lines[3]


def test_validate_json(tmp_path: Path) -> None:
    result = invoke("dna", "validate", "--json", str(write(tmp_path, "bad.json", INVALID)))
    assert_clean_failure(result)
    report = json.loads(result.stdout)
    assert report["valid"] is False and report["canonical_hash"] is None
    assert {(i["subprogram"], i["instruction"], i["field"]) for i in report["issues"]} == {
        (None, None, "dims.0"),
        (0, 0, "op"),
        (0, 0, "input1"),
    }
    good = write(tmp_path, "good.json", load_seed("transformer").to_json())
    report = json.loads(invoke("dna", "validate", "--json", str(good)).stdout)
    assert report == {
        "file": str(good),
        "valid": True,
        "canonical_hash": canonical_hash(load_seed("transformer")),
        "issues": [],
    }


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{oops", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        ("[1, 2]", "a DNA must be a JSON object"),
        ('{"subprograms": "none"}', "field 'subprograms'"),
    ],
    ids=["not-json", "not-utf8", "not-an-object", "wrong-type"],
)
def test_validate_malformed_file(tmp_path: Path, content: str | bytes, expected: str) -> None:
    result = invoke("dna", "validate", str(write(tmp_path, "x.json", content)))
    assert_clean_failure(result)
    assert expected in result.stdout


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_validate_needs_a_readable_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "missing.json" if kind == "missing" else tmp_path
    result = invoke("dna", "validate", str(path))
    assert_clean_failure(result, code=2)  # a usage error, as click reports them
    assert "Invalid value for 'FILE'" in result.output


# ---------------------------------------------------------------------------------------------
# dna params


def test_params_analytic_and_built_counts_agree() -> None:
    result = invoke("dna", "params", "transformer", "--preset", "tiny", "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    config = get_preset("tiny")
    sizing = fit_base_unit(load_seed("transformer"), config)
    assert report["analytic_params"] == sizing.total_params
    assert report["built_params"] == sizing.total_params
    assert (report["base_unit"], report["d_model"]) == (sizing.base_unit, sizing.d_model)
    assert report["block_params"] == sizing.block_params
    assert config.min_params <= report["analytic_params"] <= config.max_params


def test_params_table_without_building() -> None:
    result = invoke("dna", "params", "transformer", "--no-build")
    assert result.exit_code == 0, result.output
    sizing = fit_base_unit(load_seed("transformer"), get_preset("tiny"))
    assert f"analytic   {sizing.total_params:,}" in result.stdout
    assert "not built" in result.stdout
    assert f"d_model    {sizing.d_model}" in result.stdout


def test_params_unknown_preset_is_a_clean_error() -> None:
    result = invoke("dna", "params", "transformer", "--preset", "huge", "--no-build")
    assert_clean_failure(result)
    assert "unknown preset 'huge'; available: tiny, paper" in result.stderr


def test_params_out_of_budget_is_a_clean_error(tmp_path: Path) -> None:
    """64 chained 31-tap convolutions to 64 units: over the tiny range even at base unit 1."""
    chain = [Instruction(op="CONV_31X1", input1=i + 1 if i else 0, dim=1) for i in range(64)]
    dna = DNA(subprograms=(Subprogram(instructions=tuple(chain)),), dims=(8, 64))
    result = invoke("dna", "params", str(write(tmp_path, "big.json", dna.to_json())), "--json")
    assert_clean_failure(result)
    assert "no base unit puts this program in the 'tiny' range" in result.stderr
    assert result.stdout == ""


# ---------------------------------------------------------------------------------------------
# As a user runs it: a separate process.

NO_TENSORFLOW = """
import sys
from typer.testing import CliRunner
from primer_search.cli import app

path = sys.argv[1]
for args in (["ops"], ["seeds", "--json"], ["dna", "show", "transformer", "--code"],
             ["dna", "validate", path], ["dna", "params", "transformer", "--no-build"]):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, (args, result.output)
loaded = sorted(m for m in ("tensorflow", "keras") if m in sys.modules)
print("loaded:", loaded)
"""


def test_commands_that_build_nothing_do_not_import_tensorflow(tmp_path: Path) -> None:
    """TensorFlow costs seconds to import: listing, showing and validating must not pay it."""
    path = write(tmp_path, "t.json", load_seed("transformer").to_json())
    proc = subprocess.run(
        [sys.executable, "-c", NO_TENSORFLOW, str(path)],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "loaded: []" in proc.stdout


def test_python_dash_m_primer_search(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "primer_search", "ops", "--json"],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert [e["name"] for e in json.loads(proc.stdout)] == list(REGISTRY)


def test_installed_console_script_fails_cleanly(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("primer-search")
    if not script.exists():
        pytest.skip(f"no console script next to {sys.executable} (package not installed)")
    bad = write(tmp_path, "bad.json", INVALID)
    proc = subprocess.run(
        [str(script), "dna", "validate", str(bad)],
        capture_output=True,
        text=True,
        env=subprocess_env(),
        timeout=120,
    )
    assert proc.returncode == 1
    assert "unknown op 'NOPE'" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
