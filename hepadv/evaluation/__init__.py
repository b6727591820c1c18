"""Metrics of a trained tagger: discriminators, ROC curves, AUC, working-point efficiencies, robustness.

Pure numpy on purpose: evaluation runs inside event processors and on CPU-only workers, where
importing torch is neither needed nor cheap.
"""
