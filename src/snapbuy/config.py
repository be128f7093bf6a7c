"""Runtime settings (environment prefix SNAPBUY_). Built on demand by get_settings(), never at import."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, PositiveFloat
from pydantic_settings import BaseSettings, SettingsConfigDict

from snapbuy.crops import DEFAULT_BOX_MARGINS, DEFAULT_BOX_SHIFT, DEFAULT_CROP_SCALES, FRAMING_TEMPERATURE

DEFAULT_MODEL_SPEC = "ViT-B-32:laion2b_s34b_b79k"
# The product's architecture with random weights: speed does not depend on weight values, so speed
# benchmarks use it and need nothing downloaded (their results say the weights are random).
SPEED_MODEL_SPEC = "ViT-B-32:random"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SNAPBUY_", extra="ignore")

    # Model spec ARCH[:WEIGHTS]; None means "the model recorded in the index bundle".
    model: str | None = None
    models_dir: Path = Path("models")
    # Fetching a missing pretrained tag from the hub is opt-in: a server should not reach out to the
    # internet at start-up, and offline the hub client spends ~25 s retrying before it fails.
    allow_download: bool = False
    index: Path = Path("indexes/sample")
    device: str = "cpu"
    host: str = "127.0.0.1"
    port: int = 8000
    max_upload_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    # Decompression-bomb guard: more declared pixels than this is refused before decoding.
    max_image_pixels: int = Field(default=40_000_000, gt=0)
    default_k: int = Field(default=4, ge=1)
    max_k: int = Field(default=100, ge=1)
    batch_size: int = Field(default=32, ge=1)
    # Index type for `snapbuy index`: auto | flat | ivf | ivfpq | hnsw | a faiss factory string.
    index_type: str = "auto"
    # RAM the index may use, e.g. "2GB"; auto picks the best index type that fits. None = no limit.
    index_memory_budget: str | None = None
    # Synthetic shopper-photo views per catalog image that `snapbuy index` folds into the image's
    # vector (catalog_views.py): closer to what queries look like, at (1 + views) times the embedding
    # work of indexing. 0 = off.
    catalog_views: int = Field(default=0, ge=0)
    # Threads for image decoding during indexing.
    decode_workers: int = Field(default=2, ge=1)
    # Square crops (fractions of the photo's shorter side) tried to find the product in a busy photo;
    # [] embeds the photo alone (fastest). JSON in the environment, e.g. SNAPBUY_CROP_SCALES='[1.0, 0.6]'.
    crop_scales: list[float] = Field(default_factory=lambda: list(DEFAULT_CROP_SCALES))
    # Use the product localiser trained with the model (NAME.localiser.pt next to its checkpoint) to
    # find the product in a photo instead of the crop grid. False keeps the crop grid.
    localise: bool = True
    # With the localiser: squares of these margins (times the found box's longer side), and four of
    # margin 1.1 moved by box_shift of that side (0: none), each with its mirror image when
    # mirror_views is on, are embedded and averaged, each square weighted by a softmax at
    # framing_temperature over its best catalog match (0: all alike). [1.1] with box_shift 0 and no
    # mirror views is fastest.
    box_margins: list[PositiveFloat] = Field(default_factory=lambda: list(DEFAULT_BOX_MARGINS), min_length=1)
    box_shift: float = Field(default=DEFAULT_BOX_SHIFT, ge=0)
    framing_temperature: float = Field(default=FRAMING_TEMPERATURE, ge=0)
    mirror_views: bool = True


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
