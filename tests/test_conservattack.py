"""CONSERVAttack: equals a plain reference loop of the paper's algorithm, keeps its bounds, never moves
integers or defaults, restricts its constraints to the control region, validates its parameters."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from pydantic import ValidationError

from hepadv import get_attack
from hepadv.attacks.base import FeatureMasks
from hepadv.attacks.conservattack.attack import ConservAttack
from hepadv.attacks.dataset_level import DatasetAttack
from hepadv.errors import HepadvError

SMALL = {"min_change": 0.05, "step": 0.1, "n_steps": 4, "n_iterations": 3, "num_bins": 8,
         "max_jsd_single_change": 0.05, "max_frob_single_change": 0.004, "alpha": 4.0, "beta": 1.0, "block_size": 32}


# ---------- a slow, plainly written reference of seed 004 sec. 3 (from-scratch statistics everywhere) ----------
def _jsd(p_counts: np.ndarray, q_counts: np.ndarray) -> float:
    p, q = p_counts / p_counts.sum(), q_counts / q_counts.sum()
    m = (p + q) / 2
    kl_pm = sum(pi * np.log(pi / mi) for pi, mi in zip(p, m, strict=True) if pi > 0)
    kl_qm = sum(qi * np.log(qi / mi) for qi, mi in zip(q, m, strict=True) if qi > 0)
    return float(np.sqrt((kl_pm + kl_qm) / 2))


def reference_attack(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, spec, p: dict) -> np.ndarray:  # type: ignore[no-untyped-def]
    X = x.double().numpy().copy()
    n, d = X.shape
    movable = FeatureMasks.from_spec(spec, "cpu").movable(x).numpy()
    edges = [np.linspace(X[:, j].min(), X[:, j].max(), p["num_bins"] + 1) for j in range(d)]
    clean_hist = [np.histogram(X[:, j], edges[j])[0] for j in range(d)]
    c_clean = np.corrcoef(X.T)
    lo = [X[movable[:, j], j].min() if movable[:, j].any() else np.inf for j in range(d)]
    hi = [X[movable[:, j], j].max() if movable[:, j].any() else -np.inf for j in range(d)]

    def jsd_of(data: np.ndarray, j: int) -> float:
        return _jsd(clean_hist[j], np.histogram(data[:, j], edges[j])[0])

    def dfn_of(data: np.ndarray) -> float:
        return float(np.linalg.norm(np.corrcoef(data.T) - c_clean) / np.linalg.norm(c_clean))

    with torch.no_grad():
        pred_clean = model(x).argmax(1).numpy()
    fooled = np.zeros(n, dtype=bool)
    for _ in range(p["n_iterations"]):
        signs = {}
        for i in np.flatnonzero(~fooled):
            xi = torch.tensor(X[i : i + 1], dtype=torch.float32, requires_grad=True)
            F.cross_entropy(model(xi), y[i : i + 1], reduction="sum").backward()
            signs[i] = np.sign(xi.grad.numpy()[0]).astype(np.float64)
        for i in np.flatnonzero(~fooled):
            now_jsd = [jsd_of(X, j) for j in range(d)]
            now_dfn = dfn_of(X)
            best = None
            for j in range(d):
                if spec.integer[j] or not movable[i, j] or signs[i][j] == 0:
                    continue
                for k in range(p["n_steps"]):
                    v = X[i, j] + signs[i][j] * (p["min_change"] + k * p["step"])
                    v = float(np.float32(min(max(v, lo[j]), hi[j])))
                    if abs(v - X[i, j]) < 0.999 * p["min_change"]:
                        continue
                    trial = X.copy()
                    trial[i, j] = v
                    jsd, dfn = jsd_of(trial, j), dfn_of(trial)
                    if jsd - now_jsd[j] > p["max_jsd_single_change"] or dfn - now_dfn > p["max_frob_single_change"]:
                        continue
                    loss = p["alpha"] * jsd + p["beta"] * dfn
                    if best is None or loss < best[0]:
                        best = (loss, j, v)
            if best is not None:
                X[i, best[1]] = best[2]
        with torch.no_grad():
            fooled = model(torch.tensor(X, dtype=torch.float32)).argmax(1).numpy() != pred_clean
    return X.astype(np.float32)


def test_block_size_one_equals_reference_loop(small_tagger) -> None:  # type: ignore[no-untyped-def]
    data, model, x, y = small_tagger
    x, y = x[:70], y[:70]
    result = ConservAttack(SMALL, block_size=1).generate(model, x, y, data.spec)
    expected = reference_attack(model, x, y, data.spec, SMALL)
    assert (result.x_adv != x).any(dim=1).sum() > 10  # the attack did something
    np.testing.assert_array_equal(result.x_adv.numpy(), expected)


# ---------- invariants ----------
def test_registered_as_dataset_attack() -> None:
    cls = get_attack("conservattack")
    assert cls is ConservAttack and issubclass(cls, DatasetAttack) and cls.kind == "dataset"


@pytest.mark.parametrize("block_size", [1, 64])
def test_bounds_integers_and_defaults(small_tagger, block_size: int) -> None:  # type: ignore[no-untyped-def]
    data, model, x, y = small_tagger
    x, y = x[:150 if block_size == 1 else 400], y[:150 if block_size == 1 else 400]
    params = {**SMALL, "n_iterations": 4, "block_size": block_size}
    result = ConservAttack(params).generate(model, x, y, data.spec)
    frozen = ~FeatureMasks.from_spec(data.spec, "cpu").movable(x)
    assert bool(frozen[:, data.spec.integer].all()) and bool((frozen & ~torch.as_tensor(data.spec.integer)).any())
    assert torch.equal(result.x_adv[frozen].view(torch.int32), x[frozen].view(torch.int32))  # bit-identical
    assert result.x_adv.dtype == x.dtype
    moved = result.x_adv != x
    assert moved.any()
    assert (moved.sum(dim=1) <= params["n_iterations"]).all()  # at most one feature per event and iteration
    for h in result.history:
        assert h["max_single_jsd_increase"] <= params["max_jsd_single_change"]
        assert h["max_single_dfn_increase"] <= params["max_frob_single_change"]
    assert 0 < result.history[-1]["fooling_ratio"] <= 1
    with torch.no_grad():
        changed = model(result.x_adv).argmax(1) != model(x).argmax(1)
    assert torch.equal(changed, result.fooled)


def test_fooled_events_leave_the_loop(small_tagger) -> None:  # type: ignore[no-untyped-def]
    data, model, x, y = small_tagger
    x, y = x[:300], y[:300]
    result = ConservAttack({**SMALL, "n_iterations": 4}).generate(model, x, y, data.spec)
    fooled_counts = [round(h["fooling_ratio"] * 300) for h in result.history]
    assert [h["n_active"] for h in result.history[1:]] == [300 - f for f in fooled_counts[:-1]]
    keep = ConservAttack({**SMALL, "n_iterations": 4, "optimize_already_fooled": True}).generate(model, x, y, data.spec)
    assert all(h["n_active"] == 300 for h in keep.history)


def test_feature_mask(small_tagger) -> None:  # type: ignore[no-untyped-def]
    data, model, x, y = small_tagger
    x, y = x[:200], y[:200]
    result = ConservAttack({**SMALL, "features": ["cont_a"]}).generate(model, x, y, data.spec)
    moved = (result.x_adv != x).any(dim=0)
    assert moved.tolist() == [n == "cont_a" for n in data.spec.names]
    with pytest.raises(HepadvError, match="unknown feature 'nope'"):
        ConservAttack({**SMALL, "features": ["nope"]}).generate(model, x, y, data.spec)


def test_random_candidates_are_seeded(small_tagger) -> None:  # type: ignore[no-untyped-def]
    data, model, x, y = small_tagger
    x, y = x[:200], y[:200]
    params = {**SMALL, "num_candidates": 6, "seed": 3}
    a = ConservAttack(params).generate(model, x, y, data.spec)
    b = ConservAttack(params).generate(model, x, y, data.spec)
    c = ConservAttack({**params, "seed": 4}).generate(model, x, y, data.spec)
    assert torch.equal(a.x_adv, b.x_adv) and not torch.equal(a.x_adv, c.x_adv)


def test_discriminator_working_point(small_tagger) -> None:  # type: ignore[no-untyped-def]
    data, model, x, y = small_tagger
    x, y = x[:400], y[:400]
    result = ConservAttack({**SMALL, "fooled_by": "discriminator", "discriminator": "BvsL", "mistag": 0.1}
                           ).generate(model, x, y, data.spec)
    crit = result.info["criterion"]
    assert crit.discriminator.name == "BvsL" and 0 < crit.threshold < 1
    with torch.no_grad():
        p0, p1 = (torch.softmax(model(v), 1).double().numpy() for v in (x, result.x_adv))
    np.testing.assert_array_equal(result.fooled.numpy(), crit.fooled(p0, p1))
    with pytest.raises(HepadvError, match="unknown discriminator 'BvsX'"):
        ConservAttack({**SMALL, "fooled_by": "discriminator", "discriminator": "BvsX"}).generate(model, x, y, data.spec)


def test_control_region_constraints_only_there(small_tagger) -> None:  # type: ignore[no-untyped-def]
    from hepadv.attacks.conservattack.stats import IncrementalStats, recompute

    data, model, x, y = small_tagger
    params = {**SMALL, "control_region": True, "n_iterations": 2}
    result = ConservAttack(params).generate(model, x, y, data.spec)
    cr = torch.as_tensor(result.info["region_mask"])
    region = result.info["control_region"]
    assert region["n_control"] == int(cr.sum()) and 0 < region["n_control"] < len(x)
    assert region["feature"] in data.spec.names and region["accuracy"] > 0.5
    change = (result.x_adv.double() - x.double()).abs()
    # signal region: unconstrained, several features per event and the largest candidate
    largest = SMALL["min_change"] + (SMALL["n_steps"] - 1) * SMALL["step"]
    assert change[~cr].max() == pytest.approx(params["n_iterations"] * largest, rel=1e-5)
    assert ((change[~cr] > 0).sum(dim=1) > params["n_iterations"]).any()
    # control region: at most one bounded change per event and iteration; its statistics stay close
    assert ((change[cr] > 0).sum(dim=1) <= params["n_iterations"]).all()
    ref = IncrementalStats(x[cr].double(), SMALL["num_bins"])
    jsd_cr, _, dfn_cr = recompute(result.x_adv[cr], ref.edges, ref.clean_counts, ref.c_clean, ref.keep)
    ref_sr = IncrementalStats(x[~cr].double(), SMALL["num_bins"])
    jsd_sr, _, dfn_sr = recompute(result.x_adv[~cr], ref_sr.edges, ref_sr.clean_counts, ref_sr.c_clean, ref_sr.keep)
    assert dfn_cr < dfn_sr and float(jsd_cr.mean()) < float(jsd_sr.mean())
    assert result.history[-1]["mean_jsd"] == pytest.approx(float(jsd_cr.mean()), abs=1e-10)
    assert result.history[-1]["dfn"] == pytest.approx(dfn_cr, abs=1e-10)
    last = result.history[-1]
    assert last["fooling_ratio_signal"] > last["fooling_ratio_control"]


def test_binary_model() -> None:
    from hepadv.data.base import FeatureSpec

    torch.manual_seed(0)
    n, d = 500, 4
    x = torch.randn(n, d)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long()
    model = torch.nn.Sequential(torch.nn.Linear(d, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    for _ in range(200):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    spec = FeatureSpec(names=("a", "b", "c", "e"), integer=np.zeros(d, bool), defaults=np.full(d, -100.0),
                       mean=np.zeros(d), std=np.ones(d), classes=("bkg", "sig"))
    params = {**SMALL, "n_iterations": 6, "fooled_by": "discriminator", "mistag": 0.1}
    result = ConservAttack(params).generate(model, x, y, spec)
    assert result.info["criterion"].discriminator.name == "sigvsbkg"
    assert result.history[-1]["fooling_ratio"] > 0


@pytest.mark.parametrize(("override", "message"), [
    ({"alpha": -1}, "alpha"), ({"num_bins": 1}, "num_bins"), ({"alpha": 0, "beta": 0}, "cannot both be 0"),
    ({"block_size": 0}, "block_size"), ({"mistag": 1.5}, "mistag"), ({"colour": 3}, "colour"),
    ({"fooled_by": "vibes"}, "fooled_by"), ({"disco_subsample": 1}, "disco_subsample"),
])
def test_parameter_validation(override: dict, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ConservAttack(override)


# ---------- figures of merit from scratch vs the attack's incremental bookkeeping ----------
@pytest.mark.parametrize("control_region", [False, True])
def test_figures_from_scratch_match_bookkeeping(small_tagger, control_region: bool) -> None:  # type: ignore[no-untyped-def]
    from hepadv.evaluation.visibility import figures_of_merit

    data, model, x, y = small_tagger
    x, y = x[:400], y[:400]
    params = {**SMALL, "control_region": control_region, "num_bins": 40, "min_change": 0.3}
    result = ConservAttack(params).generate(model, x, y, data.spec)
    with torch.no_grad():
        p0, p1 = (torch.softmax(model(v), 1).double().numpy() for v in (x, result.x_adv))
    figs = figures_of_merit(x.numpy(), result.x_adv.numpy(), y.numpy(), p0, p1, data.spec.names, data.spec.classes,
                            dict(data.spec.discriminators), result.info["criterion"], params["num_bins"],
                            result.info["region_mask"])
    last = result.history[-1]
    assert figs["mean_jsd"] > 0 and figs["dfn"] > 0
    assert figs["mean_jsd"] == pytest.approx(last["mean_jsd"], abs=1e-10)
    assert figs["dfn"] == pytest.approx(last["dfn"], abs=1e-10)
    assert figs["fooling_ratio"] == pytest.approx(last["fooling_ratio"], abs=1e-12)
    per_class = figs["fooling_ratio_per_class"]
    counts = np.bincount(y.numpy(), minlength=4)
    assert sum(per_class[c] * counts[i] for i, c in enumerate(data.spec.classes)) == pytest.approx(
        figs["fooling_ratio"] * len(y))
    if control_region:
        regions = figs["regions"]
        assert regions["control"]["fooling_ratio"] == pytest.approx(last["fooling_ratio_control"])
        assert regions["signal"]["fooling_ratio"] == pytest.approx(last["fooling_ratio_signal"])
        assert regions["all"]["fooling_ratio"] == pytest.approx(last["fooling_ratio"])
        assert regions["control"]["mean_jsd"] == figs["mean_jsd"] < regions["signal"]["mean_jsd"]
    assert set(figs["auc"]) == {"BvsL", "BvsC", "CvsB", "CvsL"}


def test_constant_feature_is_reported_and_left_alone(small_tagger) -> None:  # type: ignore[no-untyped-def]
    from hepadv.evaluation.visibility import distribution_figures

    data, model, x, y = small_tagger
    x, y = x[:300].clone(), y[:300]
    j = data.spec.names.index("Jet_eta")
    x[:, j] = 0.25  # Pearson correlation with this feature undefined
    result = ConservAttack(SMALL).generate(model, x, y, data.spec)
    assert result.info["constant_features"] == ["Jet_eta"]
    assert torch.equal(result.x_adv[:, j], x[:, j])
    assert np.isfinite(result.history[-1]["dfn"]) and result.history[-1]["dfn"] > 0
    figs = distribution_figures(x.numpy(), result.x_adv.numpy(), data.spec.names, SMALL["num_bins"])
    assert figs["constant_features"] == ["Jet_eta"] and np.isfinite(figs["dfn"])
    assert figs["dfn"] == pytest.approx(result.history[-1]["dfn"], abs=1e-10)


def test_use_disco_keeps_each_groups_distance_correlation(small_tagger) -> None:  # type: ignore[no-untyped-def]
    from hepadv.evaluation.visibility import disco_change, distribution_figures

    data, model, x, y = small_tagger
    x, y = x[:400], y[:400]
    params = {**SMALL, "use_disco": True, "disco_subsample": 100, "max_frob_single_change": 0.01, "block_size": None}
    result = ConservAttack(params).generate(model, x, y, data.spec)
    groups = result.info["disco_groups"]
    assert sorted(np.bincount(groups).tolist()) == [100] * 4 and result.info["block_size"] == 3
    frozen = ~FeatureMasks.from_spec(data.spec, "cpu").movable(x)
    assert torch.equal(result.x_adv[frozen].view(torch.int32), x[frozen].view(torch.int32))
    assert (result.x_adv != x).any(dim=1).sum() > 50
    last = result.history[-1]
    assert all(h["max_single_dfn_increase"] <= params["max_frob_single_change"] for h in result.history)
    assert all(h["max_single_jsd_increase"] <= params["max_jsd_single_change"] for h in result.history)
    assert last["dfn_disco"] == pytest.approx(disco_change(x.numpy(), result.x_adv.numpy(), groups), abs=1e-10)
    figs = distribution_figures(x.numpy(), result.x_adv.numpy(), data.spec.names, SMALL["num_bins"])
    assert last["mean_jsd"] == pytest.approx(figs["mean_jsd"], abs=1e-10)
    assert last["fooling_ratio"] > 0
    pearson = ConservAttack({**params, "use_disco": False}).generate(model, x, y, data.spec)
    assert last["dfn_disco"] < disco_change(x.numpy(), pearson.x_adv.numpy(), groups)


def test_use_disco_memory_is_checked_before_it_runs(small_tagger, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import hepadv.attacks.conservattack.attack as module

    data, model, x, y = small_tagger
    monkeypatch.setattr(module, "DISCO_MEMORY", 2**20)  # 1 MiB: a group of 400 x 6 features needs ~15 MiB
    with pytest.raises(HepadvError, match=r"groups of 400 events x 6 features need .* lower disco_subsample"):
        ConservAttack({**SMALL, "use_disco": True, "disco_subsample": 400}).generate(model, x[:400], y[:400], data.spec)


def test_use_disco_one_group_at_a_time_gives_the_same_attack(small_tagger, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import hepadv.attacks.conservattack.attack as module
    from hepadv.attacks.conservattack.disco import group_bytes

    data, model, x, y = small_tagger
    x, y = x[:400], y[:400]
    params = {**SMALL, "use_disco": True, "disco_subsample": 100, "max_frob_single_change": 0.01, "n_iterations": 2}
    kept = ConservAttack(params).generate(model, x, y, data.spec)
    monkeypatch.setattr(module, "DISCO_MEMORY", 2 * group_bytes(100, x.shape[1]))  # one group fits, four do not
    rebuilt = ConservAttack(params).generate(model, x, y, data.spec)
    assert torch.equal(kept.x_adv, rebuilt.x_adv)
    assert rebuilt.history[-1]["dfn_disco"] == pytest.approx(kept.history[-1]["dfn_disco"], abs=1e-12)
