"""The model's training objective, one method per loss term: catalog image <-> shopper-photo view and
catalog image <-> title (open_clip's ClipLoss), views against the whole catalog (a memory bank of recent
catalog embeddings), optionally against every title, and both image kinds against learned proxies per
product and per design (train/proxies.py). The weights and margins come from TrainOptions."""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce
from operator import add

import torch
import torch.nn.functional as F

from snapbuy.train.options import TrainOptions
from snapbuy.train.proxies import ProductProxies, margin_cross_entropy


@dataclass(frozen=True)
class StepFeatures:
    """One step's L2-normalised features. The step shows the catalog images of its first products
    (`shown`, a prefix of `products`) and one view of every product in `products`."""

    catalog: torch.Tensor  # [C, dim] the shown catalog images
    views: torch.Tensor  # [B, dim] one view per product
    shown: torch.Tensor  # [C] product rows of the catalog images
    products: torch.Tensor  # [B] product row of each view
    shown_titles: torch.Tensor  # [C, dim] titles of the shown products
    all_titles: torch.Tensor | None  # [N, dim] every title, when a term scores against all of them
    scale: torch.Tensor  # the model's logit scale (exp of the learned log scale)


def design_means(bank: torch.Tensor, designs: torch.Tensor) -> torch.Tensor:
    """[D, dim] the mean catalog embedding of each design's products."""
    sums = torch.zeros(int(designs.max()) + 1, bank.shape[1], device=bank.device).index_add_(0, designs, bank)
    return F.normalize(sums, dim=-1)


class ContrastiveLoss:
    def __init__(
        self,
        options: TrainOptions,
        bank: torch.Tensor,
        proxies: ProductProxies,
        design_proxies: ProductProxies,
        designs: torch.Tensor,
    ) -> None:
        """`bank`: [N, dim] embeddings of every catalog image, refreshed in place with each step's
        catalog features. `designs`: [N] each product's design."""
        from open_clip.loss import ClipLoss

        self.options = options
        self.bank = bank
        self.proxies = proxies
        self.design_proxies = design_proxies
        self.designs = designs
        self._clip = ClipLoss()

    @property
    def needs_all_titles(self) -> bool:
        """Whether a term scores against every title (else only the step's own go through the text
        tower)."""
        return bool(self.options.title_bank_weight or self.options.catalog_title_bank_weight)

    def __call__(self, step: StepFeatures) -> torch.Tensor:
        """The weighted sum of every term whose weight is not 0, in a fixed order."""
        return reduce(add, self.terms(step).values())

    def terms(self, step: StepFeatures) -> dict[str, torch.Tensor]:
        """Each weighted term by name. Computing the catalog-bank term refreshes the bank."""
        o = self.options
        terms = {
            "view": o.view_loss_weight * self._clip(step.catalog, step.views[: len(step.shown)], step.scale),
            "title": o.text_loss_weight * self._clip(step.catalog, step.shown_titles, step.scale),
        }
        if step.all_titles is not None and o.catalog_title_bank_weight:
            terms["catalog_title_bank"] = o.catalog_title_bank_weight * self.catalog_title_bank(step)
        if o.catalog_bank_weight:
            terms["catalog_bank"] = o.catalog_bank_weight * self.catalog_bank(step)
        if step.all_titles is not None and o.title_bank_weight:
            terms["title_bank"] = o.title_bank_weight * self.title_bank(step)
        if o.proxy_weight:
            terms["product_proxies"] = o.proxy_weight * self.product_proxies(step)
        if o.design_proxy_weight:
            terms["design_proxies"] = o.design_proxy_weight * self.design_proxies_term(step)
        return terms

    def catalog_title_bank(self, step: StepFeatures) -> torch.Tensor:
        """Each shown catalog image against every title."""
        assert step.all_titles is not None
        return F.cross_entropy(step.scale * step.catalog @ step.all_titles.T, step.shown)

    def catalog_bank(self, step: StepFeatures) -> torch.Tensor:
        """Each view against every catalog image (the score search ranks by), with an additive cosine
        margin: stale bank rows for the rest of the catalog, fresh differentiable rows for this step's."""
        keys = self.bank.index_copy(0, step.shown, step.catalog)
        loss = margin_cross_entropy(
            step.views @ keys.T, step.products, step.scale, self.options.catalog_bank_margin
        )
        self.bank.index_copy_(0, step.shown, step.catalog.detach())
        return loss

    def title_bank(self, step: StepFeatures) -> torch.Tensor:
        """Each view against every title."""
        assert step.all_titles is not None
        return F.cross_entropy(step.scale * step.views @ step.all_titles.T, step.products)

    def product_proxies(self, step: StepFeatures) -> torch.Tensor:
        """Views and catalog images against a learned proxy per product."""
        margin = self.options.proxy_margin
        return self.proxies.loss(step.views, step.products, step.scale, margin) + self.proxies.loss(
            step.catalog, step.shown, step.scale, margin
        )

    def design_proxies_term(self, step: StepFeatures) -> torch.Tensor:
        """Views and catalog images against a learned proxy per design, shared by its colour variants."""
        margin, designs = self.options.proxy_margin, self.designs
        return self.design_proxies.loss(
            step.views, designs[step.products], step.scale, margin
        ) + self.design_proxies.loss(step.catalog, designs[step.shown], step.scale, margin)
