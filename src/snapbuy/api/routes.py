"""Thin routes over SearchService. Model work runs in the thread pool, never on the event loop."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from snapbuy.api.limiter import SearchLimiter
from snapbuy.api.live_service import ServiceHolder
from snapbuy.api.query_params import reject_unknown_query_params
from snapbuy.api.redact import redacted
from snapbuy.api.schemas import (
    ErrorResponse,
    HealthResponse,
    IndexSummary,
    ItemOut,
    ReadyResponse,
    SearchResponse,
)
from snapbuy.api.upload import read_image_upload
from snapbuy.config import Settings
from snapbuy.crops import parse_normalised_box
from snapbuy.deadline import Deadline, check
from snapbuy.errors import InvalidParameterError
from snapbuy.imaging import decode_image
from snapbuy.search import SearchOptions, SearchResult, SearchService
from snapbuy.search.results import availability_list

router = APIRouter(dependencies=[Depends(reject_unknown_query_params)])
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse} for status in (404, 413, 415, 422, 503)
}
SEARCH_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    504: {
        "model": ErrorResponse,
        "description": "The search ran past its deadline (deadline_exceeded, with Retry-After).",
    },
}
PHOTO_ERRORS: dict[int | str, dict[str, Any]] = {
    **SEARCH_ERRORS,
    499: {"model": ErrorResponse, "description": "The client disconnected during its upload."},
    503: {
        "model": ErrorResponse,
        "description": "Not ready (not_ready), or too many photo searches running and waiting "
        "(overloaded, with Retry-After).",
    },
}
# The photo route parses its multipart body itself (api/upload.py, to keep photos off disk and cut
# oversized uploads short), so FastAPI cannot see the field: it is described here for the OpenAPI
# schema, /docs' "Try it out" and generated clients.
PHOTO_REQUEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["image"],
                "properties": {
                    "image": {
                        "type": "string",
                        "format": "binary",
                        "description": "The photo: JPEG, PNG, WebP or HEIC, judged from its bytes.",
                    }
                },
            }
        }
    },
}


def search_deadline(settings: Settings) -> Deadline | None:
    """The deadline of a search whose request has just been read; None when switched off."""
    return Deadline(settings.search_deadline) if settings.search_deadline > 0 else None


def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_holder(request: Request) -> ServiceHolder:
    holder: ServiceHolder = request.app.state.services
    return holder


async def get_service(holder: Annotated[ServiceHolder, Depends(get_holder)]) -> AsyncIterator[SearchService]:
    """The served service, leased for the whole request (thread-pool work included): a version
    swapped in meanwhile does not close it under the request."""
    with holder.lease() as service:
        yield service


ServiceDep = Annotated[SearchService, Depends(get_service)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
HolderDep = Annotated[ServiceHolder, Depends(get_holder)]
KParam = Annotated[int | None, Query(ge=1, description="results per list (default 4)")]
CategoryParam = Annotated[str | None, Query(description="category to search; predicted when absent")]
PriceParam = Annotated[float | None, Query(ge=0, description="bound on the price paid, inclusive")]
OutOfStockParam = Annotated[bool, Query(description="also return out-of-stock products (hidden by default)")]


BrandParam = Annotated[str | None, Query(max_length=200, description="only this brand's products (any case)")]
AvailabilityParam = Annotated[
    str | None,
    Query(
        max_length=200,
        description="only products of these availabilities, comma-separated: in_stock, out_of_stock, "
        "preorder, backorder (naming out_of_stock includes those)",
    ),
]
CollapseParam = Annotated[
    bool,
    Query(
        description="variants of one design (one item_group_id) count once, by their best-scoring "
        "variant, which lists the others; false: every variant on its own"
    ),
]
OffsetParam = Annotated[
    int, Query(ge=0, description="skip this many matches (the next page); tier lists are not paged")
]


def search_options(
    settings: SettingsDep,
    k: KParam = None,
    category: CategoryParam = None,
    min_price: PriceParam = None,
    max_price: PriceParam = None,
    include_out_of_stock: OutOfStockParam = False,
    brand: BrandParam = None,
    availability: AvailabilityParam = None,
    offset: OffsetParam = 0,
    collapse: CollapseParam = True,
) -> SearchOptions:
    k = settings.default_k if k is None else k
    if k > settings.max_k:
        raise InvalidParameterError(f"k must be at most {settings.max_k}, got {k}")
    return SearchOptions(
        k=k,
        category=category,
        min_price=min_price,
        max_price=max_price,
        include_out_of_stock=include_out_of_stock,
        brand=brand,
        availability=availability_list(availability),
        offset=offset,
        collapse=collapse,
    )


OptionsDep = Annotated[SearchOptions, Depends(search_options)]


@router.get("/livez", response_model=HealthResponse)
def livez() -> HealthResponse:
    return HealthResponse(status="ok")


@router.get("/readyz", response_model=ReadyResponse, responses={503: {"model": ReadyResponse}})
def readyz(holder: HolderDep) -> ReadyResponse | JSONResponse:
    version = holder.version
    if version is None:
        detail = holder.load_error or "loading model and index"
        return JSONResponse(status_code=503, content={"status": "not_ready", "detail": detail})
    return ReadyResponse(
        status="ready", version=version, last_reload_error=redacted(holder.last_reload_error)
    )


@router.post(
    "/v1/search",
    response_model=SearchResponse,
    responses=PHOTO_ERRORS,
    openapi_extra={"requestBody": PHOTO_REQUEST_BODY},
)
async def search_image(
    request: Request,
    service: ServiceDep,
    settings: SettingsDep,
    options: OptionsDep,
    box: Annotated[
        str | None,
        Query(
            max_length=200,
            description="where the product is, 'x0,y0,x1,y1' as shares (0 to 1) of the upright photo's "
            "width and height: search looks there instead of finding the product itself",
        ),
    ] = None,
    q: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=500,
            description="words with the photo: 'in red' picks red variants and leans the answer that "
            "way; 'under 500', 'over 100', 'between 100 and 500', 'cheaper', 'dearer' are price bounds "
            "(docs/api.md lists what is understood)",
        ),
    ] = None,
    text_weight: Annotated[
        float | None,
        Query(
            ge=0,
            le=1,
            description="the words' share of the query that ranks designs (default SNAPBUY_TEXT_WEIGHT)",
        ),
    ] = None,
    max_products: Annotated[
        int | None,
        Query(
            ge=1,
            le=5,
            description="answer for up to this many products found in the photo (`groups`); 1: the best "
            "one only (default SNAPBUY_MAX_PRODUCTS)",
        ),
    ] = None,
) -> SearchResponse:
    """Search with a photo: multipart/form-data field `image` (JPEG, PNG, WebP, HEIC), and optionally
    words (`q`). The answer's `query.box` says where in the photo the product was taken from, and
    `query.words` how the words were read."""
    started = time.perf_counter()
    weight = settings.text_weight if text_weight is None else text_weight
    client_box = parse_normalised_box(box) if box is not None else None
    data = await read_image_upload(request, settings.max_upload_bytes)
    deadline = search_deadline(settings)

    def decode_and_search() -> SearchResult:
        decode_started = time.perf_counter()
        image = decode_image(
            data,
            max_bytes=settings.max_upload_bytes,
            max_pixels=settings.max_image_pixels,
            detail_side=service.encoder.photo_side,
            max_full_decode_pixels=settings.max_full_decode_pixels,
        )
        decode_ms = round((time.perf_counter() - decode_started) * 1000, 3)
        result = service.search_image(
            image,
            options,
            deadline,
            client_box,
            q,
            weight,
            settings.max_products if max_products is None else max_products,
            settings.product_min_score,
        )
        result.timings_ms["decode"] = decode_ms
        return result

    limiter: SearchLimiter = request.app.state.search_limiter
    async with limiter.slot(deadline):
        check(deadline, "decoding the photo")
        result = await run_in_threadpool(decode_and_search)
    result.timings_ms["total"] = round((time.perf_counter() - started) * 1000, 3)
    if (metrics := request.app.state.metrics) is not None:
        metrics.observe_timings(result.timings_ms)
    return SearchResponse.of(result)


@router.get("/v1/search", response_model=SearchResponse, responses=SEARCH_ERRORS)
async def search_text(
    service: ServiceDep,
    settings: SettingsDep,
    options: OptionsDep,
    q: Annotated[str, Query(min_length=1, max_length=500)],
) -> SearchResponse:
    """Search from text with the model's text tower."""
    deadline = search_deadline(settings)
    return SearchResponse.of(await run_in_threadpool(service.search_text, q, options, deadline))


