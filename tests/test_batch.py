"""Data/MC on a real SLURM, resumable runs, the HTCondor submit description, and the batch-system checks.

The SLURM tests use a cluster that is already up (``make slurm-up``, i.e. ``scripts/slurm.sh start``; ``.ci/run``
starts one and stops it again) and skip, saying so, where none is: the test suite itself never installs
packages or starts daemons. ``HEPADV_REQUIRE_SLURM=1`` (set by ``.ci/run``) turns that skip into a failure, so CI
cannot pass with the SLURM tests silently skipped."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from hepadv.cards import load
from hepadv.datamc.report import load_hists
from hepadv.datamc.run import run_datamc
from tests.histograms_equal import assert_same

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "name": "tiny",
    "seed": 1,
    "dataset": {"name": "toyjets", "params": {"n_jets": 3000, "seed": 1}},
    "model": {"name": "deepcsv", "params": {"hidden": 16, "layers": 2}},
    "training": {"epochs": 2, "batch_size": 1024, "lr": 3e-3, "gamma": 2},
    "variants": [{"name": "nominal"}],
    "evaluation": {"max_jets": 500, "every_epoch": False, "plots": False, "transfer": False},
}


def slurm_running() -> bool:
    try:
        out = subprocess.run(["sinfo", "-h", "-N", "-o", "%t"], capture_output=True, text=True, timeout=10).stdout
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return False
    return any(s.strip().rstrip("*~#") in ("idle", "mix", "alloc") for s in out.splitlines())


#: Why a SLURM test did not run, and how to run it.
NO_SLURM = ("no SLURM cluster is up (sinfo lists no idle node); the tests never start one: `sudo make slurm-up` "
            "starts a single-node one (`make slurm-down` stops it), .ci/run does both")


def need_slurm() -> None:
    """Return when a SLURM is running; skip (fail under HEPADV_REQUIRE_SLURM=1) otherwise. Starts nothing."""
    if slurm_running():
        return
    if os.environ.get("HEPADV_REQUIRE_SLURM") == "1":
        pytest.fail(f"HEPADV_REQUIRE_SLURM=1 but {NO_SLURM}")
    pytest.skip(NO_SLURM)


@pytest.fixture(scope="session")
def slurm() -> None:
    need_slurm()


@pytest.fixture(autouse=True)
def _workers_import_this_tree(monkeypatch: pytest.MonkeyPatch) -> None:
    """Batch jobs inherit the environment (sbatch --export=ALL): workers import this checkout's hepadv."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hepadv.cards.load import validate_card
    from hepadv.training.loop import train

    out = tmp_path_factory.mktemp("run") / "tiny"
    train(validate_card({**TINY, "output": str(out)}), progress=False)
    return out


def write_card(path: Path, run: Path, out: Path, **extra: Any) -> Path:
    data = {
        "selection": {"name": "dy"},
        "toynano": {"n_events_mc": 3000, "n_events_data": 2000},
        "taggers": [{"run": str(run), "checkpoints": ["best"]}],
        "distortions": [{"name": "gaussian_noise", "params": {"sigma": 0.05}}, {"name": "fgsm",
                                                                              "params": {"epsilon": 0.01}}],
        "chunksize": 500,
        "plots": False,
        "output": str(out),
        **extra,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


def slurm_params(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    """Single-node test cluster: scheduler on localhost, small jobs, worker logs in tmp (not the repo)."""
    return {"scheduler_host": "127.0.0.1", "memory": "1GB", "log_directory": str(tmp_path / "logs"), **extra}


def hists(out: Path) -> dict[str, Any]:
    return load_hists(out)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, tiny_run: Path) -> dict[str, Any]:
    """The uninterrupted iterative run every other run must equal bit for bit."""
    base = tmp_path_factory.mktemp("reference")
    results = run_datamc(load(write_card(base / "card.yaml", tiny_run, base / "out"), "datamc"), progress=False)
    assert {k: results["chunks"][k] for k in ("total", "reused", "processed", "bad_files")} == {
        "total": 10, "reused": 0, "processed": 10, "bad_files": []}
    return hists(base / "out")


def chunk_files(out: Path) -> list[Path]:
    """Finished chunk files (not the hidden temp of a write a kill cut short)."""
    return sorted(p for p in (out / "chunks").glob("*/*/*.npz") if not p.name.startswith("."))


def cli(*args: str, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "hepadv", *args], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, **kwargs)


