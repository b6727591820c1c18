"""Every path the report reads or writes, in one place, on top of the run-folder layout (``hepadv.runs.layout``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hepadv.runs.layout import METRICS_FILE, PLOTS_DIR, RunLayout

#: Folders under RUN that hold one study each: an output inside one of them belongs to RUN.
STUDY_FOLDERS = ("attacks", "datamc", "defences", "export")


@dataclass(frozen=True)
class ReportPaths:
    """The files of one run folder that the report is made from."""

    run: Path

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.run)

    @property
    def report(self) -> Path:
        return self.layout.report

    @property
    def card(self) -> Path:
        return self.layout.card

    @property
    def config(self) -> Path:
        return self.layout.config

    @property
    def history(self) -> Path:
        return self.layout.history

    @property
    def metrics(self) -> Path:
        return self.layout.metrics

    @property
    def plots(self) -> Path:
        return self.layout.plots

    def variants(self) -> list[str]:
        """Variant folders: those with a training history or a best checkpoint, in name order."""
        found = {p.parent.name for p in self.run.glob("*/history.json")}
        found |= {p.parent.parent.name for p in self.run.glob("*/checkpoints/best.pt")}
        return sorted(found)

    def variant_history(self, variant: str) -> Path:
        return self.layout.variant_history(variant)

    def best_checkpoint(self, variant: str) -> Path:
        return self.layout.checkpoint(variant, "best")

    def attacks(self) -> list[Path]:
        """RUN/attacks/ID folders with a summary.json, oldest first (the order they were run in)."""
        return _studies(self.layout.attacks, "summary.json")

    @staticmethod
    def attack_summary(study: Path) -> Path:
        return study / "summary.json"

    @staticmethod
    def attack_variant_metrics(study: Path, variant: str) -> Path:
        return study / variant / METRICS_FILE

    @staticmethod
    def attack_variant_plots(study: Path, variant: str) -> Path:
        return study / variant / PLOTS_DIR

    def datamc(self) -> list[Path]:
        """RUN/datamc/SELECTION folders with a results.json."""
        return _studies(self.layout.datamc, "results.json")

    @staticmethod
    def datamc_results(study: Path) -> Path:
        return study / "results.json"

    @staticmethod
    def datamc_plots(study: Path) -> Path:
        return study / PLOTS_DIR

    def defences(self) -> list[Path]:
        """RUN/defences/ID folders with a metrics.json (RUN/defences/runs holds the base runs, not a study)."""
        return _studies(self.layout.defences, METRICS_FILE)

    @staticmethod
    def defence_metrics(study: Path) -> Path:
        return study / METRICS_FILE

    @staticmethod
    def defence_plots(study: Path) -> Path:
        return study / PLOTS_DIR

    def exports(self) -> list[Path]:
        """RUN/export/*.json: the description written beside each exported model."""
        folder = self.layout.export
        return sorted(folder.glob("*.json")) if folder.is_dir() else []

    def relative(self, path: Path) -> str:
        """``path`` as the report names it: relative to the run folder."""
        try:
            return str(path.relative_to(self.run))
        except ValueError:
            return str(path)


def _studies(folder: Path, marker: str) -> list[Path]:
    if not folder.is_dir():
        return []
    found = [p.parent for p in folder.glob(f"*/{marker}")]
    return sorted(found, key=lambda p: ((p / marker).stat().st_mtime, p.name))


def run_dir_of(output: Path | str | None) -> Path | None:
    """The run folder of a study folder (``RUN/attacks/ID`` -> RUN), or None for an output elsewhere."""
    if output is None:
        return None
    path = Path(output)
    return path.parent.parent if path.parent.name in STUDY_FOLDERS else None
