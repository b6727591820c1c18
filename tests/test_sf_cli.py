"""``hepadv sf`` end to end on tiny toynano samples: verbatim defaults, correctionlib, plots, saved inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from hepadv.cli.main import build_app
from hepadv.datamc.report import load_hists
from tests.test_datamc import REPO, TINY

SELECTIONS = ("dy", "wc", "ttsemilep")


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project folder holding cards/adv.yaml (tiny) and the three shipped Data/MC cards with small samples.

    ``mismodelling: 0``: data and MC come from the same parent, so the factors must be compatible with 1.
    """
    root = tmp_path_factory.mktemp("sfproject")
    (root / "cards").mkdir()
    (root / "cards" / "adv.yaml").write_text(yaml.safe_dump(TINY))
    for sel in SELECTIONS:
        shipped = yaml.safe_load((REPO / "cards" / f"datamc_{sel}.yaml").read_text())
        shipped["toynano"] = {"n_events_mc": 3000, "n_events_data": 3000, "mismodelling": 0.0}
        shipped.update(chunksize=3000, plots=False, root=sel == "dy")
        (root / "cards" / f"datamc_{sel}.yaml").write_text(yaml.safe_dump(shipped))
    return root


def test_hepadv_sf_verbatim_writes_a_correctionlib_file_that_evaluates(project: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import correctionlib

    monkeypatch.chdir(project)
    result = CliRunner().invoke(build_app(), ["sf", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "no trained model for nominal, adversarial: training first" in result.output  # trained if missing
    assert "CvsL x CvsB scale factors" in result.output and "KL(data || MC)" in result.output
    out = project / "runs" / "adv" / "sf"
    saved = json.loads((out / "results.json").read_text())
    assert set(saved["taggers"]) == {"nominal@best", "adversarial@best"}  # best checkpoints, not every epoch
    assert saved["selections"]["wc"]["enriches"] == "c"
    for sel in SELECTIONS:
        assert (project / "runs" / "adv" / "datamc" / sel / "sf_inputs.npz").is_file()
    for name in ("sf_nominal@best.png", "sf_adversarial@best.png", "sf_comparison.png"):
        assert (out / "plots" / name).stat().st_size > 0
    cset = correctionlib.CorrectionSet.from_file(str(out / "scale_factors.json"))
    assert set(cset) == {"nominal", "adversarial"}
    fit = saved["taggers"]["nominal@best"]
    edges = fit["cvsl_edges"]
    for f, code in (("light", 0), ("c", 4), ("b", 5)):
        d = fit["flavours"][f]
        assert d["n_fitted"] > 0, f
        i, j = next((i, j) for i, row in enumerate(d["flag"]) for j, v in enumerate(row) if v == "fit")
        x, y = 0.5 * (edges[i] + edges[i + 1]), 0.5 * (fit["cvsb_edges"][j] + fit["cvsb_edges"][j + 1])
        assert cset["nominal"].evaluate("central", code, x, y) == pytest.approx(d["sf"][i][j])
        assert cset["nominal"].evaluate("up", code, x, y) == pytest.approx(d["sf"][i][j] + d["unc"][i][j])
        # same parent for data and MC: the factors are compatible with 1 within their uncertainties
        assert d["p_value_vs_1"] > 1e-3, (f, d["chi2_vs_1"], d["ndf"])


def test_saved_inputs_match_the_histograms_and_from_saved_reuses_them(project: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import uproot

    from hepadv.datamc.sfhists import read_sf_inputs

    monkeypatch.chdir(project)
    folder = project / "runs" / "adv" / "datamc" / "dy"
    if not (folder / "sf_inputs.npz").is_file():
        pytest.skip("needs the verbatim run above")
    inputs = read_sf_inputs(folder / "sf_inputs.npz")
    h = load_hists(folder)["sf"]["nominal@best"]
    for kind, flavour in (("data", "data"), ("mc", "c")):
        sub = h[{"kind": kind, "variation": "raw", "flavour": flavour}]
        values, variances = inputs.select("nominal@best", kind, "raw", (flavour,))
        np.testing.assert_array_equal(values, sub.values(flow=True))
        np.testing.assert_array_equal(variances, sub.variances(flow=True))
    assert set(inputs.variations) == {"raw", "gaussian_noise", "fgsm"}
    data = inputs.select("nominal@best", "data", "raw", ("data",))[0]
    assert data.sum() == json.loads((folder / "results.json").read_text())["n_jets"]["data"]  # every jet, flows too
    with uproot.open(folder / "hists.root") as f:
        th2 = f["nominal@best/CvsL_CvsB/mc_raw_c"]
        np.testing.assert_allclose(th2.values(), inputs.select("nominal@best", "mc", "raw", ("c",))[0][1:-1, 1:-1])

    out = project / "coarse"
    result = CliRunner().invoke(build_app(), ["sf", "--from-saved", "--no-plots", "-o", str(out), "--variation",
                                              "fgsm", "--tagger", "adversarial@e002", "--cvsl-edges",
                                              "0,0.25,0.5,0.75,1", "--cvsb-edges", "0,0.5,1"])
    assert result.exit_code == 0, result.output
    assert "toynano" not in result.output  # nothing was rerun
    saved = json.loads((out / "results.json").read_text())
    assert list(saved["taggers"]) == ["adversarial@e002"] and saved["variation"] == "fgsm"
    assert saved["taggers"]["adversarial@e002"]["cvsb_edges"] == [0.0, 0.5, 1.0]
    assert saved["plots"] == [] and not (out / "plots").exists()


def test_sf_is_refused_while_another_process_writes_the_run(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A second writer of the run folder (here a process holding its lock) stops ``hepadv sf`` in one line."""
    import subprocess
    import sys

    monkeypatch.chdir(project)
    run = next(p for p in (project / "runs").iterdir() if (p / "datamc").is_dir())
    code = ("import sys, time\nfrom hepadv.runs.lock import run_lock\n"
            f"with run_lock({str(run)!r}):\n    print('held', flush=True)\n    time.sleep(120)\n")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        result = CliRunner().invoke(build_app(), ["sf", "--from-saved", "--no-plots", "-o", str(project / "locked")])
    finally:
        holder.kill()
        holder.wait()
    assert result.exit_code != 0 and f"in use by pid {holder.pid}" in result.output, result.output
    assert len(result.output.strip().splitlines()) <= 2 and not (project / "locked").exists()


def test_user_mistakes_are_one_line(project: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no cards here: the packaged ones are used, and said; nothing was run yet
    result = CliRunner().invoke(build_app(), ["sf", "--from-saved"])
    assert result.exit_code == 1 and "using the packaged card datamc_dy.yaml" in result.output
    assert "sf_inputs.npz: no CvsL x CvsB histograms (run hepadv datamc first" in result.output
    dy = str(project / "cards" / "datamc_dy.yaml")
    result = CliRunner().invoke(build_app(), ["sf", dy, dy, "--from-saved"])
    assert result.exit_code == 1 and "two cards select 'dy', which enriches light jets" in result.output
    result = CliRunner().invoke(build_app(), ["sf", dy, "--from-saved"])
    assert result.exit_code == 1 and "missing wc (c), ttsemilep (b)" in result.output
    monkeypatch.chdir(project)
    result = CliRunner().invoke(build_app(), ["sf", "--from-saved", "--cvsl-edges", "0,0.33,1"])
    assert result.exit_code == 1 and "CvsL edge 0.33 is not an edge of the filled grid" in result.output
    result = CliRunner().invoke(build_app(), ["sf", "--from-saved", "--tagger", "nope@best"])
    assert result.exit_code == 1 and "tagger 'nope@best' is not in all three selections" in result.output
