"""Engines: the image optimiser, the network trainer, the feed-forward inference path and torch.compile
wrapping; they emit progress events."""
