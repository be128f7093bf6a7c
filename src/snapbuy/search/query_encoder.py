"""Photo or text -> one query vector. Finds the product in the photo first: around the client's box or
the localiser's when there is one, else by the grid crop that best matches the catalog."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, runtime_checkable

import numpy as np
from PIL import Image

from snapbuy.crops import Box, box_framings, box_views, crop_boxes, query_crops
from snapbuy.deadline import Deadline, check
from snapbuy.embed.base import Embedder, input_side
from snapbuy.errors import InvalidParameterError
from snapbuy.search.framing import FramingSettings
from snapbuy.search.results import FoundProduct


class Localiser(Protocol):
    """Finds the products in a photo (snapbuy.localiser.ProductLocaliser, or one run elsewhere): their
    boxes with the net's confidence, best first."""

    def find_all(self, image: Image.Image) -> list[tuple[Box, float]]: ...


@runtime_checkable
class BatchLocaliser(Localiser, Protocol):
    """A localiser that also takes several photos in one go, for less than one call each, and whose
    first step (first_look: resizing) can be done beforehand on the caller's thread."""

    def first_look(self, image: Image.Image) -> Image.Image: ...

    def find_all_each(
        self, images: Sequence[Image.Image], first_looks: Sequence[Image.Image] | None = None
    ) -> list[list[tuple[Box, float]]]: ...


# The least detail an upload keeps on its longer side: a demo model with 48-pixel input kept 192 and
# lost 2.4 points of held-out group recall@1 (docs/experiments/2026-12-05-query-throughput.md).
MIN_PHOTO_SIDE = 896

# Rows of L2-normalised vectors -> each row's cosine similarity to its nearest catalog vector.
BestCatalogScores = Callable[[np.ndarray], np.ndarray]


def mean_direction(vectors: np.ndarray) -> np.ndarray:
    """The unit vector along the mean of unit vectors: their consensus, comparable by dot product."""
    mean: np.ndarray = np.asarray(vectors, dtype=np.float32).mean(axis=0)
    norm = float(np.linalg.norm(mean))
    return mean / norm if norm > 0 else mean


