"""Datasets, feature specifications and preprocessing."""
