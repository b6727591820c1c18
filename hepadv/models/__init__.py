"""Taggers: torch modules that return logits for a known input spec."""
