"""The evaluator: a Ray actor that trains candidates, kept warm across them (issue 5).

One `Evaluator` lives in its own Ray worker process and trains one candidate at a time. What is
expensive to start is paid once per actor, not per candidate: importing TensorFlow, and opening
the tokenized corpus (built on first use in the shared cache folder, memory-mapped after). The
driver (service/driver.py) resolves the search's presets and hands the evaluator plain values, so
workers never need to agree on preset tables with the driver.

    actor = ray.remote(num_cpus=1, num_gpus=0, max_restarts=0)(Evaluator).remote(setup)
    info = ray.get(actor.describe.remote())       # worker id, corpus identity and vocabulary
    record = ray.get(actor.evaluate.remote(request))  # a TrainResult as a JSON dict

`evaluate` never raises for a candidate's own failure (a NaN loss, a program that does not
build): `train_candidate` turns it into a `failed` result. It raises only for the caller's or the
machine's errors (a bad request, an unreadable corpus), which the driver counts as a lost attempt.
This module imports neither TensorFlow nor Ray at import time: the actor class is plain Python,
made remote by workers/pool.py.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass
from typing import Any

from primer_search.config import ModelConfig
from primer_search.data import DataSpec
from primer_search.training.config import TrainConfig


@dataclass(frozen=True)
class EvaluatorSetup:
    """What every evaluator of a search shares: the corpus and the resolved presets."""

    data: DataSpec
    cache_dir: str  # tokenizers and token shards, shared by the evaluators on one machine
    model_config: ModelConfig
    train_config: TrainConfig
    threads: int = 1  # TensorFlow intra-op threads: the CPUs the actor reserves


@dataclass(frozen=True)
class EvaluationRequest:
    """One candidate to train: its program as DNA JSON, the budget, the hurdle bars, the seed."""

    iid: int
    dna: dict[str, Any]
    budget: str
    hurdles: int
    thresholds: tuple[float | None, ...]
    seed: int


class Evaluator:
    """Trains candidates with `primer_search.training.train_candidate` (see the module doc)."""

    def __init__(self, setup: EvaluatorSetup):
        # TensorFlow reads its log level when imported: quiet it here, in the worker process.
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow as tf

        # Before any op runs: use the CPUs Ray reserved for this actor, not the whole machine,
        # so evaluators sharing a node do not fight over cores.
        tf.config.threading.set_intra_op_parallelism_threads(max(1, setup.threads))
        tf.config.threading.set_inter_op_parallelism_threads(max(2, setup.threads))
        from primer_search.data import open_corpus

        self.setup = setup
        self.corpus = open_corpus(setup.data, setup.cache_dir)
        self.model_config = setup.model_config.with_vocab(self.corpus.vocab_size)
        self.worker = _worker_id()

    def describe(self) -> dict[str, Any]:
        """Who this is and what it trains on: the driver's cache key and gate need the corpus's
        identity and actual vocabulary size. Answers once the actor has started."""
        return {
            "worker": self.worker,
            "corpus_identity": self.corpus.identity,
            "vocab_size": self.corpus.vocab_size,
        }

    def identity(self) -> str:
        """The worker id stored in the individuals' `worker` column: node id and process id."""
        return self.worker

    def evaluate(self, request: EvaluationRequest) -> dict[str, Any]:
        """Train the candidate and return its TrainResult as JSON-ready data."""
        from primer_search.dna import parse_dna
        from primer_search.training import train_candidate

        result = train_candidate(
            parse_dna(request.dna),
            self.model_config,
            self.setup.train_config,
            self.corpus,
            request.budget,
            request.hurdles,
            list(request.thresholds) if request.hurdles else None,
            seed=request.seed,
        )
        return result.model_dump(mode="json")


def _worker_id() -> str:
    """`<node id prefix>:<pid>` inside Ray, `<host>:<pid>` outside it (a test calling the class
    directly)."""
    try:
        import ray

        node = ray.get_runtime_context().get_node_id()[:12]
    except Exception:  # not in a Ray worker
        node = socket.gethostname()
    return f"{node}:{os.getpid()}"
