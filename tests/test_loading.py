from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from snapbuy import device
from snapbuy.bundle import open_current
from snapbuy.config import Settings
from snapbuy.embed.openclip import OpenClipEmbedder
from snapbuy.errors import ConfigError
from snapbuy.loading import configured_service, open_service
from snapbuy.search import FramingSettings


def test_cuda_without_a_gpu_is_refused_before_the_model_loads(
    sample_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(device, "cuda_available", lambda: False)
    with pytest.raises(ConfigError, match=r"torch sees no CUDA GPU.*--device cpu"):
        open_service(sample_index, Settings(device="cuda", models_dir=Path("no-models-here")))


def test_the_settings_frame_query_photos(sample_index: Path, tiny_embedder: OpenClipEmbedder) -> None:
    settings = Settings(
        crop_scales=[1.0], box_margins=[1.2, 1.5], mirror_views=False, box_shift=0.2, framing_temperature=0.05
    )
    service = configured_service(tiny_embedder, open_current(sample_index), settings, None)
    assert service.encoder.framing == FramingSettings.from_settings(settings)
    assert service.encoder.framing.box_margins == (1.2, 1.5)
    service.close()


def test_box_margins_in_the_settings_must_be_positive() -> None:
    with pytest.raises(ValidationError):
        Settings(box_margins=[1.0, -0.5])
    with pytest.raises(ValidationError):
        Settings(box_margins=[])


def test_box_shift_and_framing_temperature_in_the_settings_must_not_be_negative() -> None:
    with pytest.raises(ValidationError):
        Settings(box_shift=-0.1)
    with pytest.raises(ValidationError):
        Settings(framing_temperature=-0.01)


def test_catalog_views_in_the_settings_must_not_be_negative() -> None:
    assert Settings().catalog_views == 0  # off unless asked for: (1 + views) times the indexing work
    with pytest.raises(ValidationError):
        Settings(catalog_views=-1)
