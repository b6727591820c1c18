"""End to end through the CLI and the Python API on small toy jets (the main job, scaled down)."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hepadv.cli.main import build_app

REPO = Path(__file__).resolve().parents[1]
SMALL = ["--set", "dataset.params.n_jets=12000", "--set", "training.epochs=2", "--set", "training.batch_size=1024",
         "--set", "evaluation.max_jets=2000"]


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(build_app(), list(args))


def test_train_and_evaluate_adv_card(tmp_path: Path) -> None:
    out = tmp_path / "adv"
    result = run("train", str(REPO / "cards" / "adv.yaml"), *SMALL, "--set", f"output={out}", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "Tagger performance" in result.output
    assert "adversarial AUC drop / nominal AUC drop under fgsm" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["variants"]) == {"nominal", "adversarial"}
    for entry in metrics["variants"].values():
        raw = entry["metrics"]["raw"]
        assert set(raw) == {"BvsL", "BvsC", "CvsB", "CvsL"}
        assert 0.5 < raw["BvsL"]["auc"] <= 1.0
        assert [row["epoch"] for row in entry["per_epoch"]] == [1, 2]
    plots = {p.name for p in (out / "plots").glob("*.png")}
    assert {"roc_BvsL.png", "loss.png", "auc_vs_epoch_BvsL_fgsm.png", "susceptibility_BvsL_fgsm.png",
            "shapes_BvsL_nominal.png"} <= plots
    assert (out / "card.yaml").read_text() == (REPO / "cards" / "adv.yaml").read_text()
    # transferability: the diagonal is the white-box result, the off-diagonal replays the other model's inputs
    (attack,) = metrics["attacks"]
    fgsm = attack["id"]
    assert attack["name"] == "fgsm" and attack["params"] == {"epsilon": 0.01, "relative_cap": 0.25}
    transfer = metrics["transfer"][fgsm]
    assert set(transfer) == {"nominal", "adversarial"} and set(transfer["nominal"]) == {"nominal", "adversarial"}
    for v in ("nominal", "adversarial"):
        white_box = metrics["variants"][v]["metrics"][fgsm]
        assert transfer[v][v] == pytest.approx({d: white_box[d]["auc"] for d in white_box}, abs=1e-12)
    # off-diagonal, recomputed independently: FGSM crafted on the nominal model, scored by the adversarial one
    assert transfer["nominal"]["adversarial"]["BvsL"] == pytest.approx(
        _replayed_auc(out, source="nominal", target="adversarial", n=metrics["n_test_jets"]), abs=1e-9)
    assert "crafted on" in result.output

    again = run("evaluate", str(REPO / "cards" / "adv.yaml"), *SMALL, "--set", f"output={out}", "--no-progress")
    assert again.exit_code == 0, again.output
    assert json.loads((out / "metrics.json").read_text())["variants"]["nominal"]["metrics"] == \
        metrics["variants"]["nominal"]["metrics"]


def _replayed_auc(out: Path, source: str, target: str, n: int) -> float:
    import torch

    from hepadv.attacks.fgsm import FGSM
    from hepadv.evaluation.roc import evaluate_discriminators
    from hepadv.runs import Run, load_trained

    data = Run(out).data()
    x, y = torch.as_tensor(data.test.x[:n]), torch.as_tensor(data.test.y[:n])
    crafted_on, scored_by = load_trained(out, source), load_trained(out, target)
    x_adv = FGSM(epsilon=0.01, relative_cap=0.25)(crafted_on.model, x, y, data.spec)
    probs = scored_by.predict_proba(x_adv).numpy()
    return evaluate_discriminators(probs, y.numpy(), names=["BvsL"])["BvsL"]["auc"]


def test_evaluate_without_training_is_clear(tmp_path: Path) -> None:
    result = run("evaluate", str(REPO / "cards" / "nominal.yaml"), *SMALL, "--set", f"output={tmp_path / 'none'}")
    assert result.exit_code == 1
    assert "no trained model for variant 'nominal'" in result.output and "run hepadv train first" in result.output


@pytest.mark.realdata
def test_pfnano_card_on_real_file_reports_missing_flavours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The coffea PFNano sample has only c and light jets: training must refuse with a clear line."""
    from tests.testdata import ensure_test_data

    sample = ensure_test_data() / "pfnano.root"
    result = run("train", str(REPO / "cards" / "pfnano.yaml"), "--set", f"dataset.params.files=[{sample}]",
                 "--set", f"output={tmp_path / 'pf'}", "--no-progress")
    assert result.exit_code == 1, result.output
    assert "dataset has no jets of class 'b', 'bb'" in result.output
    assert "Traceback" not in result.output


