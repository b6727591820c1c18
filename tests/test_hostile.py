"""Hostile files, faults and absurd input (issue 24): one case per defect, through the CLI in a subprocess.

Each error case asserts a non-zero exit, at most two lines of output, no traceback, and a run folder that is
unchanged or resumable. Data small enough that the whole file runs in well under two minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.histograms_equal import assert_same

REPO = Path(__file__).resolve().parents[1]
TINY = {
    "name": "tiny",
    "seed": 1,
    "dataset": {"name": "toyjets", "params": {"n_jets": 3000, "seed": 1}},
    "model": {"name": "deepcsv", "params": {"hidden": 8, "layers": 1}},
    "training": {"epochs": 1, "batch_size": 1024, "lr": 3e-3, "gamma": 2},
    "variants": [{"name": "nominal"}],
    "evaluation": {"max_jets": 500, "every_epoch": False, "plots": False, "transfer": False},
}


def hepadv(*args: str, seed: str = "0", timeout: float = 120, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {**os.environ, "PYTHONHASHSEED": seed, "COLUMNS": "200", **env,
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "hepadv", *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=environ)


def one_line_failure(r: subprocess.CompletedProcess[str]) -> str:
    """Non-zero exit, at most two lines of output, no traceback; the output."""
    text = (r.stdout + r.stderr).strip()
    assert r.returncode != 0, text
    assert "Traceback" not in text, text
    assert len(text.splitlines()) <= 2, text
    return text


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hepadv.cards.load import validate_card
    from hepadv.training.loop import train

    out = tmp_path_factory.mktemp("run") / "tiny"
    train(validate_card({**TINY, "output": str(out)}), progress=False)
    return out


def datamc_card(path: Path, run: Path, out: Path, **extra: Any) -> Path:
    data = {"selection": {"name": "dy"}, "toynano": {"n_events_mc": 2000, "n_events_data": 1500},
            "taggers": [{"run": str(run), "checkpoints": ["best"]}],
            "distortions": [{"name": "gaussian_noise", "params": {"sigma": 0.05}}],
            "chunksize": 500, "plots": False, "root": False, "output": str(out), **extra}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


def chunk_files(out: Path) -> list[Path]:
    """Finished chunk files (not the hidden temp of a write in progress)."""
    return sorted(p for p in (out / "chunks").glob("*/*/*.npz") if not p.name.startswith("."))


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory, tiny_run: Path) -> Path:
    """One uninterrupted Data/MC run (hash seed 1): the reference every resumed run must equal."""
    base = tmp_path_factory.mktemp("datamc")
    card = datamc_card(base / "card.yaml", tiny_run, base / "out")
    r = hepadv("datamc", str(card), "--no-progress", seed="1", HEPADV_CACHE_DIR=str(base / "cache"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(chunk_files(base / "out")) == 7
    (base / "log.txt").write_text(r.stdout + r.stderr)
    return base


class Payload:
    """Unpickling this writes ``path``: proof that a file was unpickled."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (Path(self.path),))


# --------------------------------------------------------------------------------------------- Data/MC chunks
def test_resume_in_a_fresh_process_with_another_hash_seed_reuses_every_finished_chunk(
        tmp_path: Path, finished: Path) -> None:
    from hepadv.datamc.report import load_hists

    out = tmp_path / "out"
    shutil.copytree(finished / "out", out)
    for name in ("results.json", "hists.npz", "sf_inputs.npz"):
        (out / name).unlink()
    chunks = chunk_files(out)
    for lost in chunks[::3]:  # what a kill -9 mid-run leaves: some chunks missing
        lost.unlink()
    kept = len(chunk_files(out))
    card = datamc_card(tmp_path / "card.yaml", _run_of(finished), out)
    r = datamc(card, finished, seed="12345")
    assert r.returncode == 0, r.stdout + r.stderr
    stats = json.loads((out / "results.json").read_text())["chunks"]
    assert stats["reused"] == kept and stats["processed"] == len(chunks) - kept, stats
    assert_same(load_hists(out), load_hists(finished / "out"))


def _run_of(finished: Path) -> Path:
    return Path(yaml.safe_load((finished / "card.yaml").read_text())["taggers"][0]["run"])


def datamc(card: Path, finished: Path, seed: str = "0") -> subprocess.CompletedProcess[str]:
    """``hepadv datamc`` on the reference run's generated files (same file uuids, so chunks can be reused)."""
    return hepadv("datamc", str(card), "--no-progress", seed=seed, HEPADV_CACHE_DIR=str(finished / "cache"))


