"""Asking SLURM about jobs, in one place (the Data/MC workers of dask-jobqueue and ``hepadv train --submit``)."""

from __future__ import annotations

import re
import subprocess


def slurm_job_states(ids: list[str]) -> dict[str, str]:
    """SLURM state per job id (``squeue -t all``: CANCELLED, FAILED... too); jobs no longer listed are "GONE"."""
    if not ids:
        return {}
    out = subprocess.run(["squeue", "-h", "-t", "all", "-j", ",".join(ids), "-o", "%i %T"], capture_output=True,
                         text=True, check=False, timeout=30).stdout
    states = {i: "GONE" for i in ids}
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] in states:
            states[parts[0]] = parts[1]
    return states


def slurm_job_state(job_id: str) -> str:
    """One job's state: squeue while it lists the job, then scontrol, else "FINISHED (no longer listed by SLURM)"."""
    state = slurm_job_states([job_id])[job_id]
    if state != "GONE":
        return state
    out = subprocess.run(["scontrol", "show", "job", job_id], capture_output=True, text=True, timeout=30).stdout
    m = re.search(r"JobState=(\S+)", out)
    return m.group(1) if m else "FINISHED (no longer listed by SLURM)"
