"""GET /v1/products/{sku}/image: the thumbnail of a product's local catalog image, written into the
served index version when it was built (indexing/thumbnails.py). The route reads only that version's
own files, found by the product's row number, so no request text ever becomes part of a path.
Products whose images are http(s) URLs have none here: clients load those from the URL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from snapbuy.api.http_cache import cacheable_response
from snapbuy.api.live_service import ServiceHolder
from snapbuy.api.query_params import reject_unknown_query_params
from snapbuy.api.schemas import ErrorResponse
from snapbuy.errors import NotFoundError, echo
from snapbuy.search import SearchService

# Versions are immutable, but a later version may show a product differently: a phone keeps an image
# an hour without asking, then revalidates with its ETag (a 304 when the bytes are unchanged).
IMAGE_CACHE_CONTROL = "max-age=3600"

product_images_router = APIRouter(dependencies=[Depends(reject_unknown_query_params)])

IMAGE_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"content": {"image/jpeg": {}}, "description": "The thumbnail, its longer side at most 320 px."},
    304: {"description": "Not modified: the If-None-Match header names these bytes' ETag."},
    404: {"model": ErrorResponse, "description": "No such product, or snapbuy serves no image of it."},
    503: {"model": ErrorResponse, "description": "Model and index are still loading."},
}


def leased_service(request: Request) -> Iterator[SearchService]:
    """The served service, leased until the answer is made (a reload meanwhile does not close it)."""
    holder: ServiceHolder = request.app.state.services
    with holder.lease() as service:
        yield service


@product_images_router.get(
    "/v1/products/{sku}/image",
    response_class=Response,
    responses=IMAGE_RESPONSES,
)
def product_image(
    sku: str, request: Request, service: Annotated[SearchService, Depends(leased_service)]
) -> Response:
    """A product's catalog image as a small JPEG, with ETag and Cache-Control; 304 on If-None-Match.
    Only for products whose images are local files of the catalog: an http(s) `image_link` is loaded
    from the shop itself."""
    record = service.product(sku)  # NotFoundError (404) for an unknown sku
    path = service.bundle.thumbnail_path(record.row)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(
            f"snapbuy serves no image of product {echo(sku)}: {why_no_image(record.image_link)}"
        ) from None
    return cacheable_response(request, data, "image/jpeg", IMAGE_CACHE_CONTROL)


def why_no_image(image_link: str | None) -> str:
    if (image_link or "").lower().startswith(("http://", "https://")):
        return "its image_link is a web address; load it from there"
    return "the served index version holds no thumbnail of it (none of its local images is usable)"
