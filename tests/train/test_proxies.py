"""Learned product proxies: the loss rewards features near their own product's proxy, and training the
proxies alone pulls them towards the features."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from snapbuy.train.proxies import ProductProxies, margin_cross_entropy


def unit_proxies(proxies: ProductProxies) -> torch.Tensor:
    return F.normalize(proxies.vectors.detach(), dim=-1)


def test_features_on_their_own_proxy_score_a_lower_loss_than_on_another() -> None:
    proxies = ProductProxies(8, 16, torch.Generator().manual_seed(0))
    products = torch.arange(8)
    scale = torch.tensor(20.0)
    own = proxies.loss(unit_proxies(proxies), products, scale)
    shifted = proxies.loss(unit_proxies(proxies).roll(1, dims=0), products, scale)
    assert own < 0.5 < shifted


def test_proxies_are_deterministic_by_generator_seed() -> None:
    first = ProductProxies(5, 4, torch.Generator().manual_seed(3)).vectors
    again = ProductProxies(5, 4, torch.Generator().manual_seed(3)).vectors
    other = ProductProxies(5, 4, torch.Generator().manual_seed(4)).vectors
    assert torch.equal(first, again) and not torch.equal(first, other)


def test_training_the_proxies_alone_pulls_them_to_their_products_features() -> None:
    generator = torch.Generator().manual_seed(1)
    features = F.normalize(torch.randn(6, 8, generator=generator), dim=-1)
    products = torch.arange(6)
    proxies = ProductProxies(6, 8, generator)
    optimiser = torch.optim.SGD(proxies.parameters(), lr=0.5)
    before = proxies.loss(features, products, torch.tensor(10.0)).item()
    for _ in range(50):
        loss = proxies.loss(features, products, torch.tensor(10.0))
        optimiser.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
    assert loss.item() < before / 4
    # Each product's nearest proxy is now its own.
    assert torch.equal((features @ unit_proxies(proxies).T).argmax(dim=1), products)


def test_fine_tuning_proxies_start_at_the_given_embeddings() -> None:
    proxies = ProductProxies(3, 4, torch.Generator().manual_seed(0))
    embeddings = F.normalize(torch.randn(3, 4, generator=torch.Generator().manual_seed(5)), dim=-1)
    proxies.start_at(embeddings)
    assert torch.equal(proxies.vectors.detach(), embeddings) and proxies.vectors.requires_grad
    # Already where the products are: each product's features score their own proxy best.
    assert proxies.loss(embeddings, torch.arange(3), torch.tensor(50.0)).item() < 0.1


def test_a_margin_keeps_the_loss_up_until_the_own_proxy_wins_by_it() -> None:
    proxies = ProductProxies(4, 8, torch.Generator().manual_seed(2))
    products, scale = torch.arange(4), torch.tensor(30.0)
    on_own = unit_proxies(proxies)
    plain = proxies.loss(on_own, products, scale)
    assert torch.equal(proxies.loss(on_own, products, scale, margin=0.0), plain)
    assert proxies.loss(on_own, products, scale, margin=0.3) > plain
    # Features between their own proxy and another's: ranked right, but by less than the margin.
    between = F.normalize(on_own + 0.8 * on_own.roll(1, dims=0), dim=-1)
    assert proxies.loss(between, products, scale, margin=0.3) > 2 * proxies.loss(between, products, scale)


def test_the_margin_lowers_only_the_target_cosine() -> None:
    cosines = torch.tensor([[0.9, 0.8, 0.1], [0.2, 0.3, 0.7]])
    targets, scale = torch.tensor([0, 2]), torch.tensor(10.0)
    assert torch.equal(
        margin_cross_entropy(cosines, targets, scale), F.cross_entropy(10.0 * cosines, targets)
    )
    lowered = torch.tensor([[0.7, 0.8, 0.1], [0.2, 0.3, 0.5]])
    assert torch.allclose(
        margin_cross_entropy(cosines, targets, scale, margin=0.2), F.cross_entropy(10.0 * lowered, targets)
    )
