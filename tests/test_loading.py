from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from snapbuy import device
from snapbuy.bundle import open_current
from snapbuy.config import Settings
from snapbuy.embed.openclip import OpenClipEmbedder
from snapbuy.errors import ConfigError, ModelError
from snapbuy.loading import configured_service, open_service
from snapbuy.search import FramingSettings
from snapbuy.train.localiser_only import train_localiser_only
from tests.conftest import SAMPLE_CATALOG


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


def test_the_localiser_setting_gives_any_model_a_localiser(sample_index: Path, tmp_path: Path) -> None:
    path = tmp_path / "shop.localiser.pt"
    train_localiser_only(SAMPLE_CATALOG, path, minutes=30, max_steps=1, device="cpu", precision="fp32")
    models = Path("no-models-here")
    with_it = open_service(sample_index, Settings(localiser=path, models_dir=models))
    assert with_it.encoder.localiser is not None
    with_it.close()
    switched_off = open_service(sample_index, Settings(localiser=path, localise=False, models_dir=models))
    assert switched_off.encoder.localiser is None
    switched_off.close()
    with pytest.raises(ModelError, match="cannot load the product localiser"):
        open_service(sample_index, Settings(localiser=tmp_path / "missing.localiser.pt", models_dir=models))
