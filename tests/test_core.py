"""The core contract: runs load on their own, one preprocessing path, task-generic metrics, picklable
components, seeds, and the project's central claim on data with a known answer."""

from __future__ import annotations

import json
import pickle
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from hepadv.cli.main import build_app
from hepadv.registry.manager import get_registry

REPO = Path(__file__).resolve().parents[1]
TINY = ["--set", "dataset.params.n_jets=6000", "--set", "training.epochs=2", "--set", "training.batch_size=512",
        "--set", "evaluation.max_jets=1000", "--set", "evaluation.every_epoch=false", "--set", "evaluation.plots=false"]


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(build_app(), list(args))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained two-variant run whose card file no longer exists."""
    tmp = tmp_path_factory.mktemp("run")
    card = tmp / "adv.yaml"
    shutil.copy(REPO / "cards" / "adv.yaml", card)
    out = tmp / "out"
    result = run("train", str(card), *TINY, "--set", f"output={out}", "--no-progress")
    assert result.exit_code == 0, result.output
    card.unlink()
    return out


def test_load_trained_needs_no_card(tiny_run: Path) -> None:
    from hepadv.runs import load_trained, variants

    assert variants(tiny_run) == ["adversarial", "nominal"]
    trained = load_trained(tiny_run, "nominal")
    assert trained.classes == ("b", "bb", "c", "udsg") and trained.variant == "nominal"
    assert trained.provenance["card_hash"] and trained.provenance["dataset_key"].startswith("toyjets:")
    assert not trained.model.training
    first = load_trained(tiny_run, "nominal", 1)
    assert first.epoch == 1
    portable = pickle.loads(pickle.dumps(trained.portable()))
    x = torch.randn(5, trained.spec.n_features)
    torch.testing.assert_close(portable.load().predict_proba(x), trained.predict_proba(x))


def test_evaluate_a_run_directory_whose_card_is_gone(tiny_run: Path) -> None:
    result = run("evaluate", str(tiny_run), "--no-progress")
    assert result.exit_code == 0, result.output
    metrics = json.loads((tiny_run / "metrics.json").read_text())
    assert set(metrics["variants"]) == {"nominal", "adversarial"}
    assert metrics["comparison"]["reference"] == "nominal"


def test_spec_mismatch_is_one_line(tiny_run: Path) -> None:
    """Other jets give other scaling constants: the old model must not be fed them silently."""
    result = run("evaluate", str(tiny_run), "--set", "dataset.params.n_jets=7000", "--no-progress")
    assert result.exit_code == 1
    errors = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in result.output, result.output
    assert "do not match the data's: feature 'Jet_eta': defaults -2.479734 here but -2.487897 there" in errors[0]


def test_missing_variant_and_bad_checkpoint_name(tiny_run: Path) -> None:
    from hepadv.errors import CheckpointError
    from hepadv.runs import load_trained

    with pytest.raises(CheckpointError, match="no trained model for variant 'pgd'; trained variants: "
                                              "adversarial, nominal"):
        load_trained(tiny_run, "pgd")
    with pytest.raises(CheckpointError, match="name a variant"):
        load_trained(tiny_run)
    with pytest.raises(CheckpointError, match=r"epoch_009\.pt: no such checkpoint"):
        load_trained(tiny_run, "nominal", 9)


def test_one_preprocessing_path_for_every_source(tmp_path: Path) -> None:
    """toyjets, arrays (npz), a PFNano round trip (toynano) and raw arrays agree through spec.transform."""
    from hepadv.cards.schema import PreprocessSection
    from hepadv.data.arrays import ArrayJets
    from hepadv.data.deepcsv_features import FEATURES
    from hepadv.data.pfnano import PFNanoJets
    from hepadv.data.preprocess import prepare
    from hepadv.data.toyjets import generate_toyjets
    from hepadv.data.toynano import write_pfnano

    jets = generate_toyjets(5000, seed=11)
    data = prepare(jets, PreprocessSection(cache=False), seed=3)
    spec = data.spec
    # the prepared splits are spec.transform of their jets
    x_all = spec.transform(jets.features)
    assert np.isin(data.test.x[:, 0], x_all[:, 0]).all()
    for split in (data.train, data.val, data.test):
        rows = np.array([np.flatnonzero((x_all == row).all(axis=1))[0] for row in split.x[:50]])
        np.testing.assert_array_equal(x_all[rows], split.x[:50])
    # the same jets from an npz file and from a PFNano-format ROOT file
    npz = tmp_path / "jets.npz"
    np.savez(npz, **{n: jets.features[:, j] for j, n in enumerate(FEATURES)}, label=jets.labels)
    from_npz = ArrayJets(ArrayJets.parse_params({"path": str(npz), "features": list(FEATURES)})).load()
    np.testing.assert_array_equal(spec.transform(from_npz.features), x_all)
    root = write_pfnano(tmp_path / "jets.root", jets)
    from_root = PFNanoJets(PFNanoJets.parse_params({"files": [str(root)]})).load()
    kept = ~np.isnan(jets.marked()[:, FEATURES.index("Jet_DeepCSV_trackSumJetDeltaR")])
    np.testing.assert_allclose(spec.transform(from_root.features), x_all[kept], rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(from_root.labels, jets.labels[kept])


def test_every_registered_component_pickles(monkeypatch: pytest.MonkeyPatch) -> None:
    """Classes and default instances travel to dask workers; the example plugin included."""
    monkeypatch.setenv("HEPADV_LOAD_PLUGINS", "smearing")
    checked = 0
    for kind in ("dataset", "model", "attack", "defence", "selection", "executor"):
        for entry in get_registry(kind).entries():
            cls = entry.component
            assert pickle.loads(pickle.dumps(cls)) is cls
            try:
                params = cls.parse_params({})
            except Exception:  # components with required params (files) are checked as classes
                continue
            instance = cls(params, 5, 4) if kind == "model" else cls(params)
            clone = pickle.loads(pickle.dumps(instance))
            assert type(clone) is cls and clone.params == instance.params
            checked += 1
    assert "smear" in get_registry("attack") and checked >= 7


def test_same_card_and_seed_give_the_same_numbers(tmp_path: Path) -> None:
    card = str(REPO / "cards" / "nominal.yaml")
    args = [*TINY, "--set", "training.epochs=1", "--set", "evaluation.attacks=[{name: gaussian_noise}]"]
    for out in ("a", "b"):
        assert run("train", card, *args, "--set", f"output={tmp_path / out}", "--no-progress").exit_code == 0
    a, b = (json.loads((tmp_path / o / "metrics.json").read_text())["variants"] for o in ("a", "b"))
    for v in (a, b):  # wall-clock figures are the only thing allowed to differ
        for key in ("seconds", "jets_per_second"):
            del v["nominal"]["history"][key]
    assert a == b
    other = run("train", card, *args, "--set", "seed=2", "--set", f"output={tmp_path / 'c'}", "--no-progress")
    assert other.exit_code == 0
    c = json.loads((tmp_path / "c" / "metrics.json").read_text())["variants"]
    assert c["nominal"]["metrics"]["raw"]["BvsL"]["auc"] != a["nominal"]["metrics"]["raw"]["BvsL"]["auc"]


def test_derived_seeds_differ_and_explicit_ones_win() -> None:
    from hepadv.cards.load import validate_card

    card = validate_card({"seed": 4})
    assert len({card.split_seed(), card.training_seed(card.training), card.evaluation_seed()}) == 3
    fixed = validate_card({"seed": 4, "preprocess": {"seed": 9}, "training": {"seed": 8}})
    assert fixed.split_seed() == 9 and fixed.training_seed(fixed.training) == 8


def test_binary_example_trains_evaluates_and_attacks(tmp_path: Path) -> None:
    out = tmp_path / "binary"
    result = run("train", str(REPO / "cards" / "binary.yaml"), *TINY, "--set", f"output={out}",
                 "--set", "evaluation.plots=true", "--no-progress")
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["classes"] == ["light", "b"] and metrics["discriminators"] == ["bvslight"]
    fgsm = metrics["attacks"][0]["id"]
    for entry in metrics["variants"].values():
        assert set(entry["metrics"]["raw"]) == {"bvslight"}
        assert entry["metrics"][fgsm]["bvslight"]["auc"] < entry["metrics"]["raw"]["bvslight"]["auc"]
    assert "bvslight" in metrics["comparison"]["checks"]["adversarial"]["attacks"][fgsm]["drop_ratio"]
    assert (out / "plots" / "roc_bvslight.png").is_file()


def _fragile_direction_data(path: Path, n: int = 12000, seed: int = 0) -> None:
    """Binary data with one robust feature and one planted fragile direction.

    ``robust`` separates the classes by 2 sigma. ``fragile_a`` and ``fragile_b`` share a wide common term,
    and their difference carries a small class offset with a tiny spread: very informative, but an L-inf
    step of eps per feature moves the difference by 2 eps, enough to reverse it.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    common = 10 + 3 * rng.standard_normal(n)
    cols = {
        "robust": (2 * y - 1) + rng.standard_normal(n),
        "fragile_a": common + 0.03 * rng.standard_normal(n),
        "fragile_b": common + 0.15 * (2 * y - 1) + 0.03 * rng.standard_normal(n),
        "pt": np.full(n, 50.0), "eta": np.zeros(n), "label": y,
    }
    np.savez(path, **{k: np.asarray(v, dtype=np.float32 if k != "label" else np.int64) for k, v in cols.items()})


