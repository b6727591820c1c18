"""CONSERVAttack (seed 004): a dataset-level attack that keeps every histogram and correlation."""
