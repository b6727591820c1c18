"""Attacks and distortions of model inputs, in scaled feature space."""
