"""Shared test set-up. Keep fixtures here few and general; a test file's own helpers live in it."""

from __future__ import annotations

import os

# Before TensorFlow is imported anywhere: quiet logs, and a deterministic CPU run.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("TF_DETERMINISTIC_OPS", "1")

import pytest  # noqa: E402


@pytest.fixture
def cache_dir(tmp_path):
    """A private cache folder (tokenizers, shards) so tests never touch the user's cache."""
    path = tmp_path / "cache"
    path.mkdir()
    return path


# -- an empty, upgraded store on each backend (the API's and the dashboard's tests) ----------------


@pytest.fixture(scope="session")
def template(tmp_path_factory):
    """An upgraded SQLite database that each test copies (cheaper than migrating each time)."""
    from service.store import upgrade_schema

    path = tmp_path_factory.mktemp("store") / "template.db"
    upgrade_schema(path)
    return path


@pytest.fixture(scope="session")
def postgres_template_url():
    """An upgraded schema in the PostgreSQL test database; skips with a reason without one."""
    from api_support import postgres_template
    from store_support import POSTGRES_SKIP_REASON, postgres_url

    if postgres_url() is None:
        pytest.skip(POSTGRES_SKIP_REASON)
    with postgres_template() as url:
        yield url


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, template, tmp_path):
    """An empty store, once on SQLite and once on PostgreSQL. Test files with a store of
    their own (one backend, or a URL fixture) define `store` themselves, which wins."""
    from api_support import opened_store

    source = template
    if request.param == "postgresql":
        source = request.getfixturevalue("postgres_template_url")
    with opened_store(source, tmp_path) as opened:
        yield opened


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_url(request, tmp_path):
    """An empty database on each backend, as a URL string (PostgreSQL skipped without its URL),
    for tests of schema creation and of migrations that build an old schema themselves."""
    from store_support import POSTGRES_SKIP_REASON, postgres_schema, postgres_url

    if request.param == "sqlite":
        yield str(tmp_path / "old.db")
        return
    base = postgres_url()
    if base is None:
        pytest.skip(POSTGRES_SKIP_REASON)
    with postgres_schema(base) as url:
        yield url.render_as_string(hide_password=False)
