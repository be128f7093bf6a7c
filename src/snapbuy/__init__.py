"""snapbuy: photograph a product, get the catalog's lookalikes across price tiers."""

__version__ = "0.1.0"
