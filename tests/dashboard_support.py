"""Helpers for the dashboard's browser tests, its load benchmark and its screenshot tool: a real
server (uvicorn in a thread), a real headless Chromium (Debian's, driven by Selenium), and
searches filled through the store as a driver fills them.

Chromium and its driver come from apt (`chromium`, `chromium-driver`; `make test` installs them
when it runs as root). Selenium is always given the driver's path, so Selenium Manager never
downloads anything. Without them the browser tests skip, except in CI (CI=true), where they fail.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from primer_search.canonical import canonical_hash
from primer_search.dna import DNA
from primer_search.evolution import Proposal, ProposalKind
from primer_search.fitness_cache import CachedFitness
from primer_search.mutation import mutate_with_hash
from primer_search.seeds import load_seed
from service.store import Evaluation, IndividualStatus, SearchStatus, SQLStore

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROME_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
ARTIFACTS_ENV = "PRIMER_SEARCH_ARTIFACTS"
REPO_ROOT = Path(__file__).resolve().parents[1]


# -- the browser -----------------------------------------------------------------------------------


def browser_missing() -> str | None:
    """Why the browser tests cannot run here (None: they can)."""
    missing = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()]
    if missing:
        return (
            f"headless Chromium is not installed ({', '.join(missing)} missing): "
            "apt-get install chromium chromium-driver, or run `make test` as root"
        )
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed: pip install -e '.[dev]'"
    return None


def start_chromium(width: int = 1440, height: int = 1000) -> Any:
    """A headless Chromium that keeps its console log (read with `console_errors`)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for flag in CHROME_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    return driver


def console_errors(driver: Any) -> list[dict[str, Any]]:
    """The SEVERE entries of the browser console since the last call (the log is drained)."""
    return [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]


def wait_for(driver: Any, condition: Any, timeout: float = 20.0, what: str = "the page") -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(
        condition, f"timed out after {timeout}s waiting for {what}"
    )


def open_ready(driver: Any, url: str, timeout: float = 30.0) -> None:
    """Navigates and waits for the page's first render (`body[data-ready="1"]`)."""
    driver.get(url)
    wait_for(
        driver,
        lambda d: d.execute_script("return document.body && document.body.dataset.ready") == "1",
        timeout,
        f"{url} to render",
    )


def full_page_screenshot(driver: Any, path: Path, width: int = 1440) -> Path:
    """The whole page (the window grown to its height), as a PNG at `path`."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    size = driver.get_window_size()
    driver.set_window_size(width, max(600, int(height) + 20))
    time.sleep(0.3)  # the charts redraw at the new width
    path.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(path))
    driver.set_window_size(size["width"], size["height"])
    return path


def keep_artifact(path: Path) -> None:
    """Copies a test's screenshot to test-artifacts/ when PRIMER_SEARCH_ARTIFACTS is set."""
    if os.environ.get(ARTIFACTS_ENV):
        folder = REPO_ROOT / "test-artifacts"
        folder.mkdir(exist_ok=True)
        shutil.copyfile(path, folder / path.name)


# -- the server ------------------------------------------------------------------------------------


def bound_socket() -> socket.socket:
    """A TCP socket bound to a port of 127.0.0.1 the OS picked: handed to uvicorn, so no other
    process can take the port between picking and serving."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextmanager
def serve(app: Any, sock: socket.socket | None = None) -> Iterator[str]:
    """The app served by uvicorn in a thread on `sock` (by default a new `bound_socket()`);
    yields its base URL. The socket is closed at the end."""
    import uvicorn

    sock = sock or bound_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="test-server", daemon=True
    )
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the test server did not start")
            time.sleep(0.02)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(30)
        sock.close()


# -- searches filled as a driver fills them --------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What became of one candidate: its status, the hurdle it reached, and its numbers."""

    status: IndividualStatus
    fitness: float | None
    hurdle_reached: int
    parameter_count: int | None
    step_seconds: float | None
    error: str | None


FAILURES = (
    "nan: loss diverged",
    "oom: resource exhausted",
    "compile: incompatible shapes in the attention product",
)


def outcome(rng: np.random.Generator, index: int, total: int, hurdles: int) -> Outcome:
    """A plausible candidate: fitness improves along the search with noise, about 3 % fail,
    and with hurdles about a third are stopped at each one (with a worse, truncated fitness).
    Parameters and step time vary together."""
    params = int(rng.uniform(1.1e6, 2.9e6))
    step = params / 1.5e6 * 0.021 * rng.uniform(0.85, 1.25)
    if rng.random() < 0.03:
        error = FAILURES[int(rng.integers(len(FAILURES)))]
        return Outcome(IndividualStatus.FAILED, None, 0, params, None, error)
    progress = 1.0 - math.exp(-4.0 * index / max(total, 1))
    fitness = 4.45 - 0.35 * progress + abs(rng.normal(0, 0.09)) + params / 2.9e6 * 0.04
    for k in range(1, hurdles + 1):
        if rng.random() < 0.33:
            truncated = fitness + 0.25 * (hurdles - k + 1) + rng.normal(0, 0.03)
            return Outcome(IndividualStatus.STOPPED, truncated, k, params, step, None)
    return Outcome(IndividualStatus.DONE, fitness, hurdles, params, step, None)


