"""How a query photo is framed before embedding: one settings object, built from Settings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from snapbuy.config import Settings
from snapbuy.crops import (
    DEFAULT_BOX_MARGINS,
    DEFAULT_BOX_SHIFT,
    DEFAULT_CROP_SCALES,
    DEFAULT_MIRROR_VIEWS,
    DEFAULT_PRODUCT_CANDIDATES,
    FRAMING_TEMPERATURE,
)
from snapbuy.errors import ConfigError


@dataclass(frozen=True)
class FramingSettings:
    """`crop_scales`: square crops of the photo tried when there is no localiser box (empty: the photo
    alone). Around a localiser box: squares of `box_margins` times its longer side and four moved by
    `box_shift` of it, with `mirror_views` their mirror images too, each framing weighted by a softmax at
    `framing_temperature` over its best catalog match (0: a plain mean). The first product is the one of
    the localiser's best `product_candidates` boxes whose framing matches a catalog product closest."""

    crop_scales: tuple[float, ...] = DEFAULT_CROP_SCALES
    box_margins: tuple[float, ...] = DEFAULT_BOX_MARGINS
    box_shift: float = DEFAULT_BOX_SHIFT
    framing_temperature: float = FRAMING_TEMPERATURE
    mirror_views: bool = DEFAULT_MIRROR_VIEWS
    product_candidates: int = DEFAULT_PRODUCT_CANDIDATES

    def __post_init__(self) -> None:
        if self.product_candidates < 1:
            raise ConfigError(f"product candidates must be at least 1, not {self.product_candidates}")
        if not self.box_margins or min(self.box_margins) <= 0:
            raise ConfigError(
                f"box margins must be at least one positive number, not {list(self.box_margins)}"
            )
        if self.box_shift < 0 or self.framing_temperature < 0:
            raise ConfigError(
                f"the box shift ({self.box_shift}) and the framing temperature ({self.framing_temperature}) "
                "must not be negative"
            )

    @classmethod
    def of(
        cls,
        *,
        crop_scales: Sequence[float] = DEFAULT_CROP_SCALES,
        box_margins: Sequence[float] = DEFAULT_BOX_MARGINS,
        box_shift: float = DEFAULT_BOX_SHIFT,
        framing_temperature: float = FRAMING_TEMPERATURE,
        mirror_views: bool = DEFAULT_MIRROR_VIEWS,
        product_candidates: int = DEFAULT_PRODUCT_CANDIDATES,
    ) -> FramingSettings:
        return cls(
            tuple(crop_scales),
            tuple(box_margins),
            box_shift,
            framing_temperature,
            mirror_views,
            product_candidates,
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> FramingSettings:
        return cls.of(
            crop_scales=settings.crop_scales,
            box_margins=settings.box_margins,
            box_shift=settings.box_shift,
            framing_temperature=settings.framing_temperature,
            mirror_views=settings.mirror_views,
            product_candidates=settings.product_candidates,
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "crop_scales": list(self.crop_scales),
            "box_margins": list(self.box_margins),
            "box_shift": self.box_shift,
            "framing_temperature": self.framing_temperature,
            "mirror_views": self.mirror_views,
            "product_candidates": self.product_candidates,
        }