@router.get("/v1/products/{sku}", response_model=ItemOut, response_model_exclude_none=False, responses=ERRORS)
async def get_product(sku: str, service: ServiceDep) -> ItemOut:
    return ItemOut.model_validate(await run_in_threadpool(service.product_with_variants, sku))


@router.get("/v1/products/{sku}/similar", response_model=SearchResponse, responses=ERRORS)
async def similar_products(sku: str, service: ServiceDep, options: OptionsDep) -> SearchResponse:
    """Lookalikes of a catalog product, the product itself left out."""
    return SearchResponse.of(await run_in_threadpool(service.similar, sku, options))


@router.get("/v1/index", response_model=IndexSummary, responses=ERRORS)
def index_summary(service: ServiceDep, holder: HolderDep) -> IndexSummary:
    manifest = service.bundle.manifest
    data = manifest.to_json()
    return IndexSummary(
        version=manifest.version,
        created_at=manifest.created_at,
        snapbuy_version=manifest.snapbuy_version,
        model=redacted(data["model"]),
        embedding_dim=manifest.model.dim,
        index=redacted(manifest.index),
        counts=manifest.counts,
        currency=manifest.currency,
        categories=list(service.categories),
        tiers=data["tiers"],
        last_reload_error=redacted(holder.last_reload_error),
    )
