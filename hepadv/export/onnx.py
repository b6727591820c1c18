"""A trained tagger as one ONNX file that takes raw inputs, as a CMSSW producer feeds them.

The graph is ``RawTagger``: ``spec.transform`` (placeholders and missing values, defaults, scaling), the
model and the softmax. Input ``raw_inputs``: float32 (batch, n_features) in original units, features in
the order of ``input_names`` in the JSON beside the file, placeholders (NaN, +-Inf, -999, |x| > 1e30, ...)
as the files carry them. Output ``probabilities``: float32 (batch, n_classes). The batch axis is dynamic.

Opset 18 by default (ONNX Runtime >= 1.14 runs it); a lower opset is converted by ONNX's version
converter and refused in one line when that fails. Every export is checked with ONNX Runtime against
``predict_proba(spec.transform(raw))`` on synthetic raw rows that contain every kind of placeholder
before the file is published; the largest difference is recorded in the JSON.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from hepadv.data.spec import FeatureSpec
from hepadv.errors import HepadvError
from hepadv.io import atomic_path, write_json
from hepadv.runs import TrainedModel

OPSET = 18
INPUT = "raw_inputs"
OUTPUT = "probabilities"
#: Largest |p_onnx - p_torch| an export may show on the check rows.
TOLERANCE = 1e-5
CHECK_ROWS = 2048
#: Loggers of the exporter that talk at INFO/WARNING about its own passes ("torchvision is not installed", ...).
QUIET_LOGGERS = ("torch.onnx", "onnxscript", "onnx_ir")


@dataclass(frozen=True)
class ExportResult:
    variant: str
    epoch: int
    path: Path  # the .onnx file
    meta_path: Path  # the JSON beside it
    max_abs_diff: float  # ONNX Runtime vs PyTorch on the check rows


def export_dir(run_dir: Path) -> Path:
    """RUN/export: where exported models go."""
    from hepadv.runs.layout import RunLayout

    return RunLayout(run_dir).export


def export_stem(variant: str, checkpoint: str | int) -> str:
    """``<variant>`` for the best checkpoint, ``<variant>_last`` / ``<variant>_epoch_007`` otherwise."""
    if str(checkpoint) == "best":
        return variant
    return f"{variant}_last" if str(checkpoint) == "last" else f"{variant}_epoch_{int(checkpoint):03d}"


def export_run(run_dir: Path, variant: str | None = None, checkpoint: str | int = "best", opset: int = OPSET,
               output: Path | None = None) -> list[ExportResult]:
    """Export one variant (or every trained variant) of a run to ``output`` (default RUN/export)."""
    from hepadv.runs import load_trained, variants

    run_dir = Path(run_dir)
    names = [variant] if variant is not None else variants(run_dir)
    if not names:
        raise HepadvError(f"{run_dir}: no trained variants to export (run hepadv train first)")
    out = Path(output) if output is not None else export_dir(run_dir)
    results = []
    for name in names:
        trained = load_trained(run_dir, name, checkpoint)
        results.append(export_trained(trained, out / f"{export_stem(name, checkpoint)}.onnx", opset,
                                      {"run": str(run_dir), "checkpoint": str(checkpoint)}))
    return results


def export_trained(trained: TrainedModel, path: Path, opset: int = OPSET,
                   provenance: dict[str, Any] | None = None) -> ExportResult:
    """Write ``path`` (ONNX) and ``path.with_suffix('.json')``, after checking the graph with ONNX Runtime."""
    import onnx

    from hepadv import __version__

    proto = _export_proto(trained, opset)
    meta = describe(trained, opset, {**(provenance or {}), "hepadv": __version__})
    for key, value in (("hepadv_input_names", trained.spec.names), ("hepadv_classes", trained.spec.classes)):
        proto.metadata_props.add(key=key, value=json.dumps(list(value)))
    proto.doc_string = (f"hepadv tagger {trained.variant} (epoch {trained.epoch}): raw inputs -> spec.transform "
                        "-> model -> softmax; see the JSON beside this file")
    raw = check_rows(trained.spec, CHECK_ROWS)
    with atomic_path(path, suffix=".onnx", mode=0o644) as tmp:
        onnx.save(proto, str(tmp))
        diff = max_abs_diff(tmp, trained, raw)
        if not diff <= TOLERANCE:
            raise HepadvError(f"{path}: the exported graph differs from PyTorch by {diff:.3g} on {len(raw)} check rows "
                              f"(tolerance {TOLERANCE:g}); not written")
    meta["check"] = {"rows": len(raw), "max_abs_diff": diff, "tolerance": TOLERANCE,
                     "what": "ONNX Runtime vs predict_proba(spec.transform(raw)) on synthetic raw rows with "
                             "NaN, +-Inf, -999, 1e34, -1 and absent tracks"}
    meta_path = path.with_suffix(".json")
    write_json(meta_path, meta)
    return ExportResult(trained.variant, trained.epoch, path, meta_path, diff)


def _export_proto(trained: TrainedModel, opset: int) -> Any:
    """The ONNX ModelProto of ``RawTagger`` with a dynamic batch axis (one-line error when export fails)."""
    import torch

    from hepadv.export.graph import RawTagger

    if tuple(int(p) for p in torch.__version__.split("+")[0].split(".")[:2]) < (2, 5):
        raise HepadvError(f"hepadv export needs torch >= 2.5 (its torch.export-based ONNX exporter); this is "
                          f"torch {torch.__version__}")
    module = RawTagger(trained.spec, trained.model.cpu()).eval()
    example = torch.zeros(2, trained.spec.n_features, dtype=torch.float32)
    quiet = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [log.level for log in quiet]
    for log in quiet:
        log.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(module, (example,), None, input_names=[INPUT], output_names=[OUTPUT],
                                        opset_version=opset, dynamo=True, verbose=False,
                                        dynamic_shapes=({0: torch.export.Dim("batch")},))
    except Exception as exc:  # the exporter's own text is pages long; the first line says what failed
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise HepadvError(f"model {trained.model.describe()['name']!r} ({trained.variant}) could not be exported "
                          f"to ONNX: {first}") from None
    finally:
        for log, level in zip(quiet, levels, strict=True):
            log.setLevel(level)
    proto = program.model_proto
    got = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if got != opset:
        raise HepadvError(f"--opset {opset}: the exporter could not convert the graph to it (it stays at opset "
                          f"{got}); choose a higher --opset (17 and {OPSET} are tested)")
    return proto


def max_abs_diff(path: Path, trained: TrainedModel, raw: np.ndarray) -> float:
    """max |ONNX Runtime(raw) - predict_proba(spec.transform(raw))| over all rows and classes."""
    import torch

    got = run_onnx(path, raw)
    want = trained.predict_proba(torch.as_tensor(trained.spec.transform(raw))).cpu().numpy()
    return float(np.abs(got - want).max()) if len(raw) else 0.0


def run_onnx(path: Path, raw: np.ndarray) -> np.ndarray:
    """Class probabilities from the exported file with ONNX Runtime (CPU)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run([OUTPUT], {INPUT: np.asarray(raw, dtype=np.float32)})[0]


