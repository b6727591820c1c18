"""The run folder never lies: refusals before side effects, an honest record across resumes, clear messages."""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from hepadv.cards import load_card
from hepadv.cli.main import build_app
from hepadv.errors import CardError
from hepadv.runs.record import current_config, read_history
from hepadv.training import loop
from hepadv.training.checkpoint import load_checkpoint

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()

CARD = """\
name: t
device: cpu
dataset: {{name: toyjets, params: {{n_jets: {n_jets}, seed: 3}}}}
model: {{name: deepcsv, params: {{hidden: 16, layers: 2}}}}
training: {{epochs: {epochs}, batch_size: {batch}, lr: 3.0e-3, gamma: 2, patience: null}}
variants: [{{name: nominal}}]
evaluation: {{max_jets: 500, every_epoch: false, plots: false}}
"""


def write_card(tmp_path: Path, epochs: int = 2, n_jets: int = 2000, batch: int = 256) -> Path:
    path = tmp_path / "card.yaml"
    path.write_text(CARD.format(epochs=epochs, n_jets=n_jets, batch=batch) + f"output: {tmp_path / 'run'}\n")
    return path


def hepadv(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(build_app(), [str(a) for a in args])


def train(card: Path, *args: str):  # type: ignore[no-untyped-def]
    return hepadv("train", card, "--no-evaluate", "--no-progress", *args)


def one_line_error(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    return lines[0]


def tree_hash(folder: Path) -> dict[str, str]:
    """Every file and folder under ``folder`` with a hash of its bytes: what 'byte-identical' compares."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
            for p in sorted(folder.rglob("*"))}


def assert_record_matches_checkpoints(out: Path) -> None:
    """config.json (updated by the resume lines) describes the checkpoints beside it."""
    config = current_config(out)
    for variant in config["variants"]:
        state = load_checkpoint(out / variant["name"] / "checkpoints" / "last.pt")
        history = state["history"]
        lr, decay, epochs = (config["training"][k] for k in ("lr", "lr_decay_epochs", "epochs"))
        assert history["lr"] == pytest.approx([lr / (1 + e / decay) for e in range(len(history["epoch"]))])
        assert history["epoch"] == list(range(1, state["epoch"] + 1))
        assert state["epoch"] <= epochs
        assert state["finished"] == (state["epoch"] == epochs)  # patience is None in these cards


@pytest.fixture()
def one_thread():  # type: ignore[no-untyped-def]
    """Small batches on a shared machine: more threads only add overhead."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture()
def trained(tmp_path: Path, one_thread: None) -> Path:
    card = write_card(tmp_path)
    result = train(card)
    assert result.exit_code == 0, result.output
    return card


def test_refused_runs_leave_the_folder_byte_identical(trained: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = trained.parent / "run"
    before = tree_hash(out)
    assert {"card.yaml", "config.json", "runs.jsonl", "nominal/checkpoints/last.pt"} <= set(before)

    def no_data(card: object) -> None:
        raise AssertionError("data loaded before the refusal")

    monkeypatch.setattr(loop, "load_data", no_data)
    refusals = [
        (["--set", "training.epochs=7", "--set", "training.lr=0.01"], "already holds checkpoints; pass --resume"),
        (["--resume", "--set", "training.lr=0.01"], "training.lr was 0.003, now 0.01"),
        (["--resume", "--overwrite"], "pass --resume or --overwrite, not both"),
        (["--resume", "--set", "dataset.name=arrays", "--set", "dataset.params={path: gone.npz, features: [a]}"],
         "dataset.params.path: input file"),
        (["--overwrite", "--set", "variants.0.defence.name=fgsm"], "unknown defence 'fgsm'"),
    ]
    for args, expected in refusals:
        assert expected in one_line_error(train(trained, *args)), args
        assert tree_hash(out) == before, args


def test_failed_run_leaves_no_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    card = write_card(tmp_path)
    card.write_text(card.read_text().replace(f"output: {tmp_path / 'run'}", f"output: {tmp_path / 'runs' / 'run'}"))
    bad = tmp_path / "jets.npz"
    bad.write_bytes(b"not an npz file")
    result = train(card, "--set", f"dataset={{name: arrays, params: {{path: {bad}, features: [a]}}}}")
    assert "cannot read" in one_line_error(result)
    assert not (tmp_path / "runs").exists()

    class Boom(Exception):
        pass

    def fail(*args: object, **kwargs: object) -> None:
        raise Boom

    monkeypatch.setattr(loop, "make_loader", fail)  # fails after the record was written, before an epoch
    with pytest.raises(Boom):
        loop.train(load_card(card), progress=False)
    assert not (tmp_path / "runs").exists()  # nor the parent folder it had to create


def test_failed_overwrite_gives_the_old_run_back(trained: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = trained.parent / "run"
    (out / "notes.txt").write_text("mine")  # not hepadv's: never touched
    before = tree_hash(out)

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(loop, "make_loader", fail)
    with pytest.raises(RuntimeError):
        loop.train(load_card(trained, ["training.lr=0.01"]), overwrite=True, progress=False)
    assert tree_hash(out) == before


def test_resume_extends_a_finished_run_and_records_it(trained: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    config_before = (out / "config.json").read_bytes()
    card_before = (out / "card.yaml").read_bytes()
    assert load_checkpoint(out / "nominal" / "checkpoints" / "last.pt")["finished"]

    result = train(trained, "--resume", "--set", "training.epochs=3")
    assert result.exit_code == 0, result.output
    assert "best epoch" in result.output and "of 3" in result.output
    assert (out / "config.json").read_bytes() == config_before  # written once, by the run that made the models
    assert (out / "card.yaml").read_bytes() == card_before
    events = read_history(out)
    assert [e["event"] for e in events] == ["start", "end", "resume", "end"]
    assert events[2]["overrides"] == ["training.epochs=3"]
    assert events[2]["changes"]["training.epochs"] == [2, 3]
    assert events[2]["from_epoch"] == {"nominal": 2}
    assert events[3]["epochs_added"] == {"nominal": 1}
    assert current_config(out)["training"]["epochs"] == 3
    assert_record_matches_checkpoints(out)

    # the extended run is the run that had 3 epochs from the start: the lr schedule and RNG streams continue
    straight = tmp_path / "straight"
    straight.mkdir()
    result = train(write_card(straight, epochs=3))
    assert result.exit_code == 0, result.output
    a = load_checkpoint(out / "nominal" / "checkpoints" / "last.pt")
    b = load_checkpoint(straight / "run" / "nominal" / "checkpoints" / "last.pt")
    assert a["history"]["lr"] == b["history"]["lr"]
    for key in a["state_dict"]:
        assert torch.equal(a["state_dict"][key], b["state_dict"][key]), key

    # nothing to do: said in one line, no evaluation unless asked, and logged like every resume
    checkpoints_before = tree_hash(out / "nominal")
    result = train(trained, "--resume", "--set", "training.epochs=3")
    assert result.exit_code == 0, result.output
    assert f"nothing to train: all 3 epochs done in {out}" in result.output
    assert "AUC" not in result.output  # not evaluated again
    assert tree_hash(out / "nominal") == checkpoints_before
    events = read_history(out)
    assert [e["event"] for e in events[-2:]] == ["resume", "end"]
    assert events[-1]["status"] == "nothing to train" and events[-1]["epochs_added"] == {"nominal": 0}


def test_resume_refuses_changes_that_do_not_extend(trained: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    before = tree_hash(out)
    cases = [
        (["training.epochs=1"], "training.epochs was 2, now 1"),
        (["training.batch_size=128"], "training.batch_size was 256, now 128"),
        (["training.lr=0.05", "training.epochs=6"], "training.lr was 0.003, now 0.05"),
        (["training.patience=3"], "training.patience was null, now 3"),
        (["model.params.hidden=8"], "model.params.hidden was 16, now 8"),
        (["variants=[{name: nominal}, {name: other}]"], "variants was"),
    ]
    for overrides, expected in cases:
        args = [a for o in overrides for a in ("--set", o)]
        line = one_line_error(train(trained, "--resume", *args))
        assert line.startswith(f"error: cannot resume {out}: {expected}"), line
        assert "use --overwrite" in line
        assert tree_hash(out) == before
    # settings that do not change the models are accepted; the models and the record's settings stay
    history = (out / "runs.jsonl").read_bytes()
    result = train(trained, "--resume", "--set", "evaluation.max_jets=300", "--device", "cpu", "--no-report")
    assert result.exit_code == 0
    assert (out / "runs.jsonl").read_bytes().startswith(history)  # one resume and one end line appended
    (out / "runs.jsonl").write_bytes(history)
    assert tree_hash(out) == before


def test_early_stopped_run_stays_stopped_unless_patience_grows(tmp_path: Path, one_thread: None) -> None:
    from hepadv.cards.load import validate_card
    from tests.synthetic import make_prepared

    data = make_prepared(2000)

    def card(**training: object):  # type: ignore[no-untyped-def]
        return validate_card({"device": "cpu", "output": str(tmp_path / "run"),
                              "model": {"name": "deepcsv", "params": {"hidden": 8, "layers": 1}},
                              "training": {"epochs": 30, "batch_size": 256, "lr": 0.5, "gamma": 2.0,
                                           "patience": 1, **training}})

    first = loop.train(card(), data=data, progress=False).variants["nominal"]
    assert first.stopped_early
    n = len(first.history["epoch"])
    again = loop.train(card(epochs=40), data=data, progress=False, resume=True).variants["nominal"]
    assert len(again.history["epoch"]) == n  # more epochs do not reopen an early-stopped run
    more = loop.train(card(epochs=40, patience=2), data=data, progress=False, resume=True).variants["nominal"]
    assert len(more.history["epoch"]) > n
    assert more.history["lr"][n] == pytest.approx(0.5 / (1 + n / 30))  # the schedule continues
    resumes = [e for e in read_history(tmp_path / "run") if e["event"] == "resume"]
    assert [e["changes"] for e in resumes] == [{"training.epochs": [30, 40]}, {"training.patience": [1, 2]}]


@pytest.mark.parametrize("text", ["", "\n", "# only a comment\n# and another\n", "---\n"])
def test_empty_card_is_an_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    expected = f"{path}: card is empty; write `{{}}` to accept every default"
    with pytest.raises(CardError) as exc:
        load_card(path)
    assert str(exc.value) == expected
    assert one_line_error(hepadv("cards", "validate", path)) == f"error: {expected}"
    assert one_line_error(train(path)) == f"error: {expected}"
    assert not (tmp_path / "runs").exists() and not Path("runs/run").exists()


def test_directory_as_card(tmp_path: Path) -> None:
    expected = f"error: {tmp_path}: is a directory, not a card file"
    assert one_line_error(hepadv("cards", "validate", tmp_path)) == expected
    assert "is a directory" in one_line_error(train(tmp_path))


def test_unreadable_checkpoint_is_one_line_without_weights_only_advice(trained: Path, tmp_path: Path) -> None:
    ckpts = tmp_path / "run" / "nominal" / "checkpoints"
    # a pickle with a global the safe loader refuses (torch's message would advise weights_only=False)
    torch.save({"state_dict": {}, "when": datetime.datetime(2026, 1, 1)}, ckpts / "last.pt")
    (ckpts / "best.pt").write_bytes(b"PK\x03\x04 truncated zip")
    for result, path in ((train(trained, "--resume"), ckpts / "last.pt"),
                         (hepadv("evaluate", trained, "--no-progress"), ckpts / "best.pt")):
        line = one_line_error(result)
        assert line == f"error: {path}: not a hepadv checkpoint, or written by a newer version"
        assert "weights_only" not in result.output


def test_ctrl_c_keeps_completed_epochs_and_resume_continues(tmp_path: Path, one_thread: None) -> None:
    card = write_card(tmp_path, epochs=3, batch=8)  # ~0.5 s epochs: time to interrupt the second
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(REPO), "HEPADV_LOAD_PLUGINS": "", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "hepadv", "train", str(card), "--no-evaluate", "--no-progress"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    history = out / "nominal" / "history.json"  # written after the epoch's checkpoints
    deadline = time.monotonic() + 120
    while not history.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stdout + stderr
    assert "Traceback" not in stderr
    done = load_checkpoint(out / "nominal" / "checkpoints" / "last.pt")["epoch"]
    assert 1 <= done < 3
    assert (f"interrupted during nominal epoch {done + 1}; completed epochs are saved: rerun with --resume"
            in stderr.splitlines())
    assert [e["status"] for e in read_history(out) if e["event"] == "end"] == ["interrupted"]
    assert not list(out.rglob("*.tmp"))

    resumed = train(card, "--resume")
    assert resumed.exit_code == 0, resumed.output
    state = load_checkpoint(out / "nominal" / "checkpoints" / "last.pt")
    assert state["history"]["epoch"] == [1, 2, 3]
    assert json.loads((out / "config.json").read_text())["training"]["epochs"] == 3
    assert_record_matches_checkpoints(out)


def test_defence_that_cannot_train_refuses_before_anything_is_written(tmp_path: Path) -> None:
    # the built-in adversarial detector is a defence (a filter), but not one that trains a model
    card = write_card(tmp_path)
    line = one_line_error(train(card, "--set", "variants=[{name: d, defence: {name: detector}}]"))
    assert line.endswith("variants.0.defence.name: defence 'detector' is not a training strategy")
    assert not (tmp_path / "run").exists()
