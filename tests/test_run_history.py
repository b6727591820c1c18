"""Loss and metric curves come from the run's history (every completed epoch), not from the best checkpoint.

An early-stopped or plateaued run keeps training after its best epoch; ``best.pt`` holds the history up to that
epoch only. The run below trains 3 epochs and then has its best checkpoint set to epoch 1 (exactly what best.pt
is when epochs 2 and 3 did not lower the validation loss), so the evaluation must still show epochs 1-3.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from hepadv.cards.load import validate_card
from hepadv.errors import CheckpointError
from hepadv.evaluation.runner import evaluate_run, run_history
from hepadv.plotting import training as training_plots
from hepadv.training.loop import train
from tests.test_batch import TINY

CARD = {**TINY, "name": "plateau", "training": {**TINY["training"], "epochs": 3},
        "evaluation": {"max_jets": 500, "every_epoch": True, "plots": True, "transfer": False,
                       "attacks": [{"name": "fgsm", "params": {"epsilon": 0.01}}]}}


@pytest.fixture(scope="module")
def plateaued(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, Path]:
    out = tmp_path_factory.mktemp("plateau") / "run"
    card = validate_card({**CARD, "output": str(out)})
    train(card, progress=False)
    ckpt = out / "nominal" / "checkpoints"
    shutil.copy(ckpt / "epoch_001.pt", ckpt / "best.pt")  # the best epoch is the first of three
    return card, out


def test_evaluation_history_has_every_epoch_and_the_best_one(plateaued: tuple[Any, Path],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    card, out = plateaued
    drawn: dict[str, Any] = {}
    real_savefig = training_plots.savefig

    def keep(fig: Any, path: Any, **kwargs: Any) -> Path:
        drawn[Path(path).name] = [(line.get_xdata(), line.get_marker()) for line in fig.axes[0].get_lines()]
        return real_savefig(fig, path, **kwargs)

    monkeypatch.setattr(training_plots, "savefig", keep)
    results = evaluate_run(card, progress=False)
    entry = results["variants"]["nominal"]
    assert entry["best_epoch"] == 1
    assert entry["history"]["epoch"] == [1, 2, 3] and len(entry["history"]["val_loss"]) == 3
    assert (out / "plots" / "loss.png").is_file()
    # loss.png: training and validation curves over all three epochs, and the best epoch starred
    curves = [list(x) for x, marker in drawn["loss.png"] if marker == "o"]
    assert curves == [[1, 2, 3], [1, 2, 3]]
    assert [list(x) for x, marker in drawn["loss.png"] if marker == "*"] == [[1]]
    auc = next(v for k, v in drawn.items() if k.startswith("auc_vs_epoch_BvsL"))
    assert [list(x) for x, marker in auc if marker == "*"] == [[1]]
    assert [list(x) for x, marker in auc if marker == "o"] == [[1, 2, 3], [1, 2, 3]]


def test_history_source_order(plateaued: tuple[Any, Path], tmp_path: Path) -> None:
    """history.json first, then last.pt; the best checkpoint's only when the run has neither."""
    _card, out = plateaued
    assert run_history(out, "nominal", {"epoch": [1]})["epoch"] == [1, 2, 3]
    copy = tmp_path / "run"
    shutil.copytree(out / "nominal", copy / "nominal")
    (copy / "nominal" / "history.json").unlink()
    assert run_history(copy, "nominal", {"epoch": [1]})["epoch"] == [1, 2, 3]  # from last.pt
    (copy / "nominal" / "checkpoints" / "last.pt").unlink()
    assert run_history(copy, "nominal", {"epoch": [1]}) == {"epoch": [1]}
    (copy / "nominal" / "history.json").write_text("{not json")
    with pytest.raises(CheckpointError, match=r"history\.json: unreadable training history"):
        run_history(copy, "nominal", {})
