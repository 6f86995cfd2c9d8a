"""How a candidate fails: any error of its program stops it with a reason, never the caller.

A search evaluates thousands of mutated programs; some overflow to NaN, some run out of memory,
some hit a corner of an op no test foresaw. Each of those is the candidate's failure, recorded in
its result (result.FailureKind) so the search can move on. Errors of the caller's making (a bad
budget) are raised before a run starts, and errors of the corpus propagate: they are not guarded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import tensorflow as tf

from primer_search.errors import ParameterBudgetError
from primer_search.training.result import FailureKind


class CandidateFailed(Exception):
    """Stops a run; `train_candidate` turns it into a failed result with `kind` and `reason`."""

    def __init__(self, kind: FailureKind, reason: str):
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


@contextmanager
def failure_guard(kind: FailureKind) -> Iterator[None]:
    """Inside, any exception becomes CandidateFailed: out-of-memory and parameter-budget errors
    with their own kind, everything else with `kind` (the phase that was running)."""
    try:
        yield
    except CandidateFailed:
        raise
    except (tf.errors.ResourceExhaustedError, MemoryError) as exc:
        reason = f"out of memory during {kind.value}: {first_line(exc)}"
        raise CandidateFailed(FailureKind.OUT_OF_MEMORY, reason) from exc
    except ParameterBudgetError as exc:
        raise CandidateFailed(FailureKind.PARAMETER_BUDGET, str(exc)) from exc
    except Exception as exc:  # a candidate may fail in any way; the caller may not
        reason = f"{kind.value} failed: {type(exc).__name__}: {first_line(exc)}"
        raise CandidateFailed(kind, reason) from exc


def first_line(exc: BaseException, limit: int = 300) -> str:
    """The line of an error's message that says what went wrong, shortened.

    TF wraps errors raised inside a tf.function in a traceback ("in user code:", "Graph execution
    error:" ... "Detected at node ..."); the actual message is then its last paragraph."""
    text = (getattr(exc, "message", None) or str(exc)).strip()
    if text.startswith(_TRACEBACK_HEADERS):
        text = re.split(r"\n\s*\n", text)[-1]
    lines = [line.strip() for line in text.splitlines()]
    lines = [line for line in lines if line and not line.startswith("[[")]
    line = lines[0] if lines else type(exc).__name__
    line = re.sub(r"\s*\[Op:[^\]]*\]$", "", line)
    prefix = f"{type(exc).__name__}: "
    line = line[len(prefix) :] if line.startswith(prefix) else line
    return line if len(line) <= limit else line[: limit - 3] + "..."


_TRACEBACK_HEADERS = ("in user code:", "Graph execution error:")
