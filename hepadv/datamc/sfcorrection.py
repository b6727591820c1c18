"""The scale factors as a correctionlib JSON (schema v2): the format CMS analyses read.

One correction per tagger (``nominal``, ``adversarial``; ``nominal@e005`` for another checkpoint), with inputs
``systematic`` ("central", "up", "down": SF and SF +- its statistical uncertainty, "down" floored at 0),
``flavour`` (CMS hadronFlavour: 5 b, including bb; 4 c; 0 light; other codes are an error, as in CMS's files),
``CvsL`` and ``CvsB`` (the tagger's discriminators). Output ``weight``, a per-jet event weight for the MC.

Each flavour is a MultiBinning over (CvsL, CvsB) on the fit's grid, plus one bin (-inf, 0) on each axis that
holds 1.0: undefined discriminators (our NaN fill value -0.1, CMS's negative defaults) are not corrected.
Values above the last edge are clamped into the last bin (so a discriminator of exactly 1 is corrected).
Bins the fit flagged (too few events, non-positive or unconverged) hold 1.0 with no variation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hepadv.datamc.sffit import HADRON_FLAVOUR, SF_FLAVOURS, SFResult
from hepadv.io import atomic_write_text

SYSTEMATICS: tuple[str, ...] = ("central", "up", "down")


def correction_name(tagger_key: str) -> str:
    """``nominal@best`` -> ``nominal``; other checkpoints and stored taggers keep their key."""
    return tagger_key.removesuffix("@best")


def _values(result: SFResult, flavour: str, systematic: str) -> np.ndarray:
    sf, unc = result.sf[flavour], result.unc[flavour]
    if systematic == "up":
        return sf + unc
    if systematic == "down":
        return np.clip(sf - unc, 0.0, None)
    return sf


def _multibinning(result: SFResult, flavour: str, systematic: str) -> Any:
    import correctionlib.schemav2 as cs

    values = np.ones((result.grid.shape[0] + 1, result.grid.shape[1] + 1))  # row/column 0: undefined -> 1
    values[1:, 1:] = _values(result, flavour, systematic)
    return cs.MultiBinning(nodetype="multibinning", inputs=["CvsL", "CvsB"],
                           edges=[["-inf", *result.grid.cvsl], ["-inf", *result.grid.cvsb]],
                           content=[float(v) for v in values.ravel()], flow="clamp")


def correction(tagger_key: str, result: SFResult, description: str) -> Any:
    """One schema-v2 Correction for one tagger's fit."""
    import correctionlib.schemav2 as cs

    by_systematic = [
        cs.CategoryItem(key=syst, value=cs.Category(
            nodetype="category", input="flavour",
            content=[cs.CategoryItem(key=HADRON_FLAVOUR[f], value=_multibinning(result, f, syst))
                     for f in SF_FLAVOURS]))
        for syst in SYSTEMATICS
    ]
    return cs.Correction(
        name=correction_name(tagger_key),
        description=description,
        version=1,
        inputs=[
            cs.Variable(name="systematic", type="string", description="central, up or down (statistical)"),
            cs.Variable(name="flavour", type="int", description="hadronFlavour: 5 b (and bb), 4 c, 0 light"),
            cs.Variable(name="CvsL", type="real", description="c/(c+udsg) of the tagger; < 0 undefined"),
            cs.Variable(name="CvsB", type="real", description="c/(c+b+bb) of the tagger; < 0 undefined"),
        ],
        output=cs.Variable(name="weight", type="real", description="per-jet shape scale factor for MC"),
        data=cs.Category(nodetype="category", input="systematic", content=by_systematic),
    )


def write_correction_set(results: dict[str, SFResult], path: Path, description: str,
                         per_tagger: dict[str, str] | None = None) -> Path:
    """Validate (pydantic schema v2) and write the CorrectionSet atomically; returns ``path``."""
    import correctionlib.schemav2 as cs

    cset = cs.CorrectionSet(
        schema_version=2, description=description,
        corrections=[correction(key, r, (per_tagger or {}).get(key, description)) for key, r in results.items()])
    atomic_write_text(path, cset.model_dump_json(exclude_unset=True, indent=1) + "\n")
    return path
