"""The driver's evaluators: a fixed number of warm Ray actors and the work handed to them.

`EvaluatorPool` is the one place that talks to Ray for a search (STYLE.md, Ray's patterns): it
creates the actors, submits a candidate to an idle one, and waits with `ray.wait` for whatever
finishes first, with a timeout, so the driver stays responsive (heartbeats, pause, stop). Work
in flight is bounded by the number of evaluators. `ray.get` is only called on references that
`ray.wait` returned ready.

An evaluator that dies (its process killed, its node lost, its memory exceeded) is created
with `max_restarts=0`, so the death surfaces as a lost result: the pool reports it as a
`Completion` with `lost` set, and replaces the actor with a fresh one. What to do with the
candidate (resubmit it, or give up after `max_attempts`) is the driver's decision. An evaluator
that hangs (a deadlock, a stuck device, a read that never returns) gives no sign at all, so the
pool also times evaluations: one still running `candidate_timeout` seconds after its submission
is reported lost the same way ("timed out after X s") and its actor killed and replaced. An
evaluator that cannot even start (the corpus is missing, the resources do not exist) fails the
same way several times in a row; the pool then raises EvaluatorStartError rather than retry
forever.
"""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass
from typing import Any

import ray
from ray.exceptions import RayError, RayTaskError

from primer_search.errors import ConfigError, PrimerSearchError
from workers.evaluator import EvaluationRequest, Evaluator, EvaluatorSetup

# A slot whose actor fails to start this many times in a row makes the pool give up.
MAX_START_FAILURES = 3


class EvaluatorStartError(PrimerSearchError):
    """Evaluators cannot start (the message says why): a configuration problem, not a
    candidate's; the search cannot go on until it is fixed."""


@dataclass(frozen=True)
class Completion:
    """A submitted evaluation came back: `record` (a TrainResult as JSON) when it ran, or
    `lost`, the reason it has no result (the evaluator died or raised)."""

    ref: ray.ObjectRef
    worker: str
    record: dict[str, Any] | None = None
    lost: str | None = None


class _State(enum.Enum):
    STARTING = "starting"
    IDLE = "idle"
    BUSY = "busy"


@dataclass
class _Slot:
    actor: Any
    ref: ray.ObjectRef  # `describe` while starting, `evaluate` while busy
    state: _State = _State.STARTING
    worker: str = ""
    start_failures: int = 0
    submitted: float = 0.0  # time.monotonic() of the last `evaluate` submission


