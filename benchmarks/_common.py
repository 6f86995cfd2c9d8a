"""What the training benchmarks share: the real-text corpus, the machine's load, JSON output.

The default corpus is WikiText-2 as shipped beside the project (`../shared/data/wikitext-2`, only
its valid and test splits). We TRAIN on test.txt (the larger, about 245K words) and VALIDATE on
valid.txt, so the "validation" numbers come from WikiText's own validation split; both files
are read line by line (one paragraph or heading per line), as plain text.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = Path(__file__).resolve().parents[1]
WIKITEXT2 = REPO_ROOT.parent / "shared" / "data" / "wikitext-2"
DEFAULT_TRAIN = (WIKITEXT2 / "test.txt",)
DEFAULT_VALID = (WIKITEXT2 / "valid.txt",)

# WikiText-2 is small (about 0.5M subword tokens per split at 2,048 pieces), and the tiny preset
# is about 1.5M parameters: 2,048 pieces keep the tied embedding at about a quarter of the model
# (d_model 176) where 8,192 would take two thirds of it (d_model 120) and leave rare pieces
# seen only a handful of times in a minute of training. It is also the tiny preset's own size.
DEFAULT_VOCAB = 2048


def add_data_arguments(parser: Any) -> None:
    parser.add_argument(
        "--train",
        action="append",
        default=None,
        metavar="PATH",
        help="training text file (repeatable; default: WikiText-2 test.txt)",
    )
    parser.add_argument(
        "--valid",
        action="append",
        default=None,
        metavar="PATH",
        help="validation text file (repeatable; default: WikiText-2 valid.txt)",
    )
    parser.add_argument("--vocab", type=int, default=DEFAULT_VOCAB, help="SentencePiece pieces")
    parser.add_argument(
        "--validation-tokens",
        type=int,
        default=65_536,
        help="size of the fixed validation set (the library's default: 65,536)",
    )
    parser.add_argument(
        "--cache-dir", default=None, help="tokenizer and shard cache (default: the user cache)"
    )


def data_paths(args: Any) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    train = tuple(Path(p) for p in args.train) if args.train else DEFAULT_TRAIN
    valid = tuple(Path(p) for p in args.valid) if args.valid else DEFAULT_VALID
    if args.train and not args.valid:
        valid = ()  # the library holds out the tail of the training files
    return train, valid


def missing_data_message(benchmark: str, train: Sequence[Path], valid: Sequence[Path]) -> str:
    """JSON saying the benchmark skipped because its text is absent (exit status 0)."""
    missing = [str(p) for p in (*train, *valid) if not p.is_file()]
    return json.dumps(
        {
            "benchmark": benchmark,
            "skipped": True,
            "reason": "text corpus not found: " + ", ".join(missing),
            "hint": "put WikiText-2 at ../shared/data/wikitext-2 or pass --train PATH --valid PATH",
        },
        indent=2,
    )


def data_spec(args: Any, train: Sequence[Path], valid: Sequence[Path]) -> Any:
    from primer_search.data import DataSpec

    return DataSpec(
        "text",
        train_paths=tuple(str(p) for p in train),
        validation_paths=tuple(str(p) for p in valid),
        vocab_size=args.vocab,
        validation_tokens=args.validation_tokens,
    )


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:  # pragma: no cover - not on every platform
        return None


def machine() -> dict[str, Any]:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    return {
        "device": "GPU" if gpus else f"CPU ({platform.machine()}, {os.cpu_count()} cores)",
        "python": sys.version.split()[0],
        "tensorflow": tf.__version__,
        "platform": platform.platform(),
    }


def mean_std(values: Sequence[float]) -> tuple[float | None, float | None]:
    """Mean and sample standard deviation (None for the std of fewer than two values)."""
    if not values:
        return None, None
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else None
    return mean, std


def rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def latency(call: Any, repeats: int, warmup: int = 1, digits: int = 3) -> dict[str, float]:
    """p50 / p95 / max in milliseconds of `repeats` calls of `call()`, after `warmup` untimed
    ones (connections, pools, statement caches)."""
    for _ in range(warmup):
        call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), digits),
        "p95_ms": round(times[int(0.95 * (len(times) - 1))], digits),
        "max_ms": round(times[-1], digits),
    }


def emit(report: dict[str, Any], out: str | None) -> None:
    """Print the report as JSON, and write it to `out` too when given."""
    text = json.dumps(report, indent=2)
    print(text)
    if out:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")


def log(message: str) -> None:
    """Progress on stderr, so stdout stays one JSON document."""
    print(message, file=sys.stderr, flush=True)
