"""Schema-driven fuzzing of the whole HTTP API (schemathesis over the app's own OpenAPI): whatever the
generated requests hold, no answer is a 5xx. Bounded by examples per operation, not by time."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.core.result import Ok

from snapbuy.api import create_app
from snapbuy.config import Settings
from snapbuy.search import SearchService

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 100


def test_no_generated_request_gets_a_server_error(settings: Settings, sample_service: SearchService) -> None:
    app = create_app(settings, sample_service)
    seen: dict[str, int] = {}
    with TestClient(app):  # runs the lifespan: the service is installed before any case is sent
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        operations = []
        for result in schema.get_all_operations():
            assert isinstance(result, Ok), f"the app's own OpenAPI does not load: {result}"
            operations.append(result.ok())
        for operation in operations:

            @given(case=operation.as_strategy())
            @hypothesis_settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                suppress_health_check=list(HealthCheck),
                derandomize=True,
            )
            def call(case: Any) -> None:
                response = case.call()
                label = f"{case.method} {case.path}"
                seen[label] = seen.get(label, 0) + 1
                assert response.status_code < 500, f"{label}: {response.status_code} {response.text[:300]}"

            call()
    assert "POST /v1/search" in seen and "GET /v1/products/{sku}/similar" in seen
    assert sum(seen.values()) >= len(operations)
