"""Public views of index metadata: the manifest records where files were on the machine that built
the index (a checkpoint's absolute path in a model spec, a local catalog file); the API shows their
file names only, which say which model or file it was without describing the server's disk."""

from __future__ import annotations

import re
from typing import Any

_SEPARATORS = re.compile(r"[\\/]")
_HUB_PREFIX = "hf-hub"  # hf-hub:org/name names a model on the Hub, not a file


def file_names_only(text: str) -> str:
    """`text` with each ':'-separated part that is a file path cut to its last component; URLs and
    Hub names are kept as they are."""
    if "://" in text:
        return text
    parts = text.split(":")
    return ":".join(
        part if (i > 0 and parts[i - 1] == _HUB_PREFIX) else _SEPARATORS.split(part)[-1] or part
        for i, part in enumerate(parts)
    )


def redacted(value: Any) -> Any:
    """`value` (JSON-like: dicts, lists, scalars) with file_names_only applied to every string."""
    if isinstance(value, str):
        return file_names_only(value)
    if isinstance(value, dict):
        return {key: redacted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redacted(item) for item in value]
    return value
