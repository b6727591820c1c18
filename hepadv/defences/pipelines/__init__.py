"""``hepadv defend CARD``: the pipeline a defence card names, run over R grey-box runs.

A pipeline is a module with ``per_run(dcard, run, progress) -> dict`` (one base run's share: train,
attack, defend; cached on disk; may run in a worker process) and ``combine(dcard, runs, shares, out, progress)
-> dict`` (cross-run scoring, metrics and plots, in this process). The defence class names its pipeline
(``FilterDefence`` -> ``detector``; retraining defences set ``pipeline``), so a third-party defence
of either kind runs without new code here.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from hepadv.cards.defence_card import DefenceCard
from hepadv.cards.schema import ComponentSpec
from hepadv.errors import HepadvError
from hepadv.io import write_json

METRICS_FILE = "metrics.json"


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


def build_attack(spec: ComponentSpec, params: dict[str, Any] | None = None) -> Any:
    """An attack instance from a card block (``params`` replaces the block's params when given)."""
    from hepadv import get_attack

    cls = get_attack(spec.name)
    return cls(cls.parse_params(params if params is not None else spec.params))


def build_defence(dcard: DefenceCard) -> Any:
    from hepadv import get_defence

    return get_defence(dcard.defence.name)(dcard.defence.validated_params)


def component_id(spec: ComponentSpec) -> str:
    blob = json.dumps({"name": spec.name, "params": spec.validated_params.model_dump(mode="json")}, sort_keys=True)
    return f"{spec.name}-{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


def result_dir(dcard: DefenceCard) -> Path:
    """RUN/defences/<name>-<hash of the card as run>: one directory per distinct pipeline configuration."""
    blob = json.dumps({k: v for k, v in dcard.raw.items() if k not in ("workers", "threads", "plots")}, sort_keys=True,
                      default=str)
    return dcard.output_root() / f"{dcard.label}-{hashlib.sha256(blob.encode()).hexdigest()[:8]}"


@dataclass
class DefenceResult:
    directory: Path
    metrics: dict[str, Any]


def defend(dcard: DefenceCard, progress: bool = True) -> DefenceResult:
    """Run the card's pipeline: every run's share (cached, maybe parallel), then the combined metrics and plots."""
    import torch

    t0 = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(dcard.threads)
    try:
        return _defend(dcard, progress, t0)
    finally:
        torch.set_num_threads(threads)


def _defend(dcard: DefenceCard, progress: bool, t0: float) -> DefenceResult:
    from hepadv.defences.greybox import base_runs, run_all

    pipeline = pipeline_for(dcard)
    runs = base_runs(dcard)
    shares = run_all(dcard, progress)
    out = result_dir(dcard)
    (out / "plots").mkdir(parents=True, exist_ok=True)
    metrics = pipeline.combine(dcard, runs, shares, out, progress)
    metrics = {"card": dcard.label, "pipeline": pipeline.__name__.rsplit(".", 1)[-1], "runs": len(runs),
               "run_dirs": [str(r.dir) for r in runs], **metrics, "seconds": time.perf_counter() - t0}
    write_json(out / METRICS_FILE, metrics)
    return DefenceResult(out, metrics)
