"""Comparing variants: AUC drops under every attack, and the papers' two checks against a reference.

The papers' claims (SPEC 4): an adversarially trained model keeps the reference's raw performance
(BvsL AUC within 0.01) and loses at most half of the reference's AUC under attack.
"""

from __future__ import annotations

from typing import Any

from hepadv.evaluation.robustness import auc_drop

#: Raw-AUC tolerance and maximal drop ratio of the papers' checks.
RAW_TOLERANCE = 0.01
MAX_DROP_RATIO = 0.5


def drop_ratio(reference: dict[str, Any], other: dict[str, Any]) -> float | None:
    """AUC drop of ``other`` over the reference's drop (None when undefined or the reference does not drop)."""
    if None in (reference["delta"], other["delta"]) or reference["delta"] >= 0:
        return None
    return other["delta"] / reference["delta"]


def compare(variant_metrics: dict[str, dict[str, Any]], attack_ids: list[str], reference: str | None,
            primary: str) -> dict[str, Any]:
    """Drops of every variant under every attack; checks of every other variant against ``reference``.

    ``variant_metrics[variant][raw | attack id][discriminator]`` are metrics dicts; ``primary`` is the
    discriminator of the raw-performance check (BvsL for DeepCSV, the only one of a binary task).
    """
    table = {name: {a: auc_drop(m["raw"], m[a]) for a in attack_ids} for name, m in variant_metrics.items()}
    checks: dict[str, Any] = {}
    if reference in table:
        for other in (n for n in table if n != reference):
            raw_ref = variant_metrics[reference]["raw"].get(primary, {}).get("auc")
            raw_other = variant_metrics[other]["raw"].get(primary, {}).get("auc")
            per_attack = {}
            for a in attack_ids:
                ratios = {d: drop_ratio(table[reference][a][d], table[other][a][d]) for d in table[reference][a]}
                per_attack[a] = {"drop_ratio": ratios,
                                 "drop_at_most_half": {d: r is not None and r <= MAX_DROP_RATIO
                                                       for d, r in ratios.items()}}
            check: dict[str, Any] = {"reference": reference, "primary": primary, "attacks": per_attack}
            if None not in (raw_ref, raw_other):
                check["raw_auc_difference"] = raw_other - raw_ref
                check["raw_within_tolerance"] = abs(check["raw_auc_difference"]) <= RAW_TOLERANCE
            checks[other] = check
    return {"reference": reference, "table": table, "checks": checks}
