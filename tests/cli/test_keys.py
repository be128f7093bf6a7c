"""`snapbuy api-key` (cli/keys.py): the printed key matches the printed entry, which the server accepts."""

from __future__ import annotations

from typer.testing import CliRunner

from snapbuy.api.access import hash_key, parse_api_keys
from snapbuy.cli import build_app


def test_the_printed_key_hashes_to_the_printed_entry() -> None:
    result = CliRunner().invoke(build_app(), ["api-key", "ios-app"])
    assert result.exit_code == 0, result.output
    lines = dict(line.split(": ", 1) for line in result.output.splitlines())
    key = lines["key (give it to the client; it is not stored anywhere)"]
    entry = lines["entry for SNAPBUY_API_KEYS"]
    (parsed,) = parse_api_keys([entry])
    assert parsed.name == "ios-app" and parsed.sha256 == hash_key(key)
    again = CliRunner().invoke(build_app(), ["api-key", "ios-app"]).output
    assert key not in again  # a new key every time
