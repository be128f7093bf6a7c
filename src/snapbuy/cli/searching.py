"""`snapbuy search` and `snapbuy serve`: one photo from the command line, or the HTTP API."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from snapbuy.cli.common import DeviceOpt, IndexOpt, ModelOpt, reports_errors, settings_with
from snapbuy.config import Settings

if TYPE_CHECKING:
    from snapbuy.store import ProductRecord


def _bound(value: float | None) -> str:
    return "" if value is None else f"{value:g}"


def _price_text(item: ProductRecord) -> str:
    """'649.00 (was 799.00) NOK' on sale, else '799.00 NOK'."""
    was = "" if item.sale_price is None else f" (was {item.price:.2f})"
    return f"{item.price_paid:>10.2f}{was} {item.currency}"


def _availability_mark(item: ProductRecord) -> str:
    """'' when in stock, else e.g. '  [out of stock]' or '  [preorder]'."""
    return "" if item.availability == "in_stock" else f"  [{item.availability.replace('_', ' ')}]"


def _print_result(result: Any) -> None:
    typer.echo(f"category: {result.category} ({result.category_source})   model: {result.model}")
    _print_words(result)
    groups = result.groups or [result]
    for number, group in enumerate(groups, 1):
        if len(groups) > 1:
            typer.echo(f"\nproduct {number} of {len(groups)}: {group.category} ({group.category_source})")
        _print_answer(group)


def _print_words(result: Any) -> None:
    if result.words is not None:
        words = result.words
        bounds = f"price {_bound(words.min_price) or '-'} to {_bound(words.max_price) or '-'}"
        phrases = ", ".join(words.price_phrases) or "none"
        typer.echo(f"words: {words.text or '(prices only)'} ({bounds}; read as prices: {phrases})")


def _print_answer(result: Any) -> None:
    if result.found is not None:
        x0, y0, x1, y1 = result.found.normalised
        typer.echo(
            f"product at x {x0:.2f}-{x1:.2f}, y {y0:.2f}-{y1:.2f} of the photo ({result.found.source})"
        )
    rows = [("matches", result.matches)] + [
        (f"{t.name} [{_bound(t.min_price)}, {_bound(t.max_price)})", t.items) for t in result.tiers
    ]
    for heading, items in rows:
        typer.echo(heading)
        for item in items:
            typer.echo(
                f"  {item.score:7.4f}  {item.sku:<16} {_price_text(item)}  {item.title}"
                f"{_availability_mark(item)}"
            )
            for variant in item.variants:
                typer.echo(f"           also {variant.sku:<11} {_price_text(variant)}  {variant.title}")
            if item.variant_count > len(item.variants):
                typer.echo(f"           and {item.variant_count - len(item.variants)} more variants")


@reports_errors
def search_command(
    index: IndexOpt,
    image: Annotated[Path | None, typer.Argument(help="photo to search with (or give --text alone)")] = None,
    text: Annotated[
        str | None,
        typer.Option(
            "--text",
            "-q",
            help="words: alone, a text search; with a photo, 'in red' picks red variants, and 'under 500', "
            "'cheaper' and the like are price bounds",
        ),
    ] = None,
    text_weight: Annotated[
        float | None,
        typer.Option(
            "--text-weight",
            min=0,
            max=1,
            help="with a photo: the words' share of the query (default SNAPBUY_TEXT_WEIGHT)",
        ),
    ] = None,
    k: Annotated[int, typer.Option("-k", min=1, help="results per list")] = 4,
    category: Annotated[str | None, typer.Option("--category", help="category (default: predicted)")] = None,
    min_price: Annotated[float | None, typer.Option("--min-price", min=0)] = None,
    max_price: Annotated[float | None, typer.Option("--max-price", min=0)] = None,
    include_out_of_stock: Annotated[
        bool, typer.Option("--include-out-of-stock", help="also list out-of-stock products")
    ] = False,
    brand: Annotated[str | None, typer.Option("--brand", help="only this brand's products")] = None,
    availability: Annotated[
        str | None,
        typer.Option("--availability", help="only these availabilities, e.g. in_stock,preorder"),
    ] = None,
    offset: Annotated[int, typer.Option("--offset", min=0, help="skip this many matches (paging)")] = 0,
    collapse: Annotated[
        bool,
        typer.Option(
            "--collapse/--no-collapse", help="one line per design, its other variants listed with it"
        ),
    ] = True,
    box: Annotated[
        str | None,
        typer.Option("--box", help="where the product is: 'x0,y0,x1,y1', shares (0-1) of the photo's sides"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the API's JSON response")] = False,
    device: DeviceOpt = None,
    model: ModelOpt = None,
) -> None:
    """Search an index with a photo, words, or both: best matches plus the closest SKUs in each price
    tier."""
    from snapbuy.api.schemas import SearchResponse
    from snapbuy.crops import parse_normalised_box
    from snapbuy.errors import InvalidParameterError
    from snapbuy.imaging import load_image_file
    from snapbuy.loading import open_service
    from snapbuy.search import SearchOptions
    from snapbuy.search.results import availability_list

    if image is None and text is None:
        raise InvalidParameterError("give a photo to search with, or words with --text (or both)")
    if image is None and box is not None:
        raise InvalidParameterError("--box says where the product is in a photo: give the photo too")
    settings = settings_with(device=device)
    client_box = parse_normalised_box(box) if box is not None else None
    service = open_service(index, settings, model)
    # Decoded as the server decodes an upload, so that the CLI answers as the API does.
    picture = (
        None
        if image is None
        else load_image_file(
            image,
            max_bytes=settings.max_upload_bytes,
            max_pixels=settings.max_image_pixels,
            detail_side=service.encoder.photo_side,
        )
    )
    options = SearchOptions(
        k,
        category,
        min_price,
        max_price,
        include_out_of_stock,
        brand=brand,
        availability=availability_list(availability),
        offset=offset,
        collapse=collapse,
    )
    if picture is None:
        assert text is not None  # checked above
        result = service.search_text(text, options)
    else:
        weight = settings.text_weight if text_weight is None else text_weight
        result = service.search_image(
            picture,
            options,
            box=client_box,
            words=text,
            text_weight=weight,
            max_products=settings.max_products,
            product_min_score=settings.product_min_score,
        )
    if as_json:
        typer.echo(SearchResponse.of(result).model_dump_json(indent=2))
    else:
        _print_result(result)


@reports_errors
def serve_command(
    index: IndexOpt,
    host: Annotated[str | None, typer.Option("--host", help="bind address (default 127.0.0.1)")] = None,
    port: Annotated[int | None, typer.Option("--port", help="port (default 8000)")] = None,
    device: DeviceOpt = None,
    model: ModelOpt = None,
) -> None:
    """Serve the HTTP API (POST /v1/search, GET /v1/products/{sku}/similar, /readyz, ...)."""
    serve(index, settings_with(index=index, host=host, port=port, model=model, device=device), model)


def serve(index: Path, settings: Settings, model: str | None) -> None:
    import uvicorn

    from snapbuy.api import create_app
    from snapbuy.api.deadlines import with_header_deadline
    from snapbuy.loading import open_service

    # Load before binding the port: a bad index or missing weights is a clean error, not a dead server.
    service = open_service(index, settings, model, serving=True)
    typer.echo(f"serving index {service.bundle.manifest.version} on http://{settings.host}:{settings.port}")
    # The app owns the service: a newly published version replaces it (SIGHUP, polling, admin route)
    # and the app closes each one once no request uses it.
    app = create_app(settings, service, owns_service=True)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_level="info",
        access_log=False,  # the app logs each request itself, with its id and without the query string
        http=with_header_deadline(settings.header_timeout),
        timeout_graceful_shutdown=settings.shutdown_timeout,
    )
