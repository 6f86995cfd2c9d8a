"""Where a search worker's wall time goes, and the training FLOP/s it reaches (issue 3).

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python benchmarks/worker_efficiency.py \
        [--budget 60s] [--programs transformer,primer_ez,transformer] [--out FILE]

In one process, as a worker does: open the corpus cold (a fresh cache folder unless --cache-dir
is given: SentencePiece training and tokenization), open it again (the cached path every later
candidate takes), then train the candidates of --programs one after the other on it with the
tiny preset. The FIRST candidate warms the process (TensorFlow's kernels, thread pools, the page
cache of the shards) and is reported but not counted; for every later one the wall time of its
`train_candidate` call, measured outside, is split into training steps (TrainResult.train_seconds,
of which the wait for the next batch is measured apart by wrapping the corpus's iterator),
tracing/compilation (which holds the first step), evaluation of the fixed validation set,
building the model, reading the validation set and starting the pipeline, and the rest. The
target (issue 3) is train_seconds / wall >= 0.9 once caches are warm.

FLOP/s: TrainResult.training_flops_per_token (analytic, matmuls only: flops.py) times the tokens
of the timed steps over train_seconds, against a float32 N x N matmul loop measured in the same
process before and after the candidates (the machine's plain TF peak: the higher of the two)
and against a matmul of the model's own FFN shape.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402

TARGET = 0.9


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="60s", help="per candidate: 60s, 2000steps, ...")
    parser.add_argument(
        "--programs",
        default="transformer,primer_ez,transformer",
        help="candidates in order; the first only warms the process",
    )
    parser.add_argument("--preset", default="tiny", help="model and training preset")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--matmul-size", type=int, default=2048, help="N of the N x N peak test")
    parser.add_argument("--matmul-seconds", type=float, default=5.0, help="length of each test")
    parser.add_argument("--out", default=None, help="also write the JSON report to this file")
    _common.add_data_arguments(parser)
    args = parser.parse_args(argv)
    args.command = " ".join(
        ["benchmarks/worker_efficiency.py", *(sys.argv[1:] if argv is None else argv)]
    )
    return args


class TimedCorpus:
    """The corpus as training sees it, with the wait for every training batch added up."""

    def __init__(self, corpus: Any):
        self.corpus = corpus
        self.vocab_size = corpus.vocab_size
        self.fetch_seconds = 0.0
        self.fetches = 0

    def validation_dataset(self, seq_len: int, batch_tokens: int) -> Any:
        return self.corpus.validation_dataset(seq_len, batch_tokens)

    def train_dataset(self, seq_len: int, batch_tokens: int, seed: int) -> Any:
        self.fetch_seconds, self.fetches = 0.0, 0
        dataset = self.corpus.train_dataset(seq_len, batch_tokens, seed)
        return _TimedIterable(self, dataset)


class _TimedIterable:
    def __init__(self, owner: TimedCorpus, dataset: Any):
        self.owner, self.dataset = owner, dataset

    def __iter__(self) -> Any:
        iterator = iter(self.dataset)
        while True:
            start = time.perf_counter()
            batch = next(iterator)
            self.owner.fetch_seconds += time.perf_counter() - start
            self.owner.fetches += 1
            yield batch


def open_twice(args: argparse.Namespace) -> tuple[Any, dict[str, Any]]:
    """The corpus opened cold (building its tokenizer and shards) and then from the cache."""
    from primer_search.data import open_corpus

    train, valid = _common.data_paths(args)
    spec = _common.data_spec(args, train, valid)
    temporary = None if args.cache_dir else tempfile.TemporaryDirectory(prefix="primer-bench-")
    cache_dir = args.cache_dir or temporary.name  # type: ignore[union-attr]
    first = open_corpus(spec, cache_dir)
    second = open_corpus(spec, cache_dir)
    report = {
        "description": first.stats.description,
        "vocab_size": first.vocab_size,
        "train_tokens": first.stats.train_tokens,
        "validation_tokens": first.stats.validation_tokens,
        "first_open": {
            "seconds": round(first.stats.open_seconds, 3),
            "built": first.stats.tokenizer_trained or first.stats.shards_built,
            "tokenizer_training_seconds": round(first.stats.tokenizer_seconds, 3),
            "tokenize_seconds": round(first.stats.tokenize_seconds, 3),
        },
        "cached_open_seconds": round(second.stats.open_seconds, 3),
        "cache_dir": "temporary (cold)" if temporary else cache_dir,
    }
    return second, report


def candidate_breakdown(result: Any, wall: float, fetch_seconds: float) -> dict[str, Any]:
    """Fractions of the outer wall time of one train_candidate call."""
    parts = {
        "train_steps": result.train_seconds,
        "compile": result.compile_seconds,
        "eval": result.eval_seconds,
        "build": result.build_seconds,
        "data_start": result.data_seconds,
    }
    parts["other"] = wall - sum(parts.values())
    timed_tokens = (result.steps - 1) * result.batch_tokens  # the first step is compile time
    flops = result.training_flops_per_token * timed_tokens
    return {
        "program": result.program_hash[:12],
        "status": result.status.value,
        "fitness": _common.rounded(result.fitness),
        "steps": result.steps,
        "step_seconds": _common.rounded(result.step_seconds, 5),
        "wall_seconds": round(wall, 3),
        "seconds": {k: round(v, 3) for k, v in parts.items()},
        "fractions": {k: round(v / wall, 4) for k, v in parts.items()},
        "train_fraction": round(result.train_seconds / wall, 4),
        "batch_wait_seconds_inside_train": round(fetch_seconds, 3),
        "batch_wait_fraction_of_train": round(fetch_seconds / max(result.train_seconds, 1e-9), 4),
        "validation_tokens": result.validation_tokens,
        "eval_seconds_per_1k_validation_tokens": round(
            1000 * result.eval_seconds / max(result.validation_tokens, 1), 4
        ),
        "training_flops_per_token": result.training_flops_per_token,
        "achieved_training_flops_per_second": round(flops / max(result.train_seconds, 1e-9)),
        "parameter_count": result.parameter_count,
        "d_model": result.d_model,
    }


def matmul_flops_per_second(m: int, k: int, n: int, seconds: float) -> float:
    """float32 (m, k) @ (k, n), eagerly (one kernel per product: nothing can be folded or
    fused away; the dispatch overhead is microseconds against milliseconds), for `seconds`."""
    import tensorflow as tf

    a = tf.random.stateless_normal((m, k), (1, 2))
    b = tf.random.stateless_normal((k, n), (3, 4))
    for _ in range(3):
        tf.matmul(a, b).numpy()  # warm up the kernel and the allocator
    products, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds or products < 3:
        tf.matmul(a, b)[0, 0].numpy()
        products += 1
    return 2.0 * m * k * n * products / (time.perf_counter() - start)


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    from primer_search.config import get_preset
    from primer_search.seeds import load_program
    from primer_search.training import get_train_preset, parse_budget, train_candidate

    load_before = _common.load_average()
    corpus, data_report = open_twice(args)
    timed = TimedCorpus(corpus)
    model_config, train_config = get_preset(args.preset), get_train_preset(args.preset)
    budget = parse_budget(args.budget)
    programs = [p.strip() for p in args.programs.split(",") if p.strip()]
    n = args.matmul_size
    peak_before = matmul_flops_per_second(n, n, n, args.matmul_seconds)
    candidates = []
    for k, name in enumerate(programs):
        start, start_cpu = time.perf_counter(), time.process_time()
        result = train_candidate(
            load_program(name), model_config, train_config, timed, budget, seed=args.seed
        )
        wall = time.perf_counter() - start
        cpu = time.process_time() - start_cpu
        row = {
            "name": name,
            "warm_up": k == 0,
            **candidate_breakdown(result, wall, timed.fetch_seconds),
            "process_cpu_seconds": round(cpu, 2),  # near cores x wall when the machine is ours
        }
        candidates.append(row)
        _common.log(f"{name}: train fraction {row['train_fraction']} {row['seconds']}")
    measured = [c for c in candidates if not c["warm_up"]] or candidates
    mean_fraction = sum(c["train_fraction"] for c in measured) / len(measured)
    d_ff = 4 * (measured[-1]["d_model"] or 1)
    tokens = train_config.tokens_per_step(model_config.seq_len)
    peak_after = matmul_flops_per_second(n, n, n, args.matmul_seconds)
    peak = max(peak_before, peak_after)
    shaped = matmul_flops_per_second(tokens, measured[-1]["d_model"], d_ff, args.matmul_seconds)
    achieved = [c["achieved_training_flops_per_second"] for c in measured]
    return {
        "benchmark": "worker_efficiency",
        "command": args.command,
        "config": {
            "budget": str(budget),
            "programs": programs,
            "model_preset": model_config.name,
            "train_preset": train_config.name,
            "batch_tokens": train_config.batch_tokens,
            "jit_compile": train_config.jit_compile,
            "seed": args.seed,
        },
        "data": data_report,
        "machine": _common.machine(),
        "load_average_before": load_before,
        "load_average_after": _common.load_average(),
        "target_train_fraction": TARGET,
        "mean_train_fraction_warm": round(mean_fraction, 4),
        "meets_target": mean_fraction >= TARGET,
        "candidates": candidates,
        "flops": {
            "matmul_peak_flops_per_second": round(peak),
            "matmul_peak_before_and_after": [round(peak_before), round(peak_after)],
            "matmul_peak_shape": [n, n, n],
            "matmul_model_shape_flops_per_second": round(shaped),
            "matmul_model_shape": [tokens, measured[-1]["d_model"], d_ff],
            "achieved_training_flops_per_second": achieved,
            "fraction_of_peak": [round(a / peak, 4) for a in achieved],
            "fraction_of_model_shape_matmul": [round(a / shaped, 4) for a in achieved],
        },
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    train, valid = _common.data_paths(args)
    if not all(p.is_file() for p in (*train, *valid)):
        print(_common.missing_data_message("worker_efficiency", train, valid))
        return
    _common.emit(benchmark(args), args.out)


if __name__ == "__main__":
    main()
