"""The file a vector index writes into a bundle version folder and reads back from it."""

from __future__ import annotations

# The faiss index itself (flat or approximate); a compressed index also writes its exact rows
# (exact_rows.EXACT_ROWS_FILE) beside it.
VECTORS_FILE = "vectors.faiss"
