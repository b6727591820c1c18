"""Training: focal loss, slicing loader, checkpoints and the loop behind ``hepadv train``."""