def evaluation(o: Outcome, budget_seconds: float = 30.0) -> Evaluation:
    if o.status is IndividualStatus.FAILED:
        return Evaluation(
            status=o.status,
            error=o.error,
            parameter_count=o.parameter_count,
            result={"status": "failed", "failure_reason": o.error, "budget": f"{budget_seconds}s"},
        )
    assert o.fitness is not None
    hurdle_fitness = tuple(
        o.fitness + 0.05 * (o.hurdle_reached - k) for k in range(o.hurdle_reached)
    )
    train_seconds = budget_seconds * (1.0 if o.status is IndividualStatus.DONE else 0.4)
    return Evaluation(
        status=o.status,
        fitness=o.fitness,
        perplexity=math.exp(o.fitness),
        hurdle_fitness=hurdle_fitness,
        hurdle_reached=o.hurdle_reached,
        parameter_count=o.parameter_count,
        step_seconds=o.step_seconds,
        result={
            "status": "ok" if o.status is IndividualStatus.DONE else "stopped_at_hurdle",
            "fitness": o.fitness,
            "perplexity": math.exp(o.fitness),
            "budget": f"{budget_seconds}s",
            "steps": int(train_seconds / (o.step_seconds or 1.0)),
            "train_seconds": train_seconds,
            "total_seconds": train_seconds + 4.0,
            "parameter_count": o.parameter_count,
            "device": "CPU",
        },
    )


def search_config(**overrides: Any) -> dict[str, Any]:
    """A SearchConfig as stored (only what the dashboard reads must be right)."""
    config: dict[str, Any] = {
        "name": "filled",
        "seed": "transformer",
        "data": {"source": "builtin"},
        "preset": "tiny",
        "budget": "30s",
        "hurdles": 2,
        "population_size": 20,
        "tournament_size": 5,
        "max_evaluations": 100,
        "evaluators": 2,
        "rng_seed": 0,
    }
    config.update(overrides)
    return config


def engine_state(population: list[int], step: int) -> dict[str, Any]:
    """What the API reads of an engine state: the population's member ids."""
    return {"format": 1, "step": step, "population": [{"id": i} for i in population]}


def fill_search(
    store: SQLStore,
    evaluated: int,
    *,
    name: str = "filled",
    status: SearchStatus = SearchStatus.FINISHED,
    all_failed: bool = False,
    cached: int = 2,
    rejected: int = 2,
    seed: int = 0,
    **config: Any,
) -> int:
    """A search of `evaluated` candidates with real mutated DNAs (each the child of a random
    earlier member of the population, or of the seed), their results recorded one by one, plus
    `cached` cache hits and `rejected` gate rejections, left with `status`."""
    cfg = search_config(name=name, max_evaluations=max(evaluated, 1), **config)
    seed_dna = load_seed("transformer")
    sid = store.create_search(name, cfg, seed_dna)
    store.update_status(sid, SearchStatus.RUNNING, {SearchStatus.CREATED})
    rng = np.random.default_rng(seed)
    size = int(cfg["population_size"])
    dnas: dict[int, DNA] = {}
    population: list[int] = []
    kinds = [ProposalKind.TRAIN] * evaluated + [ProposalKind.CACHED] * cached
    kinds += [ProposalKind.REJECTED] * rejected
    order = rng.permutation(len(kinds)) if kinds else []
    for iid, k in enumerate(order):
        kind = kinds[int(k)]
        parent = int(rng.choice(population)) if len(population) >= 2 else None
        base = seed_dna if parent is None else dnas[parent]
        dna, record, program_hash = mutate_with_hash(base, rng, parent_hash=canonical_hash(base))
        dnas[iid] = dna
        cached_value = CachedFitness(fitness=4.3, hurdle_fitness=(), source_id=0)
        proposal = Proposal(
            id=iid,
            kind=kind,
            dna=dna,
            program_hash=program_hash,
            parent_id=parent,
            mutation=record,
            cached=cached_value if kind is ProposalKind.CACHED else None,
            rejection="gate: too many parameters" if kind is ProposalKind.REJECTED else None,
        )
        store.record_proposals(sid, [proposal], engine_state(population, iid))
        if kind is not ProposalKind.TRAIN:
            continue
        o = outcome(rng, iid, len(kinds), int(cfg["hurdles"]))
        if all_failed:
            o = Outcome(IndividualStatus.FAILED, None, 0, o.parameter_count, None, FAILURES[0])
        store.mark_running(sid, iid, "evaluator-0:1")
        if o.status is not IndividualStatus.FAILED:
            population = [*population, iid][-size:]
        store.record_result(sid, iid, evaluation(o), engine_state(population, iid))
    if status is not SearchStatus.RUNNING:
        store.update_status(sid, status, {SearchStatus.RUNNING})
    return sid


def empty_search(store: SQLStore, name: str = "empty") -> int:
    """A search created and started, with no individual yet."""
    sid = store.create_search(name, search_config(name=name), load_seed("transformer"))
    store.update_status(sid, SearchStatus.RUNNING, {SearchStatus.CREATED})
    return sid
