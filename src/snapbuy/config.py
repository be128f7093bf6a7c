"""Runtime settings (environment prefix SNAPBUY_). Built on demand by get_settings(), never at import."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, PositiveFloat, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from snapbuy.crops import (
    DEFAULT_BOX_MARGINS,
    DEFAULT_BOX_SHIFT,
    DEFAULT_CROP_SCALES,
    DEFAULT_MIRROR_VIEWS,
    DEFAULT_PRODUCT_CANDIDATES,
    FRAMING_TEMPERATURE,
)
from snapbuy.embed.backends import unknown_backend

DEFAULT_MODEL_SPEC = "ViT-B-32:laion2b_s34b_b79k"
# The product's architecture with random weights: speed does not depend on weight values, so speed
# benchmarks use it and need nothing downloaded (their results say the weights are random).
SPEED_MODEL_SPEC = "ViT-B-32:random"


# The words' share of a photo + words query (Settings.text_weight): the largest that keeps the photo's
# designs on top as often as the photo alone on the demo shop, while the words pick each design's variant
# (docs/experiments/2026-12-04-photo-and-words.md).
DEFAULT_TEXT_WEIGHT = 0.2
# A further product in a photo gets an answer of its own when the localiser's close-up scores it at
# least this (Settings.product_min_score; docs/experiments/2026-12-04-several-products.md).
DEFAULT_PRODUCT_MIN_SCORE = 0.6


class Settings(BaseSettings):
    """Every setting is read from the environment variable SNAPBUY_<NAME>; docs/configuration.md shows
    them all, rendered from the descriptions below by snapbuy.config_docs."""

    model_config = SettingsConfigDict(env_prefix="SNAPBUY_", extra="ignore")

    model: str | None = Field(
        default=None,
        description="Model spec ARCH[:WEIGHTS]. Unset: the model recorded in the index bundle "
        f"(`snapbuy index` then uses the product default {DEFAULT_MODEL_SPEC}).",
    )
    models_dir: Path = Field(
        default=Path("models"),
        description="Folder where model weights are looked up (and cached when downloading is allowed).",
    )
    # Opt-in: a server should not reach out to the internet at start-up, and offline the hub client
    # spends about 25 s retrying before it fails.
    allow_download: bool = Field(
        default=False,
        description="Fetch a missing pretrained tag's weights from the Hugging Face Hub into "
        "SNAPBUY_MODELS_DIR. Off: a missing file is an error naming the file to place.",
    )
    index: Path = Field(
        default=Path("indexes/sample"),
        description="Index bundle that `uvicorn --factory snapbuy.api:create_app` serves "
        "(the CLI takes --index instead).",
    )
    device: str = Field(
        default="cpu",
        description="cpu or cuda: where the model and the similarity search run. "
        "cuda when torch sees no GPU is an error.",
    )
    backend: str = Field(
        default="torch",
        description="Where the image tower runs: torch (float32), torch-bf16 (a GPU, or a CPU with "
        "AVX512-BF16 or AMX), torch-fp16 (a GPU only), onnxruntime, onnxruntime-int8 or openvino (the last "
        "three on the CPU only, exported from the model once and cached). float32 backends give torch's "
        "vectors; the others are faster where the hardware suits them and close to those vectors "
        "(docs/models-and-training.md#backends).",
    )
    graph_cache: Path | None = Field(
        default=None,
        description="Folder for image towers exported for the onnxruntime and openvino backends. Unset: "
        "SNAPBUY_MODELS_DIR/compiled; a folder that cannot be written means exporting at each start.",
    )
    host: str = Field(default="127.0.0.1", description="Address `snapbuy serve` and `snapbuy demo` bind.")
    port: int = Field(default=8000, description="Port `snapbuy serve` and `snapbuy demo` listen on.")
    reload_interval: float = Field(
        default=5.0,
        ge=0,
        description="Seconds between the server's checks of the index's CURRENT file; a newly published "
        "version is loaded beside the served one and swapped in without a restart. 0: no polling "
        "(SIGHUP and POST /v1/admin/reload still reload).",
    )
    admin_token: SecretStr | None = Field(
        default=None,
        description="Bearer token of POST /v1/admin/reload. Unset: the admin route answers 404.",
    )
    max_upload_bytes: int = Field(
        default=10 * 1024 * 1024,
        gt=0,
        description="Largest photo upload in bytes; a larger one is refused with 413 before it is read.",
    )
    max_image_pixels: int = Field(
        default=40_000_000,
        gt=0,
        description="Decompression-bomb guard: an image declaring more pixels is refused before decoding.",
    )
    log_format: Literal["text", "json"] = Field(
        default="text",
        description="Log lines as text, or as one JSON object each (for log collectors); both carry the "
        "request id.",
    )
    header_timeout: float = Field(
        default=10.0,
        gt=0,
        description="Seconds a client has to send a request's line and headers; then the connection is "
        "closed.",
    )
    body_timeout: float = Field(
        default=15.0, gt=0, description="Seconds a request body may stall between chunks before a 408."
    )
    upload_deadline: float = Field(
        default=60.0, gt=0, description="Seconds a whole request body (a photo upload) may take before a 408."
    )
    shutdown_timeout: int = Field(
        default=10,
        gt=0,
        description="On SIGTERM or SIGINT, seconds in-flight requests get to finish before the server exits.",
    )
    api_keys: list[str] = Field(
        default_factory=list,
        description="API keys the server accepts, as NAME:SHA256 entries (the key's SHA-256 in hex; "
        "`snapbuy api-key NAME` makes one). JSON in the environment, e.g. '[\"app:9f86...\"]'. "
        "Empty: no key needed (the default, for 127.0.0.1).",
    )
    rate_limit: float = Field(
        default=0.0,
        ge=0,
        description="Requests per second each API key (or each client address, without keys) may make "
        "on average; over it the answer is 429 with Retry-After. 0: no limit.",
    )
    rate_burst: int = Field(
        default=20, ge=1, description="Requests a key or client may make at once before the rate applies."
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Browser origins allowed to call the API (CORS), e.g. '[\"https://shop.example\"]'. "
        "Empty: none.",
    )
    api_docs: bool = Field(
        default=True,
        description="Serve /docs, /redoc and /openapi.json; turn off on a public server if wanted.",
    )
    metrics: bool = Field(default=True, description="Serve Prometheus metrics at /metrics.")
    max_concurrent_searches: int = Field(
        default=8,
        ge=1,
        description="Photo searches decoded and searched at once by `snapbuy serve`; more wait their turn. "
        "Each holds its decoded photo and the model's working memory.",
    )
    max_queued_searches: int = Field(
        default=32,
        ge=0,
        description="Photo searches that may wait for a turn; one more is answered 503 overloaded "
        "with Retry-After: 1.",
    )
    micro_batch_images: int = Field(
        default=32,
        ge=1,
        description="A server's model runs the photos of searches waiting for it in one forward pass, "
        "up to this many images.",
    )
    micro_batch_wait_ms: float = Field(
        default=0.0,
        ge=0,
        description="How long the model waits for more searches' photos before a forward pass; 0: it "
        "takes what is waiting when it is free, so a lone search is never held back.",
    )
    micro_batch_follow_ms: float = Field(
        default=20.0,
        ge=0,
        description="How long in all the model, gathering a forward pass, waits for the views of searches "
        "whose product the localiser has just found, so that they share it; 0: it does not wait.",
    )
    search_deadline: float = Field(
        default=10.0,
        ge=0,
        description="Seconds a search may take once its request is read, waiting for a turn included; "
        "a search past it stops at its next stage (decode, localiser, model, catalog search) and is "
        "answered 504 deadline_exceeded with Retry-After. 0: no deadline.",
    )
    max_full_decode_pixels: int = Field(
        default=16_000_000,
        gt=0,
        description="Largest PNG, WebP or HEIC photo upload in pixels. Unlike JPEG these decode at full "
        "size (4 bytes a pixel), so this bounds what one upload costs in memory.",
    )
    default_k: int = Field(default=4, ge=1, description="Results per list when a request gives no k.")
    max_products: int = Field(
        default=3,
        ge=1,
        le=5,
        description="Products a photo search answers for, each with its own box, category, matches and "
        "tiers (the answer's groups), when the localiser finds several; 1: the best one only.",
    )
    product_min_score: float = Field(
        default=DEFAULT_PRODUCT_MIN_SCORE,
        ge=0,
        le=1,
        description="The localiser's confidence a further product in a photo needs to get an answer of "
        "its own (the best one always does).",
    )
    text_weight: float = Field(
        default=DEFAULT_TEXT_WEIGHT,
        ge=0,
        le=1,
        description="A photo search with words (q): the words' share of the query that ranks designs, "
        "when the request gives no text_weight. Within each design the words alone pick the variant.",
    )
    max_k: int = Field(default=100, ge=1, description="Largest k a request may ask for (else 422).")
    batch_size: int = Field(default=32, ge=1, description="Images per model call when indexing or embedding.")
    index_type: str = Field(
        default="auto",
        description="Index type for `snapbuy index`: auto, flat, ivf, ivfpq, hnsw or a faiss factory string.",
    )
    index_memory_budget: str | None = Field(
        default=None,
        description='RAM the index may use, e.g. "2GB"; auto picks the best index type that fits. '
        "Unset: about 1.2 KB per vector.",
    )
    catalog_views: int = Field(
        default=0,
        ge=0,
        description="Synthetic shopper-photo views of each catalog image that `snapbuy index` folds into "
        "its vector (catalog_views.py), at (1 + views) times the embedding work of indexing. 0: off.",
    )
    decode_workers: int = Field(default=2, ge=1, description="Threads decoding images while indexing.")
    max_catalog_image_bytes: int = Field(
        default=20 * 1024 * 1024,
        gt=0,
        description="Largest catalog image `snapbuy index` reads or downloads, in bytes; a larger one is "
        "an image error.",
    )
    fetch_per_host: int = Field(
        default=8, ge=1, description="Concurrent image downloads from one host while indexing."
    )
    fetch_connect_timeout: float = Field(
        default=5.0, gt=0, description="Seconds to connect to an image or feed server before giving up."
    )
    fetch_read_timeout: float = Field(
        default=20.0, gt=0, description="Seconds a download may wait for the next bytes before giving up."
    )
    fetch_retries: int = Field(
        default=3,
        ge=0,
        description="Extra attempts for a download answered 429 or 5xx, or cut off; Retry-After is honoured.",
    )
    crop_scales: list[float] = Field(
        default_factory=lambda: list(DEFAULT_CROP_SCALES),
        description="Square crops (fractions of the photo's shorter side) tried to find the product in a "
        "busy photo when there is no localiser; [] embeds the photo alone (fastest). JSON in the "
        "environment, e.g. '[1.0, 0.6]'.",
    )
    localise: bool = Field(
        default=True,
        description="Find the product in a photo with a product localiser (SNAPBUY_LOCALISER, or the "
        "NAME.localiser.pt trained beside the model's checkpoint) before embedding; false keeps the "
        "crop grid.",
    )
    localiser: Path | None = Field(
        default=None,
        description="A product localiser file (NAME.localiser.pt from `snapbuy train-localiser`) for a "
        "model that has none beside its checkpoint, such as a pretrained tag; it is used in place of "
        "one beside the checkpoint. Unset: the checkpoint's own, if any.",
    )
    box_margins: list[PositiveFloat] = Field(
        default_factory=lambda: list(DEFAULT_BOX_MARGINS),
        min_length=1,
        description="With the localiser: squares of these margins (times the found box's longer side) are "
        "embedded and weighed together; each is one more image through the model. [1.1], one view, is "
        "enough with a well-trained localiser; '[0.85,1.1,1.4]' helps a weakly trained one (such as the "
        "7-minute demo's); '[0.85,1,1.1,1.25,1.4,1.6,1.9]' with SNAPBUY_BOX_SHIFT=0.1 and "
        "SNAPBUY_MIRROR_VIEWS=true (22 views) finds a little more, at 22x the model's work.",
    )
    box_shift: float = Field(
        default=DEFAULT_BOX_SHIFT,
        ge=0,
        description="Four more squares of margin 1.1 moved left, right, up and down by this share of the "
        "box's longer side. 0: none.",
    )
    framing_temperature: float = Field(
        default=FRAMING_TEMPERATURE,
        ge=0,
        description="Each square weighs in by a softmax at this temperature over its best catalog match. "
        "0: all alike (a plain mean).",
    )
    mirror_views: bool = Field(
        default=DEFAULT_MIRROR_VIEWS, description="Embed each square's mirror image too (with the localiser)."
    )
    product_candidates: int = Field(
        default=DEFAULT_PRODUCT_CANDIDATES,
        ge=1,
        le=8,
        description="With the localiser: its best boxes that compete to be the photo's product; the one "
        "whose view matches a catalog product most closely is answered first. Each is one more image "
        "through the model. 1: the localiser's own best box.",
    )

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if (problem := unknown_backend(value)) is not None:
            raise ValueError(problem)
        return value

    @property
    def graph_cache_dir(self) -> Path:
        return self.graph_cache if self.graph_cache is not None else self.models_dir / "compiled"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