def test_planted_pickle_in_every_chunk_and_hists_file_never_executes(tmp_path: Path, finished: Path) -> None:
    from hepadv.datamc.report import load_hists
    from hepadv.histstore import StoreError

    out = tmp_path / "out"
    shutil.copytree(finished / "out", out)
    ran = tmp_path / "payload-ran"
    payload = pickle.dumps(Payload(ran))
    for path in [*chunk_files(out), out / "hists.npz"]:
        path.write_bytes(payload)
    with pytest.raises(StoreError, match="not a hepadv histogram store"):
        load_hists(out)
    card = datamc_card(tmp_path / "card.yaml", _run_of(finished), out)
    r = datamc(card, finished)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not ran.exists()
    stats = json.loads((out / "results.json").read_text())["chunks"]
    assert stats["reused"] == 0 and stats["processed"] == 7  # every planted file was redone, never trusted
    assert_same(load_hists(out), load_hists(finished / "out"))


def test_chunks_symlink_is_refused_and_foreign_folders_survive(tmp_path: Path, finished: Path) -> None:
    foreign = tmp_path / "elsewhere"
    for name in ("a", "b"):
        (foreign / name).mkdir(parents=True)
        (foreign / name / "precious.txt").write_text("mine")
    out = tmp_path / "out"
    out.mkdir()
    (out / "chunks").symlink_to(foreign, target_is_directory=True)
    card = datamc_card(tmp_path / "card.yaml", _run_of(finished), out)
    text = one_line_failure(datamc(card, finished))
    assert "symlink" in text
    assert sorted(p.name for p in foreign.iterdir()) == ["a", "b"]
    assert all((foreign / n / "precious.txt").read_text() == "mine" for n in ("a", "b"))


def test_only_marked_chunk_folders_are_cleaned(tmp_path: Path, finished: Path) -> None:
    out = tmp_path / "out"
    shutil.copytree(finished / "out", out)
    stale = next((out / "chunks").iterdir())
    mine = stale.with_name("0123456789abcdef")
    stale.rename(mine)  # hepadv's own store of "another card": marked, so removed
    foreign = out / "chunks" / "notes"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    target = tmp_path / "target"
    target.mkdir()
    (out / "chunks" / "link").symlink_to(target, target_is_directory=True)
    card = datamc_card(tmp_path / "card.yaml", _run_of(finished), out)
    r = datamc(card, finished)
    assert r.returncode == 0, r.stdout + r.stderr
    assert not mine.exists() and (foreign / "keep.txt").exists() and target.is_dir()


# --------------------------------------------------------------------------------------------- non-finite values
def train_card(path: Path, out: Path, **training: Any) -> Path:
    data = {**TINY, "training": {**TINY["training"], **training}, "output": str(out)}
    path.write_text(yaml.safe_dump(data))
    return path


def test_infinite_learning_rate_is_refused_before_any_work(tmp_path: Path) -> None:
    card = train_card(tmp_path / "card.yaml", tmp_path / "out", lr=float("inf"))
    text = one_line_failure(hepadv("train", str(card), "--no-progress"))
    assert "training.lr" in text and "finite" in text
    assert not (tmp_path / "out").exists()


def test_training_stops_at_the_first_non_finite_loss_in_one_line(tmp_path: Path) -> None:
    card = train_card(tmp_path / "card.yaml", tmp_path / "out", lr=1e30)
    r = hepadv("train", str(card), "--no-progress", timeout=300)
    text = (r.stdout + r.stderr).strip()
    assert r.returncode != 0 and "Traceback" not in text, text
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and text.splitlines()[-1] == errors[0], text
    assert "not finite at epoch 1, batch" in errors[0] and "no epoch finished" in errors[0]
    assert not (tmp_path / "out" / "metrics.json").exists()


def test_toynano_sizes_must_be_finite(tmp_path: Path) -> None:
    from hepadv.datamc.toynano import ToyNanoParams

    with pytest.raises(ValueError, match="finite"):
        ToyNanoParams(n_events_mc=float("inf"))  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------- bounds before work
def test_absurd_jet_count_is_refused_with_a_memory_estimate(tmp_path: Path) -> None:
    data = {**TINY, "dataset": {"name": "toyjets", "params": {"n_jets": 10**12, "seed": 1}},
            "output": str(tmp_path / "out")}
    (tmp_path / "card.yaml").write_text(yaml.safe_dump(data))
    text = one_line_failure(hepadv("train", str(tmp_path / "card.yaml"), "--no-progress", timeout=60))
    assert "n_jets" in text and "would need ~" in text and "of memory" in text
    assert not (tmp_path / "out").exists()


