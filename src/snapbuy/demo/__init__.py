"""The offline demo: a procedurally drawn shop, shopper photos of it, and the orchestration of
generate -> train -> index -> evaluate -> serve."""
