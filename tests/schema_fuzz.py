"""Schemathesis over every operation of an OpenAPI schema: generated requests, none answered 5xx.
Bounded by examples per operation (derandomised), never by time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.core.result import Ok


def fuzz_every_operation(schema: Any, send: Callable[[Any], Any], examples: int) -> dict[str, int]:
    """Send `examples` generated cases of each operation with `send(case)`, asserting each answer is
    below 500; returns how many cases each "METHOD path" got."""
    seen: dict[str, int] = {}
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), f"the OpenAPI schema does not load: {result}"
        operations.append(result.ok())
    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=examples,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            derandomize=True,
        )
        def call(case: Any) -> None:
            response = send(case)
            label = f"{case.method} {case.path}"
            seen[label] = seen.get(label, 0) + 1
            assert response.status_code < 500, f"{label}: {response.status_code} {response.text[:300]}"

        call()
    assert sum(seen.values()) >= len(operations)
    return seen