def wait_for_chunks(out: Path, n: int, proc: subprocess.Popen[str], timeout: float = 240) -> int:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        k = len(chunk_files(out))
        if k >= n:
            return k
        if proc.poll() is not None:
            pytest.fail(f"the run ended before {n} chunks were done:\n{proc.stdout.read() if proc.stdout else ''}")
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"fewer than {n} chunks after {timeout} s")


# ----------------------------------------------------------------------------- resumable runs (no SLURM needed)
def test_sigkilled_run_resumes_with_only_missing_chunks(tmp_path: Path, tiny_run: Path,
                                                        reference: dict[str, Any]) -> None:
    out = tmp_path / "out"
    card = write_card(tmp_path / "card.yaml", tiny_run, out)
    proc = cli("datamc", str(card), "--executor", "iterative", "--no-progress")
    wait_for_chunks(out, 3, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    done = len(chunk_files(out))
    assert 3 <= done < 10, done  # killed mid-run: some chunks stored, not all
    assert not (out / "results.json").exists()
    results = run_datamc(load(card, "datamc"), progress=False)
    assert results["chunks"]["reused"] == done and results["chunks"]["processed"] == 10 - done
    assert not list((out / "chunks").rglob(".*.npz*"))  # a write the kill cut short is swept, never read
    assert_same(hists(out), reference)


def test_changed_card_does_not_reuse_chunks(tmp_path: Path, tiny_run: Path) -> None:
    out = tmp_path / "out"
    run_datamc(load(write_card(tmp_path / "a.yaml", tiny_run, out, max_chunks=2), "datamc"), progress=False)
    again = run_datamc(load(write_card(tmp_path / "a.yaml", tiny_run, out, max_chunks=2), "datamc"),
                       progress=False)
    assert again["chunks"]["reused"] == again["chunks"]["total"] == 4
    other = run_datamc(load(write_card(tmp_path / "b.yaml", tiny_run, out, max_chunks=2, seed=7), "datamc"),
                       progress=False)
    assert other["chunks"]["reused"] == 0 and len(list((out / "chunks").iterdir())) == 1


# ----------------------------------------------------------------------------- SLURM, for real
def test_slurm_cli_equals_iterative_bit_for_bit(slurm: None, tmp_path: Path, tiny_run: Path,
                                                reference: dict[str, Any]) -> None:
    out = tmp_path / "out"
    card = write_card(tmp_path / "card.yaml", tiny_run, out,
                      executor={"name": "slurm", "params": slurm_params(tmp_path)})
    proc = cli("datamc", str(card), "--executor", "slurm", "--workers", "2", "--no-progress")
    text, _ = proc.communicate(timeout=300)
    print(text)
    assert proc.returncode == 0, text
    line = next(x for x in text.splitlines() if x.startswith("SLURM jobs:"))
    ids = line.split(":", 1)[1].split("dashboard")[0].replace(",", " ").split()
    assert len(ids) == 2 and all(i.isdigit() for i in ids) and "dashboard: http" in line
    assert "SLURM jobs cancelled" in text
    assert not subprocess.run(["squeue", "-h", "-j", ",".join(ids)], capture_output=True, text=True).stdout.strip()
    assert_same(hists(out), reference)


def test_scancelled_worker_stops_the_run_and_a_rerun_finishes_it(slurm: None, tmp_path: Path, tiny_run: Path,
                                                                 reference: dict[str, Any]) -> None:
    from hepadv.batch import slurm_job_states

    out = tmp_path / "out"
    params = slurm_params(tmp_path, lost_worker_timeout=3)
    card = write_card(tmp_path / "card.yaml", tiny_run, out, executor={"name": "slurm", "params": params})
    proc = cli("datamc", str(card), "--workers", "1", "--no-progress")
    wait_for_chunks(out, 2, proc)
    mine = [j for j in subprocess.run(["squeue", "-h", "-n", "hepadv-datamc", "-o", "%i"], capture_output=True,
                                      text=True).stdout.split()]
    assert len(mine) == 1
    subprocess.run(["scancel", mine[0]], check=True)
    text, _ = proc.communicate(timeout=120)
    print(text)
    assert proc.returncode == 1, text
    assert "every SLURM worker job ended mid-run" in text and "run the same command again" in text
    done = len(chunk_files(out))
    assert 2 <= done < 10 and not (out / "results.json").exists()
    assert slurm_job_states(mine)[mine[0]] != "RUNNING"
    # finished here, from the chunks the SLURM worker left: the store does not care which executor wrote it
    results = run_datamc(load(card, "datamc", ["executor={name: iterative}"]), progress=False)
    assert results["chunks"]["reused"] == done and results["chunks"]["processed"] == 10 - done
    assert_same(hists(out), reference)


def test_ctrl_c_cancels_the_jobs(slurm: None, tmp_path: Path, tiny_run: Path) -> None:
    out = tmp_path / "out"
    card = write_card(tmp_path / "card.yaml", tiny_run, out,
                      executor={"name": "slurm", "params": slurm_params(tmp_path)})
    proc = cli("datamc", str(card), "--workers", "2", "--no-progress")
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:  # the job ids are printed as soon as sbatch accepted them
        lines.append(line)
        if line.startswith("SLURM jobs:"):
            break
    else:
        pytest.fail("".join(lines))
    ids = line.split(":", 1)[1].split("dashboard")[0].replace(",", " ").split()
    proc.send_signal(signal.SIGINT)
    text, _ = proc.communicate(timeout=120)
    print("".join(lines) + text)
    assert proc.returncode == 130 and "interrupted" in text and f"SLURM jobs cancelled: {', '.join(ids)}" in text
    assert not subprocess.run(["squeue", "-h", "-j", ",".join(ids)], capture_output=True, text=True).stdout.strip()


# ----------------------------------------------------------------------------- bad input, HTCondor
def test_sbatch_missing_and_too_many_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    from hepadv.datamc.jobqueue import BatchError, SlurmExecutor, check_node_fits

    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(BatchError, match="sbatch not found on PATH"):
        SlurmExecutor({}).check_site()
    monkeypatch.undo()
    need_slurm()  # the node-size check reads sinfo
    with pytest.raises(BatchError, match=r"cores=100000 but the largest node has \d+ CPUs \(sinfo\)"):
        check_node_fits(100000, None, None)
    with pytest.raises(BatchError, match="sinfo lists no node in partition 'nosuchpartition'"):
        check_node_fits(1, None, "nosuchpartition")


def test_the_slurm_tests_start_nothing(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without a cluster the SLURM tests skip and say how to get one; they never install or start anything."""
    monkeypatch.setenv("PATH", str(tmp_path))  # no sinfo, no apt-get, no slurm.sh on the path
    monkeypatch.delenv("HEPADV_REQUIRE_SLURM", raising=False)
    with pytest.raises(pytest.skip.Exception, match="make slurm-up"):
        need_slurm()
    monkeypatch.setenv("HEPADV_REQUIRE_SLURM", "1")
    with pytest.raises(pytest.fail.Exception, match="HEPADV_REQUIRE_SLURM=1 but no SLURM cluster is up"):
        need_slurm()
    calls = re.compile(r"""["'](slurm\.sh|apt-get|systemctl|slurmctld|munged)["']""")
    for test in (REPO / "tests").glob("*.py"):  # nothing in the suite runs what installs or starts daemons
        assert not calls.search(test.read_text()), test


def test_unanswered_scheduler_times_out_with_a_message(tmp_path: Path, tiny_run: Path) -> None:
    from hepadv.errors import HepadvError

    card = write_card(tmp_path / "card.yaml", tiny_run, tmp_path / "out", max_chunks=1,
                      executor={"name": "dask", "params": {"scheduler": "tcp://127.0.0.1:9", "connect_timeout": 2}})
    t0 = time.monotonic()
    with pytest.raises(HepadvError, match=r"no dask scheduler answered at tcp://127.0.0.1:9 within 2 s"):
        run_datamc(load(card, "datamc"), progress=False)
    assert time.monotonic() - t0 < 60


def test_htcondor_submit_description_is_what_htcondorcluster_writes() -> None:
    """The card's resources reach the submit description exactly as HTCondorCluster renders them."""
    import re

    from dask_jobqueue import HTCondorCluster

    from hepadv.datamc.jobqueue import HTCondorExecutor

    ex = HTCondorExecutor({"cores": 2, "memory": "3GB", "disk": "2GB", "walltime": "02:30:00",
                           "job_script_prologue": ["source /opt/env/bin/activate"],
                           "job_extra_directives": {"+JobFlavour": '"longlunch"'}, "python": "/opt/env/bin/python"})
    ours = ex.job_script()
    direct = HTCondorCluster(cores=2, memory="3GB", disk="2GB", python="/opt/env/bin/python",
                             job_script_prologue=["source /opt/env/bin/activate"], job_name="hepadv-datamc",
                             processes=2, death_timeout=120,
                             job_extra_directives={"+MaxRuntime": "9000", "+JobFlavour": '"longlunch"'},
                             scheduler_options={"dashboard_address": ":0"})
    try:
        theirs = direct.job_script()
    finally:
        direct.close()
    mask = re.compile(r"tcp://[0-9.]+:\d+")
    assert mask.sub("ADDR", ours) == mask.sub("ADDR", theirs)
    for line in ("RequestCpus = MY.DaskWorkerCores", "MY.DaskWorkerCores = 2", "+MaxRuntime = 9000", "--nworkers 2",
                 '+JobFlavour = "longlunch"', "source /opt/env/bin/activate", "Queue"):
        assert line in ours, line


# coffea retries the corrupt chunk before giving up, and says so: expected here
@pytest.mark.filterwarnings("ignore:Performed attempt \\d+ out of:UserWarning:coffea.processor.executor")
def test_file_corrupt_inside_stops_the_run_by_name_or_is_skipped(tmp_path: Path, tiny_run: Path) -> None:
    """Baskets zeroed mid-file: the header checks pass, reading fails while chunks run."""
    import json
    import shutil

    from hepadv.datamc.toynano import ToyNanoParams, toynano_files
    from hepadv.errors import DataError

    files = toynano_files(ToyNanoParams(topology="dy", n_events_mc=2000, n_events_data=1000), tmp_path / "toy")
    broken = tmp_path / "broken.root"
    shutil.copy(files["mc"], broken)
    raw = bytearray(broken.read_bytes())
    lo, hi = int(len(raw) * 0.3), int(len(raw) * 0.6)
    raw[lo:hi] = bytes(hi - lo)
    broken.write_bytes(bytes(raw))

    def card(skip: bool) -> Any:
        path = write_card(tmp_path / "card.yaml", tiny_run, tmp_path / "out", distortions=[], chunksize=1000,
                          data={"files": [str(files["data"])]}, mc={"files": [str(files["mc"]), str(broken)]},
                          skip_bad_files=skip)
        return load(path, "datamc")

    with pytest.raises(DataError, match=rf"{broken}: unreadable while processing \(.*error"):
        run_datamc(card(False), progress=False)
    results = run_datamc(card(True), progress=False)
    assert results["n_events"]["mc"] == 2000 and results["files"]["mc"] == [str(files["mc"])]
    saved = json.loads((tmp_path / "out" / "results.json").read_text())
    assert len(saved["skipped_files"]) == 1 and saved["skipped_files"][0].startswith(f"{broken}: unreadable")
    assert saved["chunks"]["bad_files"] == saved["skipped_files"]
