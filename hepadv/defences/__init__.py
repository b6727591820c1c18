"""Defences: training strategies (adversarial training) and filters (detectors)."""
