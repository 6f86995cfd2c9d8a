"""Training throughput: the compiled `transformer` seed vs the hand-written Keras decoder.

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python benchmarks/compiled_vs_keras.py [--preset tiny]

Both LMs have the same shape, parameter count and starting weights (primer_search.reference),
train on the same synthetic batches with the same optimizer (Adafactor, as in the paper), in the
same process. Timed runs alternate between the two (and flip order every round) after warm-up, so
drifts in machine load hit both alike. Measured with and without XLA (`jit_compile`). Prints JSON;
`ratio` is compiled / reference tokens per second (issue 2's target: >= 1.0), from the median run.
`ratio_cpu` is the same from the process's CPU time, which varies far less than wall time on a
machine shared with other work (most stable with `--threads 1`).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time
from collections.abc import Callable
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from primer_search.config import get_preset  # noqa: E402
from primer_search.model import build_model, trainable_parameter_count  # noqa: E402
from primer_search.reference import copy_lm_weights, reference_lm_like  # noqa: E402
from primer_search.seeds import load_seed  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="tiny", help="model preset (tiny, paper)")
    parser.add_argument("--batch", type=int, default=16, help="sequences per batch")
    parser.add_argument("--steps", type=int, default=10, help="training steps per timed run")
    parser.add_argument("--rounds", type=int, default=5, help="timed runs per model and mode")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per model and mode")
    parser.add_argument(
        "--jit", choices=("both", "on", "off"), default="both", help="XLA jit_compile modes"
    )
    parser.add_argument(
        "--threads", type=int, default=0, help="TF intra-op threads (0: TensorFlow's default)"
    )
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def make_train_step(model: keras.Model, jit: bool) -> Callable[[Any], Any]:
    """One optimizer step of next-token prediction on a (B, T + 1) batch; returns the loss."""
    optimizer = keras.optimizers.Adafactor(learning_rate=1e-3)
    optimizer.build(model.trainable_variables)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function(jit_compile=jit, reduce_retracing=True)
    def step(batch: Any) -> Any:
        inputs, targets = batch[:, :-1], batch[:, 1:]  # (B, T), (B, T)
        with tf.GradientTape() as tape:
            loss = loss_fn(targets, model(inputs, training=True))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        return loss

    return step


def timed_run(step: Callable[[Any], Any], batches: list[Any], steps: int) -> tuple[float, float]:
    """Wall and process CPU seconds for `steps` steps, waiting for the last result."""
    start, start_cpu = time.perf_counter(), time.process_time()
    loss = None
    for i in range(steps):
        loss = step(batches[i % len(batches)])
    assert loss is not None
    float(loss)  # the steps are asynchronous until a value is read
    return time.perf_counter() - start, time.process_time() - start_cpu


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    if args.threads:
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    keras.utils.set_random_seed(args.seed)
    config = get_preset(args.preset)
    compiled = build_model(load_seed("transformer"), config)
    reference = reference_lm_like(compiled)
    copy_lm_weights(reference, compiled)  # same shape, same starting point
    models = {"compiled": compiled, "reference": reference}
    batches = [
        tf.random.stateless_uniform(
            (args.batch, config.seq_len + 1),
            (args.seed, i),
            maxval=config.vocab_size,
            dtype="int32",
        )
        for i in range(4)
    ]
    modes = {"both": (False, True), "on": (True,), "off": (False,)}[args.jit]
    results = {"xla" if jit else "no_xla": measure(models, jit, batches, args) for jit in modes}
    return {
        "benchmark": "compiled_vs_keras",
        "preset": config.name,
        "d_model": compiled.d_model,
        "layers": config.num_layers,
        "seq_len": config.seq_len,
        "batch": args.batch,
        "steps_per_run": args.steps,
        "rounds": args.rounds,
        "threads": args.threads or "default",
        "parameters": {name: trainable_parameter_count(m) for name, m in models.items()},
        "device": _device(),
        "tensorflow": tf.__version__,
        "results": results,
    }


def measure(
    models: dict[str, keras.Model], jit: bool, batches: list[Any], args: argparse.Namespace
) -> dict[str, Any]:
    """Alternating timed runs of every model in one mode; throughput from the median run."""
    steps = {name: make_train_step(model, jit) for name, model in models.items()}
    for step in steps.values():
        timed_run(step, batches, args.warmup)  # trace, compile, first allocations
    wall: dict[str, list[float]] = {name: [] for name in models}
    cpu: dict[str, list[float]] = {name: [] for name in models}
    for r in range(args.rounds):
        for name in list(models) if r % 2 == 0 else list(reversed(models)):
            seconds, cpu_seconds = timed_run(steps[name], batches, args.steps)
            wall[name].append(seconds)
            cpu[name].append(cpu_seconds)
    tokens = args.steps * args.batch * (int(batches[0].shape[1]) - 1)
    runs = {
        name: {
            "tokens_per_s": round(tokens / statistics.median(wall[name]), 1),
            "best_tokens_per_s": round(tokens / min(wall[name]), 1),
            "tokens_per_cpu_s": round(tokens / statistics.median(cpu[name]), 1),
            "seconds_per_run": [round(t, 4) for t in wall[name]],
        }
        for name in models
    }
    compiled, reference = runs["compiled"], runs["reference"]
    return {
        **runs,
        "ratio": round(compiled["tokens_per_s"] / reference["tokens_per_s"], 3),
        "ratio_cpu": round(compiled["tokens_per_cpu_s"] / reference["tokens_per_cpu_s"], 3),
    }


def _device() -> str:
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        return ", ".join(
            tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus
        )
    return f"CPU ({platform.processor() or platform.machine()}, {os.cpu_count()} cores)"


def main(argv: list[str] | None = None) -> None:
    print(json.dumps(benchmark(parse_args(argv)), indent=2))


if __name__ == "__main__":
    main()
