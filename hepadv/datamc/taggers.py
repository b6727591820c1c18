"""Taggers evaluated inside the Data/MC processor: trained hepadv models and CMS's stored discriminators.

* ``ModelTagger``: a trained run's checkpoint shipped as a ``PortableModel`` (weights as numpy + the
  FeatureSpec dict: cheap to pickle to workers, no training state). Inputs are built from the jets'
  ``Jet_DeepCSV_*`` (+ ``Jet_pt``/``Jet_eta``) branches in ``spec.names`` order and go through the same
  preprocessing as training (placeholders -> missing -> stored defaults -> stored mean/std). Outputs: the four
  class probabilities and the four discriminators, raw and under each MC distortion (noise, shift, FGSM...).
* ``StoredTagger``: discriminators CMS stored in NanoAOD (``Jet_btagDeepB``/``C`` for DeepCSV,
  ``Jet_btagDeepFlavB`` with ``...C`` or ``...CvL`` for DeepJet), so Data/MC runs on any NanoAOD.
  B = P(b) + P(bb) (+ P(lepb)), C = P(c); BvsL = B / (1 - C), BvsC = B / (B + C), CvsB = C / (C + B),
  CvsL = C / (1 - B), as the SPEC's definitions; CMS's negative defaults give NaN -> the -0.1 default bin.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hepadv.data.deepcsv_features import flavour_labels
from hepadv.errors import CheckpointError, DataError

DISCRIMINATOR_NAMES: tuple[str, ...] = ("BvsL", "BvsC", "CvsB", "CvsL")
#: Models already rebuilt in this process (workers keep them between chunks): key -> loaded model.
_LOADED: dict[str, Any] = {}


def jet_branch(feature: str) -> str:
    """NanoAOD branch name -> field of the NanoEvents Jet collection (``Jet_DeepCSV_x`` -> ``DeepCSV_x``)."""
    return feature.removeprefix("Jet_")


# ---------------------------------------------------------------------------------------- trained models
@dataclass(frozen=True)
class PortableModel:
    """A checkpoint reduced to what inference needs: model description, numpy weights, spec dict, provenance.

    Stand-in with the interface of ``hepadv.runs.PortableModel`` (CORE_API) until that lands on main.
    """

    description: dict[str, Any]
    weights: dict[str, np.ndarray]
    spec: dict[str, Any]
    provenance: dict[str, Any] = field(default_factory=dict)

    def load(self, device: str = "cpu") -> Any:
        import torch

        from hepadv.data.base import FeatureSpec
        from hepadv.models.base import build_model

        d = self.description
        model = build_model(d["name"], d["params"], d["n_features"], d["n_classes"])
        model.load_state_dict({k: torch.as_tensor(v) for k, v in self.weights.items()})
        model.to(device).eval()
        return _Loaded(model, FeatureSpec.from_dict(self.spec))


@dataclass
class _Loaded:
    model: Any
    spec: Any


def portable_model(run_dir: Path, variant: str, checkpoint: str | int) -> PortableModel:
    """Integration point with ``hepadv.runs.load_trained(...).portable()`` (CORE_API); reads the checkpoint."""
    from hepadv.training.checkpoint import epoch_path, load_checkpoint

    ckpt_dir = Path(run_dir) / variant / "checkpoints"
    path = ckpt_dir / "best.pt" if checkpoint == "best" else epoch_path(ckpt_dir, int(checkpoint))
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint {checkpoint!r} for variant {variant!r} of run {run_dir}")
    state = load_checkpoint(path)
    if "spec" not in state or "model" not in state:
        raise CheckpointError(f"{path}: checkpoint lacks the model description or the FeatureSpec")
    weights = {k: v.detach().cpu().numpy() for k, v in state["state_dict"].items()}
    provenance = {"path": str(path), "epoch": state.get("epoch"), "best_epoch": state.get("best_epoch")}
    return PortableModel(state["model"], weights, state["spec"], provenance)


def transform(spec: Any, raw: np.ndarray) -> np.ndarray:
    """Integration point with ``FeatureSpec.transform`` (CORE_API): raw inputs with placeholders -> model inputs."""
    if hasattr(spec, "transform"):
        return spec.transform(raw)
    from hepadv.data.deepcsv_features import mark_missing
    from hepadv.data.preprocess import apply_spec

    marked, _ = mark_missing(raw, tuple(spec.names))
    return apply_spec(marked, spec)


def chunk_seed(seed: int, *key: str | int) -> int:
    """A 31-bit seed for one (distortion, sample, file, first entry): the same chunk gets the same draws."""
    text = "/".join(str(k) for k in (seed, *key))
    return zlib.crc32(text.encode()) & 0x7FFFFFFF


def distort(attack: Any, model: Any, x: Any, y: Any, spec: Any, seed: int) -> Any:
    """Integration point with ``Attack.__call__(..., rng=RandomStream)`` (CORE_API): seeded per chunk."""
    params = attack.params
    if "seed" in type(params).model_fields and params.seed is not None:
        attack = type(attack)(params.model_copy(update={"seed": seed}))
    return attack(model, x, y if attack.needs_labels else None, spec)


@dataclass
class ModelTagger:
    """One (run, variant, checkpoint): key like ``nominal@best`` or ``adversarial@e005``."""

    key: str
    portable: PortableModel
    batch_size: int = 65536
    kind: ClassVar[str] = "model"

    @property
    def spec_names(self) -> tuple[str, ...]:
        return tuple(self.portable.spec["names"])

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.portable.spec["classes"])

    def required_branches(self) -> list[str]:
        return [n if n.startswith("Jet_") else f"Jet_{n}" for n in self.spec_names]

    def outputs(self) -> tuple[str, ...]:
        return (*self.classes, *DISCRIMINATOR_NAMES)

    def loaded(self) -> Any:
        cache_key = f"{id(self.portable)}:{self.key}:{self.portable.provenance.get('path')}"
        if cache_key not in _LOADED:
            _LOADED[cache_key] = self.portable.load("cpu")
        return _LOADED[cache_key]

    def raw_inputs(self, jets: Any) -> np.ndarray:
        """(n_jets, n_features) float32 in spec order, straight from the branches (placeholders kept)."""
        import awkward as ak

        fields = set(jets.fields)
        cols = []
        for name in self.spec_names:
            f = jet_branch(name)
            if f not in fields:
                raise DataError(f"tagger {self.key!r} needs branch 'Jet_{f}', which the file lacks "
                                "(the DeepCSV inputs are in PFNano, not in standard NanoAOD)")
            cols.append(ak.to_numpy(ak.flatten(jets[f], axis=None)).astype(np.float32))
        return np.column_stack(cols) if cols else np.zeros((0, 0), np.float32)

    def evaluate(self, raw: np.ndarray, labels: np.ndarray | None, distortions: list[tuple[str, Any]],
                 seed_of: Any) -> dict[str, dict[str, np.ndarray]]:
        """{variation: {output: values}}: ``raw`` and, when ``labels`` is given (MC), each distortion."""
        import torch

        from hepadv.evaluation.discriminators import discriminator_from_logits

        m = self.loaded()
        x = torch.as_tensor(transform(m.spec, raw))
        inputs = {"raw": x}
        for label, attack in distortions:
            if labels is None:
                continue
            y = torch.as_tensor(labels)
            inputs[label] = distort(attack, m.model, x, y, m.spec, seed_of(label))
        out: dict[str, dict[str, np.ndarray]] = {}
        for variation, xv in inputs.items():
            with torch.no_grad():
                logits = torch.cat([m.model(xv[i: i + self.batch_size]) for i in range(0, len(xv), self.batch_size)]
                                   ) if len(xv) else torch.zeros((0, len(self.classes)))
            lg = logits.double().numpy()
            probs = torch.softmax(logits.double(), dim=1).numpy()
            values = {c: probs[:, i] for i, c in enumerate(self.classes)}
            if self.classes == ("b", "bb", "c", "udsg"):
                for d in DISCRIMINATOR_NAMES:
                    values[d] = discriminator_from_logits(lg, d, undefined=np.nan)
            out[variation] = values
        return out


# ---------------------------------------------------------------------------------------- stored discriminators
STORED_PRESETS: dict[str, dict[str, str]] = {
    # preset -> {"b": branch of B, "c": branch of C} or {"b": ..., "cvl": branch of CvsL}
    "deepcsv": {"b": "Jet_btagDeepB", "c": "Jet_btagDeepC"},
    "deepjet": {"b": "Jet_btagDeepFlavB", "c": "Jet_btagDeepFlavC", "cvl": "Jet_btagDeepFlavCvL"},
}


@dataclass
class StoredTagger:
    """CMS discriminators read from NanoAOD branches; DeepJet without ``btagDeepFlavC`` (NanoAOD v12) uses CvsL."""

    key: str
    preset: str
    kind: ClassVar[str] = "stored"

    def __post_init__(self) -> None:
        if self.preset not in STORED_PRESETS:
            raise DataError(f"unknown stored tagger {self.preset!r}; known: {', '.join(STORED_PRESETS)}")

    def outputs(self) -> tuple[str, ...]:
        return ("b+bb", "c", "udsg", *DISCRIMINATOR_NAMES)

    def branches_for(self, keys: set[str]) -> list[str]:
        """The branches this tagger reads from a file with ``keys``; DataError naming what is missing."""
        p = STORED_PRESETS[self.preset]
        if p["b"] not in keys:
            raise DataError(f"tagger {self.key!r} needs branch {p['b']!r}, which the file lacks")
        if p["c"] in keys:
            return [p["b"], p["c"]]
        if "cvl" in p and p["cvl"] in keys:
            return [p["b"], p["cvl"]]
        alt = f" or {p['cvl']!r}" if "cvl" in p else ""
        raise DataError(f"tagger {self.key!r} needs branch {p['c']!r}{alt}, which the file lacks")

    def required_branches(self) -> list[str]:
        p = STORED_PRESETS[self.preset]
        return [p["b"]]

    def evaluate_jets(self, jets: Any) -> dict[str, dict[str, np.ndarray]]:
        import awkward as ak

        p = STORED_PRESETS[self.preset]
        fields = set(jets.fields)

        def col(branch: str) -> np.ndarray:
            return ak.to_numpy(ak.flatten(jets[jet_branch(branch)], axis=None)).astype(np.float64)

        b = col(p["b"])
        if jet_branch(p["c"]) in fields:
            c = col(p["c"])
        else:  # CvsL = C / (1 - B - C)  =>  C = CvsL (1 - B) / (1 + CvsL)
            cvl = col(p["cvl"])
            c = np.where(cvl >= 0, cvl * (1 - b) / (1 + cvl), np.nan)
        valid = (b >= 0) & (c >= 0) & (b + c <= 1 + 1e-6)
        b = np.where(valid, b, np.nan)
        c = np.where(valid, c, np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            values = {
                "b+bb": b, "c": c, "udsg": np.clip(1 - b - c, 0, 1),
                "BvsL": _ratio(b, 1 - c), "BvsC": _ratio(b, b + c), "CvsB": _ratio(c, b + c), "CvsL": _ratio(c, 1 - b),
            }
        return {"raw": values}


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, np.clip(num / den, 0, 1), np.nan)


def truth_labels(jets: Any) -> tuple[np.ndarray, bool]:
    """DeepCSV class per jet from Jet_hadronFlavour (+ Jet_nBHadrons); False when bb cannot be told from b."""
    import awkward as ak

    hf = ak.to_numpy(ak.flatten(jets.hadronFlavour, axis=None))
    has_nb = "nBHadrons" in jets.fields
    nb = ak.to_numpy(ak.flatten(jets.nBHadrons, axis=None)) if has_nb else np.ones_like(hf)
    return flavour_labels(hf, nb), has_nb
