"""The record of one candidate's training: what the search stores and the CLI prints.

A pydantic model, so it round-trips through JSON (`model_dump_json` / `model_validate_json`).
Fitness is the validation log-perplexity: the mean cross-entropy per target token of the FIXED
validation set, in nats; perplexity = exp(fitness). Lower is better.
"""

from __future__ import annotations

import math
import sys
from enum import Enum

from pydantic import BaseModel, ConfigDict

import primer_search


class Status(str, Enum):
    OK = "ok"  # trained the whole budget
    STOPPED_AT_HURDLE = "stopped_at_hurdle"  # worse than a hurdle's threshold; fitness truncated
    FAILED = "failed"  # see failure_kind and failure_reason; no fitness


class FailureKind(str, Enum):
    PARAMETER_BUDGET = "parameter_budget"  # no base unit puts the model in the preset's range
    BUILD = "build"  # building the model (weights, shapes) raised
    COMPILE = "compile"  # tracing or compiling the train / eval step raised
    RUNTIME = "runtime"  # a training or evaluation step raised
    NON_FINITE = "non_finite"  # NaN or Inf training loss or validation fitness
    OUT_OF_MEMORY = "out_of_memory"


class HurdleRecord(BaseModel):
    """The evaluation at hurdle k (1-based): where it sat, what the candidate scored there."""

    model_config = ConfigDict(frozen=True)

    index: int
    position: float  # t_k in the budget's unit
    steps: int
    tokens: int
    train_seconds: float
    fitness: float
    perplexity: float
    threshold: float | None
    passed: bool


class TrainResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    status: Status
    failure_kind: FailureKind | None = None
    failure_reason: str | None = None
    fitness: float | None = None  # final (or truncated at a hurdle) validation log-ppl, nats
    perplexity: float | None = None
    hurdles: list[HurdleRecord] = []
    stopped_at_hurdle: int | None = None
    budget: str
    steps: int = 0
    tokens: int = 0
    train_seconds: float = 0.0  # training steps and their data; no compilation, no evaluation
    compile_seconds: float = 0.0  # tracing and compiling train and eval steps (see trainer.py)
    eval_seconds: float = 0.0
    build_seconds: float = 0.0  # building the model and its optimizer
    data_seconds: float = 0.0  # reading the validation set, starting the training pipeline
    total_seconds: float = 0.0  # wall time of the whole call
    step_seconds: float | None = None  # mean seconds per timed training step
    tokens_per_second: float | None = None
    final_train_loss: float | None = None
    validation_tokens: int = 0
    parameter_count: int | None = None
    d_model: int | None = None
    base_unit: int | None = None
    training_flops_per_token: int | None = None
    peak_memory_bytes: int | None = None
    peak_memory_source: str | None = None  # what the peak measures (GPU allocator, process RSS)
    jit_compile: bool = False  # whether the steps that ran were XLA-compiled
    jit_fallback_reason: str | None = None  # why XLA was asked for and not used
    seed: int
    program_hash: str
    model_preset: str
    train_preset: str
    vocab_size: int
    seq_len: int
    batch_tokens: int
    device: str
    versions: dict[str, str]

    @property
    def failed(self) -> bool:
        return self.status is Status.FAILED


def perplexity(log_ppl: float) -> float:
    """exp(log_ppl), inf rather than an overflow error for a hopeless candidate."""
    try:
        return math.exp(log_ppl)
    except OverflowError:
        return math.inf


def library_versions() -> dict[str, str]:
    import keras
    import numpy
    import tensorflow as tf

    return {
        "primer-search": primer_search.__version__,
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "python": sys.version.split()[0],
    }


def device_description() -> str:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        return "CPU"
    details = tf.config.experimental.get_device_details(gpus[0])
    return f"GPU:0 {details.get('device_name', 'unknown')}"


def reset_peak_memory() -> None:
    import tensorflow as tf

    if tf.config.list_logical_devices("GPU"):
        tf.config.experimental.reset_memory_stats("GPU:0")


def peak_memory() -> tuple[int | None, str | None]:
    """The GPU allocator's peak since `reset_peak_memory` or, on CPU, the process's max RSS (a
    high-water mark of the whole process since it started, not of this candidate alone)."""
    import tensorflow as tf

    if tf.config.list_logical_devices("GPU"):
        try:
            return int(tf.config.experimental.get_memory_info("GPU:0")["peak"]), "gpu:0 peak"
        except (ValueError, RuntimeError):
            return None, None
    try:
        import resource  # Unix only
    except ImportError:  # pragma: no cover
        return None, None
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    return int(rss * scale), "process max RSS (cpu)"
