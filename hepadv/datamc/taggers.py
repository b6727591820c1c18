"""Taggers evaluated inside the Data/MC processor: trained hepadv models and CMS's stored discriminators.

* ``ModelTagger``: a trained run's checkpoint shipped as a ``hepadv.runs.PortableModel`` (weights as numpy + the
  FeatureSpec dict: cheap to pickle to workers, no training state). Inputs are built from the jets'
  ``Jet_DeepCSV_*`` (+ ``Jet_pt``/``Jet_eta``) branches in ``spec.names`` order and go through the same
  preprocessing as training (``spec.transform``: placeholders -> missing -> stored defaults -> stored mean/std).
  Outputs: the class probabilities and the task's discriminators (BvsL, BvsC, CvsB, CvsL for DeepCSV), raw and
  under each MC distortion (noise, shift, FGSM...), whose random draws come from a per-file ``RandomStream``.
* ``StoredTagger``: discriminators CMS stored in NanoAOD (``Jet_btagDeepB``/``C`` for DeepCSV,
  ``Jet_btagDeepFlavB`` with ``...C`` or ``...CvL`` for DeepJet), so Data/MC runs on any NanoAOD.
  B = P(b) + P(bb) (+ P(lepb)), C = P(c); BvsL = B / (1 - C), BvsC = B / (B + C), CvsB = C / (C + B),
  CvsL = C / (1 - B), as the SPEC's definitions; CMS's negative defaults give NaN -> the -0.1 default bin.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hepadv.data.deepcsv_features import flavour_labels
from hepadv.errors import DataError
from hepadv.random import RandomStream, derive_seed
from hepadv.runs import PortableModel

#: Discriminators of the stored CMS taggers (DeepCSV-like classes).
DISCRIMINATOR_NAMES: tuple[str, ...] = ("BvsL", "BvsC", "CvsB", "CvsL")
#: Models already rebuilt in this process (workers keep them between chunks): key -> loaded model.
_LOADED: dict[str, Any] = {}


def jet_branch(feature: str) -> str:
    """NanoAOD branch name -> field of the NanoEvents Jet collection (``Jet_DeepCSV_x`` -> ``DeepCSV_x``)."""
    return feature.removeprefix("Jet_")


# ---------------------------------------------------------------------------------------- trained models
def portable_model(run_dir: Path, variant: str, checkpoint: str | int) -> PortableModel:
    """One checkpoint of a run as a PortableModel (weights + spec): what goes to workers."""
    from hepadv.runs import load_trained

    return load_trained(Path(run_dir), variant, checkpoint).portable()


def chunk_stream(seed: int, label: str, dataset: str, filename: str, entrystart: int) -> RandomStream:
    """The random stream of one distortion on one chunk, keyed by (sample, file, first entry).

    The rows a distortion sees are the chunk's selected jets, not file entries, so the stream is keyed by the
    chunk rather than offset by entry: every executor (same chunks) gets identical draws; another chunksize
    gives statistically equivalent, not identical, noise.
    """
    return RandomStream(derive_seed(seed, "datamc", label), (dataset, filename, int(entrystart)))


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
        from hepadv.evaluation.discriminators import discriminators_for

        return (*self.classes, *discriminators_for(self.classes))

    def loaded(self) -> Any:
        cache_key = f"{self.key}:{self.portable.provenance.get('path')}:{self.portable.epoch}"
        if cache_key not in _LOADED:
            _LOADED[cache_key] = self.portable.load("cpu")
        return _LOADED[cache_key]

    def raw_inputs(self, column: Any) -> np.ndarray:
        """(n_jets, n_features) float32 in spec order, straight from the branches (placeholders kept).

        ``column(field)`` returns one Jet field for the histogrammed jets (None when the file lacks it).
        """
        cols = []
        for name in self.spec_names:
            values = column(jet_branch(name))
            if values is None:
                raise DataError(f"tagger {self.key!r} needs branch 'Jet_{jet_branch(name)}', which the file lacks "
                                "(the DeepCSV inputs are in PFNano, not in standard NanoAOD)")
            cols.append(np.asarray(values, dtype=np.float32))
        return np.column_stack(cols)

    def evaluate(self, raw: np.ndarray, labels: np.ndarray | None, distortions: list[tuple[str, Any]],
                 stream_of: Any) -> dict[str, dict[str, np.ndarray]]:
        """{variation: {output: values}}: ``raw`` and, when ``labels`` is given (MC), each distortion.

        ``stream_of(label)`` is the RandomStream of that distortion for these rows (chunk-safe noise).
        """
        import torch

        from hepadv.evaluation.discriminators import discriminator_from_logits, discriminators_for

        m = self.loaded()
        x = torch.as_tensor(m.spec.transform(raw))  # the training preprocessing, constants stored with the run
        inputs = {"raw": x}
        if labels is not None:
            y = torch.as_tensor(labels)
            for label, attack in distortions:
                inputs[label] = attack.generate(m.model, x, y, m.spec, stream_of(label)).x_adv
        out: dict[str, dict[str, np.ndarray]] = {}
        for variation, xv in inputs.items():
            with torch.no_grad():
                logits = torch.cat([m.model(xv[i: i + self.batch_size]) for i in range(0, len(xv), self.batch_size)]
                                   ) if len(xv) else torch.zeros((0, len(self.classes)))
            lg = logits.double().numpy()
            probs = torch.softmax(logits.double(), dim=1).numpy()
            values = {c: probs[:, i] for i, c in enumerate(self.classes)}
            for name, disc in discriminators_for(self.classes).items():
                values[name] = discriminator_from_logits(lg, disc, undefined=np.nan)
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

    def evaluate_jets(self, column: Any) -> dict[str, dict[str, np.ndarray]]:
        p = STORED_PRESETS[self.preset]

        def col(branch: str) -> np.ndarray | None:
            values = column(jet_branch(branch))
            return None if values is None else np.asarray(values, dtype=np.float64)

        b = col(p["b"])
        c = col(p["c"])
        if b is None:
            raise DataError(f"tagger {self.key!r} needs branch {p['b']!r}, which the file lacks")
        if c is None:  # DeepJet CvsL = C / (C + UDS + G) = C / (1 - B)  =>  C = CvsL (1 - B)
            cvl = col(p["cvl"]) if "cvl" in p else None
            if cvl is None:
                raise DataError(f"tagger {self.key!r} needs branch {p['c']!r}, which the file lacks")
            c = np.where(cvl >= 0, cvl * (1 - b), np.nan)
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


def truth_labels(column: Any) -> tuple[np.ndarray, bool]:
    """DeepCSV class per jet from Jet_hadronFlavour (+ Jet_nBHadrons); False when bb cannot be told from b."""
    hf = np.asarray(column("hadronFlavour"))
    nb = column("nBHadrons")
    return flavour_labels(hf, np.ones_like(hf) if nb is None else np.asarray(nb)), nb is not None
