"""Screenshots of the dashboard for the README, taken from a real (small) search.

    .venv/bin/python tools/dashboard_screenshots.py [--evaluations 48] [--out docs/screenshots]

Runs a search on a local Ray with real TensorFlow training, the tests' micro preset
(tests/driver_support.py: one layer, about 50K parameters, a few seconds a candidate, on the
built-in corpus) and two halving hurdles, served by the real app (uvicorn, SQLite in a temporary
folder). When the search has finished, headless Chromium (Debian's, as in the browser tests)
saves the search page as search.png, and as individual.png the page of the one among its ten
best individuals with the longest lineage (the most mutations to show).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests"))
from dashboard_support import (  # noqa: E402
    browser_missing,
    full_page_screenshot,
    open_ready,
    serve,
    start_chromium,
)
from driver_support import micro_config, register_micro_preset, shared_cache_dir  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=64)
    parser.add_argument("--budget", default="80steps", help="per candidate")
    parser.add_argument("--out", default=str(REPO_ROOT / "docs" / "screenshots"))
    parser.add_argument("--timeout", type=float, default=1800, help="seconds for the search")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    missing = browser_missing()
    if missing:
        sys.exit(missing)
    register_micro_preset()
    from service.api import create_app
    from service.manager import DriverManager
    from service.runtime import init_ray
    from service.settings import Settings
    from service.store import SQLStore

    init_ray(num_cpus=2)
    config = micro_config(
        name="micro search, two hurdles",
        budget=args.budget,
        hurdles=2,
        population_size=10,
        tournament_size=4,
        max_evaluations=args.evaluations,
        evaluators=2,
        rng_seed=3,
    )
    out = Path(args.out)
    with tempfile.TemporaryDirectory() as folder:
        store = SQLStore(Path(folder) / "search.db", upgrade=True)
        manager = DriverManager(store, cache_dir=shared_cache_dir(), poll_seconds=0.2)
        try:
            with serve(create_app(store, manager, Settings())) as url:
                created = httpx.post(f"{url}/api/v1/searches", json=config, timeout=60)
                created.raise_for_status()
                sid = created.json()["id"]
                deadline = time.monotonic() + args.timeout
                while manager.is_driving(sid) and time.monotonic() < deadline:
                    time.sleep(1)
                    print(f"\r{store.get_search(sid).num_finished} finished", end="", flush=True)
                print()
                best = store.best(sid, 10)
                shown = max(best, key=lambda r: (len(store.lineage(sid, r.iid)), -r.fitness))
                driver = start_chromium()
                try:
                    open_ready(driver, f"{url}/search/{sid}")
                    time.sleep(0.5)
                    print(full_page_screenshot(driver, out / "search.png"))
                    open_ready(driver, f"{url}/search/{sid}/individual/{shown.iid}")
                    print(full_page_screenshot(driver, out / "individual.png"))
                finally:
                    driver.quit()
        finally:
            manager.shutdown(30)
            store.close()


if __name__ == "__main__":
    main()
