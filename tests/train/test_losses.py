from __future__ import annotations

from dataclasses import replace

import pytest
import torch
import torch.nn.functional as F

from snapbuy.train.losses import ContrastiveLoss, StepFeatures, design_means
from snapbuy.train.options import TrainOptions
from snapbuy.train.proxies import ProductProxies

PRODUCTS, DIM = 6, 8
ONLY_CLIP = TrainOptions(
    catalog_bank_weight=0.0, proxy_weight=0.0, design_proxy_weight=0.0, text_loss_weight=0.0
)


def unit_rows(count: int, seed: int) -> torch.Tensor:
    return F.normalize(torch.randn(count, DIM, generator=torch.Generator().manual_seed(seed)), dim=-1)


def objective(options: TrainOptions) -> ContrastiveLoss:
    proxies = ProductProxies(PRODUCTS, DIM, torch.Generator().manual_seed(1))
    designs = torch.tensor([0, 0, 1, 1, 2, 2])
    design_proxies = ProductProxies(3, DIM, torch.Generator().manual_seed(2))
    return ContrastiveLoss(options, unit_rows(PRODUCTS, 3), proxies, design_proxies, designs)


def step(all_titles: bool = False) -> StepFeatures:
    products = torch.tensor([4, 1, 3, 0])
    return StepFeatures(
        catalog=unit_rows(2, 4),
        views=unit_rows(4, 5),
        shown=products[:2],
        products=products,
        shown_titles=unit_rows(2, 6),
        all_titles=unit_rows(PRODUCTS, 7) if all_titles else None,
        scale=torch.tensor(10.0),
    )


def test_the_defaults_use_the_clip_bank_and_proxy_terms() -> None:
    terms = objective(TrainOptions()).terms(step())
    assert list(terms) == ["view", "title", "catalog_bank", "product_proxies", "design_proxies"]


def test_the_loss_is_the_sum_of_its_terms() -> None:
    loss = objective(TrainOptions())(step())
    terms = objective(TrainOptions()).terms(step())
    assert float(loss.detach()) == pytest.approx(
        sum(float(term.detach()) for term in terms.values()), rel=1e-6
    )


def test_a_weight_scales_its_term_and_zero_leaves_it_out() -> None:
    base = objective(ONLY_CLIP).terms(step())
    assert list(base) == ["view", "title"]
    doubled = objective(replace(ONLY_CLIP, view_loss_weight=2.0)).terms(step())
    assert float(doubled["view"]) == pytest.approx(2 * float(base["view"]), rel=1e-6)


def test_title_bank_terms_need_every_title() -> None:
    options = replace(ONLY_CLIP, title_bank_weight=1.0, catalog_title_bank_weight=1.0)
    loss = objective(options)
    assert loss.needs_all_titles and not objective(TrainOptions()).needs_all_titles
    assert {"catalog_title_bank", "title_bank"} <= set(loss.terms(step(all_titles=True)))


def test_the_catalog_bank_term_refreshes_the_shown_rows() -> None:
    loss = objective(TrainOptions())
    features = step()
    untouched = loss.bank[[2, 5]].clone()
    loss.terms(features)
    assert torch.equal(loss.bank[features.shown], features.catalog)
    assert torch.equal(loss.bank[[2, 5]], untouched)


def test_design_proxies_for_fine_tuning_start_at_each_design_mean() -> None:
    bank = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    means = design_means(bank, torch.tensor([0, 0, 1]))
    assert torch.allclose(means, torch.tensor([[0.5**0.5, 0.5**0.5], [0.0, 1.0]]))
