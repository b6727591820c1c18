"""``hepadv train CARD --submit slurm|htcondor`` and ``hepadv train --status RUN_DIR``.

The job runs ``hepadv train`` on the same card (same ``--set`` overrides) with ``--resume``: a job that is
pre-empted and requeued, or submitted again after its walltime ran out, continues from the last epoch
checkpoint instead of starting over. Resources come from the card's ``submit:`` section. For SLURM the
script is submitted with ``sbatch``; for HTCondor a submit description is written for ``condor_submit``
(not run here). What was submitted is recorded in ``RUN_DIR/submit/job.json`` for ``--status``.
"""

from __future__ import annotations

import datetime as dt
import json
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hepadv.batch import slurm_job_state
from hepadv.cards.schema import RunCard, SubmitSection
from hepadv.errors import HepadvError
from hepadv.io import atomic_write_text, write_json
from hepadv.runs.layout import RunLayout


class SubmitError(HepadvError):
    """The batch system is missing or refused the job."""


@dataclass
class Submission:
    system: str
    job_id: str | None
    script: Path
    log: Path
    run_dir: Path


def _memory_mb(memory: str) -> int:
    from dask.utils import parse_bytes

    return max(1, int(parse_bytes(memory) // 2**20))


def _seconds(time: str) -> int:
    days, _, hms = time.rpartition("-")
    parts = [int(x) for x in hms.split(":")]
    while len(parts) < 3:
        parts.insert(0, 0)  # "MM:SS" and "MM" are SLURM's forms too; keep it simple: right-aligned H:M:S
    return int(days or 0) * 86400 + parts[0] * 3600 + parts[1] * 60 + parts[2]


def train_command(card_file: Path, overrides: list[str], device: str | None, python: str | None,
                  evaluate: bool = True) -> list[str]:
    """The command the job runs: same card, same overrides, ``--resume``, no progress bars."""
    cmd = [python or sys.executable, "-m", "hepadv", "train", str(card_file.resolve()), "--resume", "--no-progress"]
    if not evaluate:
        cmd.append("--no-evaluate")
    for item in overrides:
        cmd += ["--set", item]
    if device:
        cmd += ["--device", device]
    return cmd


def slurm_script(card: RunCard, cmd: list[str], log: Path, workdir: Path) -> str:
    s = card.submit or SubmitSection()
    lines = ["#!/bin/bash", f"#SBATCH --job-name=hepadv-train-{card.name}", f"#SBATCH --output={log}",
             f"#SBATCH --cpus-per-task={s.cores}", f"#SBATCH --mem={_memory_mb(s.memory)}M", f"#SBATCH --time={s.time}"]
    if s.gpus:
        lines.append(f"#SBATCH --gres=gpu:{s.gpu_type + ':' if s.gpu_type else ''}{s.gpus}")
    if s.partition:
        lines.append(f"#SBATCH --partition={s.partition}")
    if s.account:
        lines.append(f"#SBATCH --account={s.account}")
    if s.requeue:
        lines += ["#SBATCH --requeue", "#SBATCH --open-mode=append"]  # a restarted job adds to the same log
    lines += [f"#SBATCH {d}" for d in s.extra_directives]
    lines += ["set -euo pipefail", *s.prologue, f"cd {shlex.quote(str(workdir))}",
              'echo "hepadv train job ${SLURM_JOB_ID:-?} on $(hostname) (restart ${SLURM_RESTART_COUNT:-0})"',
              f"export OMP_NUM_THREADS={s.cores}", "exec " + shlex.join(cmd)]
    return "\n".join(lines) + "\n"


def htcondor_description(card: RunCard, script: Path, log_dir: Path, workdir: Path) -> str:
    """Submit description; the job restarts (and resumes) unless it exited cleanly."""
    s = card.submit or SubmitSection()
    lines = [f"executable = {script}", f"initialdir = {workdir}", f"output = {log_dir}/train-$(ClusterId).out",
             f"error = {log_dir}/train-$(ClusterId).err", f"log = {log_dir}/train-$(ClusterId).log",
             f"request_cpus = {s.cores}", f"request_memory = {_memory_mb(s.memory)}", f"request_gpus = {s.gpus}",
             f"+MaxRuntime = {_seconds(s.time)}", "getenv = True", f'batch_name = "hepadv-train-{card.name}"']
    if s.requeue:
        lines.append("on_exit_remove = (ExitBySignal == False) && (ExitCode == 0)")
    lines += s.extra_directives
    lines.append("queue")
    return "\n".join(lines) + "\n"


def submit(card: RunCard, card_file: Path, system: str, overrides: list[str] | None = None,
           device: str | None = None, evaluate: bool = True) -> Submission:
    """Write the job files under ``RUN_DIR/submit/``; submit with sbatch for SLURM."""
    if system not in ("slurm", "htcondor"):
        raise SubmitError(f"--submit {system!r}: expected slurm or htcondor")
    s = card.submit or SubmitSection()
    run_dir = card.output_dir().resolve()
    sub = RunLayout(run_dir).submit
    sub.mkdir(parents=True, exist_ok=True)
    workdir = Path.cwd().resolve()
    cmd = train_command(card_file, overrides or [], device, s.python, evaluate)
    if system == "htcondor":
        script = sub / "train.sh"
        atomic_write_text(script, "#!/bin/bash\nset -euo pipefail\n" + "\n".join(s.prologue)
                          + f"\ncd {shlex.quote(str(workdir))}\nexec {shlex.join(cmd)}\n")
        script.chmod(0o755)
        description = sub / "train.sub"
        atomic_write_text(description, htcondor_description(card, script, sub, workdir))
        return Submission("htcondor", None, description, sub / "train-$(ClusterId).out", run_dir)
    if shutil.which("sbatch") is None:
        raise SubmitError("sbatch not found on PATH: --submit slurm needs a SLURM submit host "
                          "(or use --submit htcondor, or train here without --submit)")
    script = sub / "train.sbatch"
    log = sub / "slurm-%j.out"
    atomic_write_text(script, slurm_script(card, cmd, log, workdir))
    proc = subprocess.run(["sbatch", "--parsable", str(script)], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        reason = (proc.stderr or proc.stdout).strip().splitlines()
        raise SubmitError(f"sbatch refused {script}: {reason[-1] if reason else f'exit code {proc.returncode}'}")
    job_id = proc.stdout.strip().split(";")[0]
    log_path = sub / f"slurm-{job_id}.out"
    write_json(sub / "job.json", {"system": "slurm", "job_id": job_id, "script": str(script), "log": str(log_path),
                                  "card": str(card_file.resolve()), "overrides": overrides or [],
                                  "submitted": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")})
    return Submission("slurm", job_id, script, log_path, run_dir)


def status(run_dir: Path) -> dict[str, Any]:
    """Job state and the last epoch checkpoint of every variant in ``run_dir``."""
    from hepadv.runs.trained import Run
    from hepadv.training.checkpoint import epoch_checkpoints

    layout = RunLayout(run_dir)
    info_path = layout.submit / "job.json"
    if not run_dir.is_dir():
        raise HepadvError(f"{run_dir}: no such run directory")
    result: dict[str, Any] = {"run_dir": str(run_dir), "job": None, "variants": {}}
    if info_path.is_file():
        try:
            info = json.loads(info_path.read_text())
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise HepadvError(f"{info_path}: not a hepadv job record ({exc})") from None
        state = slurm_job_state(str(info.get("job_id"))) if shutil.which("squeue") else "UNKNOWN (squeue not found)"
        result["job"] = {**info, "state": state}
    card = Run(run_dir).recorded_card() if layout.config.is_file() else None  # as --resume extended it
    epochs = {v.name: card.variant_training(v).epochs for v in card.variants} if card is not None else {}
    for name in sorted(p.parent.name for p in run_dir.glob("*/checkpoints")):
        done = epoch_checkpoints(layout.checkpoints(name))
        result["variants"][name] = {"last_epoch": done[-1][0] if done else None, "epochs": epochs.get(name),
                                    "best": layout.has_trained(name)}
    if result["job"] is None and not result["variants"]:
        raise HepadvError(f"{run_dir}: no submitted job (submit/job.json) and no checkpoints")
    return result
