"""Property test of the whole API against its own OpenAPI spec (schemathesis): whatever a
client sends, the answer is never a 500 and matches the spec. Skipped without schemathesis (an
optional extra: `pip install schemathesis`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

schemathesis = pytest.importorskip("schemathesis")

from api_support import RecordingManager, fill_search  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from service.api import create_app  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.store import SQLStore  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


def test_no_request_makes_a_server_error(tmp_path: Path) -> None:
    with SQLStore(tmp_path / "store.db", upgrade=True) as store:
        fill_search(store)  # search 1 exists, so some generated ids hit real rows
        app = create_app(store, RecordingManager(), Settings())
        schema = schemathesis.openapi.from_asgi("/api/v1/openapi.json", app)
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 14
        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=int(os.environ.get("API_SCHEMA_EXAMPLES", "15")),
                deadline=None,
                suppress_health_check=list(HealthCheck),
                database=None,
            )
            def no_server_error(case: Any) -> None:
                case.call_and_validate(checks=[not_a_server_error])

            no_server_error()
