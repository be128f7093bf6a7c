"""FramingSettings: validated once, built from Settings."""

from __future__ import annotations

import pytest

from snapbuy.config import Settings
from snapbuy.errors import ConfigError
from snapbuy.search import FramingSettings


@pytest.mark.parametrize("margins", [(), (1.0, 0.0), (-1.1,)])
def test_box_margins_must_be_positive(margins: tuple[float, ...]) -> None:
    with pytest.raises(ConfigError, match="box margins"):
        FramingSettings.of(box_margins=margins)


@pytest.mark.parametrize("shift, temperature", [(-0.1, 0.03), (0.1, -0.01)])
def test_box_shift_and_framing_temperature_must_not_be_negative(shift: float, temperature: float) -> None:
    with pytest.raises(ConfigError, match="must not be negative"):
        FramingSettings.of(box_shift=shift, framing_temperature=temperature)


def test_built_from_the_settings() -> None:
    settings = Settings(
        crop_scales=[1.0], box_margins=[1.2, 1.5], mirror_views=False, box_shift=0.2, framing_temperature=0.05
    )
    assert FramingSettings.from_settings(settings) == FramingSettings((1.0,), (1.2, 1.5), 0.2, 0.05, False)
    assert FramingSettings.from_settings(Settings()) == FramingSettings()