def test_missing_root_file_is_one_line(tmp_path: Path) -> None:
    result = run("train", str(REPO / "cards" / "pfnano.yaml"), "--set", "dataset.params.files=[/nope/x.root]",
                 "--set", f"output={tmp_path / 'pf'}")
    assert result.exit_code == 1
    assert "/nope/x.root" in result.output and "Traceback" not in result.output


def test_example_script_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    module = runpy.run_path(str(REPO / "examples" / "compare_nominal_adversarial.py"))
    results = module["main"](["dataset.params.n_jets=8000", "training.epochs=1", "evaluation.max_jets=1000"])
    assert set(results["comparison"]["table"]) == {"nominal", "adversarial"}
    assert (tmp_path / "runs" / "example" / "metrics.json").is_file()


def test_pgd_card_trains_pgd_variant_and_evaluates_both_attacks(tmp_path: Path) -> None:
    out = tmp_path / "pgd"
    result = run("train", str(REPO / "cards" / "adv_pgd.yaml"), *SMALL, "--set", f"output={out}", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "adversarial_pgd AUC drop / nominal AUC drop under fgsm" in result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics["variants"]) == {"nominal", "adversarial", "adversarial_pgd"}
    fgsm, pgd = (a["id"] for a in metrics["attacks"])
    assert fgsm.startswith("fgsm-") and pgd.startswith("pgd-")
    for entry in metrics["variants"].values():
        m = entry["metrics"]
        assert m[pgd]["BvsL"]["auc"] <= m["raw"]["BvsL"]["auc"]
        assert all(pgd in row for row in entry["per_epoch"])
    assert set(metrics["transfer"]) == {fgsm, pgd}
    assert set(metrics["transfer"][pgd]["adversarial_pgd"]) == {"nominal", "adversarial", "adversarial_pgd"}


def test_noise_and_shifts_evaluate_with_distinct_plots(tmp_path: Path) -> None:
    out = tmp_path / "nom"
    card = str(REPO / "cards" / "nominal.yaml")
    assert run("train", card, *SMALL, "--set", f"output={out}", "--no-progress").exit_code == 0
    attacks = ("evaluation.attacks=[{name: gaussian_noise, params: {sigma: 0.05}}, "
               "{name: systematic_shift, params: {direction: up}}, "
               "{name: systematic_shift, params: {direction: down}}]")
    result = run("evaluate", card, *SMALL, "--set", f"output={out}", "--set", attacks, "--no-progress")
    assert result.exit_code == 0, result.output
    metrics = json.loads((out / "metrics.json").read_text())
    assert [a["name"] for a in metrics["attacks"]] == ["gaussian_noise", "systematic_shift", "systematic_shift"]
    assert "transfer" not in metrics  # one variant, and model-blind distortions have nothing to transfer
    m = metrics["variants"]["nominal"]["metrics"]
    up, down = (a["id"] for a in metrics["attacks"][1:])
    # raising every continuous input and lowering it are different distortions: the AUC changes differ
    assert abs(m[up]["BvsL"]["auc"] - m[down]["BvsL"]["auc"]) > 1e-4
    plots = {p.name for p in (out / "plots").glob("auc_vs_epoch_BvsL_*.png")}
    assert {"auc_vs_epoch_BvsL_gaussian_noise.png", "auc_vs_epoch_BvsL_systematic_shift_1.png",
            "auc_vs_epoch_BvsL_systematic_shift_2.png"} <= plots
    bad = run("evaluate", card, *SMALL, "--set", f"output={out}", "--no-progress",
              "--set", "evaluation.attacks=[{name: systematic_shift, params: {factors: {nope: 2}}}]")
    assert bad.exit_code == 1 and "'nope' matches no input feature" in bad.output and "Traceback" not in bad.output
