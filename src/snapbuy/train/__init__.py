"""`snapbuy train`: contrastive training or fine-tuning of an open_clip model on a catalog."""