def test_absurd_batch_size_is_refused(tmp_path: Path) -> None:
    card = train_card(tmp_path / "card.yaml", tmp_path / "out", batch_size=10**12)
    text = one_line_failure(hepadv("train", str(card), "--no-progress", timeout=60))
    assert "training.batch_size" in text
    assert not (tmp_path / "out").exists()


def test_absurd_toynano_sizes_are_refused() -> None:
    from hepadv.datamc.toynano import ToyNanoParams

    for field in ("n_events_mc", "n_events_data"):
        with pytest.raises(ValueError, match=field):
            ToyNanoParams(**{field: 10**12})


# --------------------------------------------------------------------------------------------- environment failures
FULL_DISK = """
import errno, os, sys, types
import hepadv.io as io
target = sys.argv.pop(1)
def replace(src, dst, *args, **kwargs):
    if str(dst).endswith(target):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(dst))
    return os.replace(src, dst, *args, **kwargs)
io.os = types.SimpleNamespace(**{**vars(os), "replace": replace})
from hepadv.cli.main import main
sys.argv[0] = "hepadv"
main()
"""


def test_full_disk_at_the_final_training_write_is_one_line(tmp_path: Path) -> None:
    card = train_card(tmp_path / "card.yaml", tmp_path / "out")
    env = {**os.environ, "PYTHONHASHSEED": "0", "COLUMNS": "200",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    r = subprocess.run([sys.executable, "-c", FULL_DISK, "metrics.json", "train", str(card), "--no-progress"],
                       cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    text = (r.stdout + r.stderr).strip()
    assert r.returncode == 1 and "Traceback" not in text, text
    assert text.splitlines()[-1].startswith("error: No space left on device writing "), text
    assert "metrics.json" in text.splitlines()[-1] and "kept" in text.splitlines()[-1]
    assert not list(tmp_path.rglob(".metrics.json.*"))  # nothing half-written left behind


def test_full_disk_at_the_final_datamc_write_is_one_line_and_chunks_are_kept(tmp_path: Path, finished: Path) -> None:
    out = tmp_path / "out"
    card = datamc_card(tmp_path / "card.yaml", _run_of(finished), out)
    env = {**os.environ, "PYTHONHASHSEED": "0", "COLUMNS": "200", "HEPADV_CACHE_DIR": str(finished / "cache"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    r = subprocess.run([sys.executable, "-c", FULL_DISK, "hists.npz", "datamc", str(card), "--no-progress"],
                       cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    text = (r.stdout + r.stderr).strip()
    assert r.returncode == 1 and "Traceback" not in text, text
    assert text.splitlines()[-1].startswith("error: No space left on device writing "), text
    assert len(chunk_files(out)) == 7 and not (out / "results.json").exists()  # resumable: every chunk kept


def test_bad_detector_state_is_one_line_without_torch_advice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             recwarn: pytest.WarningsRecorder) -> None:
    from hepadv.defences.pipelines import detector
    from hepadv.errors import CheckpointError

    ran = tmp_path / "payload-ran"
    bad = tmp_path / "detector.pt"
    monkeypatch.setattr(detector, "detector_path", lambda dcard, run: bad)
    for content in (pickle.dumps(Payload(ran)), os.urandom(256)):
        bad.write_bytes(content)
        with pytest.raises(CheckpointError) as err:
            detector.load_detector(None, None)  # type: ignore[arg-type]
        text = str(err.value)
        assert len(text.splitlines()) == 1 and str(bad) in text and "weights_only" not in text
    assert not ran.exists() and not [w for w in recwarn if "weights_only" in str(w.message)]


def test_no_progress_hides_the_chunk_bar(finished: Path) -> None:
    text = (finished / "log.txt").read_text()
    assert not any(mark in text for mark in ("%|", "chunk/s", "Preprocessing", "\r")), text


def test_ctrl_c_in_datamc_says_rerun_to_finish_and_keeps_chunks(tmp_path: Path, finished: Path) -> None:
    import signal
    import time

    out = tmp_path / "out"
    card = datamc_card(tmp_path / "card.yaml", _run_of(finished), out, chunksize=200)
    env = {**os.environ, "PYTHONHASHSEED": "0", "COLUMNS": "200", "HEPADV_CACHE_DIR": str(finished / "cache"),
           "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-m", "hepadv", "datamc", str(card), "--no-progress"], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    t0 = time.monotonic()
    while not chunk_files(out) and proc.poll() is None and time.monotonic() - t0 < 120:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    text, _ = proc.communicate(timeout=120)
    if proc.returncode == 0:
        pytest.skip("the run finished before the signal arrived")
    assert proc.returncode == 130 and "Traceback" not in text, text
    assert text.strip().splitlines()[-1].startswith("interrupted") and "rerun the same command to finish" in text
    assert chunk_files(out) and not (out / "results.json").exists()


# --------------------------------------------------------------------------------------------- misleading messages
def test_npz_directory_and_random_bytes_npz_are_named_for_what_they_are(tmp_path: Path) -> None:
    from hepadv.data.arrays import read_columns
    from hepadv.errors import DataError

    folder = tmp_path / "jets.npz"
    folder.mkdir()
    with pytest.raises(DataError, match="is a directory"):
        read_columns(folder, ["x"])
    junk = tmp_path / "junk.npz"
    junk.write_bytes(os.urandom(512))
    with pytest.raises(DataError, match="not a valid npz") as err:
        read_columns(junk, ["x"])
    assert "allow_pickle" not in str(err.value)


def test_missing_stored_tagger_branch_names_the_file(tmp_path: Path) -> None:
    data = {"selection": {"name": "dy"}, "toynano": {"n_events_mc": 500, "n_events_data": 500},
            "taggers": [{"stored": "deepcsv"}], "plots": False, "output": str(tmp_path / "out")}
    (tmp_path / "card.yaml").write_text(yaml.safe_dump(data))
    r = hepadv("datamc", str(tmp_path / "card.yaml"), "--no-progress", HEPADV_CACHE_DIR=str(tmp_path / "cache"))
    text = (r.stdout + r.stderr).strip()
    assert r.returncode == 1 and "Traceback" not in text, text
    last = text.splitlines()[-1]
    assert last.startswith("error: ") and ".root: tagger 'deepcsv' needs branch 'Jet_btagDeepB'" in last, text


# ------------------------------------------------------------------------------------------ cards and names
def test_alias_bomb_in_a_typed_field_is_refused_quickly(tmp_path: Path) -> None:
    """A "billion laughs" card: refused in one line (the subprocess timeout is the harness's limit)."""
    ten = ", ".join(["*a{0}"] * 10)
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [{ten.format(i - 1)}]" for i in range(1, 9)]
    card = tmp_path / "bomb.yaml"
    body = yaml.safe_dump({**TINY, "output": str(tmp_path / "out")}).replace("epochs: 1", "epochs: *a8")
    card.write_text("\n".join(lines) + "\n" + body)
    text = one_line_failure(hepadv("train", str(card), "--no-progress", timeout=60))
    assert "bomb.yaml" in text and "values" in text, text
    assert not (tmp_path / "out").exists()


def test_oversized_and_non_utf8_cards_are_one_line(tmp_path: Path) -> None:
    big = tmp_path / "big.yaml"
    big.write_text(yaml.safe_dump(TINY) + "# " + "x" * 1_100_000 + "\n")
    text = one_line_failure(hepadv("cards", "validate", str(big)))
    assert "big.yaml" in text and "bytes" in text, text
    latin = tmp_path / "latin.yaml"
    latin.write_bytes(yaml.safe_dump(TINY).encode() + b"# caf\xe9\n")
    text = one_line_failure(hepadv("train", str(latin), "--no-progress"))
    assert "latin.yaml" in text and "UTF-8" in text, text


def test_variant_named_dotdot_cannot_write_outside_the_run(tmp_path: Path) -> None:
    card = tmp_path / "card.yaml"
    card.write_text(yaml.safe_dump({**TINY, "variants": [{"name": ".."}], "output": str(tmp_path / "out")}))
    text = one_line_failure(hepadv("train", str(card), "--no-progress"))
    assert "variants.0.name" in text and "pattern" in text, text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.yaml"]


def test_infinite_attack_epsilon_is_refused(tmp_path: Path, tiny_run: Path) -> None:
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    text = one_line_failure(hepadv("attack", str(run), "--plugin", "fgsm", "--set", "epsilon=.inf",
                                   "--no-progress"))
    assert "epsilon" in text and "finite" in text, text
    assert not (run / "attacks").exists() or not any((run / "attacks").iterdir())


# ------------------------------------------------------------------------------------------------- run locks
def test_a_second_writer_is_refused_naming_the_holder(tmp_path: Path, tiny_run: Path) -> None:
    """While one process holds the run's lock, ``hepadv train --resume`` into it is refused in one line."""
    from hepadv.runs.lock import run_lock

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    card = tmp_path / "card.yaml"
    card.write_text(yaml.safe_dump({**TINY, "output": str(run)}))
    before = sorted(str(p.relative_to(run)) for p in run.rglob("*"))
    with run_lock(run):
        text = one_line_failure(hepadv("train", str(card), "--resume", "--no-progress"))
    assert str(os.getpid()) in text and "in use" in text, text
    assert sorted(str(p.relative_to(run)) for p in run.rglob("*")) == before


# ------------------------------------------------------------------------------------ Data/MC kill -9, rerun
def test_datamc_killed_with_sigkill_resumes_in_a_fresh_process(tmp_path: Path, finished: Path) -> None:
    """kill -9 mid-run, rerun with another hash seed: every chunk finished before the kill is reused."""
    import signal
    import time

    from hepadv.datamc.report import load_hists

    out = tmp_path / "out"
    card = datamc_card(tmp_path / "card.yaml", _run_of(finished), out, chunksize=100)
    environ = {**os.environ, "PYTHONHASHSEED": "7", "HEPADV_CACHE_DIR": str(finished / "cache"),
               "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-m", "hepadv", "datamc", str(card), "--no-progress"], cwd=REPO,
                            env=environ, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    while len(chunk_files(out)) < 3 and proc.poll() is None:
        assert time.monotonic() - t0 < 120, "no chunk written in 120 s"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL, "the run finished before it could be killed"
    kept = len(chunk_files(out))
    assert kept >= 3 and not (out / "results.json").exists()
    r = datamc(card, finished, seed="4242")
    assert r.returncode == 0, r.stdout + r.stderr
    stats = json.loads((out / "results.json").read_text())["chunks"]
    assert stats["reused"] == kept, stats  # chunk files are written atomically: each one there is whole
    assert stats["reused"] + stats["processed"] == len(chunk_files(out)) > 7
    assert not [p for p in (out / "chunks").rglob(".*.npz*")], "a partial write was left behind"
    reference = tmp_path / "reference"
    ref_card = datamc_card(tmp_path / "ref.yaml", _run_of(finished), reference, chunksize=100)
    assert datamc(ref_card, finished).returncode == 0
    assert_same(load_hists(out), load_hists(reference))


# ------------------------------------------------------------------------------------------ non-finite inputs
def _toy(n: int = 2000):  # type: ignore[no-untyped-def]
    from hepadv.data.toyjets import generate_toyjets

    return generate_toyjets(n_jets=n, seed=3)


def test_non_finite_inputs_are_reported_per_feature_before_training(caplog: pytest.LogCaptureFixture) -> None:
    import dataclasses
    import logging

    import numpy as np

    from hepadv.cards.schema import PreprocessSection
    from hepadv.data.preprocess import prepare

    raw = _toy()
    features = raw.features.copy()
    features[:, 0] = np.nan  # a whole column lost
    features[:7, 1] = np.inf
    with caplog.at_level(logging.INFO, logger="hepadv.data"):
        prepare(dataclasses.replace(raw, features=features), PreprocessSection())
    text = caplog.text
    assert f"{raw.feature_names[0]} 2,000" in text and f"{raw.feature_names[1]} 7" in text
    assert "missing in every jet" in text and raw.feature_names[0] in text


def test_jets_with_non_finite_pt_are_refused_in_one_line() -> None:
    import dataclasses

    import numpy as np

    from hepadv.cards.schema import PreprocessSection
    from hepadv.data.preprocess import prepare
    from hepadv.errors import DataError

    raw = _toy()
    pt = raw.pt.copy()
    pt[:3] = np.nan
    with pytest.raises(DataError, match=r"^3 of 2,000 jets have a non-finite pT or eta"):
        prepare(dataclasses.replace(raw, pt=pt), PreprocessSection())


def test_nan_split_fractions_are_refused_in_one_line(tmp_path: Path) -> None:
    card = tmp_path / "card.yaml"
    card.write_text(yaml.safe_dump({**TINY, "output": str(tmp_path / "out")}).replace(
        "variants:", "preprocess:\n  split: [.nan, 0.5, 0.5]\nvariants:"))
    text = one_line_failure(hepadv("train", str(card), "--no-progress"))
    assert "preprocess.split" in text, text
    assert not (tmp_path / "out").exists()
