"""Training: focal loss, slicing loader, checkpoints, resume giving identical weights, early stopping."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from hepadv.cards.load import validate_card
from hepadv.errors import CheckpointError, HepadvError
from hepadv.training.checkpoint import epoch_checkpoints, load_checkpoint, load_model_state, save_checkpoint
from hepadv.training.loader import SlicingLoader
from hepadv.training.loop import build_model_for, train
from hepadv.training.loss import focal_loss
from tests.synthetic import make_prepared


def test_focal_loss_matches_hand_computation() -> None:
    logits = torch.tensor([[2.0, 0.5, -1.0, 0.0], [0.1, 0.2, 0.3, 0.4]])
    y = torch.tensor([0, 3])
    w = torch.tensor([1.0, 3.0])
    gamma = 2.0
    expected = 0.0
    for i in range(2):
        p = math.exp(logits[i, y[i]]) / sum(math.exp(v) for v in logits[i].tolist())
        expected += w[i].item() * -((1 - p) ** gamma) * math.log(p)
    expected /= 4.0
    assert focal_loss(logits, y, w, gamma).item() == pytest.approx(expected, rel=1e-6)


def test_focal_loss_gamma_zero_is_weighted_cross_entropy() -> None:
    torch.manual_seed(0)
    logits, y, w = torch.randn(50, 4), torch.randint(0, 4, (50,)), torch.rand(50)
    ce = torch.nn.functional.cross_entropy(logits, y, reduction="none")
    assert focal_loss(logits, y, w, 0.0).item() == pytest.approx(((w * ce).sum() / w.sum()).item(), rel=1e-6)


def test_focal_loss_gamma_25_is_finite_for_confident_jets() -> None:
    logits = torch.tensor([[50.0, 0.0, 0.0, 0.0], [-50.0, 0.0, 0.0, 0.0]], requires_grad=True)
    loss = focal_loss(logits, torch.tensor([0, 0]), torch.ones(2), 25.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


def test_slicing_loader_covers_every_row_once() -> None:
    x = torch.arange(10).float()[:, None]
    y = torch.arange(10)
    batches = list(SlicingLoader((x, y), 4, generator=torch.Generator().manual_seed(0)))
    assert [len(b[0]) for b in batches] == [4, 4, 2]
    seen = torch.cat([b[1] for b in batches])
    assert sorted(seen.tolist()) == list(range(10))
    assert seen.tolist() != list(range(10))  # shuffled
    for bx, by in batches:  # rows stay aligned across tensors
        assert torch.equal(bx[:, 0].long(), by)


def small_card(tmp_path: Path, **training: object) -> object:
    data = {
        "name": "t",
        "device": "cpu",
        "output": str(tmp_path / "run"),
        "model": {"name": "deepcsv", "params": {"hidden": 16, "layers": 2}},
        "training": {"epochs": 3, "batch_size": 256, "lr": 1e-3, "gamma": 2.0, "patience": None, **training},
        "variants": [{"name": "nominal"}, {"name": "adversarial", "defence": {"name": "adversarial_training"}}],
        "evaluation": {"max_jets": 500},
    }
    return validate_card(data)


@pytest.fixture(scope="module")
def prepared():  # type: ignore[no-untyped-def]
    return make_prepared(3000)


def test_train_writes_checkpoints_and_history(tmp_path: Path, prepared) -> None:  # type: ignore[no-untyped-def]
    card = small_card(tmp_path)
    result = train(card, data=prepared, progress=False)
    out = tmp_path / "run"
    assert (out / "config.json").is_file()
    for name in ("nominal", "adversarial"):
        ckpts = epoch_checkpoints(out / name / "checkpoints")
        assert [e for e, _ in ckpts] == [1, 2, 3]
        history = result.variants[name].history
        assert history["epoch"] == [1, 2, 3]
        assert history["lr"] == pytest.approx([1e-3, 1e-3 / (1 + 1 / 30), 1e-3 / (1 + 2 / 30)])
        assert history["val_loss"][-1] < history["val_loss"][0]
    assert not list(out.rglob("*.tmp"))


def test_existing_run_needs_resume_or_overwrite(tmp_path: Path, prepared) -> None:  # type: ignore[no-untyped-def]
    card = small_card(tmp_path, epochs=1)
    train(card, data=prepared, progress=False)
    with pytest.raises(HepadvError, match="already holds checkpoints; pass --resume"):
        train(card, data=prepared, progress=False)
    train(card, data=prepared, progress=True, overwrite=True)  # the rich progress path too


class Interrupt(Exception):
    pass


def test_resume_gives_same_weights_as_uninterrupted(tmp_path: Path, prepared) -> None:  # type: ignore[no-untyped-def]
    full = small_card(tmp_path / "full")
    train(full, data=prepared, progress=False)

    cut = small_card(tmp_path / "cut")

    def stop_after_two(variant: str, epoch: int, state: dict) -> None:
        if epoch == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        train(cut, data=prepared, progress=False, on_epoch_end=stop_after_two)
    train(cut, data=prepared, progress=False, resume=True)

    for name in ("nominal", "adversarial"):
        a = load_checkpoint(tmp_path / "full" / "run" / name / "checkpoints" / "last.pt")
        b = load_checkpoint(tmp_path / "cut" / "run" / name / "checkpoints" / "last.pt")
        assert a["epoch"] == b["epoch"] == 3
        for key in a["state_dict"]:
            assert torch.equal(a["state_dict"][key], b["state_dict"][key]), (name, key)
        assert a["history"]["val_loss"] == b["history"]["val_loss"]


def test_resume_of_finished_run_does_nothing(tmp_path: Path, prepared) -> None:  # type: ignore[no-untyped-def]
    card = small_card(tmp_path, epochs=1)
    train(card, data=prepared, progress=False)
    result = train(card, data=prepared, progress=False, resume=True)
    assert result.variants["nominal"].history["epoch"] == [1]


def test_early_stopping(tmp_path: Path, prepared) -> None:  # type: ignore[no-untyped-def]
    card = small_card(tmp_path, epochs=50, patience=1, lr=0.5)  # absurd lr: val loss stops improving fast
    result = train(card, data=prepared, progress=False)
    nominal = result.variants["nominal"]
    assert nominal.stopped_early
    assert len(nominal.history["epoch"]) < 50
    assert nominal.best_epoch == int(np.argmin(nominal.history["val_loss"])) + 1


def test_checkpoint_from_other_model_shape_is_clear(tmp_path: Path, prepared) -> None:  # type: ignore[no-untyped-def]
    card = small_card(tmp_path)
    model = build_model_for(card, prepared)
    path = tmp_path / "m.pt"
    save_checkpoint({"model": model.describe(), "state_dict": model.state_dict()}, path)
    other = validate_card({"model": {"name": "deepcsv", "params": {"hidden": 8, "layers": 2}}})
    bigger = build_model_for(other, prepared)
    with pytest.raises(CheckpointError, match=r"m\.pt: checkpoint is for a different model \(params"):
        load_model_state(bigger, load_checkpoint(path), path)
    state = load_checkpoint(path)
    del state["model"]
    with pytest.raises(CheckpointError, match=r"m\.pt: checkpoint does not fit this model"):
        load_model_state(bigger, state, path)


def test_corrupt_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "bad.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match=r"bad\.pt: not a hepadv checkpoint, or written by a newer version$"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_cuda_without_gpu_is_clear(tmp_path: Path, prepared) -> None:  # type: ignore[no-untyped-def]
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    card = small_card(tmp_path)
    with pytest.raises(HepadvError, match="device 'cuda' requested but torch sees no CUDA GPU"):
        train(card, data=prepared, progress=False, device="cuda")
