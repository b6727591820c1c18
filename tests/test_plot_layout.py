"""Every plot type reads cleanly: rendered from small synthetic inputs, then measured with the Agg renderer.

No two texts overlap, every text is inside the figure, no text runs into another panel, no legend covers a
text or the data, and every axis with tick labels has a label (``tests/plot_layout.py``). The inputs are
chosen to provoke the failures seen in real runs: five-digit counts, long feature names, integer-valued
features, ROC curves reaching low mistag rates, a fooling ratio climbing through the middle of its axis.
``HEPADV_PLOT_DIR=DIR`` keeps the PNGs there for a look.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from matplotlib.figure import Figure

from tests.plot_layout import layout_problems

FEATURES = ("Jet_pt", "Jet_eta", "Jet_DeepCSV_trackSip2dSigAboveCharm", "Jet_DeepCSV_jetNSelectedTracks",
            "Jet_DeepCSV_trackJetPt", "Jet_DeepCSV_vertexMass", "Jet_DeepCSV_trackSumJetEtRatio",
            "Jet_DeepCSV_vertexCategory")


def _features(rng: np.random.Generator, n: int) -> np.ndarray:
    """Jet-like inputs in original units: a pT spectrum, eta, an IP significance, a track count (integer),
    a track-jet pT, an SV mass, a ratio and a vertex category (integer)."""
    return np.column_stack([
        20 + rng.exponential(60, n), rng.uniform(-2.5, 2.5, n), rng.normal(0, 3, n), rng.poisson(6, n),
        rng.exponential(40, n), rng.gamma(2, 0.8, n), rng.beta(2, 3, n), rng.integers(0, 3, n)]).astype(float)


def _attacked(rng: np.random.Generator, clean: np.ndarray) -> np.ndarray:
    adv = clean.copy()  # integer features are never attacked (FeatureMasks)
    for j in (0, 1, 2, 4, 5, 6):
        adv[:, j] += rng.normal(0, 0.05 * clean[:, j].std(), len(clean)) * (rng.random(len(clean)) < 0.3)
    return adv


def _roc(out: Path, name: str, base: float) -> None:
    from hepadv.evaluation.roc import roc_curve
    from hepadv.plotting.roc import plot_roc

    rng = np.random.default_rng(0)
    sig = rng.random(200_000) < 0.3
    curves = {f"{model} {what}": roc_curve(rng.normal(sig * shift, 1.0), sig)
              for model, top in (("nominal", base), ("adversarial", base - 0.1))
              for what, shift in (("raw", top), ("fgsm ε=0.01", top - 0.3))}
    plot_roc(curves, name, out / f"roc_{name}.png")


def case_roc(out: Path) -> None:
    """A strong tagger, whose tails reach 1e-5 at high efficiency, and a weak one near the diagonal."""
    _roc(out, "BvsL", 4.0)
    _roc(out, "CvsL", 1.0)


def case_shapes(out: Path) -> None:
    from hepadv.plotting.discriminants import plot_discriminator_shapes

    rng = np.random.default_rng(1)
    plot_discriminator_shapes({"b": rng.beta(5, 1, 3000), "c": rng.beta(2, 2, 2000), "udsg": rng.beta(1, 6, 9000)},
                              "BvsL", out / "shapes_BvsL_nominal.png")


def _histories() -> dict[str, dict[str, list[float]]]:
    epochs = list(range(1, 16))
    return {name: {"epoch": epochs, "train_loss": [0.30 - 0.01 * e + 0.0004 * e * e + off for e in epochs],
                   "val_loss": [0.31 - 0.01 * e + 0.00045 * e * e + off for e in epochs]}
            for name, off in (("nominal", 0.0), ("adversarial", 0.02))}


def case_loss(out: Path) -> None:
    from hepadv.plotting.training import plot_loss_curves

    plot_loss_curves(_histories(), out / "loss.png", best_epochs={"nominal": 11, "adversarial": 11})


def _per_epoch() -> dict[str, dict[str, Any]]:
    epochs = list(range(1, 16))
    return {"nominal": {"epoch": epochs, "raw": [0.93 + 0.001 * e for e in epochs],
                        "attacked": [0.925 - 0.0005 * e for e in epochs], "filled": False, "best_epoch": 14},
            "adversarial": {"epoch": epochs, "raw": [0.928 + 0.0008 * e for e in epochs],
                            "attacked": [0.924 + 0.0006 * e for e in epochs], "best_epoch": 12}}


def case_auc_vs_epoch(out: Path) -> None:
    from hepadv.plotting.training import plot_auc_vs_epoch

    plot_auc_vs_epoch(_per_epoch(), "BvsL", "fgsm ε=0.01", out / "auc_vs_epoch_BvsL_fgsm.png")


def case_susceptibility(out: Path) -> None:
    from hepadv.plotting.training import plot_susceptibility

    plot_susceptibility(_per_epoch(), out / "susceptibility_BvsL_fgsm.png", "BvsL", "fgsm ε=0.01")


def case_attack(out: Path) -> None:
    from hepadv.plotting.attack import plot_attack

    rng = np.random.default_rng(2)
    clean = _features(rng, 20_000)
    adv = _attacked(rng, clean)
    jsd = {n: (0.0 if j in (3, 7) else 0.001 * (j + 1)) for j, n in enumerate(FEATURES)}
    history = [{"iteration": i, "fooling_ratio": min(0.07 * i, 0.7), "mean_jsd": 0.0004 * i, "dfn": 0.006 * i}
               for i in range(1, 21)]
    plot_attack(clean, adv, FEATURES, jsd, 200, history, out, "conservattack")


def case_attack_many_features(out: Path) -> None:
    from hepadv.plotting.attack import plot_correlations

    rng = np.random.default_rng(3)
    clean = rng.normal(size=(3000, 30)) @ rng.normal(size=(30, 30))
    plot_correlations(clean, clean + rng.normal(0, 0.1, clean.shape), tuple(f"f{j}" for j in range(30)),
                      out / "correlations_30.png")


def case_attack_disco_history(out: Path) -> None:
    from hepadv.plotting.attack import plot_history

    history = [{"iteration": i, "fooling_ratio": 0.04 * i, "mean_jsd": 0.0006 * i, "dfn": 0.004 * i,
                "dfn_disco": 0.005 * i} for i in range(1, 11)]
    plot_history(history, out / "history_disco.png")


def _datamc_hists() -> tuple[dict[str, Any], dict[str, Any]]:
    """A Drell-Yan-like selection: 4e5 MC and 2e5 data events, so the m_ll peak bins hold five-digit counts."""
    from hepadv.datamc.histograms import FLAVOURS, control_hist, output_hist

    rng = np.random.default_rng(4)
    fractions = (0.03, 0.01, 0.08, 0.88)
    n = {"mc": 400_000, "data": 200_000}
    out = output_hist(("raw", "gaussian_noise σ=0.01", "fgsm ε=0.01"), "nominal@best BvsL")
    controls = {name: control_hist(name) for name in ("m_ll", "jet_pt", "n_jets")}
    for kind, size in n.items():
        flav = rng.choice(np.array([*FLAVOURS]), size, p=fractions) if kind == "mc" else np.full(size, "data")
        score = np.where(np.isin(flav, ["b", "bb"]), rng.beta(5, 1, size), rng.beta(1, 5, size))
        variations = ("raw", "gaussian_noise σ=0.01", "fgsm ε=0.01") if kind == "mc" else ("raw",)
        for variation in variations:
            out.fill(kind=kind, variation=variation, flavour=flav, value=np.clip(score + 0.01 * (variation != "raw"),
                                                                                 -0.1, 1))
        controls["m_ll"].fill(kind=kind, flavour=flav, value=91.2 + rng.standard_cauchy(size) * 2.5)
        controls["jet_pt"].fill(kind=kind, flavour=flav, value=20 + rng.exponential(40, size))
        controls["n_jets"].fill(kind=kind, flavour=flav, value=rng.poisson(1.5, size))
    results = {"selection": "dy", "variations": ["raw", "gaussian_noise σ=0.01", "fgsm ε=0.01"],
               "kl_vs_epoch": {v: {var: {o: [_point(e, k) for e in range(1, 16)]
                                         for k, o in enumerate(("b", "bb", "c", "udsg", "BvsL", "BvsC", "CvsB",
                                                                "CvsL"))}
                                   for var in ("raw", "fgsm ε=0.01")} for v in ("nominal", "adversarial")}}
    return results, {"hists": {"nominal@best": {"BvsL": out}}, "controls": controls}


def _point(epoch: int, k: int) -> dict[str, float]:
    """A KL-vs-epoch point as hepadv.datamc.report writes it (with its bootstrap std and floor)."""
    return {"epoch": epoch, "kl": 0.01 / epoch + 0.001 * k, "std": 0.002, "floor": 0.001}


def case_datamc(out: Path) -> None:
    from hepadv.plotting.datamc import plot_report

    results, hists = _datamc_hists()
    written = plot_report(results, hists, out)
    assert {p.name for p in written} >= {"m_ll.png", "jet_pt.png", "n_jets.png", "kl_vs_epoch.png",
                                         "BvsL_raw.png", "BvsL_fgsm_ε_0.01.png"}


def case_defences(out: Path) -> None:
    from hepadv.defences.significance import SignificanceResult, plot_significance
    from hepadv.plotting import defences as P

    rng = np.random.default_rng(5)
    P.per_run_bars(out / "greybox_fooling_ratio.png", {
        "initial": (rng.uniform(0.3, 0.6, 5), rng.uniform(0.01, 0.05, 5), P.RED),
        "corrected": (rng.uniform(0.05, 0.2, 5), rng.uniform(0.01, 0.05, 5), P.GREY)}, "grey-box fooling ratio")
    P.matrix(out / "initial_matrix.png", rng.uniform(0, 0.8, (5, 5)), "fooling ratio")
    t = np.linspace(0, 1, 101)
    P.efficiency_vs_threshold(out / "efficiency_vs_threshold.png", t, {
        "clean (simulation)": (1 - t**3, 0.02 + 0 * t, P.RED), "adversarial": ((1 - t) ** 2, 0.03 + 0 * t, P.GREY)})
    P.detector_rocs(out / "detector_roc.png", [(np.linspace(0, 1, 50) ** 0.3, np.linspace(0, 1, 50), 0.8 + 0.01 * i)
                                               for i in range(3)])
    P.auc_runs(out / "auc_per_run.png", rng.uniform(0.93, 0.94, 5), rng.uniform(0.925, 0.935, 5),
               "adversarially augmented")
    P.curve(out / "fooling_ratio_per_iteration.png", np.arange(6), np.linspace(0.5, 0.2, 6), np.full(6, 0.03),
            "iteration", "grey-box fooling ratio", 0.55)
    sig = rng.normal(0, 1, (3000, 2)) * 0.5 + np.array([1.0, 0.0])
    bkg = rng.normal(0, 1, (3000, 2))
    adv = bkg + rng.normal(0, 0.2, bkg.shape)
    names = ("feature 0", "feature 1")
    P.point_cloud(out / "fig19_adversarial.png", [(sig, "clean signal", P.BLUE),
                                                  (adv, "adversarial background", P.YELLOW)], names)
    P.marginals(out / "fig18_marginals.png", [(sig, "clean signal", P.BLUE), (bkg, "clean background", P.RED),
                                              (adv, "adversarial background", P.YELLOW)], names)
    k = np.arange(6)
    expected = 4000 * 0.3**k * 0.7 ** (5 - k)
    observed = expected * np.array([1.0, 0.98, 1.0, 1.3, 3.0, 9.0])
    plot_significance(SignificanceResult(5, 4000, 0.001, k, observed, expected, np.array([0.5, 0.6, 0.4, 0.01, 1e-5,
                                                                                         1e-9]), 0.05),
                      out / "repeated_misclassification.png")


CASES: dict[str, Callable[[Path], None]] = {
    name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_") and callable(fn)}


@pytest.mark.parametrize("case", sorted(CASES))
def test_plots_read_cleanly(case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    checked: dict[str, list[str]] = {}
    real = Figure.savefig

    def check_then_save(fig: Figure, fname: Any, *args: Any, **kwargs: Any) -> Any:
        # inside the plot's style context, so the check measures the fonts and sizes that are saved
        name = Path(str(fname)).name.split(".png.")[0].lstrip(".") + ".png"
        checked[name] = layout_problems(fig)
        return real(fig, fname, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", check_then_save)
    out = Path(os.environ["HEPADV_PLOT_DIR"]) / case if os.environ.get("HEPADV_PLOT_DIR") else tmp_path
    CASES[case](out)
    assert checked, "the case saved no figure"
    bad = {name: problems for name, problems in checked.items() if problems}
    assert not bad, "\n".join(f"{name}: {p}" for name, problems in bad.items() for p in problems)


def test_the_checks_find_what_they_look_for() -> None:
    """A figure with each defect is reported; the same figure laid out properly is not."""
    from hepadv.plotting.style import new_figure, style_context

    with style_context():
        fig, ax = new_figure()
        ax.plot(np.linspace(0, 1, 50), np.linspace(0, 1, 50), label="a curve through the legend")
        ax.legend(loc="center")
        ax.set_xticks(np.linspace(0, 1, 30), [f"{v:.4f}" for v in np.linspace(0, 1, 30)])  # crowded
        ax.set_ylabel("y " * 60)  # longer than the figure
        ax.text(0.0, 1.0, "title A", transform=ax.transAxes, va="bottom")
        ax.text(0.02, 1.0, "title B", transform=ax.transAxes, va="bottom")
        problems = "\n".join(layout_problems(fig))
    assert "legend covers data: line 'a curve through the legend'" in problems
    assert "texts '0.0000' and '0.0345' overlap" in problems
    assert "reaches outside the figure" in problems
    assert "texts 'title A' and 'title B' overlap" in problems
    assert "x tick labels but no axis label" in problems
    with style_context():
        fig, ax = new_figure()
        ax.plot([0, 0.5], [0, 0.5], label="a curve")
        ax.legend(loc="upper left")
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        assert layout_problems(fig) == []
