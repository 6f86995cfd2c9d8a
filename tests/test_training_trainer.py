"""train_candidate on a tiny duck-typed corpus: budgets, hurdles, failures, determinism.

Most runs use MINI (a five-instruction block) on the MICRO model preset, so a run costs about a
second of tracing and milliseconds per step; budgets are in steps except where the time budget
itself is tested.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest
import tensorflow as tf
from training_support import MICRO, MINI, PatternCorpus, program

from primer_search.errors import DataError
from primer_search.model import build_model
from primer_search.seeds import load_seed
from primer_search.sizing import fit_base_unit
from primer_search.training import (
    FailureKind,
    Status,
    TrainConfig,
    TrainResult,
    train_candidate,
    training_flops_per_token,
)
from primer_search.training import trainer as trainer_module
from primer_search.training.failures import first_line
from primer_search.training.steps import compile_step, make_eval_step
from primer_search.training.validation import ValidationSet

FAST = TrainConfig("fast", batch_tokens=256, peak_learning_rate=0.02, warmup_steps=10)


@pytest.fixture(scope="module")
def corpus():
    return PatternCorpus()


@pytest.fixture(scope="module")
def passed_run(corpus):
    """16 steps, hurdles at ceil(16/7) = 3 and ceil(48/7) = 7 steps, the first with a lax bar."""
    return train_candidate(MINI, MICRO, FAST, corpus, "16steps", 2, [1e3, None], seed=3)


def test_steps_budget_stops_exactly(passed_run):
    assert passed_run.status is Status.OK
    assert passed_run.steps == 16
    assert passed_run.tokens == 16 * 256
    assert passed_run.failure_reason is None


def test_hurdles_are_evaluated_at_their_positions(passed_run):
    first, second = passed_run.hurdles
    assert (first.index, first.steps, first.tokens) == (1, 3, 3 * 256)
    assert (second.index, second.steps) == (2, 7)
    assert first.position == pytest.approx(16 / 7)
    assert (first.threshold, second.threshold) == (1e3, None)
    assert first.passed and second.passed
    assert first.perplexity == pytest.approx(math.exp(first.fitness))
    # The pattern is learnable: fitness improves from hurdle to hurdle to the end.
    assert passed_run.fitness < second.fitness < first.fitness


def test_hurdle_stops_a_worse_candidate_and_keeps_its_truncated_fitness(corpus, passed_run):
    bar = passed_run.hurdles[0].fitness - 1e-4  # the same run is now just worse than the bar
    stopped = train_candidate(MINI, MICRO, FAST, corpus, "16steps", 2, [bar, None], seed=3)
    assert stopped.status is Status.STOPPED_AT_HURDLE
    assert stopped.stopped_at_hurdle == 1
    assert stopped.steps == 3
    assert len(stopped.hurdles) == 1 and not stopped.hurdles[0].passed
    assert stopped.fitness == stopped.hurdles[0].fitness
    assert stopped.fitness == pytest.approx(passed_run.hurdles[0].fitness, rel=1e-5)
    assert stopped.perplexity == pytest.approx(math.exp(stopped.fitness))


def test_result_reports_what_the_run_cost(passed_run):
    r = passed_run
    assert r.compile_seconds > 0 and r.build_seconds > 0 and r.eval_seconds > 0
    assert r.total_seconds >= r.train_seconds + r.compile_seconds + r.eval_seconds
    assert r.step_seconds == pytest.approx(r.train_seconds / 15)  # step 1 is compile time
    assert r.validation_tokens == 4 * 16 * 16  # 4 batches of 16 rows of 16 targets
    sizing = fit_base_unit(MINI, MICRO)
    assert (r.parameter_count, r.d_model) == (sizing.total_params, sizing.d_model)
    assert r.training_flops_per_token == training_flops_per_token(MINI, MICRO, sizing)
    assert r.peak_memory_bytes and r.peak_memory_bytes > 0 and r.peak_memory_source
    assert set(r.versions) >= {"primer-search", "tensorflow", "keras", "numpy"}
    assert (r.seed, r.model_preset, r.train_preset, r.budget) == (3, "micro", "fast", "16steps")


def test_result_round_trips_through_json(passed_run):
    text = passed_run.model_dump_json()
    assert TrainResult.model_validate_json(text) == passed_run


def test_tokens_budget_stops_exactly(corpus):
    result = train_candidate(MINI, MICRO, FAST, corpus, "1024tokens", seed=1)
    assert (result.status, result.steps, result.tokens) == (Status.OK, 4, 1024)


def test_seconds_budget_trains_at_least_the_budget_and_excludes_compilation(corpus):
    result = train_candidate(MINI, MICRO, FAST, corpus, "2s", seed=1)
    assert result.status is Status.OK
    assert result.train_seconds >= 2.0
    # At most one step past the budget (slack for a loaded machine).
    assert result.train_seconds <= 2.0 + max(0.5, 3 * result.step_seconds)
    assert result.compile_seconds > 0
    assert result.total_seconds >= result.train_seconds + result.compile_seconds
    assert result.steps > 2


@pytest.mark.parametrize(
    "name, instructions",
    [
        (
            "log of zero",
            [{"op": "C_MUL", "input1": 0, "constant": 0}, {"op": "LOG", "input1": 2}],
        ),
        (
            "exp of exp of exp",
            [{"op": "EXP", "input1": 0}, {"op": "EXP", "input1": 2}, {"op": "EXP", "input1": 3}],
        ),
    ],
)
def test_a_program_that_produces_nan_fails_with_its_reason(corpus, name, instructions):
    result = train_candidate(program(*instructions), MICRO, FAST, corpus, "5steps")
    assert result.status is Status.FAILED, name
    assert result.failure_kind is FailureKind.NON_FINITE
    assert "nan" in result.failure_reason.lower() or "inf" in result.failure_reason.lower()
    assert result.fitness is None and result.perplexity is None
    TrainResult.model_validate_json(result.model_dump_json())  # a failure is still a record


def test_a_program_outside_the_parameter_range_fails(corpus):
    cramped = replace(MICRO, max_base_unit=1)
    result = train_candidate(MINI, cramped, FAST, corpus, "5steps")
    assert result.status is Status.FAILED
    assert result.failure_kind is FailureKind.PARAMETER_BUDGET
    assert "no base unit" in result.failure_reason


@pytest.mark.parametrize(
    "error, kind, fragment",
    [
        (ValueError("Dimensions must be equal"), FailureKind.COMPILE, "ValueError"),
        (
            tf.errors.ResourceExhaustedError(None, None, "OOM when allocating tensor"),
            FailureKind.OUT_OF_MEMORY,
            "OOM when allocating",
        ),
    ],
)
def test_a_step_that_raises_fails_the_candidate_not_the_caller(
    corpus, monkeypatch, error, kind, fragment
):
    def broken_step(model, optimizer):
        def step(batch):
            raise error

        return step

    monkeypatch.setattr(trainer_module, "make_train_step", broken_step)
    result = train_candidate(MINI, MICRO, FAST, corpus, "5steps")
    assert result.status is Status.FAILED
    assert result.failure_kind is kind
    assert fragment in result.failure_reason


def test_a_training_dataset_that_ends_is_the_corpus_error_not_the_candidate(corpus):
    class Finite(PatternCorpus):
        def train_dataset(self, seq_len, batch_tokens, seed):
            return super().train_dataset(seq_len, batch_tokens, seed).take(2)

    with pytest.raises(DataError, match="ended after 2 batches"):
        train_candidate(MINI, MICRO, FAST, Finite(), "5steps")


def test_validation_fitness_is_identical_across_calls(corpus):
    model = build_model(MINI, MICRO)
    first = ValidationSet.from_corpus(corpus, MICRO.seq_len, 256)
    again = ValidationSet.from_corpus(corpus, MICRO.seq_len, 256)
    for a, b in zip(first.batches, again.batches, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    step = compile_step(make_eval_step(model), first.batches[0], jit_compile=False).fn
    assert first.log_perplexity(step) == first.log_perplexity(step) == again.log_perplexity(step)


def test_same_seed_gives_the_same_run(corpus):
    transformer = load_seed("transformer")
    a, b = (train_candidate(transformer, MICRO, FAST, corpus, "6steps", seed=7) for _ in "ab")
    assert a.status is b.status is Status.OK
    assert b.final_train_loss == pytest.approx(a.final_train_loss, rel=1e-5)
    assert b.fitness == pytest.approx(a.fitness, rel=1e-5)


def test_another_seed_gives_another_run(corpus, passed_run):
    other = train_candidate(MINI, MICRO, FAST, corpus, "16steps", 2, [1e3, None], seed=4)
    assert abs(other.hurdles[0].fitness - passed_run.hurdles[0].fitness) > 1e-4
    assert abs(other.fitness - passed_run.fitness) > 1e-4


def test_progress_reports_every_phase_and_step(corpus):
    events = []
    train_candidate(MINI, MICRO, FAST, corpus, "4steps", 1, progress=events.append)
    phases = [e.phase for e in events]
    assert phases[:2] == ["build", "compile"]
    assert [e.steps for e in events if e.phase == "train"] == [1, 2, 3, 4]
    assert phases.count("eval") == 2  # the hurdle, then the end
    assert events[-1].phase == "eval" and events[-1].fraction == 1.0
    assert all(e.loss is not None and e.loss > 0 for e in events if e.phase == "train")


@pytest.mark.slow
def test_xla_runs_the_same_training_as_plain_tensorflow(corpus):
    plain = train_candidate(MINI, MICRO, FAST, corpus, "4steps", seed=2)
    xla = train_candidate(
        MINI, MICRO, FAST.with_changes(jit_compile=True), corpus, "4steps", seed=2
    )
    assert (plain.jit_compile, xla.jit_compile) == (False, True)
    assert xla.jit_fallback_reason is None
    assert xla.fitness == pytest.approx(plain.fitness, rel=1e-3)


def test_xla_refusal_falls_back_to_plain_tensorflow():
    def step(batch):  # string ops have no XLA kernel
        text = tf.strings.as_string(batch)
        return tf.reduce_sum(tf.strings.length(text))

    batch = tf.zeros((2, 5), tf.int32)
    compiled = compile_step(step, batch, jit_compile=True)
    assert not compiled.jit_compile
    assert compiled.fallback_reason
    assert int(compiled.first_output) == 10


def test_failure_reasons_are_the_error_line_not_tf_traceback_noise():
    @tf.function
    def gather_out_of_range(x):
        return tf.gather(x, [10])

    @tf.function
    def raises(x):
        raise ValueError("Dimensions must be equal")

    with pytest.raises(tf.errors.InvalidArgumentError) as runtime:
        gather_out_of_range(tf.zeros(3))
    assert first_line(runtime.value) == "indices[0] = 10 is not in [0, 3)"
    with pytest.raises(ValueError) as traced:
        raises(tf.zeros(3))
    assert first_line(traced.value) == "Dimensions must be equal"
    assert first_line(RuntimeError("x" * 1000)).endswith("...")
