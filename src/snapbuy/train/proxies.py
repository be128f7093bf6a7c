"""Learned proxies: one free vector per catalog product (or per design), which each training view and
catalog image is scored against (a cosine-softmax classifier over the whole catalog).

The trainer's other 1000-way targets move slowly: the memory bank's rows are catalog embeddings up to
an epoch stale, and the titles are learnt through the text tower. A proxy is updated every step with a
higher learning rate of its own, so each view has an up-to-date target for its product from the first
minutes. From scratch they start random; when fine-tuning, at the catalog images' embeddings. The
proxies only steer training; the checkpoint does not keep them."""

from __future__ import annotations

import torch
import torch.nn.functional as F


class ProductProxies(torch.nn.Module):
    def __init__(self, count: int, dim: int, generator: torch.Generator) -> None:
        super().__init__()
        self.vectors = torch.nn.Parameter(torch.randn(count, dim, generator=generator))

    def start_at(self, embeddings: torch.Tensor) -> None:
        """Begin from these per-product vectors instead: when fine-tuning, where the given weights
        already place each product, so the proxies do not pull a good embedding towards random ones."""
        with torch.no_grad():
            self.vectors.copy_(embeddings)

    def loss(
        self, features: torch.Tensor, products: torch.Tensor, scale: torch.Tensor, margin: float = 0.0
    ) -> torch.Tensor:
        """Cross-entropy of unit-length `features` over all proxies; `products` holds each row's product.
        With a `margin` (CosFace's additive cosine margin) the own proxy's cosine counts that much less:
        a feature has to beat every other proxy by the margin before its loss fades, which keeps
        pushing lookalikes apart after they are merely ranked right."""
        return margin_cross_entropy(features @ F.normalize(self.vectors, dim=-1).T, products, scale, margin)


def margin_cross_entropy(
    cosines: torch.Tensor, targets: torch.Tensor, scale: torch.Tensor, margin: float = 0.0
) -> torch.Tensor:
    """Cross-entropy of `scale` times the cosines [B, N], each row's target cosine lowered by `margin`
    (CosFace's additive margin; 0: plain softmax cross-entropy)."""
    if margin:
        cosines = cosines - margin * F.one_hot(targets, cosines.shape[1]).to(cosines.dtype)
    return F.cross_entropy(scale * cosines, targets)
