"""Unknown query parameters (api/query_params.py): refused with 422, naming exactly what the route takes."""

from __future__ import annotations

from typing import Annotated

import pytest
from fastapi import Depends, FastAPI, Query
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from snapbuy.api.query_params import query_param_names
from tests.api.helpers import assert_error, photo_png


def test_a_routes_own_and_its_dependencies_parameters_are_named_once_in_order() -> None:
    def shared(k: Annotated[int, Query()] = 1, q: Annotated[str, Query()] = "") -> int:
        return k

    app = FastAPI()

    @app.get("/v1/x/{sku}")
    def route(sku: str, q: Annotated[str, Query()] = "", k: Annotated[int, Depends(shared)] = 1) -> None:
        return None

    [api_route] = [r for r in app.routes if isinstance(r, APIRoute)]
    assert query_param_names(api_route.dependant) == ["q", "k"]


@pytest.mark.parametrize(
    ("method", "route", "url"),
    [
        ("post", "/v1/search", "/v1/search"),
        ("get", "/v1/search", "/v1/search?q=watch"),
        ("get", "/v1/products/{sku}/similar", "/v1/products/WAT-1-BLACK/similar"),
        ("get", "/v1/products/{sku}", "/v1/products/WAT-1-BLACK"),
        ("get", "/v1/index", "/v1/index"),
    ],
)
def test_unknown_query_parameters_are_refused_naming_the_accepted_ones(
    client: TestClient, method: str, route: str, url: str
) -> None:
    # What the route takes, as its OpenAPI document says: the refusal must name exactly those.
    operation = client.get("/openapi.json").json()["paths"][route][method]
    documented = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
    url += f"{'&' if '?' in url else '?'}colour=red&max-price=10"
    if method == "post":
        response = client.post(url, files={"image": ("photo.png", photo_png(), "image/png")})
    else:
        response = client.get(url)
    message = assert_error(response, 422, "invalid_parameter")
    assert "unknown query parameters 'colour', 'max-price'" in message
    takes = message.split(" takes: ")[1]
    assert (set(takes.split(", ")) if takes != "none" else set()) == documented
    if route == "/v1/search" and method == "post":
        filters = {"k", "category", "min_price", "max_price", "include_out_of_stock", "brand", "availability"}
        assert documented == {*filters, "offset", "collapse", "box", "q", "text_weight", "max_products"}
