"""`primer-search train`: its result output, its exit status, and clean argument errors.

The corpus is the tests' duck-typed PatternCorpus (open_corpus is replaced), so a run takes
seconds; the real corpus path is covered by test_training_smoke.py.
"""

from __future__ import annotations

import json

import pytest
from training_support import MINI, PatternCorpus, program
from typer.testing import CliRunner

import primer_search.data
from primer_search.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, ["train", *args])


def assert_clean_failure(result, fragment: str) -> None:
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "Traceback" not in result.output
    assert fragment in result.output


@pytest.fixture
def pattern_corpus(monkeypatch):
    opened = []

    def open_corpus(spec, cache_dir):
        opened.append((spec, cache_dir))
        return PatternCorpus()

    monkeypatch.setattr(primer_search.data, "open_corpus", open_corpus)
    return opened


def test_train_prints_the_result_as_json(tmp_path, pattern_corpus):
    path = tmp_path / "mini.json"
    path.write_text(MINI.to_json())
    result = invoke(
        str(path),
        "--budget",
        "3steps",
        "--hurdles",
        "1",
        "--thresholds",
        "none",
        "--seed",
        "5",
        "--json",
        "--cache-dir",
        str(tmp_path / "cache"),
    )
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert (record["status"], record["steps"], record["seed"]) == ("ok", 3, 5)
    assert len(record["hurdles"]) == 1 and record["hurdles"][0]["threshold"] is None
    assert record["fitness"] > 0 and record["model_preset"] == "tiny"
    spec, cache_dir = pattern_corpus[0]
    assert spec.source == "builtin" and str(cache_dir) == str(tmp_path / "cache")
    assert spec.validation_tokens == 16_384  # what a search measures fitness on


def test_the_validation_set_size_is_an_option(tmp_path, pattern_corpus):
    path = tmp_path / "mini.json"
    path.write_text(MINI.to_json())
    result = invoke(str(path), "--budget", "1steps", "--validation-tokens", "4096", "--json")
    assert result.exit_code == 0, result.output
    assert pattern_corpus[0][0].validation_tokens == 4096


def test_a_failed_program_prints_its_reason_and_exits_1(tmp_path, pattern_corpus):
    nan = program({"op": "C_MUL", "input1": 0, "constant": 0}, {"op": "LOG", "input1": 2})
    path = tmp_path / "nan.json"
    path.write_text(nan.to_json())
    result = invoke(str(path), "--budget", "2steps")
    assert_clean_failure(result, "training loss is nan")
    assert "failed" in result.output


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["transformer", "--budget", "60"], "has no unit"),
        (["transformer", "--budget", "5M"], "unknown unit"),
        (["no_such_seed"], "neither a seed"),
        (["transformer", "--preset", "huge"], "unknown preset"),
        (["transformer", "--hurdles", "2", "--thresholds", "4.0"], "1 thresholds given for 2"),
        (["transformer", "--hurdles", "1", "--thresholds", "abc"], "neither a number"),
        (["transformer", "--data", "/no/such/file.txt"], "is not a file"),
    ],
)
def test_bad_arguments_are_clean_messages(args, fragment, pattern_corpus):
    assert_clean_failure(invoke(*args), fragment)
    assert not pattern_corpus  # nothing was opened, let alone trained
