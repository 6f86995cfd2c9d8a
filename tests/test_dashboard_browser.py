"""The dashboard (issue 6) in a real headless Chromium against a real server (uvicorn in a
thread, the real SQLStore on SQLite, create_app): the search page draws one point per evaluated
individual without console errors, its table pages and sorts, an individual opens with its
program, diff and lineage, the empty / all-failed / finished searches render, the launch form
creates a search, the token prompt works, and, with a real DriverManager on a local Ray training
micro candidates, the page follows a live search and its Pause button pauses it.

Screenshots go to a temporary folder, and to test-artifacts/ when PRIMER_SEARCH_ARTIFACTS is
set. Without Chromium the browser tests skip (they fail when CI=true); the HTTP-level checks at
the end need no browser.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_support import RecordingManager
from dashboard_support import (
    browser_missing,
    console_errors,
    empty_search,
    fill_search,
    full_page_screenshot,
    keep_artifact,
    open_ready,
    serve,
    start_chromium,
    wait_for,
)
from driver_support import (
    micro_config,
    micro_preset,  # noqa: F401 (a fixture)
    ray_cluster,  # noqa: F401 (a fixture)
    shared_cache_dir,
)
from fastapi.testclient import TestClient

from service.api import create_app
from service.settings import Settings
from service.store import SearchStatus, SQLStore

API = "/api/v1"
TOKEN = "dashboard-s3cret"


def require_browser() -> None:
    reason = browser_missing()
    if reason is None:
        return
    if os.environ.get("CI") == "true":  # CI must really run them
        pytest.fail(f"CI=true and {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    require_browser()
    driver = start_chromium()
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("screenshots")


def screenshot(driver: Any, shots: Path, name: str) -> Path:
    path = full_page_screenshot(driver, shots / f"dashboard-{name}.png")
    assert path.stat().st_size > 10_000
    keep_artifact(path)
    return path


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One server over a store holding a finished search of 60 evaluated candidates (two
    hurdles, failures, cache hits, rejections), a started search with no individual, and a
    failed search whose every candidate failed. The manager drives nothing."""
    store = SQLStore(tmp_path_factory.mktemp("site") / "dashboard.db", upgrade=True)
    ids = {
        "finished": fill_search(store, 60, name="finished search"),
        "empty": empty_search(store),
        "all_failed": fill_search(
            store, 8, name="all failed", all_failed=True, status=SearchStatus.FAILED
        ),
    }
    manager = RecordingManager()
    with serve(create_app(store, manager, Settings())) as url:
        yield {"url": url, "store": store, "manager": manager, **ids}
    store.close()