class EvaluatorPool:
    def __init__(
        self,
        size: int,
        setup: EvaluatorSetup,
        num_cpus: float,
        num_gpus: float,
        evaluator_class: type = Evaluator,
        candidate_timeout: float | None = None,
    ):
        """`evaluator_class` is the actor's class: `Evaluator` (it trains), or in benchmarks and
        tests a class with the same three methods (`describe`, `identity`, `evaluate`).
        `candidate_timeout`: seconds an evaluation may run before its evaluator is taken as hung
        (None: no limit)."""
        if candidate_timeout is not None and not candidate_timeout > 0:
            raise ConfigError(
                f"candidate_timeout must be positive or None, got {candidate_timeout!r}"
            )
        self.size = size
        self.setup = setup
        self.candidate_timeout = candidate_timeout
        self._actor_class: Any = ray.remote(
            num_cpus=num_cpus, num_gpus=num_gpus, max_restarts=0, max_task_retries=0
        )(evaluator_class)
        self._slots: list[_Slot] = []
        self.info: dict[str, Any] | None = None  # the first evaluator's `describe()`
        _check_resources(num_cpus, num_gpus)

    def start(self) -> None:
        self._slots = [self._new_slot() for _ in range(self.size)]

    def _new_slot(self, start_failures: int = 0) -> _Slot:
        actor = self._actor_class.remote(self.setup)
        ready = actor.describe.remote()
        return _Slot(actor, ready, start_failures=start_failures)

    # -- the driver's view -----------------------------------------------------------------------

    def idle(self) -> list[int]:
        """The slots whose evaluator is started and free."""
        return [i for i, slot in enumerate(self._slots) if slot.state is _State.IDLE]

    def worker(self, index: int) -> str:
        return self._slots[index].worker

    @property
    def busy(self) -> int:
        return sum(slot.state is _State.BUSY for slot in self._slots)

    def submit(self, index: int, request: EvaluationRequest) -> ray.ObjectRef:
        slot = self._slots[index]
        assert slot.state is _State.IDLE, f"slot {index} is {slot.state.value}"
        slot.ref = slot.actor.evaluate.remote(request)
        slot.state = _State.BUSY
        slot.submitted = time.monotonic()
        return slot.ref

    def wait(self, timeout: float) -> list[Completion]:
        """Waits up to `timeout` seconds for one evaluation to finish or one evaluator to start,
        and returns the evaluations that finished (every one that is back by then: the driver
        records them together), and those that ran past the candidate timeout (lost; their
        evaluators replaced)."""
        waiting = {s.ref: i for i, s in enumerate(self._slots) if s.state is not _State.IDLE}
        if not waiting:
            return []
        ready, rest = ray.wait(list(waiting), num_returns=1, timeout=self._wait_bound(timeout))
        if ready and rest:  # and whatever else is back already, without waiting
            ready += ray.wait(rest, num_returns=len(rest), timeout=0)[0]
        completions = []
        for ref in ready:
            index = waiting[ref]
            if self._slots[index].state is _State.STARTING:
                self._started(index)
            else:
                completions.append(self._finished(index))
        return completions + self._expire()

    def _wait_bound(self, timeout: float) -> float:
        """`timeout`, cut short to wake up when the first busy evaluation's time is up."""
        if self.candidate_timeout is None:
            return timeout
        now = time.monotonic()
        ends = [s.submitted + self.candidate_timeout for s in self._slots if s.state is _State.BUSY]
        return max(0.0, min([timeout, *(end - now for end in ends)]))

    # -- what happens inside -------------------------------------------------------------------

    def _started(self, index: int) -> None:
        slot = self._slots[index]
        try:
            info = ray.get(slot.ref)  # ready: ray.wait returned it
        except RayError as exc:
            if slot.start_failures + 1 >= MAX_START_FAILURES:
                raise EvaluatorStartError(
                    f"an evaluator failed to start {MAX_START_FAILURES} times in a row: "
                    f"{_short(exc)}"
                ) from None
            self._replace(index, slot.start_failures + 1)
            return
        slot.state, slot.worker, slot.start_failures = _State.IDLE, info["worker"], 0
        if self.info is None:
            self.info = info

    def _finished(self, index: int) -> Completion:
        slot = self._slots[index]
        ref, worker = slot.ref, slot.worker
        try:
            record = ray.get(ref)  # ready: ray.wait returned it
        except RayTaskError as exc:  # evaluate raised; the actor lives on
            slot.state = _State.IDLE
            return Completion(ref, worker, lost=f"evaluator {worker} raised: {_short(exc)}")
        except RayError as exc:  # the actor (or its node) died
            self._replace(index)
            return Completion(ref, worker, lost=f"evaluator {worker} died: {_short(exc)}")
        slot.state = _State.IDLE
        return Completion(ref, worker, record=record)

    def _expire(self) -> list[Completion]:
        """The evaluations running longer than the candidate timeout: each evaluator is killed
        (a hung one would hold its slot forever) and replaced, and its candidate lost."""
        if self.candidate_timeout is None:
            return []
        now = time.monotonic()
        expired = []
        for index, slot in enumerate(self._slots):
            if slot.state is _State.BUSY and now - slot.submitted >= self.candidate_timeout:
                lost = f"evaluator {slot.worker} timed out after {self.candidate_timeout:g} s"
                expired.append(Completion(slot.ref, slot.worker, lost=lost))
                self._replace(index)
        return expired

    def _replace(self, index: int, start_failures: int = 0) -> None:
        ray.kill(self._slots[index].actor, no_restart=True)
        self._slots[index] = self._new_slot(start_failures)

    def shutdown(self) -> None:
        """Kills every evaluator; work in flight is abandoned (its results never arrive)."""
        for slot in self._slots:
            ray.kill(slot.actor, no_restart=True)
        self._slots = []


def _check_resources(num_cpus: float, num_gpus: float) -> None:
    """Refuses evaluators that the cluster, all of it, could not host now: they would wait
    forever. (An autoscaling cluster must have started one node of the kind first.)"""
    total = ray.cluster_resources()
    cpus, gpus = total.get("CPU", 0.0), total.get("GPU", 0.0)
    if num_cpus > cpus or num_gpus > gpus:
        raise EvaluatorStartError(
            f"an evaluator asks for {num_cpus:g} CPU(s) and {num_gpus:g} GPU(s), but the Ray "
            f"cluster has {cpus:g} CPU(s) and {gpus:g} GPU(s) in all; lower the evaluator "
            "resources or connect to a larger cluster (--ray-address)"
        )


def _short(exc: BaseException, limit: int = 600) -> str:
    """An exception's message without Ray's long tracebacks: the last line that says something."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    text = lines[-1] if lines else type(exc).__name__
    return text if len(text) <= limit else text[: limit - 3] + "..."
