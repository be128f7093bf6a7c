"""Answers that browsers may cache and revalidate: a strong ETag from the bytes themselves, and 304 Not
Modified when the request's If-None-Match names it, so a phone that has a file already gets no body."""

from __future__ import annotations

import hashlib

from fastapi import Request, Response


def content_etag(data: bytes) -> str:
    """A strong ETag of `data`: the same bytes have the same tag in every version and every process."""
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Whether an If-None-Match header names `etag` (RFC 9110: a weak comparison, any entry, or '*')."""
    if not if_none_match:
        return False
    wanted = etag.removeprefix("W/")
    for entry in if_none_match.split(","):
        entry = entry.strip()
        if entry == "*" or entry.removeprefix("W/") == wanted:
            return True
    return False


def cacheable_response(
    request: Request,
    data: bytes,
    media_type: str,
    cache_control: str,
    headers: dict[str, str] | None = None,
) -> Response:
    """`data` with its ETag and Cache-Control, or an empty 304 with the same headers when the client
    already holds these bytes."""
    etag = content_etag(data)
    all_headers = {"ETag": etag, "Cache-Control": cache_control, **(headers or {})}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=all_headers)
    return Response(content=data, media_type=media_type, headers=all_headers)