def check_rows(spec: FeatureSpec, n: int, seed: int = 0) -> np.ndarray:
    """Synthetic raw rows around each feature's mean, with every kind of placeholder mixed in.

    Integer features (track counts included) are whole numbers >= 0, so absent tracks occur; then each
    value becomes NaN, +Inf, -Inf, -999, 1e34 or -1 with probability 3 % each.
    """
    rng = np.random.default_rng(seed)
    raw = spec.mean + spec.std * rng.normal(size=(n, spec.n_features))
    raw[:, spec.integer] = np.clip(np.round(raw[:, spec.integer]), 0, None)
    kinds = np.array([np.nan, np.inf, -np.inf, -999.0, 1e34, -1.0])
    pick = rng.random(raw.shape)
    for i, value in enumerate(kinds):
        raw[(pick >= 0.03 * i) & (pick < 0.03 * (i + 1))] = value
    return raw.astype(np.float32)


def describe(trained: TrainedModel, opset: int, provenance: dict[str, Any]) -> dict[str, Any]:
    """The JSON beside the ONNX file: inputs in order, classes, discriminators, opset, preprocessing."""
    from hepadv.export.graph import MissingPlan

    spec = trained.spec
    discs = {}
    for name, d in spec.discriminators.items():
        sig = " + ".join(spec.classes[i] for i in d.signal)
        bkg = " + ".join(spec.classes[i] for i in d.background)
        discs[name] = {"formula": f"({sig}) / ({sig} + {bkg})", "signal": [spec.classes[i] for i in d.signal],
                       "background": [spec.classes[i] for i in d.background],
                       "undefined": "0.5 where both groups have probability 0; clipped to [0, 1]"}
    return {
        "format": "onnx",
        "opset": opset,
        "input": {"name": INPUT, "dtype": "float32", "shape": ["batch", spec.n_features],
                  "units": "original (raw) units, placeholders as in the input files"},
        "output": {"name": OUTPUT, "dtype": "float32", "shape": ["batch", len(spec.classes)],
                   "what": "softmax class probabilities"},
        "input_names": list(spec.names),
        "class_names": list(spec.classes),
        "discriminators": discs,
        "preprocessing": {
            "order": ["mark missing values", "missing -> default", "(x - mean) / std"],
            "missing": MissingPlan.from_spec(spec).to_dict(spec.names),
            "spec": spec.to_dict(),
        },
        "model": trained.model.describe(),
        "variant": trained.variant,
        "epoch": trained.epoch,
        "provenance": {**{k: v for k, v in trained.provenance.items() if k != "path"}, **provenance},
    }
