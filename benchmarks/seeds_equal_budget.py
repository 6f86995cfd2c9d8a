"""The seed programs at an equal wall-clock training budget on real text (issue 3).

    TF_CPP_MIN_LOG_LEVEL=2 .venv/bin/python benchmarks/seeds_equal_budget.py \
        [--budget 60s] [--seeds 3] [--train PATH --valid PATH] [--peak-lr X] [--out FILE]

Trains `transformer`, `transformer_gelu`, `transformer_plus_plus`, `primer_ez` and `primer`
with the tiny preset (about 1.5M parameters each, every program sized by its own base unit) on
WikiText-2 (benchmarks/_common.py says which split trains) for the same budget, `--seeds` runs
each. Runs are interleaved round-robin, seed-major, with the program order rotated by one every
seed, so a change in machine load mid-benchmark hits every program alike. Prints JSON: per
program every run's validation log-ppl and perplexity, their mean and standard deviation, steps
reached, step time and parameter count; the difference to the Transformer paired by seed (same
data order); the load average before and after; the configuration. Skips with a JSON message
when the text is absent. The paper's direction (PRIMER.md section 4) is Primer-EZ < Primer <
Transformer++ < Transformer+GELU < Transformer in perplexity at equal compute.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _common  # noqa: E402

PROGRAMS = ("transformer", "transformer_gelu", "transformer_plus_plus", "primer_ez", "primer")
BASELINE = "transformer"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", default="60s", help="per run: 60s, 5m, 2000steps, 1Mtokens")
    parser.add_argument("--seeds", type=int, default=3, help="runs per program (seeds 0..N-1)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument(
        "--programs", default=",".join(PROGRAMS), help="comma-separated seed names or DNA files"
    )
    parser.add_argument("--preset", default="tiny", help="model and training preset")
    parser.add_argument("--peak-lr", type=float, default=None, help="override the preset's")
    parser.add_argument("--warmup", type=int, default=None, help="warmup steps (override)")
    parser.add_argument("--batch-tokens", type=int, default=None, help="override the preset's")
    parser.add_argument("--out", default=None, help="also write the JSON report to this file")
    _common.add_data_arguments(parser)
    args = parser.parse_args(argv)
    args.command = " ".join(
        ["benchmarks/seeds_equal_budget.py", *(sys.argv[1:] if argv is None else argv)]
    )
    if args.seeds < 1:
        parser.error(f"--seeds must be >= 1, got {args.seeds}")
    return args


def run_order(programs: list[str], seeds: list[int]) -> list[tuple[int, str]]:
    """Seed-major; the program order rotates by one each seed, so none always runs first."""
    order = []
    for k, seed in enumerate(seeds):
        shift = k % len(programs)
        order += [(seed, name) for name in programs[shift:] + programs[:shift]]
    return order


def run_record(result: Any, wall: float) -> dict[str, Any]:
    return {
        "seed": result.seed,
        "status": result.status.value,
        "failure_reason": result.failure_reason,
        "fitness": _common.rounded(result.fitness),
        "perplexity": _common.rounded(result.perplexity, 2),
        "steps": result.steps,
        "tokens": result.tokens,
        "train_seconds": _common.rounded(result.train_seconds, 2),
        "step_seconds": _common.rounded(result.step_seconds, 5),
        "compile_seconds": _common.rounded(result.compile_seconds, 2),
        "eval_seconds": _common.rounded(result.eval_seconds, 2),
        "wall_seconds": _common.rounded(wall, 2),
        "final_train_loss": _common.rounded(result.final_train_loss),
    }


def summarize(name: str, results: list[Any], runs: list[dict[str, Any]]) -> dict[str, Any]:
    ok = [r for r in results if r.fitness is not None]
    fitness_mean, fitness_std = _common.mean_std([r.fitness for r in ok])
    steps_mean, _ = _common.mean_std([r.steps for r in ok])
    step_mean, step_std = _common.mean_std([r.step_seconds for r in ok if r.step_seconds])
    first = results[0]
    return {
        "program": name,
        "parameter_count": first.parameter_count,
        "d_model": first.d_model,
        "base_unit": first.base_unit,
        "training_flops_per_token": first.training_flops_per_token,
        "runs": runs,
        "log_ppl_mean": _common.rounded(fitness_mean),
        "log_ppl_std": _common.rounded(fitness_std),
        "perplexity_mean": _common.rounded(
            None if not ok else sum(r.perplexity for r in ok) / len(ok), 2
        ),
        "perplexity_of_mean_log_ppl": _common.rounded(
            None if fitness_mean is None else math.exp(fitness_mean), 2
        ),
        "steps_mean": _common.rounded(steps_mean, 1),
        "step_seconds_mean": _common.rounded(step_mean, 5),
        "step_seconds_std": _common.rounded(step_std, 5),
        "failed_runs": len(results) - len(ok),
    }


def paired_differences(by_program: dict[str, list[Any]]) -> dict[str, Any]:
    """log-ppl(program) - log-ppl(transformer), per seed; negative: better than the Transformer."""
    if BASELINE not in by_program:
        return {}
    base = {r.seed: r.fitness for r in by_program[BASELINE] if r.fitness is not None}
    out = {}
    for name, results in by_program.items():
        if name == BASELINE:
            continue
        diffs = [
            r.fitness - base[r.seed] for r in results if r.fitness is not None and r.seed in base
        ]
        mean, std = _common.mean_std(diffs)
        out[name] = {
            "per_seed": [_common.rounded(d) for d in diffs],
            "mean": _common.rounded(mean),
            "std": _common.rounded(std),
            "stderr": _common.rounded(None if std is None else std / math.sqrt(len(diffs))),
            "better_in": f"{sum(d < 0 for d in diffs)}/{len(diffs)} seeds",
        }
    return out


def benchmark(args: argparse.Namespace) -> dict[str, Any]:
    from primer_search.config import get_preset
    from primer_search.data import default_cache_dir, open_corpus
    from primer_search.seeds import load_program
    from primer_search.training import get_train_preset, parse_budget, train_candidate

    train_paths, valid_paths = _common.data_paths(args)
    load_before = _common.load_average()
    corpus = open_corpus(
        _common.data_spec(args, train_paths, valid_paths), args.cache_dir or default_cache_dir()
    )
    model_config = get_preset(args.preset)
    changes = {
        "peak_learning_rate": args.peak_lr,
        "warmup_steps": args.warmup,
        "batch_tokens": args.batch_tokens,
    }
    train_config = get_train_preset(args.preset).with_changes(
        **{k: v for k, v in changes.items() if v is not None}
    )
    budget = parse_budget(args.budget)
    programs = [p.strip() for p in args.programs.split(",") if p.strip()]
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    by_program: dict[str, list[Any]] = {name: [] for name in programs}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in programs}
    started = time.perf_counter()
    for seed, name in run_order(programs, seeds):
        begin = time.perf_counter()
        result = train_candidate(
            load_program(name), model_config, train_config, corpus, budget, seed=seed
        )
        wall = time.perf_counter() - begin
        by_program[name].append(result)
        runs[name].append(run_record(result, wall))
        _common.log(
            f"seed {seed} {name:<22} log-ppl {result.fitness} steps {result.steps} "
            f"step {result.step_seconds} s  wall {wall:.1f} s  load {_common.load_average()}"
        )
    summary = {name: summarize(name, by_program[name], runs[name]) for name in programs}
    ranking = sorted(
        (s for s in summary.values() if s["log_ppl_mean"] is not None),
        key=lambda s: s["log_ppl_mean"],
    )
    return {
        "benchmark": "seeds_equal_budget",
        "command": args.command,
        "config": {
            "budget": str(budget),
            "seeds": seeds,
            "programs": programs,
            "run_order": "seed-major, program order rotated by one each seed",
            "model_preset": model_config.name,
            "num_layers": model_config.num_layers,
            "seq_len": model_config.seq_len,
            "param_range": [model_config.min_params, model_config.max_params],
            "train_preset": train_config.name,
            "batch_tokens": train_config.batch_tokens,
            "peak_learning_rate": train_config.peak_learning_rate,
            "warmup_steps": train_config.warmup_steps,
            "jit_compile": train_config.jit_compile,
        },
        "data": {
            "description": corpus.stats.description,
            "vocab_size": corpus.vocab_size,
            "train_tokens": corpus.stats.train_tokens,
            "validation_tokens": corpus.stats.validation_tokens,
            "corpus_open_seconds": round(corpus.stats.open_seconds, 2),
            "corpus_from_cache": not (corpus.stats.tokenizer_trained or corpus.stats.shards_built),
        },
        "machine": _common.machine(),
        "load_average_before": load_before,
        "load_average_after": _common.load_average(),
        "wall_seconds": round(time.perf_counter() - started, 1),
        "ranking_by_mean_log_ppl": [s["program"] for s in ranking],
        "difference_to_transformer": paired_differences(by_program),
        "programs": summary,
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    train, valid = _common.data_paths(args)
    if not all(p.is_file() for p in (*train, *valid)):
        print(_common.missing_data_message("seeds_equal_budget", train, valid))
        return
    _common.emit(benchmark(args), args.out)


if __name__ == "__main__":
    main()
