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
from snapbuy.api.deadlines import BodyDeadline
from snapbuy.api.metrics import install_metrics
from snapbuy.api.routes import router
from snapbuy.config import Settings, get_settings
from snapbuy.errors import SnapbuyError
from snapbuy.search import SearchService

log = logging.getLogger(__name__)


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse(status_code=status, content={"error": {"code": code, "message": message}})


def _load_in_background(app: FastAPI, settings: Settings) -> threading.Thread:
    """Load off the event loop so /livez answers at once and /readyz says when loading is done."""

    def load() -> None:
        from snapbuy.loading import open_service

        try:
            app.state.service = open_service(settings.index, settings)
        except SnapbuyError as exc:
            app.state.load_error = exc.message
            log.error("cannot serve: %s", exc.message)
        except Exception as exc:  # report, don't crash the process silently
            app.state.load_error = f"{type(exc).__name__}: {exc}"
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


def create_app(settings: Settings | None = None, service: SearchService | None = None) -> FastAPI:
    """Pass a ready `service` (CLI, tests) or let the lifespan load one from `settings.index`."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        loads_own = app.state.service is None
        if loads_own:
            _load_in_background(app, settings)
        yield
        # Close only what this app loaded: an injected service belongs to its caller (CLI, tests),
        # which may keep using it after the server stops.
        if loads_own and app.state.service is not None:
            app.state.service.close()
            app.state.service = None

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
    app.state.service = service
    app.state.load_error = None
    app.include_router(router)
    app.state.metrics = install_metrics(app, lambda: app.state.service) if settings.metrics else None
    # Added first, so it runs inside the access checks and CORS (its 408s carry CORS headers).
    app.add_middleware(
        BodyDeadline, idle_seconds=settings.body_timeout, total_seconds=settings.upload_deadline
    )
    _install_access(app, settings)

    @app.exception_handler(SnapbuyError)
    async def snapbuy_error(_: Request, exc: SnapbuyError) -> JSONResponse:
        if exc.http_status >= 500:
            log.error("%s: %s", exc.code, exc.message)
        return _error(exc.http_status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
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
