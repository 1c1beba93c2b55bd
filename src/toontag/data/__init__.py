"""Datasets: folder layouts and CSV manifests, image decoding, splits and the uint8 cache."""
