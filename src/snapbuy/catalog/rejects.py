"""rejects.csv: the rows a --skip-invalid run left out, with line, field and reason."""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from snapbuy.atomic import write_text_file_atomically
from snapbuy.catalog.model import RejectedRow


def write_rejects(rejects: Sequence[RejectedRow], path: Path) -> None:
    """Write rejects as CSV (line, field, reason, row as compact JSON), atomically."""

    def write(handle: TextIO) -> None:
        writer = csv.writer(handle)
        writer.writerow(["line", "field", "reason", "row"])
        for reject in rejects:
            row_json = json.dumps(reject.row, ensure_ascii=False, separators=(",", ":"), default=str)
            writer.writerow([reject.line, reject.field, reject.reason, row_json])

    write_text_file_atomically(path, write)