def test_adversarial_training_gives_up_a_planted_fragile_direction(tmp_path: Path) -> None:
    """The central claim, on data with a known answer: an FGSM-trained model loses far less AUC under FGSM."""
    from hepadv.cards.load import validate_card
    from hepadv.evaluation.runner import evaluate_run
    from hepadv.training.loop import train

    _fragile_direction_data(tmp_path / "toy.npz")
    card = validate_card({
        "name": "fragile", "seed": 3, "output": str(tmp_path / "run"),
        "dataset": {"name": "arrays", "params": {"path": str(tmp_path / "toy.npz"), "pt": "pt", "eta": "eta",
                                                 "features": ["robust", "fragile_a", "fragile_b"],
                                                 "classes": ["bkg", "sig"]}},
        "preprocess": {"reweight": "none", "cache": False},
        "model": {"name": "deepcsv", "params": {"hidden": 32, "layers": 2, "dropout": 0.0}},
        "training": {"epochs": 8, "batch_size": 256, "lr": 3e-3, "gamma": 0, "patience": None},
        "variants": [{"name": "nominal"},
                     {"name": "adversarial", "defence": {"name": "adversarial_training",
                                                         "params": {"epsilon": 0.03}}}],
        "evaluation": {"attacks": [{"name": "fgsm", "params": {"epsilon": 0.03}}], "every_epoch": False,
                       "plots": False, "transfer": False},
    })
    trained = train(card, progress=False)
    results = evaluate_run(card, data=trained.data, progress=False)
    fgsm = results["attacks"][0]["id"]
    drops = {v: e["metrics"]["raw"]["sigvsbkg"]["auc"] - e["metrics"][fgsm]["sigvsbkg"]["auc"]
             for v, e in results["variants"].items()}
    raw = {v: e["metrics"]["raw"]["sigvsbkg"]["auc"] for v, e in results["variants"].items()}
    # the nominal model relies on the fragile direction (it is far better than the robust feature alone,
    # AUC ~0.92) and FGSM takes most of that away; the adversarial model barely moves
    assert raw["nominal"] > 0.95, raw
    assert drops["nominal"] > 0.05, drops
    assert drops["adversarial"] < 0.25 * drops["nominal"], drops
