"""Synthetic images: cluttered scenes and shopper photos of a product (photos.py), products cut out of
their studio background (cutout.py), and batches of shopper-photo-like views (views.py). The demo draws
its shop with it, training its views, and indexing its catalog views; it depends on nothing above
snapbuy.errors, so all three can use it without importing each other."""
