"""Data/MC end to end on small toynano files with a tiny trained run: executors, KL direction, CLI, bad input."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import uproot
import yaml
from typer.testing import CliRunner

from hepadv.cards import load
from hepadv.cli.main import build_app
from hepadv.datamc.report import load_hists
from hepadv.datamc.run import run_datamc
from hepadv.errors import DataError, HepadvError
from tests.histograms_equal import assert_same

REPO = Path(__file__).resolve().parents[1]
TINY = {  # the same tiny run as conftest's ``tiny_run``, as a card a project could hold in cards/adv.yaml
    "name": "adv",
    "seed": 1,
    "dataset": {"name": "toyjets", "params": {"n_jets": 5000, "seed": 1}},
    "model": {"name": "deepcsv", "params": {"hidden": 16, "layers": 2}},
    "training": {"epochs": 2, "batch_size": 1024, "lr": 3e-3, "gamma": 2},
    "variants": [{"name": "nominal"},
                 {"name": "adversarial", "defence": {"name": "adversarial_training", "params": {"epsilon": 0.01}}}],
    "evaluation": {"max_jets": 1000, "every_epoch": False, "plots": False, "transfer": False},
}


def card(tmp_path: Path, run: Path, **extra: Any) -> Any:
    data = {
        "selection": {"name": "dy"},
        "toynano": {"n_events_mc": 3000, "n_events_data": 2000},
        "taggers": [{"run": str(run), "checkpoints": ["best"]}],
        "distortions": [{"name": "gaussian_noise", "params": {"sigma": 0.05}},
                        {"name": "fgsm", "params": {"epsilon": 0.01}}],
        "chunksize": 1000,
        "plots": False,
        "root": False,
        "output": str(tmp_path / "out"),
    }
    data.update(extra)
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "datamc.yaml"
    path.write_text(yaml.safe_dump(data))
    return load(path, "datamc")


def all_hists(tmp_path: Path, run: Path, executor: dict[str, Any], chunksize: int) -> dict[str, Any]:
    results = run_datamc(card(tmp_path, run, executor=executor, chunksize=chunksize), progress=False)
    return load_hists(Path(results["output"]))


def test_iterative_futures_and_dask_fill_identical_histograms(tmp_path: Path, tiny_run: Path) -> None:
    iterative = all_hists(tmp_path / "it", tiny_run, {"name": "iterative"}, 1000)
    futures = all_hists(tmp_path / "fu", tiny_run, {"name": "futures", "params": {"workers": 2}}, 1000)
    dask = all_hists(tmp_path / "da", tiny_run, {"name": "dask", "params": {"workers": 2}}, 1000)
    assert_same(iterative, futures)
    assert_same(iterative, dask)
    assert set(iterative["sf"]) == {"nominal@best", "adversarial@best"}  # CvsL x CvsB, equal across executors too
    h = iterative["hists"]["nominal@best"]["BvsL"]
    assert set(h.axes["variation"]) == {"raw", "gaussian_noise", "fgsm"}
    noise = h[{"kind": "mc", "variation": "gaussian_noise"}].values()
    assert not np.array_equal(noise, h[{"kind": "mc", "variation": "raw"}].values())  # the noise did something


def test_replicas_do_not_depend_on_the_chunking(tmp_path: Path, tiny_run: Path) -> None:
    """Each event's Poisson weights are drawn per file entry: 1000- and 3000-event chunks fill the same
    replicas (and nominal histograms) of the raw outputs; the replicas scatter around the nominal."""
    a, b = (all_hists(tmp_path / str(n), tiny_run, {"name": "iterative"}, n) for n in (1000, 3000))
    raw = {"variation": "raw"}
    for kind in ("hists", "replicas"):
        assert set(a[kind]) == set(b[kind]) == {"nominal@best", "adversarial@best"}
        for tagger, outputs in a[kind].items():
            for name, h in outputs.items():
                np.testing.assert_array_equal(h[raw].values(), b[kind][tagger][name][raw].values())
                np.testing.assert_array_equal(h[raw].variances(), b[kind][tagger][name][raw].variances())
    reps = a["replicas"]["nominal@best"]["BvsL"][{"kind": "mc", "variation": "raw"}].values()
    nominal = a["hists"]["nominal@best"]["BvsL"][{"kind": "mc", "variation": "raw"}].values().sum(axis=0)
    assert reps.shape == (100, 60) and not np.array_equal(reps[0], reps[1])
    np.testing.assert_allclose(reps.mean(axis=0).sum(), nominal.sum(), rtol=0.05)


def test_results_json_root_and_normalisation(tmp_path: Path, tiny_run: Path) -> None:
    results = run_datamc(card(tmp_path, tiny_run, root=True, chunksize=5000), progress=False)
    out = Path(results["output"])
    saved = json.loads((out / "results.json").read_text())
    assert saved["complete"] and saved["selection"] == "dy" and saved["origin"] == "toynano"
    assert saved["n_events"] == {"data": 2000, "mc": 3000}
    flow = saved["cutflow"]["mc"]
    assert list(flow.values()) == sorted(flow.values(), reverse=True) and flow["all"] == 3000
    div = saved["divergences"]["nominal@best"]
    assert set(div) == {"b", "bb", "c", "udsg", "BvsL", "BvsC", "CvsB", "CvsL"}
    assert set(div["BvsL"]) == {"raw", "gaussian_noise", "fgsm"} and div["BvsL"]["raw"]["kl"] > 0
    stat = div["BvsL"]["raw"]["kl_stat"]  # every divergence carries its statistics
    assert stat["replicas"] == 100 and stat["std"] > 0 and stat["floor"] > 0 and stat["z"] is not None
    assert div["CvsL"]["fgsm"]["js_stat"]["std"] > 0
    (comp,) = saved["comparisons"]
    assert (comp["reference"], comp["other"]) == ("nominal@best", "adversarial@best")
    paired = comp["outputs"]["BvsL"]["raw"]["kl"]
    assert paired["difference"] == pytest.approx(saved["divergences"]["adversarial@best"]["BvsL"]["raw"]["kl"]
                                                 - div["BvsL"]["raw"]["kl"])
    assert paired["std"] > 0 and paired["z"] is not None
    json.loads((out / "results.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in results.json"))
    hists = load_hists(out)
    h = hists["hists"]["nominal@best"]["BvsL"]
    data_jets = h[{"kind": "data", "variation": "raw"}].values().sum()
    assert data_jets == saved["n_jets"]["data"]  # every data jet in the 60 bins (defaults at -0.1 included)
    mc = h[{"kind": "mc", "variation": "raw"}].values().sum()
    assert saved["mc_scale_to_data"] == pytest.approx(saved["sum_weights"]["data"] / saved["sum_weights"]["mc"])
    assert mc == pytest.approx(saved["sum_weights"]["mc"])  # one (leading) jet per event, genWeight-weighted
    with uproot.open(out / "hists.root") as f:
        th1 = f["nominal@best/BvsL/data_raw_data"]
        np.testing.assert_array_equal(th1.values(), h[{"kind": "data", "variation": "raw", "flavour": "data"}]
                                      .values())
    from hepadv.plotting.datamc import plot_kl_vs_epoch, stacked

    assert stacked(h, "fgsm", tmp_path / "BvsL.png", "dy", "BvsL").stat().st_size > 0
    assert stacked(hists["controls"]["m_ll"], "raw", tmp_path / "mll.png", "dy", "m_ll").is_file()
    series = {"nominal": {"raw": {"BvsL": [{"epoch": 1, "kl": 0.02, "std": 0.003, "floor": 0.001},
                                           {"epoch": 2, "kl": 0.01, "std": None, "floor": None}]}}}
    assert plot_kl_vs_epoch(series, tmp_path / "kl.png").is_file()


def test_kl_grows_with_the_injected_mismodelling(tmp_path: Path, tiny_run: Path) -> None:
    """Same data events each time (same seed), only the chosen inputs scaled more: KL must rise monotonically."""
    kls = []
    for m in (0.0, 0.4, 1.2):
        c = card(tmp_path / f"m{m}", tiny_run, distortions=[], chunksize=5000,
                 selection={"name": "ttsemilep"},
                 toynano={"n_events_mc": 3000, "n_events_data": 3000, "mismodelling": m})
        results = run_datamc(c, progress=False, write=False)
        kls.append(results["divergences"]["nominal@best"]["BvsL"]["raw"]["kl"])
    assert all(a < b for a, b in itertools.pairwise(kls)), kls


def test_stored_taggers_follow_the_spec_definitions() -> None:
    from hepadv.datamc.taggers import StoredTagger

    b, c = np.array([0.6, 0.1, -1.0, 0.0]), np.array([0.3, 0.2, -1.0, 0.0])
    deepcsv = StoredTagger("deepcsv", "deepcsv").evaluate_jets(
        {"btagDeepB": b, "btagDeepC": c}.get)["raw"]
    np.testing.assert_allclose(deepcsv["BvsL"][:2], [0.6 / 0.7, 0.1 / 0.8])
    np.testing.assert_allclose(deepcsv["CvsB"][:2], [0.3 / 0.9, 0.2 / 0.3])
    np.testing.assert_allclose(deepcsv["CvsL"][:2], [0.3 / 0.4, 0.2 / 0.9])
    assert np.isnan(deepcsv["BvsL"][2]) and np.isnan(deepcsv["BvsC"][3])  # CMS defaults -> the -0.1 bin
    # NanoAOD v12 DeepJet: no btagDeepFlavC, C = CvsL (1 - B); CvsL computed back equals the stored branch
    cvl = np.array([0.3 / 0.4, 0.2 / 0.9])
    deepjet = StoredTagger("deepjet", "deepjet").evaluate_jets(
        {"btagDeepFlavB": b[:2], "btagDeepFlavCvL": cvl}.get)["raw"]
    np.testing.assert_allclose(deepjet["CvsL"], cvl)
    np.testing.assert_allclose(deepjet["c"], c[:2])


# ----------------------------------------------------------------------------- CLI end to end
def test_cli_datamc_selection_dy_verbatim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``hepadv datamc --selection dy`` from a project root whose run is missing: it trains, then runs."""
    (tmp_path / "cards").mkdir()
    (tmp_path / "cards" / "adv.yaml").write_text(yaml.safe_dump(TINY))
    shipped = yaml.safe_load((REPO / "cards" / "datamc_dy.yaml").read_text())
    shipped["toynano"] = {"n_events_mc": 2000, "n_events_data": 1500}
    shipped["chunksize"] = 2000
    shipped["plots"] = False
    shipped["root"] = False
    (tmp_path / "cards" / "datamc_dy.yaml").write_text(yaml.safe_dump(shipped))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(build_app(), ["datamc", "--selection", "dy", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "training first" in result.output
    assert "Cutflow, selection dy" in result.output and "KL(data || MC)" in result.output
    saved = json.loads((tmp_path / "runs" / "adv" / "datamc" / "dy" / "results.json").read_text())
    epochs = saved["kl_vs_epoch"]["nominal"]["fgsm"]["BvsL"]
    assert [p["epoch"] for p in epochs] == [1, 2] and all(p["kl"] > 0 and p["std"] > 0 for p in epochs)
    assert set(saved["kl_vs_epoch"]) == {"nominal", "adversarial"}


def test_cli_unknown_selection_lists_known_ones() -> None:
    result = CliRunner().invoke(build_app(), ["datamc", "--selection", "zz"])
    assert result.exit_code == 1
    assert "unknown selection 'zz'" in result.output and "dy, inclusive, ttsemilep, wc" in result.output


# ----------------------------------------------------------------------------- bad input
@pytest.fixture(scope="module")
def toy_pair(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from hepadv.datamc.toynano import ToyNanoParams, toynano_files

    return toynano_files(ToyNanoParams(topology="dy", n_events_mc=300, n_events_data=300),
                         tmp_path_factory.mktemp("pair"))


def files_card(tmp_path: Path, data: list[Path], mc: list[Path], **extra: Any) -> Any:
    return load_datamc_card_from(tmp_path, {
        "selection": {"name": "dy"}, "data": {"files": [str(p) for p in data]},
        "mc": {"files": [str(p) for p in mc]}, "taggers": [{"stored": "deepcsv"}], "plots": False, "root": False,
        "chunksize": 100000, "output": str(tmp_path / "out"), **extra})


def load_datamc_card_from(tmp_path: Path, data: dict[str, Any]) -> Any:
    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump(data))
    return load(path, "datamc")


def model_card(tmp_path: Path, run: Path, data: list[Path], mc: list[Path], **extra: Any) -> Any:
    c = files_card(tmp_path, data, mc, **extra)
    return c.model_copy(update={"taggers": load_datamc_card_from(
        tmp_path, {"taggers": [{"run": str(run)}]}).taggers})


def test_missing_and_corrupt_files_are_named_or_skipped(tmp_path: Path, tiny_run: Path,
                                                        toy_pair: dict[str, Path]) -> None:
    missing = tmp_path / "nope.root"
    with pytest.raises(DataError, match=f"input file {missing} does not exist"):
        run_datamc(model_card(tmp_path, tiny_run, [toy_pair["data"]], [missing]), progress=False)
    corrupt = tmp_path / "corrupt.root"
    corrupt.write_bytes(b"root" * 1000)
    with pytest.raises(DataError, match=f"{corrupt} is not a readable ROOT file"):
        run_datamc(model_card(tmp_path, tiny_run, [toy_pair["data"]], [corrupt]), progress=False)
    assert not (tmp_path / "out" / "results.json").exists()
    c = model_card(tmp_path, tiny_run, [toy_pair["data"]], [corrupt, toy_pair["mc"], missing], skip_bad_files=True)
    results = run_datamc(c, progress=False)
    assert len(results["skipped_files"]) == 2 and str(corrupt) in results["skipped_files"][0]
    assert results["files"]["mc"] == [str(toy_pair["mc"])] and results["n_events"]["mc"] == 300
    with pytest.raises(DataError, match="no usable mc file left"):
        run_datamc(model_card(tmp_path, tiny_run, [toy_pair["data"]], [corrupt], skip_bad_files=True),
                   progress=False)


def test_other_tree_name_empty_file_missing_branch_and_data_as_mc(tmp_path: Path, tiny_run: Path,
                                                                  toy_pair: dict[str, Path]) -> None:
    events = uproot.open(toy_pair["mc"])["Events"].arrays(how=dict)
    other = tmp_path / "other_tree.root"
    with uproot.recreate(other) as f:
        f["NotEvents"] = {"event": np.asarray(events["event"])}
    with pytest.raises(DataError, match=f"{other} has no tree 'Events'; trees in the file: NotEvents"):
        run_datamc(model_card(tmp_path, tiny_run, [toy_pair["data"]], [other]), progress=False)

    empty = tmp_path / "empty.root"
    with uproot.recreate(empty) as f:
        f.mktree("Events", {"run": np.uint32, "luminosityBlock": np.uint32, "event": np.uint64})
    with pytest.raises(DataError, match=f"{empty}: tree 'Events' has no events"):
        run_datamc(model_card(tmp_path, tiny_run, [toy_pair["data"]], [empty]), progress=False)

    with pytest.raises(DataError, match=f"{toy_pair['data']} is given as MC but has no 'genWeight'"):
        run_datamc(model_card(tmp_path, tiny_run, [toy_pair["data"]], [toy_pair["data"]]), progress=False)

    with pytest.raises(DataError, match="tagger 'deepcsv' needs branch 'Jet_btagDeepB', which the file lacks"):
        run_datamc(files_card(tmp_path, [toy_pair["data"]], [toy_pair["mc"]]), progress=False)

    from tests.datamc_events import jet, mu, write_events

    no_iso = write_events(tmp_path / "no_iso.root", [{"muons": [mu(30, 0, 0, 1)], "jets": [jet(30, 1, 1)]}],
                          drop=("Muon",))
    with pytest.raises(DataError, match="branch 'Muon_pt' needed by selection 'dy' is missing"):
        run_datamc(model_card(tmp_path, tiny_run, [no_iso], [toy_pair["mc"]]), progress=False)


def test_model_tagger_on_a_file_without_deepcsv_inputs(tmp_path: Path, tiny_run: Path) -> None:
    from tests.datamc_events import jet, mu, write_events

    path = write_events(tmp_path / "nano.root", [{"muons": [mu(30, 0, 0, 1)], "jets": [jet(30, 1, 1)],
                                                  "genWeight": 1.0}])
    with pytest.raises(HepadvError, match=r"needs branch 'Jet_DeepCSV_\w+', which the file lacks"):
        run_datamc(model_card(tmp_path, tiny_run, [path], [path]), progress=False)



def test_toynano_topology_for_a_plugin_selection() -> None:
    """A selection that is not a toynano topology needs toynano.topology (or files), said in one line."""
    from hepadv.cards.datamc import DataMCCard
    from hepadv.datamc.run import sample_files

    with pytest.raises(DataError, match=r"no topology for selection 'dimuon_jets'.*set toynano\.topology"):
        sample_files(DataMCCard.model_validate({"selection": {"name": "dimuon_jets"}}), "dimuon_jets")
    card = DataMCCard.model_validate({"selection": {"name": "dimuon_jets"},
                                      "toynano": {"topology": "wc", "n_events_mc": 50, "n_events_data": 50}})
    files, _, origin = sample_files(card, "dimuon_jets")
    assert origin == "toynano" and files["mc"][0].name.startswith("wc-mc-")
