"""Public views of index metadata: the manifest records where files were on the machine that built
the index (a checkpoint's absolute path in a model spec, a local catalog file); the API shows their
file names only, which say which model or file it was without describing the server's disk."""

from __future__ import annotations

import re
from typing import Any

_SEPARATORS = re.compile(r"[\\/]")
_HUB_PREFIX = "hf-hub"  # hf-hub:org/name names a model on the Hub, not a file
# An absolute path inside prose (an error message): "/dir/.../name" not glued to a word, a URL or
# another path; it is replaced by its last component.
_PATH_IN_PROSE = re.compile(r"(?<![\w.~/:])(?:/[^\s/'\"]+)*/([^\s/'\"]+)")


def _is_path(part: str, previous: str | None) -> bool:
    """An absolute path (which may hold spaces), or a relative one: a separator and no white space,
    which marks prose such as an index choice's reason ("~1200 B/vector in RAM"). The part after
    "hf-hub:" is a Hub name, not a path."""
    if previous == _HUB_PREFIX or _SEPARATORS.search(part) is None:
        return False
    return part.startswith(("/", "\\", "~")) or not any(c.isspace() for c in part)


def file_names_only(text: str) -> str:
    """`text` with each ':'-separated part that is a file path cut to its last component; URLs, Hub
    names and prose are kept as they are."""
    if "://" in text:
        return text
    parts = text.split(":")
    return ":".join(
        (_SEPARATORS.split(part)[-1] or part)
        if _is_path(part, parts[i - 1] if i else None)
        else _PATH_IN_PROSE.sub(r"\1", part)
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
