"""``hepadv attack`` end to end on a tiny toy run (trained by the command itself), and its error lines."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from hepadv.cli.main import build_app

REPO = Path(__file__).resolve().parents[1]
QUICK = ["--set", "n_iterations=2", "--set", "num_bins=20", "--set", "min_change=0.05", "--set", "step=0.05",
         "--set", "max_frob_single_change=0.002", "--set", "max_jsd_single_change=0.05", "--set", "block_size=32"]


def run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(build_app(), list(args))


def one_line_error(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.strip().splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("error:")]
    assert len(errors) == 1 and lines[-1] == errors[0], result.output  # log lines may precede it
    return errors[0]


@pytest.fixture(scope="module")
def tiny_card(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    card = root / "tiny.yaml"
    card.write_text(f"""
name: tiny
output: {root / 'run'}
dataset: {{name: toyjets, params: {{n_jets: 3000, seed: 3, cache: false}}}}
model: {{name: deepcsv, params: {{hidden: 32, layers: 2}}}}
training: {{epochs: 2, batch_size: 256, lr: 0.003, gamma: 2}}
preprocess: {{pt_bins: 5, eta_bins: 5, cache: false}}
""")
    return card


@pytest.fixture(scope="module")
def attacked(tiny_card: Path) -> tuple[Path, object]:
    out = tiny_card.parent / "ca"
    result = run("attack", str(tiny_card), "--plugin", "conservattack", *QUICK, "--max-events", "400",
                 "--no-progress", "--output", str(out))
    return out, result


def test_conservattack_end_to_end(attacked: tuple[Path, object], tiny_card: Path) -> None:
    out, result = attacked
    assert result.exit_code == 0, result.output
    assert "no trained model for nominal: training first" in result.output
    assert "conservattack on 400 test events" in result.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["plugin"] == "conservattack" and summary["params"]["n_iterations"] == 2
    m = json.loads((out / "nominal" / "metrics.json").read_text())
    assert m["n_events"] == 400 and 0 <= m["fooling_ratio"] <= 1
    assert set(m["fooling_ratio_per_class"]) == {"b", "bb", "c", "udsg"}
    assert set(m["auc"]) == {"BvsL", "BvsC", "CvsB", "CvsL"}
    assert len(m["jsd_per_feature"]) == 67 and len(m["history"]) == 2
    # figures from scratch on the final sets agree with the attack's own incremental bookkeeping
    assert m["mean_jsd"] == pytest.approx(m["history"][-1]["mean_jsd"], abs=1e-10)
    assert m["dfn"] == pytest.approx(m["history"][-1]["dfn"], abs=1e-10)
    assert m["fooling_ratio"] == pytest.approx(m["history"][-1]["fooling_ratio"], abs=1e-12)
    assert m["params"]["num_bins"] == 20 and m["bins"] == 20
    ev = np.load(out / "nominal" / "events.npz")
    assert ev["x_adv"].shape == (400, 67) and len(ev["feature_names"]) == 67
    assert ev["probs_clean"].shape == ev["probs_adv"].shape == (400, 4)
    assert ev["fooled"].mean() == pytest.approx(m["fooling_ratio"])
    from hepadv.data.deepcsv_features import INTEGER_FEATURES

    integer = np.isin(ev["feature_names"], INTEGER_FEATURES)
    assert integer.any()
    np.testing.assert_array_equal(ev["x_adv"][:, integer], ev["x_clean"][:, integer])
    assert (ev["x_adv"] != ev["x_clean"]).any()
    assert {p.name for p in (out / "nominal" / "plots").iterdir()} == {"histograms.png", "correlations.png",
                                                                       "history.png"}
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".ca.")]  # no temporary leftovers


def test_fgsm_through_the_same_command(attacked: tuple[Path, object], tiny_card: Path) -> None:
    out = tiny_card.parent / "fgsm"
    result = run("attack", str(tiny_card), "--plugin", "fgsm", "--set", "epsilon=0.05", "--max-events", "400",
                 "--bins", "20", "--no-progress", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert "training them first" not in result.output
    m = json.loads((out / "nominal" / "metrics.json").read_text())
    assert m["params"]["epsilon"] == 0.05 and m["history"] == []
    assert m["mean_jsd"] > 0 and m["dfn"] > 0 and 0 < m["fooling_ratio"] < 1
    assert {p.name for p in (out / "nominal" / "plots").iterdir()} == {"histograms.png", "correlations.png"}


def test_use_disco_through_the_command(attacked: tuple[Path, object], tiny_card: Path) -> None:
    out = tiny_card.parent / "disco"
    result = run("attack", str(tiny_card), "--plugin", "conservattack", *QUICK, "--set", "use_disco=true",
                 "--set", "disco_subsample=100", "--max-events", "300", "--variant", "nominal", "--no-progress",
                 "--output", str(out))
    assert result.exit_code == 0, result.output
    assert "dFN disco" in result.output
    m = json.loads((out / "nominal" / "metrics.json").read_text())
    assert m["params"]["use_disco"] is True and m["info"]["block_size"] == 32
    assert m["dfn_disco"] > 0
    assert m["dfn_disco"] == pytest.approx(m["history"][-1]["dfn_disco"], abs=1e-10)  # from scratch = bookkeeping
    assert json.loads((out / "summary.json").read_text())["variants"]["nominal"]["dfn_disco"] == m["dfn_disco"]


def test_default_output_dir_is_keyed_by_params(attacked: tuple[Path, object], tiny_card: Path) -> None:
    result = run("attack", str(tiny_card.parent / "run"), "--plugin", "fgsm", "--max-events", "50",
                 "--no-progress")
    assert result.exit_code == 0, result.output
    dirs = list((tiny_card.parent / "run" / "attacks").iterdir())
    assert len(dirs) == 1 and dirs[0].name.startswith("fgsm-") and len(dirs[0].name) == len("fgsm-") + 8


def test_unknown_plugin_names_known_ones(tiny_card: Path) -> None:
    line = one_line_error(run("attack", str(tiny_card), "--plugin", "conservatack"))
    assert "conservatack" in line and "conservattack" in line and "fgsm" in line


def test_parameter_out_of_range(tiny_card: Path) -> None:
    line = one_line_error(run("attack", str(tiny_card), "--set", "alpha=-1"))
    assert "alpha" in line and ">= 0" in line
    line = one_line_error(run("attack", str(tiny_card), "--set", "num_bins=1"))
    assert "num_bins" in line
    line = one_line_error(run("attack", str(tiny_card), "--plugin", "fgsm", "--set", "epsilon=-3"))
    assert "epsilon" in line


def test_unknown_feature_in_mask(attacked: tuple[Path, object], tiny_card: Path) -> None:
    line = one_line_error(run("attack", str(tiny_card), "--set", "features=[Jet_pt, Jet_nope]", "--max-events",
                              "50", "--no-progress", "--output", str(tiny_card.parent / "mask")))
    assert "unknown feature 'Jet_nope'" in line
    assert not (tiny_card.parent / "mask").exists()  # nothing half-written


def test_run_dir_without_checkpoints(tmp_path: Path, attacked: tuple[Path, object], tiny_card: Path) -> None:
    empty = tmp_path / "run"
    empty.mkdir()
    (empty / "config.json").write_text((tiny_card.parent / "run" / "config.json").read_text())
    line = one_line_error(run("attack", str(empty), "--plugin", "fgsm"))
    assert "no trained model for variant(s) nominal" in line
    line = one_line_error(run("attack", str(tmp_path)))
    assert "not a hepadv run directory" in line


def test_feature_mismatch_names_first(tmp_path: Path, attacked: tuple[Path, object], tiny_card: Path) -> None:
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(tiny_card.parent / "run", run_dir, ignore=shutil.ignore_patterns("attacks"))
    best = run_dir / "nominal" / "checkpoints" / "best.pt"
    state = torch.load(best, weights_only=True)
    state["spec"]["names"][5] = "Jet_renamed"
    torch.save(state, best)
    line = one_line_error(run("attack", str(run_dir), "--plugin", "fgsm"))
    assert "do not match" in line and "feature 5 is 'Jet_renamed' here but" in line


def test_empty_split(monkeypatch: pytest.MonkeyPatch, attacked: tuple[Path, object], tiny_card: Path) -> None:
    import hepadv.training.loop as loop

    real = loop.load_data

    def empty_test(card):  # type: ignore[no-untyped-def]
        data = real(card)
        t = data.test
        data.test = type(t)(t.x[:0], t.y[:0], t.w[:0], t.pt[:0], t.eta[:0])
        return data

    monkeypatch.setattr(loop, "load_data", empty_test)
    line = one_line_error(run("attack", str(tiny_card), "--plugin", "fgsm"))
    assert "test split is empty" in line


def test_attack_card_validation(tmp_path: Path) -> None:
    from hepadv.cards import load
    from hepadv.errors import CardError

    card = load(REPO / "cards" / "conservattack.yaml", "attack")
    assert card.attack.name == "conservattack" and card.run.resolve() == (REPO / "cards" / "adv.yaml").resolve()
    bad = tmp_path / "a.yaml"
    bad.write_text("attack: {name: conservattack, params: {alpah: 3}}\n")
    with pytest.raises(CardError, match="alpah"):
        load(bad, "attack")
    bad.write_text("attack: {name: conservattack}\nsplitt: test\n")
    with pytest.raises(CardError, match="splitt"):
        load(bad, "attack")


def test_conservattack_beats_fgsm_at_equal_visibility(attacked: tuple[Path, object], tiny_card: Path) -> None:
    """On the trained nominal model: a higher fooling ratio than FGSM whose mean JSD is at least as large."""
    from hepadv.attacks.conservattack.attack import ConservAttack
    from hepadv.attacks.fgsm import FGSM
    from hepadv.evaluation.visibility import distribution_figures
    from hepadv.runs import open_run

    run, card = open_run(tiny_card)
    trained = run.load("nominal")
    test = run.data(card).test
    x, y = torch.as_tensor(test.x), torch.as_tensor(test.y)
    model, spec, bins = trained.model, trained.spec, 20
    with torch.no_grad():
        clean = model(x).argmax(1)

    def fooling(x_adv: torch.Tensor) -> float:
        with torch.no_grad():
            return float((model(x_adv).argmax(1) != clean).double().mean())

    ca = ConservAttack(min_change=0.2, step=0.2, n_steps=5, n_iterations=6, num_bins=bins, block_size=8,
                       max_jsd_single_change=0.05, max_frob_single_change=0.002).generate(model, x, y, spec)
    ca_fr = fooling(ca.x_adv)
    ca_jsd = distribution_figures(x.numpy(), ca.x_adv.numpy(), spec.names, bins)["mean_jsd"]
    fgsm = []
    for eps in (0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5):
        x_adv = FGSM(epsilon=eps)(model, x, y, spec)
        fgsm.append((eps, fooling(x_adv), distribution_figures(x.numpy(), x_adv.numpy(), spec.names, bins)["mean_jsd"]))
    as_visible = [(eps, fr, jsd) for eps, fr, jsd in fgsm if jsd >= ca_jsd]
    assert as_visible, f"no FGSM epsilon reaches CONSERVAttack's mean JSD {ca_jsd:.4f}: {fgsm}"
    _eps, fgsm_fr, _jsd = as_visible[0]  # the weakest FGSM that is at least as visible
    assert ca_fr > fgsm_fr, f"CONSERVAttack FR {ca_fr:.3f} at JSD {ca_jsd:.4f} vs FGSM {fgsm}"
