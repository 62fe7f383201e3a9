"""Datasets: builders that write `data/` deterministically, and loaders that put a split on the device."""
