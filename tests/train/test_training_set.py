from __future__ import annotations

from snapbuy.train.training_set import design_indices


def test_designs_are_numbered_in_order_of_first_appearance() -> None:
    assert design_indices(["WAT001", "WAT002", "WAT001", "sku:X-1"]).tolist() == [0, 1, 0, 2]
