"""Every plotting function writes a real PNG atomically and leaves no temporary file behind."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest
from matplotlib.figure import Figure

from hepadv.evaluation.roc import roc_curve
from hepadv.plotting import style
from hepadv.plotting.discriminants import plot_discriminator_shapes
from hepadv.plotting.roc import plot_roc
from hepadv.plotting.style import savefig, use_style
from hepadv.plotting.training import plot_auc_vs_epoch, plot_loss_curves, plot_susceptibility

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _assert_only_png(directory: Path, name: str) -> None:
    files = sorted(p.name for p in directory.iterdir())
    assert files == [name], f"unexpected files (temporary leftovers?): {files}"
    data = (directory / name).read_bytes()
    assert len(data) > 1000 and data.startswith(PNG_MAGIC)


def _auc_data() -> dict[str, dict[str, list[float]]]:
    epochs = list(range(1, 8))
    return {
        "nominal": {
            "epoch": epochs,
            "raw": [0.90 + 0.006 * e for e in epochs],
            "attacked": [0.89 - 0.004 * e for e in epochs],
            "filled": False,
        },
        "adversarial": {
            "epoch": epochs,
            "raw": [0.90 + 0.0055 * e for e in epochs],
            "attacked": [0.90 + 0.001 * e for e in epochs],
        },
    }


def test_plot_roc(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    n = 20_000
    sig = rng.random(n) < 0.5
    curves = {
        "raw": roc_curve(rng.normal(sig * 2.0), sig),
        "FGSM eps=0.05": roc_curve(rng.normal(sig * 1.2), sig),
    }
    out = plot_roc(curves, "BvsL", tmp_path / "roc.png")
    assert out == tmp_path / "roc.png"
    _assert_only_png(tmp_path, "roc.png")


def test_plot_roc_unknown_discriminator_and_nested_dir(tmp_path: Path) -> None:
    sig = np.arange(100) < 50
    plot_roc({"m": roc_curve(np.arange(100.0), sig)}, "MyDisc", tmp_path / "sub" / "roc.png")
    _assert_only_png(tmp_path / "sub", "roc.png")


def test_plot_discriminator_shapes(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    scores = {
        "b": rng.beta(5, 1, 3000),
        "bb": rng.beta(4, 1, 500),
        "c": rng.beta(2, 2, 1000),
        "udsg": rng.beta(1, 5, 5000),
        "empty": np.array([]),
    }
    plot_discriminator_shapes(scores, "BvsL", tmp_path / "shapes.png")
    _assert_only_png(tmp_path, "shapes.png")


def test_plot_loss_curves(tmp_path: Path) -> None:
    histories = {
        "nominal": {"train_loss": [0.5, 0.3, 0.2, 0.15], "val_loss": [0.55, 0.35, 0.25, 0.22]},
        "adversarial": {"train_loss": [0.6, 0.4, 0.3], "val_loss": [0.62, 0.42, 0.33]},
    }
    plot_loss_curves(histories, tmp_path / "loss.png")
    _assert_only_png(tmp_path, "loss.png")


def test_plot_auc_vs_epoch(tmp_path: Path) -> None:
    plot_auc_vs_epoch(_auc_data(), "BvsL", "FGSM eps=0.05", tmp_path / "auc_epoch.png")
    _assert_only_png(tmp_path, "auc_epoch.png")


def test_plot_susceptibility(tmp_path: Path) -> None:
    plot_susceptibility(_auc_data(), tmp_path / "susc.png")
    _assert_only_png(tmp_path, "susc.png")


def test_savefig_failure_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fig = Figure()
    fig.add_subplot().plot([0, 1], [0, 1])

    def boom(*args: object, **kwargs: object) -> None:
        raise RuntimeError("render failed")

    monkeypatch.setattr(fig, "savefig", boom)
    with pytest.raises(RuntimeError):
        savefig(fig, tmp_path / "broken.png")
    assert list(tmp_path.iterdir()) == []


def test_savefig_replaces_existing_and_use_style_is_idempotent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(style, "_style_applied", False)
    with matplotlib.rc_context():  # keep the global style change out of other tests
        use_style()
        use_style()
        assert style._style_applied
    target = tmp_path / "plot.pdf"
    target.write_bytes(b"old")
    fig = Figure()
    fig.add_subplot().plot([0, 1], [1, 0])
    savefig(fig, target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["plot.pdf"]
    assert target.read_bytes().startswith(b"%PDF")
