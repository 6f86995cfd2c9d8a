"""Training one candidate to its fitness: `train_candidate` (issue 3, PRIMER.md section 4).

The run, in order: read the fixed validation set and start the training pipeline (seeded); seed
the weights, size and build the model and Adafactor; compile the train and eval steps on the
first batch; then train in stretches up to each hurdle and the end of the budget, evaluating at
each.

What the clock counts. `train_seconds` (the budget of a seconds run) is the wall time of training
steps, each with the fetch of its batch. Not counted, and reported apart: building
(`build_seconds`), the start of the data pipeline (`data_seconds`), compilation
(`compile_seconds`) and evaluation at hurdles and at the end (`eval_seconds`). The first training
step is inseparable from its compilation, so it counts as a step and its tokens, but its time is
compile time: every candidate gets that one step for free.

Failures are the candidate's, never the caller's: any exception raised while building, compiling,
training or evaluating the program, a NaN or Inf loss, or an out-of-memory becomes a `failed`
result with a kind and a reason. Errors of the caller's making (a bad budget or threshold list)
raise ConfigError before anything runs; errors of the corpus propagate.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import keras
import tensorflow as tf

from primer_search.canonical import canonical_hash
from primer_search.config import ModelConfig
from primer_search.dna import DNA
from primer_search.errors import DataError
from primer_search.model import build_model, trainable_parameter_count
from primer_search.sizing import fit_base_unit
from primer_search.training.budget import Budget, BudgetMeter, parse_budget
from primer_search.training.config import TrainConfig
from primer_search.training.failures import CandidateFailed, failure_guard
from primer_search.training.flops import training_flops_per_token
from primer_search.training.hurdles import HurdlePlan, passes
from primer_search.training.result import (
    FailureKind,
    HurdleRecord,
    Status,
    TrainResult,
    device_description,
    library_versions,
    peak_memory,
    perplexity,
    reset_peak_memory,
)
from primer_search.training.schedule import make_optimizer
from primer_search.training.steps import Step, compile_step, make_eval_step, make_train_step
from primer_search.training.validation import ValidationSet


class Corpus(Protocol):
    """What training needs of a tokenized corpus (primer_search.data.TokenizedCorpus)."""

    @property
    def vocab_size(self) -> int: ...

    def train_dataset(self, seq_len: int, batch_tokens: int, seed: int) -> tf.data.Dataset: ...

    def validation_dataset(self, seq_len: int, batch_tokens: int) -> tf.data.Dataset: ...


@dataclass(frozen=True)
class ProgressEvent:
    phase: str  # "build", "compile", "train", "eval"
    steps: int
    tokens: int
    train_seconds: float
    fraction: float  # of the budget spent, 0..1
    loss: float | None = None


ProgressCallback = Callable[[ProgressEvent], None]


def train_candidate(
    dna: DNA,
    model_config: ModelConfig,
    train_config: TrainConfig,
    corpus: Corpus,
    budget: Budget | str,
    hurdles: int | None = None,
    thresholds: Sequence[float | None] | None = None,
    seed: int = 0,
    progress: ProgressCallback | None = None,
) -> TrainResult:
    """Train `dna` on `corpus` for `budget` and return its validation fitness.

    The model's vocabulary is set to the corpus's. `hurdles` H and `thresholds` (one log-ppl bar
    or None per hurdle) follow hurdles.py. `progress` is called after every step and at each
    phase; its time is not charged to the budget. The corpus is opened once by the caller and
    reused across candidates."""
    started = time.perf_counter()
    budget = parse_budget(budget)
    plan = HurdlePlan.create(budget, hurdles, thresholds)
    config = model_config.with_vocab(corpus.vocab_size)
    train_config.rows(config.seq_len)  # at least one sequence per batch
    keras.utils.set_random_seed(seed)  # the data order, whatever ran in this process before
    batch_tokens = train_config.batch_tokens
    validation = ValidationSet.from_corpus(corpus, config.seq_len, batch_tokens)
    batches = iter(corpus.train_dataset(config.seq_len, batch_tokens, seed))
    run = _Run(dna, config, train_config, budget, seed, validation, batches, progress)
    run.timings["data"] = time.perf_counter() - started
    try:
        run.build()
        run.compile()
        for k, (position, bar) in enumerate(
            zip(plan.positions, plan.thresholds, strict=True), start=1
        ):
            run.train_until(position)
            record = run.hurdle(k, position, bar)
            if not record.passed:
                return run.result(Status.STOPPED_AT_HURDLE, started, record.fitness, k)
        run.train_until(budget.amount)
        return run.result(Status.OK, started, run.evaluate())
    except CandidateFailed as failure:
        run.failure = failure
        return run.result(Status.FAILED, started)


class _Run:
    """The state of one candidate's training; `train_candidate` drives it."""

    model: keras.Model
    train_fn: Step
    eval_fn: Step

    def __init__(
        self,
        dna: DNA,
        config: ModelConfig,
        train_config: TrainConfig,
        budget: Budget,
        seed: int,
        validation: ValidationSet,
        batches: Iterator[Any],
        progress: ProgressCallback | None,
    ):
        self.dna, self.config, self.train_config = dna, config, train_config
        self.budget, self.seed, self.progress = budget, seed, progress
        self.validation, self.batches = validation, batches
        self.meter = BudgetMeter(budget.unit)
        self.tokens_per_step = train_config.tokens_per_step(config.seq_len)
        self.timings = dict.fromkeys(("build", "data", "compile", "eval"), 0.0)
        self.hurdles: list[HurdleRecord] = []
        self.facts: dict[str, Any] = {}
        self.last_loss: float | None = None
        self.failure: CandidateFailed | None = None

    def build(self) -> None:
        """Seed, size and build the model and its optimizer."""
        self._notify("build")
        start = time.perf_counter()
        reset_peak_memory()
        keras.utils.set_random_seed(self.seed)  # the weights, whatever the pipeline drew
        with failure_guard(FailureKind.BUILD):
            sizing = fit_base_unit(self.dna, self.config)
            self.model = build_model(self.dna, self.config, sizing)
            self.optimizer = make_optimizer(
                self.train_config.peak_learning_rate, self.train_config.warmup_steps
            )
            self.optimizer.build(self.model.trainable_variables)
            flops = training_flops_per_token(self.dna, self.config, sizing)
        self.facts.update(
            parameter_count=trainable_parameter_count(self.model),
            d_model=sizing.d_model,
            base_unit=sizing.base_unit,
            training_flops_per_token=flops,
        )
        self.timings["build"] = time.perf_counter() - start

    def compile(self) -> None:
        """Trace (and compile) both steps; the train step's first call is training step 1."""
        self._notify("compile")
        start = time.perf_counter()
        first = self._next_batch()  # the corpus's errors are not the candidate's
        self.timings["data"] += time.perf_counter() - start
        jit = self.train_config.jit_compile
        with failure_guard(FailureKind.COMPILE):
            train = compile_step(make_train_step(self.model, self.optimizer), first, jit)
            evaluate = compile_step(
                make_eval_step(self.model),
                self.validation.batches[0],
                train.jit_compile,
                any_rows=True,
            )
        self.train_fn, self.eval_fn = train.fn, evaluate.fn
        self.facts.update(jit_compile=train.jit_compile, jit_fallback_reason=train.fallback_reason)
        self.timings["compile"] = train.seconds + evaluate.seconds
        self.meter.record_step(self.tokens_per_step, 0.0)  # its time is compile time
        self._after_step(float(train.first_output))

    def train_until(self, point: float) -> None:
        """Train until the budget's counter reaches `point` (budget.py)."""
        while not self.meter.reached(point):
            start = time.perf_counter()
            batch = self._next_batch()
            with failure_guard(FailureKind.RUNTIME):
                loss = float(self.train_fn(batch))
            self.meter.record_step(self.tokens_per_step, time.perf_counter() - start)
            self._after_step(loss)

    def _next_batch(self) -> Any:
        try:
            return next(self.batches)
        except StopIteration:
            raise DataError(
                f"the training dataset ended after {self.meter.steps} batches; "
                "train_dataset must repeat forever"
            ) from None

    def _after_step(self, loss: float) -> None:
        self.last_loss = loss
        if not math.isfinite(loss):
            reason = f"training loss is {loss} at step {self.meter.steps}"
            raise CandidateFailed(FailureKind.NON_FINITE, reason)
        self._notify("train", loss)

    def evaluate(self) -> float:
        """Validation log-perplexity (validation.py); its time is not the budget's."""
        self._notify("eval")
        start = time.perf_counter()
        with failure_guard(FailureKind.RUNTIME):
            fitness = self.validation.log_perplexity(self.eval_fn)
        self.timings["eval"] += time.perf_counter() - start
        if not math.isfinite(fitness):
            reason = f"validation log-perplexity is {fitness} after {self.meter.steps} steps"
            raise CandidateFailed(FailureKind.NON_FINITE, reason)
        return fitness

    def hurdle(self, index: int, position: float, threshold: float | None) -> HurdleRecord:
        fitness = self.evaluate()
        record = HurdleRecord(
            index=index,
            position=position,
            steps=self.meter.steps,
            tokens=self.meter.tokens,
            train_seconds=self.meter.train_seconds,
            fitness=fitness,
            perplexity=perplexity(fitness),
            threshold=threshold,
            passed=passes(fitness, threshold),
        )
        self.hurdles.append(record)
        return record

    def _notify(self, phase: str, loss: float | None = None) -> None:
        if self.progress is not None:
            meter = self.meter
            fraction = min(1.0, meter.spent() / self.budget.amount)
            self.progress(
                ProgressEvent(phase, meter.steps, meter.tokens, meter.train_seconds, fraction, loss)
            )

    def result(
        self,
        status: Status,
        started: float,
        fitness: float | None = None,
        stopped_at: int | None = None,
    ) -> TrainResult:
        meter, failure = self.meter, self.failure
        timed_steps = meter.steps - 1  # the first step's time is compile time
        timed = timed_steps > 0 and meter.train_seconds > 0
        loss = self.last_loss
        peak, source = peak_memory()
        return TrainResult(
            status=status,
            failure_kind=failure.kind if failure else None,
            failure_reason=failure.reason if failure else None,
            fitness=fitness,
            perplexity=None if fitness is None else perplexity(fitness),
            hurdles=self.hurdles,
            stopped_at_hurdle=stopped_at,
            budget=str(self.budget),
            steps=meter.steps,
            tokens=meter.tokens,
            train_seconds=meter.train_seconds,
            compile_seconds=self.timings["compile"],
            eval_seconds=self.timings["eval"],
            build_seconds=self.timings["build"],
            data_seconds=self.timings["data"],
            total_seconds=time.perf_counter() - started,
            step_seconds=meter.train_seconds / timed_steps if timed else None,
            tokens_per_second=timed_steps * self.tokens_per_step / meter.train_seconds
            if timed
            else None,
            final_train_loss=loss if loss is not None and math.isfinite(loss) else None,
            validation_tokens=self.validation.tokens,
            peak_memory_bytes=peak,
            peak_memory_source=source,
            seed=self.seed,
            program_hash=canonical_hash(self.dna),
            model_preset=self.config.name,
            train_preset=self.train_config.name,
            vocab_size=self.config.vocab_size,
            seq_len=self.config.seq_len,
            batch_tokens=self.tokens_per_step,
            device=device_description(),
            versions=library_versions(),
            **self.facts,
        )
