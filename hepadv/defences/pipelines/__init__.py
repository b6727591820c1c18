"""``hepadv defend CARD``: the pipeline a defence card names, run over R grey-box runs.

A pipeline is a module with ``per_run(dcard, run, progress) -> dict`` (one base run's share: train,
attack, defend; cached on disk; may run in a worker process) and ``combine(dcard, runs, shares, out, progress)
-> dict`` (cross-run scoring, metrics and plots, in this process). The defence class names its pipeline
(``FilterDefence`` -> ``detector``; retraining defences set ``pipeline``), so a third-party defence
of either kind runs without new code here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from hepadv.cards.defence import DefenceCard
from hepadv.errors import HepadvError
from hepadv.ids import named_id
from hepadv.io import write_json
from hepadv.progress import Progress, as_progress
from hepadv.runs.layout import METRICS_FILE, PLOTS_DIR


def pipeline_for(dcard: DefenceCard) -> ModuleType:
    from hepadv import get_defence
    from hepadv.defences.pipelines import augmentation, detector, iterative

    modules = {"detector": detector, "augmentation": augmentation, "iterative": iterative}
    cls = get_defence(dcard.defence.name)
    name = getattr(cls, "pipeline", None)
    if name not in modules:
        raise HepadvError(f"defence {dcard.defence.name!r} names no known pipeline ({name!r}); "
                          f"known: {', '.join(modules)}")
    return modules[name]


def result_dir(dcard: DefenceCard) -> Path:
    """RUN/defences/<name>-<content id>: one folder per distinct pipeline configuration (the base run's settings,
    the defence, the attack and the settings that change results; not workers, threads or plots)."""
    from hepadv.cards.load import resolved_card
    from hepadv.training.loop import card_hash

    content = resolved_card(dcard)
    content["run"] = card_hash(dcard.run_card)
    content = {k: v for k, v in content.items() if k not in ("workers", "threads", "plots", "output")}
    return dcard.output_root() / named_id(dcard.label, content)


@dataclass
class DefenceResult:
    directory: Path
    metrics: dict[str, Any]


def defend(dcard: DefenceCard, progress: Progress | None = None) -> DefenceResult:
    """Run the card's pipeline: every run's share (cached, maybe parallel), then the combined metrics and plots."""
    import torch

    t0 = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(dcard.threads)
    try:
        return _defend(dcard, progress, t0)
    finally:
        torch.set_num_threads(threads)


def _defend(dcard: DefenceCard, progress: Progress | None, t0: float) -> DefenceResult:
    from hepadv.defences.greybox import base_runs
    from hepadv.runs.lock import run_lock
    from hepadv.runs.outputs import publish_dir

    progress = as_progress(progress)
    pipeline = pipeline_for(dcard)
    runs = base_runs(dcard)
    out = result_dir(dcard)
    with run_lock(dcard.output_root(), progress.note):
        shares = run_all(dcard, progress)
        with publish_dir(out) as staging:
            (staging / PLOTS_DIR).mkdir()
            metrics = pipeline.combine(dcard, runs, shares, staging, progress)
            metrics = {"card": dcard.label, "pipeline": pipeline.__name__.rsplit(".", 1)[-1], "runs": len(runs),
                       "run_dirs": [str(r.dir) for r in runs], **metrics, "seconds": time.perf_counter() - t0}
            write_json(staging / METRICS_FILE, metrics)
    return DefenceResult(out, metrics)


@dataclass(frozen=True)
class Job:
    """What a worker process needs to do one run's share: the card as data and the run index."""

    raw: dict[str, Any]
    label: str
    index: int
    threads: int


def run_job(job: Job, progress: Progress | None = None) -> dict[str, Any]:
    """Train, attack and defend one base run (module level, so a process pool can pickle it)."""
    import torch

    from hepadv.cards.load import validate
    from hepadv.defences.greybox import base_runs

    torch.set_num_threads(job.threads)
    dcard = validate(job.raw, "defence", job.label)
    assert isinstance(dcard, DefenceCard)
    return pipeline_for(dcard).per_run(dcard, base_runs(dcard)[job.index], progress)


def run_all(dcard: DefenceCard, progress: Progress) -> list[dict[str, Any]]:
    """Each run's share, serially in this process (workers 1, with progress) or in ``workers`` spawned processes."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    workers = min(dcard.workers, dcard.runs)
    jobs = [Job(dcard.raw, dcard.label, j, dcard.threads) for j in range(dcard.runs)]
    if workers == 1:
        return [run_job(job, progress) for job in jobs]
    progress.note(f"{dcard.runs} runs in {workers} worker processes (no progress bars from workers)")
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(run_job, jobs))
