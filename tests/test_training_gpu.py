"""The GPU training path (issue 23): device-side shuffling, fused Adam and the CUDA-graph step, on a real GPU.

Every test here needs a CUDA GPU and skips without one; ``benchmarks/gpu_check.sh`` runs them first.
The CPU side of the same code (batches, optimiser, graph bookkeeping) is tested in tests/test_training_speed.py.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from hepadv.data.masks import FeatureMasks
from hepadv.defences.adversarial_training import AdversarialTraining
from hepadv.defences.base import TrainingStrategy
from hepadv.models.deepcsv import DeepCSV
from hepadv.training.loader import SlicingLoader, StreamingLoader, epoch_permutation
from hepadv.training.loss import focal_loss
from hepadv.training.step import TrainStep, make_optimizer
from tests.synthetic import make_prepared

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA GPU (torch sees none): run benchmarks/gpu_check.sh on one")
GPU = torch.device("cuda")


def loss_fn(logits: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return focal_loss(logits.float(), y, w, 2.0)


@pytest.fixture(scope="module")
def jets():  # type: ignore[no-untyped-def]
    data = make_prepared(3000)
    x, y, w = (torch.as_tensor(a).to(GPU) for a in (data.train.x, data.train.y, data.train.w))
    return FeatureMasks.from_spec(data.spec, GPU), x, y, w


def test_permutation_is_drawn_on_the_gpu_from_the_host_generator() -> None:
    g1, g2 = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    a, b = epoch_permutation(100_000, g1, GPU), epoch_permutation(100_000, g2, GPU)
    assert a.device.type == "cuda" and torch.equal(a, b)  # reproducible from the host generator's state
    assert torch.equal(a.sort().values, torch.arange(100_000, device=GPU))
    assert not torch.equal(epoch_permutation(100_000, g1, GPU), a)  # the next epoch differs
    torch.randint(0, 2**63 - 1, (), generator=g2)  # one draw: all a permutation takes from the host generator
    assert torch.equal(g1.get_state(), g2.get_state())


def test_streaming_gives_the_slicing_loaders_batches_on_the_gpu() -> None:
    x = torch.arange(5000, dtype=torch.float32)[:, None].expand(5000, 3).contiguous()
    y = torch.arange(5000)
    slicing = list(SlicingLoader((x.to(GPU), y.to(GPU)), 256, generator=torch.Generator().manual_seed(4)))
    streaming = list(StreamingLoader((x, y), 256, GPU, generator=torch.Generator().manual_seed(4), chunk_bytes=20_000))
    assert len(slicing) == len(streaming)
    assert all(torch.equal(a[1], b[1]) and torch.equal(a[0], b[0]) for a, b in zip(slicing, streaming, strict=True))


def train(jets, strategy: TrainingStrategy, graph: bool, dropout: float = 0.0, precision: torch.dtype | None = None,
          compile: bool = False):  # type: ignore[no-untyped-def]
    """3 epochs of 256-jet batches (the last one shorter) under the loop's lr schedule -> (weights, losses, step)."""
    masks, x, y, w = jets
    torch.manual_seed(0)
    model = DeepCSV(DeepCSV.Params(hidden=32, layers=3, dropout=dropout), x.shape[1], 4).to(GPU)
    opt = make_optimizer(model.parameters(), 3e-3, GPU)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0 / (1.0 + e / 2))
    step = TrainStep(model, opt, strategy, loss_fn, masks, GPU, precision, compile=compile, cuda_graph=graph)
    losses = []
    for _ in range(3):
        for xb, yb, wb in SlicingLoader((x, y, w), 256, generator=torch.Generator().manual_seed(1)):
            losses.append(step(xb, yb, wb))
        schedule.step()
    return [p.detach().clone() for p in model.parameters()], torch.stack(losses).cpu(), step


@pytest.mark.parametrize("strategy", [TrainingStrategy(), AdversarialTraining(relative_cap=0.25)],
                         ids=["nominal", "adversarial"])
def test_graph_trains_as_the_eager_step(jets, strategy: TrainingStrategy) -> None:  # type: ignore[no-untyped-def]
    eager_w, eager_loss, eager = train(jets, strategy, graph=False)
    graph_w, graph_loss, graphed = train(jets, strategy, graph=True)
    assert eager.graph is None and graphed.graph is not None
    assert graphed.graph.failed is None, graphed.graph.failed
    assert graphed.graph.captures == 3  # one per learning rate
    torch.testing.assert_close(graph_loss, eager_loss, rtol=1e-5, atol=1e-6)
    for a, b in zip(graph_w, eager_w, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_graph_is_the_default_on_a_gpu_and_replays_draw_fresh_dropout(jets) -> None:  # type: ignore[no-untyped-def]
    masks, x, y, w = jets
    model = DeepCSV(DeepCSV.Params(hidden=32, layers=2, dropout=0.5), x.shape[1], 4).to(GPU)
    opt = make_optimizer(model.parameters(), 0.0, GPU)  # lr 0: the weights stay, only dropout changes the loss
    step = TrainStep(model, opt, AdversarialTraining(), loss_fn, masks, GPU)
    assert step.graph is not None and opt.param_groups[0]["fused"]
    losses = torch.stack([step(x[:512], y[:512], w[:512]) for _ in range(8)]).cpu()
    assert step.graph.captures == 1 and step.graph.failed is None
    assert len(set(losses[4:].tolist())) == 4, losses  # four replays, four dropout draws


def test_bf16_graph_keeps_the_loss_fp32_and_finite(jets) -> None:  # type: ignore[no-untyped-def]
    _w, losses, step = train(jets, AdversarialTraining(), graph=True, dropout=0.1, precision=torch.bfloat16)
    assert step.graph is not None and step.graph.failed is None and step.graph.captures == 3
    assert losses.dtype == torch.float32 and torch.isfinite(losses).all()
    assert losses[-5:].mean() < losses[:5].mean()  # it learns


def test_compiled_graph_trains_as_the_compiled_eager_step(jets) -> None:  # type: ignore[no-untyped-def]
    torch._dynamo.reset()
    eager_w, eager_loss, _ = train(jets, AdversarialTraining(), graph=False, compile=True)
    graph_w, graph_loss, graphed = train(jets, AdversarialTraining(), graph=True, compile=True)
    assert graphed.graph is not None and graphed.graph.failed is None, graphed.graph.failed
    torch.testing.assert_close(graph_loss, eager_loss, rtol=1e-4, atol=1e-5)
    for a, b in zip(graph_w, eager_w, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-5)


def test_cpu_run_resumes_on_the_gpu_with_fused_adam(tmp_path: Path) -> None:
    from hepadv.training.checkpoint import load_checkpoint
    from hepadv.training.loop import train as train_card
    from tests.test_training import small_card

    data = make_prepared(1500)
    train_card(small_card(tmp_path, epochs=1), data=data, progress=False)
    result = train_card(small_card(tmp_path, epochs=2), data=data, progress=False, resume=True, device="cuda")
    for name, variant in result.variants.items():
        assert variant.history["epoch"] == [1, 2]
        state = load_checkpoint(tmp_path / "run" / name / "checkpoints" / "last.pt")
        assert state["optimizer"]["param_groups"][0]["fused"] is True
