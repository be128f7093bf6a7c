"""A query parameter that a route does not take is refused with 422 naming the ones it does, so a
misspelt or unsupported filter (`colour=`, `max-price=`) never silently widens an answer."""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from snapbuy.errors import InvalidParameterError


def query_param_names(dependant: Dependant) -> list[str]:
    """The query parameters a route takes, its dependencies' included, in the order declared."""
    names = [param.alias for param in dependant.query_params]
    for dependency in dependant.dependencies:
        names += [name for name in query_param_names(dependency) if name not in names]
    return names


def reject_unknown_query_params(request: Request) -> None:
    """For the /v1/ routes: raises InvalidParameterError when the query string names a parameter
    the matched route does not take."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute) or not route.path.startswith("/v1/"):
        return
    accepted = query_param_names(route.dependant)
    unknown = sorted({name for name in request.query_params if name not in accepted})
    if unknown:
        named = ", ".join(repr(name[:40]) for name in unknown[:5])
        takes = ", ".join(accepted) if accepted else "none"
        raise InvalidParameterError(
            f"unknown query parameter{'s' if len(unknown) > 1 else ''} {named}; {route.path} takes: {takes}"
        )
