"""ONNX export: the graph takes raw inputs (placeholders included) and ONNX Runtime gives PyTorch's probabilities.

Compared on the run's own test split, read raw from the dataset with its placeholders and missing values, plus
rows where every kind of placeholder is planted, for the 4-class DeepCSV task and the binary one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from typer.testing import CliRunner

from hepadv.cards.load import validate_card
from hepadv.cli.main import build_app
from hepadv.data.preprocess import split_indices
from hepadv.data.spec import FeatureSpec
from hepadv.export import OPSET, export_run
from hepadv.export.graph import RawPreprocess
from hepadv.export.onnx import INPUT, run_onnx
from hepadv.runs import Run, load_trained
from hepadv.training.loop import build_dataset, load_data, train

BINARY = {  # cards/binary.yaml, a few seconds of training
    "name": "binary",
    "seed": 1,
    "dataset": {"name": "toyjets", "params": {"n_jets": 4000, "seed": 1, "task": "b_vs_light"}},
    "model": {"name": "deepcsv", "params": {"hidden": 16, "layers": 2}},
    "training": {"epochs": 1, "batch_size": 1024, "lr": 3e-3, "gamma": 2},
    "variants": [{"name": "nominal"}],
    "evaluation": {"max_jets": 500, "every_epoch": False, "plots": False, "transfer": False},
}


@pytest.fixture(scope="module")
def binary_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("binary") / "binary"
    train(validate_card({**BINARY, "output": str(out)}), progress=False)
    return out


def raw_test_split(run_dir: Path, spec: FeatureSpec) -> np.ndarray:
    """The run's test split as the dataset delivers it (original units, placeholders), with planted rows."""
    card = Run(run_dir).recorded_card()
    raw = build_dataset(card).load()
    test = raw.features[split_indices(len(raw), card.preprocess.split, card.split_seed())[2]]
    # the right rows: spec.transform of them is exactly the test split the model was evaluated on
    np.testing.assert_array_equal(spec.transform(test), load_data(card).test.x)
    assert np.isnan(spec.missing.mark(test, spec.names)).any()  # the split itself has missing values
    planted = np.repeat(test[:12], 4, axis=0).astype(np.float64)
    n = spec.n_features
    rows = np.arange(len(planted))
    for i, value in enumerate((np.nan, np.inf, -np.inf, -999.0, 1e34, -1.0)):
        planted[rows[i::6], (rows[i::6] * 7 + i) % n] = value
    names = list(spec.names)
    if "Jet_DeepCSV_jetNSelectedTracks" in names:  # tracks present although the count says none, or no count
        planted[:8, names.index("Jet_DeepCSV_jetNSelectedTracks")] = 0
        planted[8:12, names.index("Jet_DeepCSV_jetNSelectedTracks")] = np.nan
        planted[12:16, names.index("Jet_DeepCSV_jetNTracksEtaRel")] = 1
    return np.concatenate([test, planted])


def check_export(run_dir: Path, variant: str, out: Path) -> None:
    trained = load_trained(run_dir, variant)
    spec = trained.spec
    raw = raw_test_split(run_dir, spec)
    # the graph's preprocessing is spec.transform, bit for bit (float32 inputs, as a CMSSW producer feeds them)
    raw32 = raw.astype(np.float32)
    np.testing.assert_array_equal(RawPreprocess(spec)(torch.as_tensor(raw32)).numpy(), spec.transform(raw))

    [result] = export_run(run_dir, variant, "best", output=out)
    assert result.path == out / f"{variant}.onnx" and result.max_abs_diff <= 1e-5
    want = trained.predict_proba(torch.as_tensor(spec.transform(raw))).numpy()
    got = run_onnx(result.path, raw32)
    assert got.shape == want.shape == (len(raw), len(spec.classes))
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5)

    model = onnx.load(str(result.path))
    onnx.checker.check_model(model)
    [graph_input] = model.graph.input
    assert graph_input.name == INPUT
    batch, features = graph_input.type.tensor_type.shape.dim
    assert batch.dim_param and features.dim_value == spec.n_features  # dynamic batch axis
    assert next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) == OPSET
    assert run_onnx(result.path, raw32[:1]).shape == (1, len(spec.classes))

    meta = json.loads(result.meta_path.read_text())
    assert meta["input_names"] == list(spec.names) and meta["class_names"] == list(spec.classes)
    assert list(meta["discriminators"]) == list(spec.discriminators)
    assert meta["opset"] == OPSET and meta["check"]["max_abs_diff"] == result.max_abs_diff
    assert FeatureSpec.from_dict(meta["preprocessing"]["spec"]).describe_mismatch(spec) is None


def test_four_class_tagger_exports_with_its_preprocessing(tiny_run: Path, tmp_path: Path) -> None:
    check_export(tiny_run, "adversarial", tmp_path)
    meta = json.loads((tmp_path / "adversarial.json").read_text())
    assert meta["discriminators"]["BvsL"]["formula"] == "(b + bb) / (b + bb + udsg)"


def test_binary_tagger_exports_with_its_preprocessing(binary_run: Path, tmp_path: Path) -> None:
    check_export(binary_run, "nominal", tmp_path)
    meta = json.loads((tmp_path / "nominal.json").read_text())
    assert list(meta["discriminators"]) == ["bvslight"] and meta["class_names"] == ["light", "b"]


def test_cli_writes_into_the_run_and_refuses_other_formats(binary_run: Path, tmp_path: Path) -> None:
    args = ["export", str(binary_run), "--checkpoint", "1", "--format", "onnx", "--opset", "17"]
    result = CliRunner().invoke(build_app(), args)
    assert result.exit_code == 0, result.output
    path = binary_run / "export" / "nominal_epoch_001.onnx"
    assert [o.version for o in onnx.load(str(path)).opset_import if o.domain in ("", "ai.onnx")] == [17]
    assert json.loads(path.with_suffix(".json").read_text())["opset"] == 17 and "max |diff|" in result.output
    result = CliRunner().invoke(build_app(), ["export", str(binary_run), "--format", "tflite"])
    assert result.exit_code == 1 and "only onnx is supported" in result.output
    result = CliRunner().invoke(build_app(), ["export", str(binary_run), "--variant", "adversarial"])
    assert result.exit_code == 1 and "no trained model for variant 'adversarial'" in result.output