def api_get(url: str, path: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.get(url + API + path, headers=headers, timeout=30)
    response.raise_for_status()
    return response.json()


def data(driver: Any, selector: str, name: str) -> str:
    return str(driver.find_element("css selector", selector).get_attribute(f"data-{name}"))


def Select(element: Any) -> Any:  # noqa: N802 (selenium's class, imported when a browser runs)
    from selenium.webdriver.support.ui import Select as SeleniumSelect

    return SeleniumSelect(element)


def attributes(driver: Any, selector: str, name: str) -> list[str]:
    """`data-<name>` of every element matching `selector`, read in one script: a table the page
    re-renders meanwhile cannot leave a stale element behind."""
    script = "return [...document.querySelectorAll(arguments[0])].map(e => e.dataset[arguments[1]])"
    return list(driver.execute_script(script, selector, name))


def inner_text(driver: Any, selector: str) -> str:
    script = "return document.querySelector(arguments[0]).innerText"
    return str(driver.execute_script(script, selector))


def table_iids(driver: Any) -> list[int]:
    return [int(v) for v in attributes(driver, "#population-table tbody tr[data-iid]", "iid")]


def assert_no_console_errors(driver: Any) -> None:
    errors = console_errors(driver)
    assert errors == [], errors


# -- the search page -------------------------------------------------------------------------------


def test_the_search_page_draws_one_point_per_evaluated_individual(browser, site, shots):
    sid = site["finished"]
    open_ready(browser, f"{site['url']}/search/{sid}")
    assert_no_console_errors(browser)
    detail = api_get(site["url"], f"/searches/{sid}")
    points = api_get(site["url"], f"/searches/{sid}/points")
    assert detail["evaluated"] == 60 == points["count"]
    assert data(browser, "#fitness-chart", "points") == "60"
    done = sum(1 for s in points["status"] if s == "done")
    assert data(browser, "#pareto-params", "points") == str(done)
    assert data(browser, "#pareto-step", "points") == str(done)
    legend = browser.find_element("css selector", "#fitness-chart .chart-legend").text
    assert "stopped at hurdle 1" in legend and "passed all 2 hurdles" in legend
    assert "best so far" in legend
    assert len(table_iids(browser)) == 25
    assert browser.find_element("id", "page-info").text == f"1–25 of {detail['num_individuals']}"
    evaluated = browser.find_element("css selector", '[data-testid="card-evaluated"]').text
    assert evaluated.split("\n")[1:] == ["60", "of 60 · 100%"]
    mutations = browser.find_element("id", "mutation-stats").text
    statistics = api_get(site["url"], f"/searches/{sid}/statistics")
    for m in statistics["mutations"]:
        assert m["mutation_type"].replace("_", " ") in mutations
    assert "hurdle 1" in browser.find_element("id", "hurdle-stats").text
    # The wall-time view draws the same points.
    browser.find_element("css selector", '#fitness-x button[data-x="time"]').click()
    assert data(browser, "#fitness-chart", "points") == "60"
    assert_no_console_errors(browser)
    screenshot(browser, shots, "search-finished")


def test_the_table_pages_sorts_and_filters(browser, site):
    sid = site["finished"]
    open_ready(browser, f"{site['url']}/search/{sid}")
    first = table_iids(browser)
    total = api_get(site["url"], f"/searches/{sid}")["num_individuals"]
    browser.find_element("id", "page-next").click()
    wait_for(browser, lambda d: d.find_element("id", "page-info").text.startswith("26–50"))
    second = table_iids(browser)
    assert len(second) == 25 and not set(first) & set(second)
    browser.find_element("id", "page-last").click()
    wait_for(browser, lambda d: d.find_element("id", "page-info").text.endswith(f"of {total}"))
    assert browser.find_element("id", "page-next").get_attribute("disabled") is not None
    # Sorted by parameter count on the server: the page is the API's first page.
    browser.find_element("css selector", 'th[data-sort="parameter_count"]').click()
    expected = api_get(
        site["url"], f"/searches/{sid}/individuals?sort_by=parameter_count&order=asc&limit=25"
    )
    wait_for(browser, lambda d: table_iids(d) == [r["iid"] for r in expected["data"]])
    browser.find_element("css selector", 'th[data-sort="parameter_count"]').click()  # desc
    expected = api_get(
        site["url"], f"/searches/{sid}/individuals?sort_by=parameter_count&order=desc&limit=25"
    )
    wait_for(browser, lambda d: table_iids(d) == [r["iid"] for r in expected["data"]])
    # Only the failed ones.
    Select(browser.find_element("id", "table-status")).select_by_value("failed")
    failed = api_get(site["url"], f"/searches/{sid}/individuals?status=failed")["total"]
    wait_for(browser, lambda d: len(table_iids(d)) == failed)
    statuses = attributes(browser, "#population-table tbody tr[data-status]", "status")
    assert set(statuses) == {"failed"}
    assert_no_console_errors(browser)


def test_clicking_an_individual_opens_its_program_and_lineage(browser, site, shots):
    sid = site["finished"]
    open_ready(browser, f"{site['url']}/search/{sid}")
    link = browser.find_element("css selector", '[data-testid="individual-link"]')
    iid = int(link.text.lstrip("#"))
    link.click()
    wait_for(browser, lambda d: d.current_url.endswith(f"/search/{sid}/individual/{iid}"))
    wait_for(browser, lambda d: d.execute_script("return document.body.dataset.ready") == "1")
    assert_no_console_errors(browser)
    detail = api_get(site["url"], f"/searches/{sid}/individuals/{iid}")
    shown = browser.execute_script(
        "return [...document.querySelectorAll('#program-code .src')].map(e => e.textContent)"
    )
    assert shown == detail["code"].rstrip("\n").split("\n")  # the readable code, line by line
    assert "def main(x0, x1):" in shown
    diff = browser.find_elements("css selector", "#diff-code .line.ins, #diff-code .line.del")
    assert diff, "the mutation's lines are highlighted"
    lineage = api_get(site["url"], f"/searches/{sid}/individuals/{iid}/lineage")["data"]
    steps = browser.find_elements("css selector", '[data-testid="lineage-step"]')
    assert [int(str(s.get_attribute("data-iid"))) for s in steps] == [
        step["iid"] for step in reversed(lineage)
    ]
    assert browser.find_element("css selector", '[data-testid="lineage-seed"]').is_displayed()
    screenshot(browser, shots, "individual")
    if len(lineage) > 1:  # a step of the chain opens that ancestor
        ancestor = lineage[1]["iid"]
        browser.find_element("css selector", f'li[data-iid="{ancestor}"] a').click()
        wait_for(browser, lambda d: d.current_url.endswith(f"/individual/{ancestor}"))
        wait_for(browser, lambda d: d.execute_script("return document.body.dataset.ready") == "1")
        assert browser.find_element("id", "individual-title").text == f"Individual #{ancestor}"
    assert_no_console_errors(browser)


def test_a_point_of_the_fitness_chart_shows_its_individual_and_opens_it(browser, site):
    from selenium.webdriver.common.action_chains import ActionChains

    sid = site["finished"]
    open_ready(browser, f"{site['url']}/search/{sid}")
    points = api_get(site["url"], f"/searches/{sid}/points")
    i = points["status"].index("done")
    where = browser.execute_script(
        "return document.getElementById('fitness-chart').chart.position(arguments[0])", i
    )
    canvas = browser.find_element("css selector", "#fitness-chart canvas")
    size = canvas.size  # offsets are from the canvas's centre
    ActionChains(browser).move_to_element_with_offset(
        canvas, int(where["x"] - size["width"] / 2), int(where["y"] - size["height"] / 2)
    ).perform()
    tooltip = wait_for(browser, lambda d: d.find_element("css selector", ".chart-tooltip"))
    wait_for(browser, lambda d: tooltip.is_displayed())
    iid = points["iid"][i]
    assert tooltip.text.startswith(f"#{iid} · done"), tooltip.text
    ActionChains(browser).click().perform()
    wait_for(browser, lambda d: d.current_url.endswith(f"/search/{sid}/individual/{iid}"))
    wait_for(browser, lambda d: d.execute_script("return document.body.dataset.ready") == "1")
    assert_no_console_errors(browser)


@pytest.mark.parametrize("which", ["empty", "all_failed", "finished"])
def test_the_search_page_renders_every_state(browser, site, shots, which):
    sid = site[which]
    open_ready(browser, f"{site['url']}/search/{sid}")
    assert_no_console_errors(browser)
    text = browser.find_element("tag name", "main").text
    pause = browser.find_element("id", "btn-pause")
    if which == "empty":
        assert data(browser, "body", "state") == "empty"
        assert data(browser, "#fitness-chart", "points") == "0"
        assert "No candidate evaluated yet" in text
        assert "No individual yet." in text
        assert browser.find_element("id", "live").is_displayed()  # it polls
        assert pause.is_enabled()
    elif which == "all_failed":
        assert data(browser, "#fitness-chart", "points") == "8"
        assert "Every evaluated candidate failed" in text
        assert data(browser, "#pareto-params", "points") == "0"
        assert "No candidate was trained to the end." in text
        assert "nan" in browser.find_element("css selector", '[data-testid="failures"]').text
        assert "The search failed" in browser.find_element("id", "search-note").text
        assert not pause.is_enabled()
    else:
        assert "Finished" in browser.find_element("id", "search-note").text
        assert not pause.is_enabled()
        assert not browser.find_element("id", "btn-stop").is_enabled()
        assert not browser.find_element("id", "live").is_displayed()  # no more polling
    screenshot(browser, shots, f"state-{which}")


def test_an_unknown_search_says_so(browser, site):
    open_ready(browser, f"{site['url']}/search/999")
    assert data(browser, "body", "state") == "error"
    assert "no search 999" in browser.find_element("id", "page-error").text.lower()
    console_errors(browser)  # the 404 itself is logged by the browser


# -- the searches page and the launch form ---------------------------------------------------------


def test_the_searches_page_lists_them_and_launches_one(browser, site, shots):
    open_ready(browser, site["url"] + "/")
    assert_no_console_errors(browser)
    rows = attributes(browser, "#searches-table tbody tr[data-search-id]", "searchId")
    total = api_get(site["url"], "/searches")["total"]
    assert len(rows) == total
    finished = inner_text(browser, f'tr[data-search-id="{site["finished"]}"]')
    assert "60 / 60" in finished and "finished" in finished
    screenshot(browser, shots, "searches")

    form = browser.find_element("id", "launch-form")
    form.find_element("id", "f-name").clear()
    form.find_element("id", "f-name").send_keys("from the form")
    for field, value in [("f-population", "4"), ("f-tournament", "9"), ("f-evaluations", "3")]:
        form.find_element("id", field).clear()
        form.find_element("id", field).send_keys(value)
    form.find_element("id", "launch-submit").click()  # tournament > population: a 422
    errors = wait_for(browser, lambda d: d.find_element("id", "launch-errors").text)
    assert "tournament_size" in errors
    console_errors(browser)  # the 422 is logged by the browser

    form.find_element("id", "f-tournament").clear()
    form.find_element("id", "f-tournament").send_keys("2")
    form.find_element("id", "launch-submit").click()
    wait_for(browser, lambda d: re.search(r"/search/\d+$", d.current_url))
    sid = int(browser.current_url.rsplit("/", 1)[1])
    assert site["manager"].started[-1] == sid
    config = api_get(site["url"], f"/searches/{sid}")["config"]
    assert config["name"] == "from the form" and config["population_size"] == 4
    assert config["tournament_size"] == 2 and config["max_evaluations"] == 3
    wait_for(browser, lambda d: d.execute_script("return document.body.dataset.ready") == "1")
    assert_no_console_errors(browser)


# -- the token -------------------------------------------------------------------------------------


def test_with_a_token_the_page_asks_for_it_once(browser, site, tmp_path):
    store = SQLStore(tmp_path / "token.db", upgrade=True)
    sid = fill_search(store, 5, name="guarded")
    app = create_app(store, RecordingManager(), Settings(api_token=TOKEN))
    with serve(app) as url:
        browser.get(url + f"/search/{sid}")
        dialog = wait_for(browser, lambda d: d.find_element("id", "token-dialog"))
        dialog.find_element("id", "token-input").send_keys(TOKEN)
        dialog.find_element("id", "token-save").click()
        wait_for(browser, lambda d: d.execute_script("return document.body.dataset.ready") == "1")
        assert data(browser, "#fitness-chart", "points") == "5"
        assert browser.find_element("id", "search-title").text == "guarded"
        console_errors(browser)  # the first, refused requests are logged
        open_ready(browser, url + "/")  # the token is kept: no prompt
        assert not browser.find_elements("id", "token-dialog")
        assert_no_console_errors(browser)
        browser.execute_script("localStorage.clear()")
    store.close()


# -- live: a real search driven by Ray -------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.usefixtures("micro_preset", "ray_cluster")
def test_the_page_follows_a_live_search_and_its_pause_button_pauses_it(browser, tmp_path, shots):
    from service.manager import DriverManager

    store = SQLStore(tmp_path / "live.db", upgrade=True)
    manager = DriverManager(store, cache_dir=shared_cache_dir(), poll_seconds=0.2)
    config = micro_config(name="live", evaluators=1, max_evaluations=12, population_size=3)
    try:
        with serve(create_app(store, manager, Settings())) as url:
            created = httpx.post(f"{url}{API}/searches", json=config, timeout=60)
            assert created.status_code == 201, created.text
            sid = created.json()["id"]
            open_ready(browser, f"{url}/search/{sid}")
            assert browser.find_element("id", "live").is_displayed()
            # The points arrive while the page is open: no reload.
            wait_for(browser, lambda d: int(data(d, "#fitness-chart", "points")) >= 2, 180)
            assert_no_console_errors(browser)
            browser.find_element("id", "btn-pause").click()
            wait_for(browser, lambda d: "paused" in d.find_element("id", "search-status").text)
            assert api_get(url, f"/searches/{sid}")["status"] == "paused"
            deadline = time.monotonic() + 120
            while manager.is_driving(sid) and time.monotonic() < deadline:
                time.sleep(0.2)  # the driver finishes what was in flight
            assert not manager.is_driving(sid)
            evaluated = api_get(url, f"/searches/{sid}")["evaluated"]
            assert 2 <= evaluated < 12
            open_ready(browser, f"{url}/search/{sid}")
            assert data(browser, "#fitness-chart", "points") == str(evaluated)
            assert browser.find_element("id", "btn-resume").is_enabled()
            assert_no_console_errors(browser)
            screenshot(browser, shots, "search-live-paused")
    finally:
        manager.shutdown(30)
        store.close()


# -- HTTP: what is open without the token, and the caching -----------------------------------------


@pytest.fixture
def guarded(tmp_path: Path) -> Iterator[TestClient]:
    store = SQLStore(tmp_path / "guarded.db", upgrade=True)
    app = create_app(store, RecordingManager(), Settings(api_token=TOKEN))
    yield TestClient(app)
    store.close()


def asset_paths(page: str) -> list[str]:
    return re.findall(r'(?:href|src)="(/static/[^"]+)"', page)


def test_pages_and_assets_are_open_without_the_token_and_nothing_else(guarded):
    page = guarded.get("/search/3")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-cache"
    assert 'data-search-id="3"' in page.text
    for path in ["/", "/search/3/individual/17"]:
        assert guarded.get(path).status_code == 200, path
    assets = asset_paths(page.text)
    assert {Path(a).name for a in assets} >= {"dashboard.css", "search.js", "api.js", "icon.svg"}
    for asset in assets:
        response = guarded.get(asset)
        assert response.status_code == 200, asset
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert guarded.get(assets[0]).headers["content-type"].startswith(("image/svg", "text/"))
    # The API, the docs, other methods and other paths stay guarded.
    for path in [f"{API}/searches", f"{API}/searches/3/points", "/docs", "/search", "/nowhere"]:
        assert guarded.get(path).status_code == 401, path
    assert guarded.post("/").status_code == 401
    assert guarded.get("/search/3/../../api/v1/searches").status_code in (401, 404)
    ok = {"Authorization": f"Bearer {TOKEN}"}
    assert guarded.get(f"{API}/searches", headers=ok).status_code == 200


def test_an_asset_of_another_version_is_served_uncached_and_unknown_ones_are_404(guarded):
    version = asset_paths(guarded.get("/").text)[0].split("/")[2]
    old = guarded.get("/static/0123456789ab/dashboard.css")
    assert old.status_code == 200 and old.headers["cache-control"] == "no-cache"
    assert guarded.get(f"/static/{version}/nothing.js").status_code == 404
    assert guarded.get(f"/static/{version}/../pages.py").status_code in (401, 404)
    js = guarded.get(f"/static/{version}/search.js")
    assert js.headers["content-type"].startswith("text/javascript")
    assert "cdn" not in js.text.lower() and "https://" not in js.text  # everything is local
