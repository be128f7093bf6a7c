from __future__ import annotations

import logging
from pathlib import Path

import pytest
from pydantic import ValidationError

from snapbuy.bundle import open_current
from snapbuy.config import Settings
from snapbuy.embed.openclip import OpenClipEmbedder
from snapbuy.index.torch_exact import cuda_available
from snapbuy.loading import configured_service, usable_device
from snapbuy.search import FramingSettings


@pytest.mark.skipif(cuda_available(), reason="checks the fallback on a machine without a GPU")
def test_cuda_without_a_gpu_falls_back_to_cpu_and_says_so(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="snapbuy.loading"):
        assert usable_device("cuda") == "cpu"
    assert "no CUDA GPU" in caplog.text and "run on the CPU" in caplog.text


def test_cpu_stays_cpu() -> None:
    assert usable_device("cpu") == "cpu"


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
