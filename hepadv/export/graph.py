"""``FeatureSpec.transform`` and the model as one torch module, so the exported graph takes raw inputs.

``RawPreprocess`` is ``spec.transform`` written with tensor operations that export to plain ONNX
operators (IsNaN, IsInf, Abs, Equal, Less, Gather, Where, Sub, Div, Cast): placeholders and absurd
values, the DeepCSV rules (negative values of non-negative features, -1 of the "above charm" features,
values of tracks the jet does not have) become missing, missing values take the per-feature default,
then mean/std scaling. Marking runs in float32 like ``MissingRules.mark`` (which casts to float32 first);
filling and scaling run in float64 like ``FeatureSpec.fill_and_scale``, so the scaled inputs are
bitwise those of ``spec.transform``. ``RawTagger`` adds the model and the softmax.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from hepadv.data.spec import FeatureSpec


@dataclass(frozen=True)
class MissingPlan:
    """The missing-value rules of a spec as per-feature arrays (what the graph and the sidecar JSON hold)."""

    placeholders: tuple[float, ...]
    absurd: float
    deepcsv: np.ndarray  # bool: the DeepCSV rules apply to this feature
    nonnegative: np.ndarray  # bool: a negative value is a placeholder
    minus_one: np.ndarray  # bool: exactly -1 is a placeholder (the "above charm" features)
    count_index: np.ndarray  # int64: column of the track count that gates this feature (-1: none)
    needs: np.ndarray  # float32: tracks the jet must have for this feature to exist (k + 1)

    @classmethod
    def from_spec(cls, spec: FeatureSpec) -> MissingPlan:
        from hepadv.data.deepcsv_features import ABOVE_CHARM_FEATURES, FEATURES, NONNEGATIVE_FEATURES, track_index

        n = spec.n_features
        names = spec.names
        rules = spec.missing
        deep = np.array([rules.deepcsv and name in set(FEATURES) for name in names], dtype=bool)
        nonneg = deep & np.array([name in NONNEGATIVE_FEATURES for name in names], dtype=bool)
        minus_one = deep & np.array([name in ABOVE_CHARM_FEATURES for name in names], dtype=bool)
        count_index = np.full(n, -1, dtype=np.int64)
        needs = np.zeros(n, dtype=np.float32)
        # the count columns are looked up among the DeepCSV-named columns, as mark_missing sees only those
        index = {name: j for j, name in enumerate(names) if deep[j]}
        counts = {"track": index.get("Jet_DeepCSV_jetNSelectedTracks"),
                  "etarel": index.get("Jet_DeepCSV_jetNTracksEtaRel")}
        for j, name in enumerate(names):
            tk = track_index(name) if deep[j] else None
            if tk is not None and counts[tk[0]] is not None:
                count_index[j] = counts[tk[0]]
                needs[j] = tk[1] + 1
        return cls(tuple(float(v) for v in rules.placeholders), float(rules.absurd), deep, nonneg, minus_one,
                   count_index, needs)

    def to_dict(self, names: tuple[str, ...]) -> dict[str, object]:
        """The rules in words and names, for the JSON beside the ONNX file."""
        gated = {names[j]: {"count": names[int(c)], "at_least": int(self.needs[j])}
                 for j, c in enumerate(self.count_index) if c >= 0}
        return {
            "always_missing": ["NaN", "+Inf", "-Inf", f"|x| > {self.absurd:g}",
                               *(f"x == {v:g}" for v in self.placeholders)],
            "deepcsv_rules_on": [names[j] for j in np.flatnonzero(self.deepcsv)],
            "deepcsv_always_missing": ["x == -999", "|x| > 1e+30"],
            "missing_if_negative": [names[j] for j in np.flatnonzero(self.nonnegative)],
            "missing_if_minus_one": [names[j] for j in np.flatnonzero(self.minus_one)],
            "missing_unless_count": gated,
        }


class RawPreprocess(nn.Module):
    """(batch, n_features) raw float32 inputs in original units -> the scaled float32 model inputs."""

    def __init__(self, spec: FeatureSpec) -> None:
        super().__init__()
        from hepadv.data.deepcsv_features import PLACEHOLDER
        from hepadv.data.spec import ABSURD

        plan = MissingPlan.from_spec(spec)
        f32 = torch.float32
        self.placeholders = [float(np.float32(v)) for v in plan.placeholders]
        self.has_deepcsv = bool(plan.deepcsv.any())
        self.has_tracks = bool((plan.count_index >= 0).any())
        self.register_buffer("absurd", torch.tensor(plan.absurd, dtype=f32))
        self.register_buffer("deep_absurd", torch.tensor(ABSURD, dtype=f32))
        self.deep_placeholder = float(np.float32(PLACEHOLDER))
        self.register_buffer("deepcsv", torch.as_tensor(plan.deepcsv))
        self.register_buffer("nonnegative", torch.as_tensor(plan.nonnegative))
        self.register_buffer("minus_one", torch.as_tensor(plan.minus_one))
        self.register_buffer("gated", torch.as_tensor(plan.count_index >= 0))
        self.register_buffer("count_index", torch.as_tensor(np.where(plan.count_index >= 0, plan.count_index, 0)))
        self.register_buffer("needs", torch.as_tensor(plan.needs, dtype=f32))
        self.register_buffer("defaults", torch.as_tensor(spec.defaults, dtype=torch.float64))
        self.register_buffer("mean", torch.as_tensor(spec.mean, dtype=torch.float64))
        self.register_buffer("std", torch.as_tensor(spec.std, dtype=torch.float64))

    def missing(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, n_features) bool: the values ``MissingRules.mark`` sets to NaN."""
        bad = torch.isnan(x) | torch.isinf(x) | (torch.abs(x) > self.absurd)
        for value in self.placeholders:
            bad = bad | (x == value)
        if self.has_deepcsv:
            deep = (x == self.deep_placeholder) | (torch.abs(x) > self.deep_absurd)
            deep = deep | (self.nonnegative & (x < 0)) | (self.minus_one & (x == -1.0))
            bad = bad | (self.deepcsv & deep)
        if self.has_tracks:
            marked = torch.where(bad, torch.full_like(x, float("nan")), x)
            counts = torch.index_select(marked, 1, self.count_index)
            bad = bad | (self.gated & ~(counts >= self.needs))  # a NaN count has no tracks
        return bad

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        x = raw.to(torch.float32)
        filled = torch.where(self.missing(x), self.defaults, x.to(torch.float64))
        return ((filled - self.mean) / self.std).to(torch.float32)


class RawTagger(nn.Module):
    """Raw inputs -> class probabilities: ``spec.transform``, the model (eval mode), softmax over classes."""

    def __init__(self, spec: FeatureSpec, model: nn.Module) -> None:
        super().__init__()
        self.preprocess = RawPreprocess(spec)
        self.model = model.eval()

    def forward(self, raw: torch.Tensor) -> torch.Tensor:
        return torch.softmax(self.model(self.preprocess(raw)), dim=1)
