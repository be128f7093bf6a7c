"""Schema-driven fuzzing of the whole HTTP API (schemathesis over the app's own OpenAPI): whatever the
generated requests hold, no answer is a 5xx. Bounded by examples per operation, not by time."""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient

from snapbuy.api import create_app
from snapbuy.config import Settings
from snapbuy.search import SearchService
from tests.schema_fuzz import fuzz_every_operation

pytestmark = pytest.mark.slow

EXAMPLES_PER_OPERATION = 100


def test_no_generated_request_gets_a_server_error(settings: Settings, sample_service: SearchService) -> None:
    app = create_app(settings, sample_service)
    with TestClient(app):  # runs the lifespan: the service is installed before any case is sent
        schema = schemathesis.openapi.from_asgi("/openapi.json", app)
        seen = fuzz_every_operation(schema, lambda case: case.call(), EXAMPLES_PER_OPERATION)
    assert "POST /v1/search" in seen and "GET /v1/products/{sku}/similar" in seen
