"""The server's drivers: one SearchDriver per running search, each in a background thread.

    manager = DriverManager(store, ray_address=None, cache_dir=None)
    manager.resume_running_searches()   # on start: drive what was running when we went down
    manager.start(search_id)            # POST /searches, POST /searches/{id}/resume
    manager.is_driving(search_id)
    manager.shutdown(timeout=30)        # on exit: the drivers detach, statuses stay RUNNING

The API pauses and stops searches through the store (`update_status`); each driver reads the
status every turn and acts on it (service/driver.py). Ray is connected on the first `start`
(embedded, or the cluster at `ray_address`, or RAY_ADDRESS), and all drivers of the process share
it. `start` takes the lease synchronously, so a search that another process drives is refused at
once (LeaseHeldError, a 409 for the API); so is a search already driven here (DriverBusyError).
A search paused while its driver finishes the work in flight, then resumed before that driver
exits, is simply driven on by it: `start` refuses with DriverBusyError and nothing is lost.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from service.driver import DEFAULT_LEASE_TTL, DriverExit, SearchDriver
from service.runtime import init_ray
from service.store import LeaseLostError, SearchStatus, SearchStore, StateConflictError
from workers.evaluator import Evaluator

log = logging.getLogger(__name__)


class DriverBusyError(StateConflictError):
    """This process already drives the search."""


@dataclass
class _Running:
    driver: SearchDriver
    thread: threading.Thread
    exit: DriverExit | None = None
    error: BaseException | None = field(default=None, repr=False)


class DriverManager:
    def __init__(
        self,
        store: SearchStore,
        ray_address: str | None = None,
        cache_dir: str | Path | None = None,
        lease_ttl: float = DEFAULT_LEASE_TTL,
        poll_seconds: float = 1.0,
        num_cpus: int | None = None,
        evaluator_class: type = Evaluator,
    ):
        """`cache_dir`: where evaluators keep tokenizers and token shards (default: the user
        cache, primer_search.data.default_cache_dir). `num_cpus` sizes an embedded Ray.
        `evaluator_class`: what the drivers' Ray actors run (SearchDriver's argument)."""
        from primer_search.data import default_cache_dir

        self.store = store
        self.ray_address = ray_address
        self.cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
        self.lease_ttl = lease_ttl
        self.poll_seconds = poll_seconds
        self.num_cpus = num_cpus
        self.evaluator_class = evaluator_class
        self._running: dict[int, _Running] = {}
        self._lock = threading.Lock()

    def start(self, search_id: int) -> None:
        """Drives the search in a background thread. Raises NotFoundError, SearchFinishedError,
        LeaseHeldError (another process drives it) or DriverBusyError (this one does)."""
        with self._lock:
            if self.is_driving(search_id):
                raise DriverBusyError(
                    f"search {search_id} is already being driven by this server",
                    current="running",
                )
            init_ray(self.ray_address, self.num_cpus)
            driver = SearchDriver(
                self.store,
                search_id,
                cache_dir=self.cache_dir,
                lease_ttl=self.lease_ttl,
                poll_seconds=self.poll_seconds,
                evaluator_class=self.evaluator_class,
            )
            driver.acquire()
            thread = threading.Thread(
                target=self._drive, args=(search_id,), name=f"driver-{search_id}", daemon=True
            )
            self._running[search_id] = _Running(driver, thread)
            thread.start()

    def _drive(self, search_id: int) -> None:
        running = self._running[search_id]
        try:
            running.exit = running.driver.drive()
            log.info("search %s: driver ended (%s)", search_id, running.exit.value)
        except BaseException as exc:  # the thread's end: log it, the driver marked the search
            running.error = exc
            log.exception("search %s: driver failed", search_id)

    def is_driving(self, search_id: int) -> bool:
        running = self._running.get(search_id)
        return running is not None and running.thread.is_alive()

    def last_exit(self, search_id: int) -> DriverExit | None:
        """How this process's last driver of the search ended (None: still driving, or never)."""
        running = self._running.get(search_id)
        return None if running is None or running.thread.is_alive() else running.exit

    def resume_running_searches(self) -> list[int]:
        """Drives every search whose status is RUNNING (it was being driven when the server
        went down). A search another live process drives is skipped (its lease says so).
        Returns the ids now driven here."""
        started = []
        offset = 0
        while True:
            page = self.store.list_searches(offset=offset, limit=100, status=SearchStatus.RUNNING)
            for search in page.items:
                try:
                    self.start(search.id)
                    started.append(search.id)
                except (StateConflictError, LeaseLostError) as exc:
                    log.warning("search %s not resumed: %s", search.id, exc)
            offset += len(page.items)
            if not page.items or offset >= page.total:
                return started

    def shutdown(self, timeout: float = 30.0) -> None:
        """Asks every driver to detach (evaluators killed, work in flight left for the next
        start, status left RUNNING) and waits up to `timeout` seconds in all for them."""
        with self._lock:
            running = list(self._running.values())
        for entry in running:
            entry.driver.request_stop(detach=True)
        deadline = time.monotonic() + timeout
        for entry in running:
            entry.thread.join(max(0.0, deadline - time.monotonic()))
