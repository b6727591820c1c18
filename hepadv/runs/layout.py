"""The run-folder layout: the only code that knows where a run keeps what.

```
RUN/card.yaml  config.json  runs.jsonl  .hepadv-lock      the record (hepadv.runs.record)
RUN/metrics.json  plots/  report.html                    evaluation and the HTML report
RUN/VARIANT/checkpoints/{epoch_NNN,best,last}.pt  RUN/VARIANT/history.json
RUN/attacks/ID/{summary.json, VARIANT/{events.npz, metrics.json, plots/}}
RUN/datamc/SELECTION/{results.json, hists.*, plots/, chunks/}   RUN/sf/{scale_factors.json, results.json, plots/}
RUN/defences/ID/{metrics.json, plots/}   RUN/defences/runs/   (cached grey-box runs)
RUN/export/VARIANT.{onnx,json}   RUN/submit/   RUN/logs/
```

Every name that becomes a path component (variants, selections, attack ids) must match ``hepadv.ids.SAFE_NAME``, so no
card value can write outside the run folder.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hepadv.errors import HepadvError
from hepadv.ids import SAFE_NAME, check_name

CARD_FILE = "card.yaml"
CONFIG_FILE = "config.json"
HISTORY_FILE = "runs.jsonl"
LOCK_FILE = ".hepadv-lock"
METRICS_FILE = "metrics.json"
PLOTS_DIR = "plots"
REPORT_FILE = "report.html"
#: Top-level entries of a run that are not variant folders.
RESERVED = (CARD_FILE, CONFIG_FILE, HISTORY_FILE, LOCK_FILE, METRICS_FILE, PLOTS_DIR, REPORT_FILE,
            "attacks", "datamc", "sf", "defences", "export", "submit", "logs")


@dataclass(frozen=True)
class VariantFolder:
    """One trained variant's folder: ``checkpoints/{epoch_NNN,best,last}.pt`` and ``history.json``.

    Inside a run it is ``RUN/VARIANT``; the defence pipelines keep retrained variants in folders of their own.
    """

    path: Path

    @property
    def checkpoints(self) -> Path:
        return Path(self.path) / "checkpoints"

    def checkpoint(self, which: str | int = "best") -> Path:
        """``best``, ``last`` or an epoch number -> its file (which may not exist)."""
        if isinstance(which, int) or str(which).isdigit():
            return self.checkpoints / f"epoch_{int(which):03d}.pt"
        if which not in ("best", "last"):
            raise HepadvError(f"checkpoint {which!r}: expected best, last or an epoch number")
        return self.checkpoints / f"{which}.pt"

    @property
    def history(self) -> Path:
        return Path(self.path) / "history.json"


@dataclass(frozen=True)
class RunLayout:
    """Paths inside one run folder ``root``."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    # the record
    @property
    def card(self) -> Path:
        return self.root / CARD_FILE

    @property
    def config(self) -> Path:
        return self.root / CONFIG_FILE

    @property
    def history(self) -> Path:
        return self.root / HISTORY_FILE

    @property
    def lock(self) -> Path:
        return self.root / LOCK_FILE

    # evaluation and report
    @property
    def metrics(self) -> Path:
        return self.root / METRICS_FILE

    @property
    def plots(self) -> Path:
        return self.root / PLOTS_DIR

    @property
    def report(self) -> Path:
        return self.root / REPORT_FILE

    # trained variants
    def variant(self, name: str) -> Path:
        if name in RESERVED:
            raise HepadvError(f"variant name {name!r} is taken by the run folder layout; choose another")
        return self.root / check_name(name, "variant")

    def variant_folder(self, name: str) -> VariantFolder:
        return VariantFolder(self.variant(name))

    def checkpoints(self, variant: str) -> Path:
        return self.variant_folder(variant).checkpoints

    def checkpoint(self, variant: str, which: str | int = "best") -> Path:
        """``best``, ``last`` or an epoch number -> its file (which may not exist)."""
        return self.variant_folder(variant).checkpoint(which)

    def variant_history(self, variant: str) -> Path:
        return self.variant_folder(variant).history

    def trained_variants(self) -> list[str]:
        """Variants with a best checkpoint, in name order."""
        if not self.root.is_dir():
            return []
        return sorted(p.parent.parent.name for p in self.root.glob("*/checkpoints/best.pt")
                      if SAFE_NAME.fullmatch(p.parent.parent.name))

    def has_trained(self, variant: str) -> bool:
        return self.checkpoint(variant, "best").is_file()

    # derived outputs
    @property
    def attacks(self) -> Path:
        return self.root / "attacks"

    def attack(self, attack_id: str) -> Path:
        return self.attacks / check_name(attack_id, "attack id")

    @property
    def datamc(self) -> Path:
        return self.root / "datamc"

    def datamc_selection(self, selection: str) -> Path:
        return self.datamc / check_name(selection, "selection")

    @property
    def sf(self) -> Path:
        """``hepadv sf``: the CvsL x CvsB scale factors (correctionlib JSON, results, plots)."""
        return self.root / "sf"

    @property
    def defences(self) -> Path:
        return self.root / "defences"

    def defence(self, defence_id: str) -> Path:
        return self.defences / check_name(defence_id, "defence id")

    @property
    def defence_runs(self) -> Path:
        """Cached grey-box base runs, adversaries and detectors of ``hepadv defend``."""
        return self.defences / "runs"

    @property
    def export(self) -> Path:
        return self.root / "export"

    @property
    def submit(self) -> Path:
        return self.root / "submit"

    @property
    def logs(self) -> Path:
        return self.root / "logs"


def inside(path: Path, folder: Path) -> Path:
    """``path`` if it resolves inside ``folder`` (no ``..`` or symlink escape), else a one-line error."""
    resolved, base = Path(path).resolve(), Path(folder).resolve()
    if resolved != base and base not in resolved.parents:
        raise HepadvError(f"{path}: refusing to write outside {folder}")
    return Path(path)
