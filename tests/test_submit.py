"""``hepadv train --submit``: the batch script from the card, and a short CPU training through the real SLURM,
requeued mid-run (as a pre-emption would), that resumes from its last epoch checkpoint."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hepadv.batch import slurm_job_state as job_state
from hepadv.cards.load import validate_card
from hepadv.errors import CardError
from hepadv.training.submit import htcondor_description, slurm_script, train_command
from tests.test_batch import REPO, TINY, slurm, slurm_running  # noqa: F401  (the session fixture)

RUNNING = {"PENDING", "RUNNING", "CONFIGURING", "COMPLETING", "REQUEUED", "REQUEUE_HOLD", "RESIZING", "SUSPENDED"}


def test_batch_script_and_submit_description_carry_the_card_resources(tmp_path: Path) -> None:
    card = validate_card({**TINY, "submit": {"gpus": 2, "gpu_type": "a100", "cores": 8, "memory": "32GB",
                                             "time": "1-12:00:00", "partition": "gpu", "account": "cms",
                                             "extra_directives": ["--qos=long"], "prologue": ["module load cuda"]}})
    cmd = train_command(tmp_path / "card.yaml", ["training.epochs=3"], "cuda", None)
    script = slurm_script(card, cmd, tmp_path / "slurm-%j.out", tmp_path)
    for line in ("#SBATCH --gres=gpu:a100:2", "#SBATCH --cpus-per-task=8", "#SBATCH --mem=30517M",
                 "#SBATCH --time=1-12:00:00", "#SBATCH --partition=gpu", "#SBATCH --account=cms",
                 "#SBATCH --requeue", "#SBATCH --qos=long", "module load cuda"):
        assert line in script.splitlines(), line
    last = script.strip().splitlines()[-1]
    assert last.startswith(f"exec {sys.executable} -m hepadv train {tmp_path / 'card.yaml'} --resume")
    assert "--set training.epochs=3" in last and last.endswith("--device cuda")
    sub = htcondor_description(card, tmp_path / "train.sh", tmp_path, tmp_path)
    for line in ("request_gpus = 2", "request_cpus = 8", "request_memory = 30517", "+MaxRuntime = 129600",
                 "on_exit_remove = (ExitBySignal == False) && (ExitCode == 0)", "queue"):
        assert line in sub.splitlines(), line
    no_gpu = slurm_script(validate_card({**TINY, "submit": {"gpus": 0}}), cmd, tmp_path / "x.out", tmp_path)
    assert "--gres" not in no_gpu


def test_submit_section_is_strict(tmp_path: Path) -> None:
    from hepadv.cards import load_card

    path = tmp_path / "card.yaml"
    path.write_text(yaml.safe_dump({**TINY, "submit": {"gpu": 1}}))
    with pytest.raises(CardError, match=r"submit\.gpu"):
        load_card(path)
    path.write_text(yaml.safe_dump({**TINY, "submit": {"memory": "lots"}}))
    with pytest.raises(CardError, match=r"submit\.memory"):
        load_card(path)


def test_a_changed_submit_block_still_resumes(tmp_path: Path) -> None:
    """More walltime or another partition after a job ran out must not block ``--resume``."""
    from hepadv.cards.load import resolved_card
    from hepadv.runs.record import check_resume
    from hepadv.training.loop import card_hash

    before = validate_card(TINY)
    after = validate_card({**TINY, "submit": {"time": "48:00:00", "partition": "long"}})
    old = {k: v for k, v in resolved_card(before).items() if k != "submit"}  # a run from before submit: existed
    assert check_resume(old, resolved_card(after), tmp_path) == {}
    assert card_hash(before) == card_hash(after)


def test_htcondor_writes_a_description_only(tmp_path: Path) -> None:
    card = tmp_path / "card.yaml"
    card.write_text(yaml.safe_dump({**TINY, "output": str(tmp_path / "run")}))
    out = subprocess.run([sys.executable, "-m", "hepadv", "train", str(card), "--submit", "htcondor"], cwd=REPO,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "not submitted" in out.stdout and (tmp_path / "run" / "submit" / "train.sub").is_file()
    assert os.access(tmp_path / "run" / "submit" / "train.sh", os.X_OK)


def test_train_submit_slurm_runs_requeues_and_resumes(slurm: None, tmp_path: Path,  # noqa: F811
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTHONPATH", str(REPO))  # the job imports this checkout (sbatch exports the environment)
    run = tmp_path / "run"
    card = tmp_path / "card.yaml"
    tiny = {**TINY, "dataset": {"name": "toyjets", "params": {"n_jets": 20000, "seed": 1}},
            # batch size 4: epochs of seconds, so the requeue below lands mid-run on any machine (at 1024 the
            # four epochs took 0.1 s and the job could finish before the test saw its first checkpoint)
            "training": {**TINY["training"], "epochs": 4, "batch_size": 4}, "output": str(run),
            "submit": {"gpus": 0, "cores": 1, "memory": "2GB", "time": "00:20:00"}}
    card.write_text(yaml.safe_dump(tiny))
    out = subprocess.run([sys.executable, "-m", "hepadv", "train", str(card), "--submit", "slurm", "--device", "cpu",
                          "--no-evaluate"], cwd=REPO, capture_output=True, text=True, timeout=120)
    print(out.stdout, out.stderr)
    assert out.returncode == 0, out.stderr
    job = next(line for line in out.stdout.splitlines() if line.startswith("submitted SLURM job")).split()[3]
    assert job.rstrip(":").isdigit()
    job = job.rstrip(":")
    assert f"log: {run / 'submit' / f'slurm-{job}.out'}" in out.stdout
    ckpt = run / "nominal" / "checkpoints"
    first = ckpt / "epoch_001.pt"
    t0 = time.monotonic()
    while not first.exists():
        assert time.monotonic() - t0 < 300, f"no epoch checkpoint after 300 s; job state {job_state(job)}"
        time.sleep(0.2)
    first_mtime = first.stat().st_mtime_ns
    assert not (ckpt / "epoch_004.pt").exists(), "the job finished before the test could requeue it"
    subprocess.run(["scontrol", "requeue", job], check=True)  # pre-empt it: SLURM kills the job and queues it again
    time.sleep(1)  # SLURM delays a requeued job's start (BeginTime); no need to wait for that here
    subprocess.run(["scontrol", "update", f"JobId={job}", "StartTime=now"], check=False)
    while job_state(job) in RUNNING:
        assert time.monotonic() - t0 < 480, f"job {job} still {job_state(job)}"
        time.sleep(1)
    log = (run / "submit" / f"slurm-{job}.out").read_text()
    print(log)
    assert job_state(job) == "COMPLETED", log
    assert [p.name for p in sorted(ckpt.glob("epoch_*.pt"))] == [f"epoch_{e:03d}.pt" for e in (1, 2, 3, 4)]
    assert (ckpt / "best.pt").is_file() and first.stat().st_mtime_ns == first_mtime  # epoch 1 was not redone
    assert "(restart 1)" in log and "nominal: resuming after epoch" in log and "trained nominal" in log
    assert "Tagger performance" not in log  # --no-evaluate reached the job
    status = subprocess.run([sys.executable, "-m", "hepadv", "train", "--status", str(run)], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert status.returncode == 0, status.stderr
    assert f"slurm job {job}: COMPLETED" in status.stdout and "nominal: last epoch 4 of 4" in status.stdout
