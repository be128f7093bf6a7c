"""`snapbuy api-key NAME`: a new API key for a client, and the hashed entry the server keeps."""

from __future__ import annotations

from typing import Annotated

import typer


def api_key_command(
    name: Annotated[str, typer.Argument(help="who the key is for, e.g. ios-app; shown in logs and limits")],
) -> None:
    """Make an API key: give the key to the client, put the NAME:SHA256 entry in SNAPBUY_API_KEYS."""
    from snapbuy.api.access import hash_key, new_key, parse_api_keys

    key = new_key()
    entry = f"{name}:{hash_key(key)}"
    parse_api_keys([entry])  # the same check the server makes at start
    typer.echo(f"key (give it to the client; it is not stored anywhere): {key}")
    typer.echo(f"entry for SNAPBUY_API_KEYS: {entry}")