class QueryEncoder:
    def __init__(
        self,
        embedder: Embedder,
        best_catalog_scores: BestCatalogScores,
        framing: FramingSettings | None = None,
        localiser: Localiser | None = None,
    ) -> None:
        """`best_catalog_scores` judges candidate framings against the catalog; the encoder needs
        nothing else of it."""
        self.embedder = embedder
        self.framing = framing or FramingSettings()
        self.localiser = localiser
        self._best_scores = best_catalog_scores
        self._framings = box_framings(self.framing.box_margins, self.framing.box_shift)
        # Views are shrunk to about twice the model's input side before its own preprocessing, which
        # would otherwise cost more than the model itself.
        side = input_side(embedder.identity.preprocessing)
        self._view_side = 2 * side if side is not None else None
        # The detail an upload keeps: a view is shrunk to view_side pixels across, and the smallest
        # view worth keeping sharp is a product square half the photo's longer side across (the
        # localiser's and the grid's squares are mostly larger), so a photo whose longer side is
        # twice view_side (4x the model's input side: 896 for 224) loses nothing the model sees. The
        # localiser's close-ups need detail whatever the model's input, so never under
        # MIN_PHOTO_SIDE. Uploads decode to at least this and under twice it (decode_image's
        # detail_side); None: unknown input size, decode in full.
        self.photo_side = max(2 * self._view_side, MIN_PHOTO_SIDE) if self._view_side is not None else None

    def encode_image(
        self, image: Image.Image, deadline: Deadline | None = None, box: Box | None = None
    ) -> tuple[np.ndarray, FoundProduct]:
        """The query vector of a photo, judged on the product's own pixels rather than the scene's, and
        where in the photo it came from: the framings of `box` when the client gave one; else, with a
        localiser, of the product box it finds; otherwise (or when it finds none) the photo or the grid
        crop whose nearest catalog vector is closest. A `deadline` is checked before each stage."""
        return self.encode_products(image, deadline, box)[0]

    def encode_products(
        self,
        image: Image.Image,
        deadline: Deadline | None = None,
        box: Box | None = None,
        max_products: int = 1,
        min_score: float = 0.0,
    ) -> list[tuple[np.ndarray, FoundProduct]]:
        """As encode_image, for up to `max_products` products in the photo, best first: the
        localiser's best box always, and each further one it scores at least `min_score`. All their
        views go through the model in one call."""
        if box is not None:
            vector = self._framed_each(image, [box], deadline)[0]
            return [(vector, FoundProduct(box, "client", image.size))]
        if self.localiser is not None:
            check(deadline, "finding the product")
            found = self.localiser.find_all(image)
            candidates = max(max_products, self.framing.product_candidates)
            boxes = [
                (found_box, score)
                for rank, (found_box, score) in enumerate(found[:candidates])
                if rank < self.framing.product_candidates or score >= min_score
            ]
            if boxes:
                vectors = self._framed_each(image, [b for b, _ in boxes], deadline)
                answers = [
                    (vector, FoundProduct(found_box, "localiser", image.size, score))
                    for vector, (found_box, score) in zip(vectors, boxes, strict=True)
                ]
                return self._closest_first(answers, max_products, min_score)
        return [self._best_crop(image, deadline)]

    def _closest_first(
        self, answers: list[tuple[np.ndarray, FoundProduct]], max_products: int, min_score: float
    ) -> list[tuple[np.ndarray, FoundProduct]]:
        """The candidate box whose view matches a catalog product closest first (a vase or a face the
        localiser ranked above the product matches nothing well), then the others in the localiser's
        order, those scored under `min_score` left out, `max_products` at most."""
        contenders = answers[: self.framing.product_candidates]
        if len(contenders) > 1:
            closeness = self._best_scores(np.stack([vector for vector, _ in contenders]))
            first = int(np.argmax(closeness))
            answers = [answers[first], *answers[:first], *answers[first + 1 :]]
        rest = [answer for answer in answers[1:] if (answer[1].score or 0.0) >= min_score]
        return [answers[0], *rest][:max_products]

    def _best_crop(self, image: Image.Image, deadline: Deadline | None) -> tuple[np.ndarray, FoundProduct]:
        check(deadline, "the model")
        vectors = self.embedder.embed_images(query_crops(image, self.framing.crop_scales))
        check(deadline, "choosing the crop")
        best = 0 if len(vectors) == 1 else int(np.argmax(self._best_scores(vectors)))
        if best == 0:  # query_crops puts the whole photo first
            return np.asarray(vectors[0]), FoundProduct((0, 0, *image.size), "photo", image.size)
        crop = crop_boxes(image.size, self.framing.crop_scales)[best - 1]
        return np.asarray(vectors[best]), FoundProduct(crop, "crop grid", image.size)

    def _framed_each(
        self, image: Image.Image, boxes: list[Box], deadline: Deadline | None
    ) -> list[np.ndarray]:
        """The weighted framings of each box, every view through the model in one call."""
        check(deadline, "the model")
        per_box = [
            box_views(image, box, self._framings, self.framing.mirror_views, self._view_side) for box in boxes
        ]
        views = self.embedder.embed_images([view for box_views_ in per_box for view in box_views_])
        check(deadline, "weighing the framings")
        count = len(per_box[0])
        return [self._weighted_framings(views[i * count : (i + 1) * count]) for i in range(len(boxes))]

    def encode_text(self, text: str, deadline: Deadline | None = None) -> np.ndarray:
        if not text.strip():
            raise InvalidParameterError("text query 'q' is empty")
        check(deadline, "the model")
        return np.asarray(self.embedder.embed_texts([text])[0])

    def _weighted_framings(self, views: np.ndarray) -> np.ndarray:
        """One query from the views of every framing (then their mirror images, as box_views orders
        them): each framing's mean direction, weighted by a softmax over how closely it matches its
        nearest catalog vector, so the framings that show the product as the catalog does count most."""
        count = len(self._framings)
        per_framing = np.stack([mean_direction(views[i::count]) for i in range(count)])
        temperature = self.framing.framing_temperature
        if temperature == 0 or count == 1:
            return mean_direction(per_framing)
        closeness = self._best_scores(per_framing).astype(np.float64)
        weights = np.exp((closeness - closeness.max()) / temperature)
        return mean_direction(per_framing * weights[:, None].astype(np.float32))
