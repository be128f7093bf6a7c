"""The product localiser: the box it reads off the net's map, its second look, its file by the checkpoint."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from snapbuy.crops import box_iou
from snapbuy.embed.spec import parse_model_spec
from snapbuy.errors import ModelError
from snapbuy.localiser import (
    BOX_UNIT,
    CANDIDATES,
    CELL,
    REFINE_MARGIN,
    SAME_PRODUCT_IOU,
    MapPrediction,
    ProductLocaliser,
    ProductMapNet,
    cell_centres,
    localiser_for,
    localiser_path,
    recorded_localiser_digest,
)


class BrightIsProduct(ProductMapNet):
    """Says the product's centre is in the brightest cells and its box is the bright area's: a stand-in
    net with a known answer. Cells predict the bright area's box from the mean of the bright pixels'
    coordinates and their spread, as a real net would infer it from what it sees."""

    def __init__(self, never: bool = False) -> None:
        super().__init__(width=4)
        self.never = never

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        bright = (pixels.mean(dim=1) > 0.5).float()  # [B, H, W]
        height, width = bright.shape[-2:]
        ys = torch.arange(height, dtype=torch.float32)[:, None].expand(height, width)
        xs = torch.arange(width, dtype=torch.float32).expand(height, width)
        maps = []
        for mask in bright:
            inside_x, inside_y = xs[mask > 0], ys[mask > 0]
            box = torch.stack([inside_x.min(), inside_y.min(), inside_x.max() + 1, inside_y.max() + 1])
            centre_x, centre_y = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
            cell_x, cell_y = cell_centres(height // CELL, width // CELL)
            distance = ((cell_x - centre_x) ** 2 + (cell_y - centre_y) ** 2).sqrt()
            logit = torch.full_like(distance, -9.0) if self.never else 6.0 - distance
            offsets = torch.stack([cell_x, cell_y, cell_x, cell_y])
            edges = (box[:, None, None] - offsets) / BOX_UNIT
            maps.append(torch.cat([logit[None], edges]))
        return torch.stack(maps)


Look = Callable[[Image.Image, int], list[tuple[tuple[int, int, int, int], float]]]


def each(look: Look) -> Callable[..., list[list[tuple[tuple[int, int, int, int], float]]]]:
    """A stand-in for ProductLocaliser._look_each from one that looks at one image at a time."""
    return lambda images, count, smalls=None: [look(image, count) for image in images]


def test_found_box_is_in_photo_pixels_and_refined_by_a_second_look() -> None:
    photo = Image.new("RGB", (960, 1280), "black")  # 10x the 96x128 the net sees
    photo.paste((255, 255, 255), (160, 320, 480, 640))
    localiser = ProductLocaliser(BrightIsProduct(), input_side=96)
    prediction = localiser.predict(photo)
    assert prediction.centre.shape == (16, 12) and prediction.boxes.shape == (4, 16, 12)
    peak = np.unravel_index(int(prediction.centre.argmax()), prediction.centre.shape)
    assert tuple(int(i) for i in peak) in {
        (5, 3),
        (5, 4),
        (6, 3),
        (6, 4),
    }
    found = localiser.find(photo)
    assert found is not None
    assert box_iou(found, (160, 320, 480, 640)) > 0.97
    nothing = ProductLocaliser(BrightIsProduct(never=True), input_side=96)
    assert nothing.find(photo) is None


def test_the_second_look_sees_a_square_around_each_first_look_place(monkeypatch: pytest.MonkeyPatch) -> None:
    photo = Image.new("RGB", (600, 800), "black")
    photo.paste((255, 255, 255), (100, 200, 200, 300))
    localiser = ProductLocaliser(BrightIsProduct(), input_side=96)
    looked_at: list[tuple[tuple[int, int], int]] = []
    look_each = localiser._look_each

    def spy(
        images: list[Image.Image], count: int, smalls: list[Image.Image] | None = None
    ) -> list[list[tuple[tuple[int, int, int, int], float]]]:
        looked_at.extend((image.size, count) for image in images)
        return look_each(images, count, smalls)

    monkeypatch.setattr(localiser, "_look_each", spy)
    found = localiser.find(photo)
    assert found is not None and box_iou(found, (100, 200, 200, 300)) > 0.95
    side = round(100 * REFINE_MARGIN)
    assert looked_at[0] == ((600, 800), CANDIDATES)
    # One bright thing: the first look names one place, and the second look sees a square around it.
    assert len(looked_at) == 2 and looked_at[1][1] == 1
    (width, height), _ = looked_at[1]
    assert width == height and abs(width - side) <= 4


def test_the_best_close_up_wins_among_the_first_look_places(monkeypatch: pytest.MonkeyPatch) -> None:
    photo = Image.new("RGB", (900, 1200))
    localiser = ProductLocaliser(BrightIsProduct(), input_side=96)
    vase, product = (100, 100, 200, 200), (500, 600, 700, 800)  # the first look likes the vase more

    def look(image: Image.Image, count: int) -> list[tuple[tuple[int, int, int, int], float]]:
        if image.size == photo.size:
            return [(vase, 0.9), (product, 0.6)][:count]
        # A close-up: of the vase (140 px) nothing much; of the product (280 px) a sure, tighter box.
        if image.width == round(100 * REFINE_MARGIN):
            return [((20, 20, 120, 120), 0.2)]
        return [((50, 50, 230, 230), 0.8)]

    monkeypatch.setattr(localiser, "_look_each", each(look))
    left, top = 600 - 140, 700 - 140  # the product's close-up: a 280 px square around its centre
    assert localiser.find(photo) == (left + 50, top + 50, left + 230, top + 230)
    localiser.candidates = 1  # the first look's best place alone
    corner = 150 - 70  # the vase's close-up: a 140 px square around its centre
    assert localiser.find(photo) == (corner + 20, corner + 20, corner + 120, corner + 120)


def test_images_of_one_size_share_a_net_call_and_get_what_they_would_alone() -> None:
    torch.manual_seed(0)
    localiser = ProductLocaliser(ProductMapNet(width=8).eval(), input_side=48)
    rng = np.random.default_rng(3)
    sizes = [(120, 120), (200, 160), (90, 90), (60, 60)]  # squares come out 48 x 48, the other 64 x 48
    images = [Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)) for w, h in sizes]
    calls: list[int] = []
    localiser.net.register_forward_hook(lambda module, args, out: calls.append(len(args[0])))

    together = localiser.predict_each(images)
    assert calls == [6, 2]  # three squares and their mirror images in one call, then the other
    for image, prediction in zip(images, together, strict=True):
        alone = localiser.predict(image)
        assert prediction.cell_size == alone.cell_size
        np.testing.assert_allclose(prediction.centre, alone.centre, atol=1e-5)
        np.testing.assert_allclose(prediction.boxes, alone.boxes, atol=1e-3)


def test_several_photos_are_found_in_two_net_calls_as_they_would_be_alone() -> None:
    localiser = ProductLocaliser(BrightIsProduct(), input_side=48)
    photos = []
    for left, top in [(10, 30), (70, 20), (40, 60)]:
        photo = Image.new("RGB", (160, 120), (20, 20, 20))
        photo.paste((240, 240, 240), (left, top, left + 40, top + 30))
        photos.append(photo)
    calls: list[int] = []
    localiser.net.register_forward_hook(lambda module, args, out: calls.append(len(args[0])))
    together = localiser.find_all_each(photos)
    assert localiser.find_all_each(photos, [localiser.first_look(p) for p in photos]) == together
    # The first looks of the three photos (and their mirror images), then all their close-ups.
    assert len(calls) == 4 and calls[0] == calls[2] == 6
    alone = [localiser.find_all(photo) for photo in photos]
    assert [[box for box, _ in found] for found in together] == [[box for box, _ in found] for found in alone]
    for found_together, found_alone in zip(together, alone, strict=True):
        np.testing.assert_allclose([s for _, s in found_together], [s for _, s in found_alone], atol=1e-5)
    for found, (left, top) in zip(together, [(10, 30), (70, 20), (40, 60)], strict=True):
        assert box_iou(found[0][0], (left, top, left + 40, top + 30)) > 0.7


def test_the_map_is_the_mean_of_the_photo_and_its_mirror_image() -> None:
    photo = Image.new("RGB", (96, 128), "black")
    photo.paste((255, 255, 255), (0, 0, 16, 16))  # top-left; the mirror pass sees it top-right
    prediction = ProductLocaliser(BrightIsProduct(), input_side=96).predict(photo)
    # Both passes agree once the mirror pass is flipped back: the same box from either side.
    assert prediction.centre[0, 0] == pytest.approx(prediction.centre.max())
    np.testing.assert_allclose(prediction.boxes[:, 0, 0], [0, 0, 16, 16], atol=1e-4)


def test_peaks_are_most_probable_first_and_skip_cells_inside_a_box_found() -> None:
    assert MapPrediction(np.full((4, 4), 0.05), np.zeros((4, 4, 4))).peaks(min_score=0.1, count=3) == []
    centre = np.zeros((4, 6))
    centre[1, 2], centre[1, 1] = 0.9, 0.3  # the best cell and a neighbour that agrees less
    centre[2, 5] = 0.5  # another thing, further right
    boxes = np.zeros((4, 4, 6))
    boxes[:, 1, 2] = [10, 10, 30, 30]
    boxes[:, 1, 1] = [14, 10, 34, 30]
    boxes[:, 2, 5] = [40, 16, 48, 24]
    found = MapPrediction(centre, boxes).peaks(count=3)
    assert [score for _, score in found] == [0.9, 0.5]  # the neighbour at 0.3 lies inside the first box
    assert found[0][0] == pytest.approx((11.0, 10.0, 31.0, 30.0))
    assert found[1][0] == pytest.approx((40.0, 16.0, 48.0, 24.0))
    # Cell positions scale with the image: with cells 16 pixels wide, the third cell's centre is at
    # x = 40, inside the second box; with 8-pixel cells it would be at 20, outside it.
    wide = MapPrediction(centre, boxes * 2, cell_size=(16.0, 16.0)).peaks(count=3)
    assert [score for _, score in wide] == [0.9, 0.5]


def test_saved_localiser_loads_next_to_its_checkpoint(tmp_path: Path) -> None:
    torch.manual_seed(0)
    localiser = ProductLocaliser(ProductMapNet(width=4).eval(), input_side=64)
    checkpoint = tmp_path / "shop.pt"
    checkpoint.write_bytes(b"checkpoint")
    assert localiser_path(checkpoint) == tmp_path / "shop.localiser.pt"
    spec = parse_model_spec(f"{tmp_path / 'shop.json'}:{checkpoint}")
    assert localiser_for(spec) is None  # trained without one
    localiser.save(localiser_path(checkpoint))
    loaded = localiser_for(spec)
    assert loaded is not None and loaded.input_side == 64
    photo = Image.fromarray(np.random.default_rng(1).integers(0, 255, (80, 64, 3), dtype=np.uint8))
    np.testing.assert_allclose(loaded.predict(photo).boxes, localiser.predict(photo).boxes, atol=1e-5)
    assert localiser_for(parse_model_spec("ViT-B-32:random")) is None


def test_a_damaged_localiser_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "shop.localiser.pt"
    path.write_bytes(b"not a torch file")
    with pytest.raises(ModelError, match=r"shop\.localiser\.pt"):
        ProductLocaliser.load(path)


def test_a_localiser_from_another_format_asks_for_training_again(tmp_path: Path) -> None:
    path = tmp_path / "shop.localiser.pt"
    torch.save({"format": 1, "width": 4, "input_side": 64, "state_dict": {}}, path)
    with pytest.raises(ModelError, match=r"format 1.*train the model again"):
        ProductLocaliser.load(path)


def test_a_localiser_the_checkpoint_does_not_name_is_refused(tmp_path: Path) -> None:
    torch.manual_seed(0)
    checkpoint = tmp_path / "shop.pt"
    spec = parse_model_spec(f"{tmp_path / 'shop.json'}:{checkpoint}")
    localiser = ProductLocaliser(ProductMapNet(width=4).eval(), input_side=64)
    localiser.save(localiser_path(checkpoint))
    digest = hashlib.sha256(localiser_path(checkpoint).read_bytes()).hexdigest()
    torch.save({"snapbuy_training": {"localiser": {"sha256": digest}}}, checkpoint)
    assert recorded_localiser_digest(checkpoint) == digest
    assert localiser_for(spec) is not None
    # A later training run stopped after writing its localiser but before its checkpoint.
    ProductLocaliser(ProductMapNet(width=4).eval(), input_side=72).save(localiser_path(checkpoint))
    with pytest.raises(ModelError, match=r"was not trained with .*shop\.pt.*train the model again"):
        localiser_for(spec)
    # Checkpoints that record no localiser (or that torch cannot read) are not checked here.
    torch.save({"state_dict": {}}, checkpoint)
    assert recorded_localiser_digest(checkpoint) is None and localiser_for(spec) is not None


def test_find_all_keeps_each_product_once_best_first(monkeypatch: pytest.MonkeyPatch) -> None:
    photo = Image.new("RGB", (900, 1200))
    localiser = ProductLocaliser(BrightIsProduct(), input_side=96)
    # The first look: a watch, the same watch a little to the side, and a mug lower down.
    places = [((100, 100, 300, 300), 0.9), ((120, 110, 320, 310), 0.8), ((500, 700, 700, 900), 0.7)]
    close_up_scores = iter([0.6, 0.7, 0.95])

    def look(image: Image.Image, count: int) -> list[tuple[tuple[int, int, int, int], float]]:
        if image.size == photo.size:
            return places[:count]
        return [((0, 0, image.width, image.height), next(close_up_scores))]

    monkeypatch.setattr(localiser, "_look_each", each(look))
    found = localiser.find_all(photo)
    # Best close-up first; the second sighting of the watch overlaps the first and is dropped.
    assert [score for _, score in found] == [0.95, 0.7]
    assert found[0][0][1] > 600 and found[1][0][0] < 200  # the mug, then the watch
    assert all(box_iou(a, b) <= SAME_PRODUCT_IOU for (a, _), (b, _) in itertools.combinations(found, 2))
