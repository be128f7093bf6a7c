"""Vector indexes: exact flat search, and IVF / HNSW / faiss-factory indexes with exact re-ranking."""

from snapbuy.index.approximate import ApproximateIndex, SearchEffort
from snapbuy.index.base import IdFilter, VectorIndex
from snapbuy.index.build import build_vector_index, load_vector_index
from snapbuy.index.choice import IndexChoice, choose_index, parse_size
from snapbuy.index.flat import FlatIndex

__all__ = [
    "ApproximateIndex",
    "FlatIndex",
    "IdFilter",
    "IndexChoice",
    "SearchEffort",
    "VectorIndex",
    "build_vector_index",
    "choose_index",
    "load_vector_index",
    "parse_size",
]
