"""Admin routes, enabled by SNAPBUY_ADMIN_TOKEN: POST /v1/admin/reload serves a newly published
index version now instead of at the next poll. Without the setting the route answers 404, as if absent."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Header
from fastapi.concurrency import run_in_threadpool

from snapbuy.api.routes import HolderDep, SettingsDep
from snapbuy.api.schemas import ErrorResponse, ReloadResponse
from snapbuy.config import Settings
from snapbuy.errors import NotFoundError, NotReadyError, UnauthorizedError

admin_router = APIRouter()
ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (401, 404, 503)
}


def check_admin(settings: Settings, authorization: str | None) -> None:
    """404 when admin routes are off, 401 unless the header is `Bearer <SNAPBUY_ADMIN_TOKEN>`."""
    if settings.admin_token is None or not settings.admin_token.get_secret_value():
        raise NotFoundError("not found")
    scheme, _, given = (authorization or "").partition(" ")
    expected = settings.admin_token.get_secret_value().encode()
    if not (scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), expected)):
        raise UnauthorizedError("admin routes need the header Authorization: Bearer <SNAPBUY_ADMIN_TOKEN>")


@admin_router.post("/v1/admin/reload", response_model=ReloadResponse, responses=ADMIN_ERRORS)
async def reload_index(
    holder: HolderDep, settings: SettingsDep, authorization: Annotated[str | None, Header()] = None
) -> ReloadResponse:
    """Load the index's live version now if it is not the one served; answers the version served."""
    check_admin(settings, authorization)
    reloaded = await run_in_threadpool(holder.reload)
    version = holder.version
    if version is None:
        raise NotReadyError(holder.load_error or "model and index are still loading")
    return ReloadResponse(version=version, reloaded=reloaded, last_reload_error=holder.last_reload_error)
