"""`primer-search status / list / show / export`: read a store given by --db or
PRIMER_SEARCH_DB; unknown ids end in a clean message and exit status 1."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from api_support import FITNESS, fill_search
from typer.testing import CliRunner

from primer_search.dna import parse_dna
from primer_search.render import render
from service.cli import app
from service.store import SearchStatus, SQLStore

runner = CliRunner()


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store with the API tests' filled search (id 1) and a finished one (id 2)."""
    path = str(tmp_path_factory.mktemp("cli") / "store.db")
    with SQLStore(path, upgrade=True) as store:
        fill_search(store)
        done = store.create_search("finished one", {"budget": "5s"}, store.get_search(1).seed_dna)
        store.update_status(done, SearchStatus.FINISHED, {SearchStatus.CREATED})
    return path


def invoke(db: str, *args: str):
    result = runner.invoke(app, [*args, "--db", db])
    return result


def assert_clean_failure(result, words: str, code: int = 1) -> None:
    assert result.exit_code == code, result.output
    assert isinstance(result.exception, SystemExit)
    assert words in result.output


def test_list(db: str) -> None:
    result = invoke(db, "list")
    assert result.exit_code == 0, result.output
    assert "2 search(es)" in result.output and "filled" in result.output
    page = json.loads(invoke(db, "list", "--json", "--status", "finished").output)
    assert page["total"] == 1 and page["data"][0]["name"] == "finished one"
    assert_clean_failure(invoke(db, "list", "--status", "sleeping"), "sleeping", code=2)


def test_status_of_one_search_and_of_the_active_ones(db: str) -> None:
    result = invoke(db, "status", "1")
    assert result.exit_code == 0, result.output
    assert "search 1 (filled): running" in result.output
    assert "evaluated 8 (done 6, stopped at a hurdle 1, failed 1)" in result.output
    assert "best fitness 4.1000 (individual 9)" in result.output
    (active,) = json.loads(invoke(db, "status", "--json").output)  # the finished one is not
    assert active["id"] == 1 and active["counts"]["cache_hits"] == 1


def test_show_a_search_and_an_individual(db: str) -> None:
    search = invoke(db, "show", "1")
    assert search.exit_code == 0 and "population_size: 4" in search.output
    one = invoke(db, "show", "1", "6")
    assert one.exit_code == 0, one.output
    assert "individual 6 of search 1: done" in one.output
    assert "parent: individual 4" in one.output
    with SQLStore(db) as store:
        dna = store.get_individual(1, 6).dna
    assert render(parse_dna(dna)) in one.output
    detail = json.loads(invoke(db, "show", "1", "6", "--json").output)
    assert detail["dna"] == dna and detail["fitness"] == FITNESS[6]


def test_export_as_json_code_and_to_a_file(db: str, tmp_path: Path) -> None:
    exported = json.loads(invoke(db, "export", "1", "--top", "3").output)
    assert [p["iid"] for p in exported["programs"]] == [9, 6, 4]
    code = invoke(db, "export", "1", "--top", "1", "--format", "code").output
    assert code.startswith("# search 1 (filled): 1 best program(s)")
    target = tmp_path / "best.json"
    assert invoke(db, "export", "1", "-o", str(target)).exit_code == 0
    assert json.loads(target.read_text())["programs"][0]["iid"] == 9
    assert_clean_failure(invoke(db, "export", "1", "--format", "pdf"), "pdf", code=2)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["status", "7"], "no search 7"),
        (["show", "7"], "no search 7"),
        (["show", "1", "99"], "no individual 99 in search 1"),
        (["export", "7"], "no search 7"),
    ],
)
def test_unknown_ids_are_clean_errors(db: str, args: list[str], words: str) -> None:
    assert_clean_failure(invoke(db, *args), words)


def test_the_db_comes_from_the_environment(db: str) -> None:
    result = runner.invoke(app, ["list", "--json"], env={"PRIMER_SEARCH_DB": db})
    assert json.loads(result.output)["total"] == 2


def test_a_bad_database_url_is_a_clean_error() -> None:
    result = runner.invoke(app, ["list", "--db", "mysql://nowhere/x"])
    assert_clean_failure(result, "unsupported database URL")


def test_inspecting_does_not_import_tensorflow_or_ray(db: str) -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from service.cli import app\n"
        "for args in (['list'], ['status', '1'], ['show', '1', '9'], ['export', '1']):\n"
        f"    assert CliRunner().invoke(app, [*args, '--db', {db!r}]).exit_code == 0, args\n"
        "print(sorted(m for m in ('tensorflow', 'ray') if m in sys.modules))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-W", "ignore", "-c", code], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().endswith("[]")


def test_the_demo_ends_with_the_best_program_and_where_to_see_the_dashboard(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from service.cli.demo import _show_best

    db = str(tmp_path / "demo.db")
    with SQLStore(db, upgrade=True) as store:
        fill_search(store)
        search = store.get_search(1)
        assert search.best_iid is not None
        best = store.get_individual(1, search.best_iid)
    _show_best(db)
    out = capsys.readouterr().out
    assert best.dna is not None
    assert f"best program (#{best.iid}" in out
    assert render(parse_dna(best.dna), show_dead=False) in out
    assert f"primer-search serve --db {db}, then http://127.0.0.1:8000/search/1" in out
