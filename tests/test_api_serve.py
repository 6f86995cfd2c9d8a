"""`primer-search serve`: it upgrades the store, builds the manager and the app, resumes the
running searches (unless --no-resume), binds to 127.0.0.1 by default, and shuts the drivers
down. uvicorn and the DriverManager are replaced by doubles: nothing listens, nothing is driven
(the end-to-end test with Ray runs the real ones)."""

from __future__ import annotations

import sys
import types
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from service.cli import app
from service.store import SQLStore

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


class FakeDriverManager:
    instances: list[FakeDriverManager] = []

    def __init__(self, store: Any, ray_address: str | None = None, **kwargs: Any):
        self.store = store
        self.ray_address = ray_address
        self.calls: list[str] = []
        FakeDriverManager.instances.append(self)

    def start(self, search_id: int) -> None:
        self.calls.append(f"start {search_id}")

    def is_driving(self, search_id: int) -> bool:
        return False

    def resume_running_searches(self) -> list[int]:
        self.calls.append("resume")
        return [3]

    def shutdown(self, timeout: float) -> None:
        self.calls.append("shutdown")


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Replaces service.manager and uvicorn.run; returns what uvicorn.run was given."""
    FakeDriverManager.instances.clear()
    module = types.ModuleType("service.manager")
    module.DriverManager = FakeDriverManager  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "service.manager", module)
    seen: dict[str, Any] = {}

    def fake_run(asgi_app: Any, host: str, port: int, **kwargs: Any) -> None:
        seen.update(app=asgi_app, host=host, port=port)
        with TestClient(asgi_app) as client:  # the app serves with the store it was given
            seen["health"] = client.get("/api/v1/health").status_code

    monkeypatch.setattr(uvicorn, "run", fake_run)
    for name in ("PRIMER_SEARCH_DB", "PRIMER_SEARCH_HOST", "PRIMER_SEARCH_PORT", "RAY_ADDRESS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PRIMER_SEARCH_API_TOKEN", raising=False)
    return seen


def test_serve_wires_store_manager_and_app(served: dict[str, Any], tmp_path: Path) -> None:
    db = tmp_path / "new" / "store.db"
    result = CliRunner().invoke(app, ["serve", "--db", str(db), "--ray-address", "ray://x:1"])
    assert result.exit_code == 0, result.output
    assert served["host"] == "127.0.0.1" and served["port"] == 8000 and served["health"] == 200
    (manager,) = FakeDriverManager.instances
    assert manager.ray_address == "ray://x:1" and manager.calls == ["resume", "shutdown"]
    assert "resumed searches: [3]" in result.output
    with SQLStore(db) as store:  # the schema was created: opening without upgrade works
        assert store.list_searches().total == 0


def test_serve_without_resume_and_from_the_environment(
    served: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRIMER_SEARCH_DB", str(tmp_path / "env.db"))
    monkeypatch.setenv("PRIMER_SEARCH_PORT", "8123")
    monkeypatch.setenv("PRIMER_SEARCH_API_TOKEN", "t0ken")
    result = CliRunner().invoke(app, ["serve", "--no-resume", "--host", "0.0.0.0"])
    assert result.exit_code == 0, result.output
    assert served["port"] == 8123 and served["host"] == "0.0.0.0"
    assert served["health"] == 401  # the token is on
    assert FakeDriverManager.instances[0].calls == ["shutdown"]
    assert (tmp_path / "env.db").exists()


def test_serve_warns_when_exposed_without_a_token(served: dict[str, Any], tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["serve", "--db", str(tmp_path / "s.db"), "--host", "0.0.0.0"])
    assert result.exit_code == 0 and "without a token" in result.output


def test_serve_with_a_bad_setting_is_a_clean_error(
    served: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PRIMER_SEARCH_PORT", "eighty")
    result = CliRunner().invoke(app, ["serve"])
    assert result.exit_code == 1 and "PRIMER_SEARCH_PORT must be an integer" in result.output
    assert FakeDriverManager.instances == []
