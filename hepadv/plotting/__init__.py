"""Plots of tagger performance and robustness (ROC curves, discriminator shapes, training histories).

Every function writes one file atomically and closes its figure, so plots can be produced from batch jobs
and concurrent workers without a display and without half-written files.
"""
