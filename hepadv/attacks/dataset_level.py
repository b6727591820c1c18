"""Plugin API 1 location of the dataset-level attack base; API 2 has one contract in ``hepadv.attacks.base``."""

from hepadv.attacks.base import AttackResult, DatasetAttack, DatasetAttackParams, DatasetAttackResult, attack_kind

__all__ = ["AttackResult", "DatasetAttack", "DatasetAttackParams", "DatasetAttackResult", "attack_kind"]
