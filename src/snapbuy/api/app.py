"""Application factory: settings in, FastAPI app out; the lifespan loads model and index."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from snapbuy import __version__
from snapbuy.api.access import AccessControl, RateLimiter, parse_api_keys
from snapbuy.api.admin import admin_router
from snapbuy.api.deadlines import BodyDeadline
from snapbuy.api.limiter import SearchLimiter
from snapbuy.api.live_service import ServiceHolder, error_text
from snapbuy.api.metrics import install_metrics
from snapbuy.api.phone_page import phone_page_router
from snapbuy.api.product_images import product_images_router
from snapbuy.api.reload_watch import ReloadWatcher
from snapbuy.api.request_log import RequestLog
from snapbuy.api.routes import router
from snapbuy.config import Settings, get_settings
from snapbuy.errors import SnapbuyError, clip
from snapbuy.search import SearchService

log = logging.getLogger(__name__)


def _error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(
        status_code=status, content={"error": {"code": code, "message": message}}, headers=headers
    )


def _load_in_background(holder: ServiceHolder, settings: Settings) -> threading.Thread:
    """Load off the event loop so /livez answers at once and /readyz says when loading is done."""

    def load() -> None:
        from snapbuy.loading import open_service

        try:
            holder.install(open_service(settings.index, settings, serving=True), owned=True)
        except Exception as exc:  # report, don't crash the process silently
            holder.load_error = error_text(exc)
            if isinstance(exc, SnapbuyError):
                log.error("cannot serve: %s", exc.message)
            else:
                log.exception("cannot serve: loading failed")

    thread = threading.Thread(target=load, name="snapbuy-load", daemon=True)
    thread.start()
    return thread


def _install_access(app: FastAPI, settings: Settings) -> None:
    """API keys and rate limits, then CORS outermost, so that refusals carry CORS headers too."""
    keys = parse_api_keys(settings.api_keys)
    limiter = RateLimiter(settings.rate_limit, settings.rate_burst) if settings.rate_limit > 0 else None
    if keys or limiter is not None:
        app.add_middleware(AccessControl, keys=keys, limiter=limiter)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type"],
            expose_headers=["Retry-After"],
        )


def service_holder(settings: Settings) -> ServiceHolder:
    """A holder that reloads the settings' index with the served service's model."""

    def load_next(current: SearchService) -> SearchService:
        from snapbuy.loading import reopen_service

        return reopen_service(current, settings.index, settings)

    return ServiceHolder(settings.index, load_next)


def create_app(
    settings: Settings | None = None, service: SearchService | None = None, *, owns_service: bool = False
) -> FastAPI:
    """Pass a ready `service` (CLI, tests) or let the lifespan load one from `settings.index`. An
    injected service is closed by the app only with `owns_service` (once no request uses it); versions
    the app loads itself, at start or on a reload, are always the app's to close."""
    settings = settings or get_settings()
    holder = service_holder(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if service is None:
            _load_in_background(holder, settings)
        else:
            holder.install(service, owned=owns_service)
        watcher = ReloadWatcher(holder, settings.reload_interval)
        watcher.start()
        app.state.reload_watcher = watcher
        try:
            yield
        finally:
            await watcher.stop()
            holder.close()

    docs = settings.api_docs
    app = FastAPI(
        title="snapbuy",
        version=__version__,
        summary="Photograph a product; get the catalog's lookalikes across price tiers.",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.state.settings = settings
    app.state.services = holder
    limiter = SearchLimiter(settings.max_concurrent_searches, settings.max_queued_searches)
    app.state.search_limiter = limiter
    app.include_router(router)
    app.include_router(product_images_router)
    app.include_router(admin_router)
    app.include_router(phone_page_router)
    # Middleware added later runs outside what was added before. The body deadline runs inside the
    # access checks and CORS (its 408s carry CORS headers); metrics outside them all, so refusals
    # (401, 429, 408) are counted too.
    app.add_middleware(
        BodyDeadline, idle_seconds=settings.body_timeout, total_seconds=settings.upload_deadline
    )
    _install_access(app, settings)
    app.state.metrics = (
        install_metrics(
            app,
            holder.served_manifest,
            lambda: (limiter.running, limiter.waiting),
            holder.served_embedder,
        )
        if settings.metrics
        else None
    )
    app.add_middleware(RequestLog)  # outermost: every answer, refusals included, is logged with its id

    @app.exception_handler(SnapbuyError)
    async def snapbuy_error(_: Request, exc: SnapbuyError) -> JSONResponse:
        if exc.http_status >= 500:
            log.error("%s: %s", exc.code, exc.message)
        return _error(exc.http_status, exc.code, exc.message, exc.http_headers())

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        # Each part is clipped: a message may quote the request's value, which may be huge.
        parts = [clip(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}") for e in exc.errors()[:10]]
        return _error(422, "invalid_parameter", "; ".join(parts))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error(exc.status_code, code, str(exc.detail))

    @app.exception_handler(Exception)
    async def unexpected_error(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")  # the request body is never part of the log record
        return _error(500, "internal_error", "internal error")

    return app
