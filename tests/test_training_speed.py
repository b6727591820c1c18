"""The fast training step (issue 23): device-side shuffling, fused Adam, the step replayed as a CUDA graph.

On CPU nothing may change: the loader's batches, the optimiser and the step are the ones every CPU run used
(bitwise). The CUDA graph's bookkeeping (warm-up, capture, replay with copied inputs, a new graph for a new
learning rate, eager shorter batches, eager fallback) is tested here with a stand-in that re-runs the step
instead of replaying recorded kernels; tests/test_training_gpu.py checks the real thing on a GPU.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import torch

from hepadv.attacks.noise import GaussianNoise
from hepadv.data.masks import FeatureMasks
from hepadv.defences.adversarial_training import AdversarialTraining
from hepadv.defences.base import TrainingStrategy
from hepadv.models.deepcsv import DeepCSV
from hepadv.training.loader import SlicingLoader, epoch_permutation
from hepadv.training.loss import focal_loss
from hepadv.training.step import (
    GraphedStep,
    TrainStep,
    graph_safe,
    make_optimizer,
    optimizer_flags,
    set_optimizer_flags,
)
from tests.synthetic import make_prepared

CPU = torch.device("cpu")


class RerunGraphs:
    """Stand-in for CUDA graphs on CPU: ``capture`` records the body without running it (as a capture
    runs no kernel); ``replay`` re-runs it and writes its result into the captured output buffer."""

    def __init__(self, fail: Exception | None = None) -> None:
        self.fail = fail
        self.side_streams = 0
        self.replays = 0

    @contextmanager
    def side_stream(self) -> Iterator[None]:
        self.side_streams += 1
        yield

    def capture(self, body: Callable[[], torch.Tensor]) -> tuple[Callable[[], None], torch.Tensor]:
        if self.fail is not None:
            raise self.fail
        out = torch.full((), float("nan"))

        def replay() -> None:
            self.replays += 1
            out.copy_(body())

        return replay, out


@pytest.fixture(scope="module")
def jets() -> tuple[FeatureMasks, torch.Tensor, torch.Tensor, torch.Tensor]:
    data = make_prepared(3000)
    x, y, w = (torch.as_tensor(a) for a in (data.train.x, data.train.y, data.train.w))
    return FeatureMasks.from_spec(data.spec, CPU), x, y, w


def loss_fn(logits: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    return focal_loss(logits.float(), y, w, 2.0)


def trained_weights(jets, strategy: TrainingStrategy, backend: RerunGraphs | None, epochs: int = 3,
                    ) -> tuple[list[torch.Tensor], list[float], GraphedStep | None]:  # type: ignore[no-untyped-def]
    """Weights and losses after ``epochs`` epochs of 256-jet batches (the last one shorter), with the lr
    schedule of the training loop; through a GraphedStep with ``backend`` or, with None, eagerly."""
    masks, x, y, w = jets
    torch.manual_seed(0)
    model = DeepCSV(DeepCSV.Params(hidden=16, layers=2), x.shape[1], 4)
    opt = make_optimizer(model.parameters(), 3e-3, CPU)
    schedule = torch.optim.lr_scheduler.LambdaLR(opt, lambda e: 1.0 / (1.0 + e / 2))
    step = TrainStep(model, opt, strategy, loss_fn, masks, CPU)
    graph = None
    if backend is not None:
        graph = step.graph = GraphedStep(step._eager, opt, CPU, warmup=2, backend=backend)
    losses = []
    loader = SlicingLoader((x, y, w), 256, generator=torch.Generator().manual_seed(1))
    for _ in range(epochs):
        for xb, yb, wb in loader:
            losses.append(float(step(xb, yb, wb)))
        schedule.step()
    return [p.detach().clone() for p in model.parameters()], losses, graph


@pytest.mark.parametrize("strategy", [TrainingStrategy(), AdversarialTraining(relative_cap=0.25)],
                         ids=["nominal", "adversarial"])
def test_graphed_step_trains_exactly_as_the_eager_step(jets, strategy: TrainingStrategy) -> None:  # type: ignore[no-untyped-def]
    eager_w, eager_loss, _ = trained_weights(jets, strategy, None)
    backend = RerunGraphs()
    graph_w, graph_loss, graph = trained_weights(jets, strategy, backend)
    assert graph is not None and graph.failed is None
    assert graph_loss == eager_loss
    assert all(torch.equal(a, b) for a, b in zip(eager_w, graph_w, strict=True))
    # a new learning rate every epoch, so per epoch 2 eager warm-up batches, one capture, replays of the
    # other full batches (the captured one included), and the short last batch eagerly
    full = len(jets[1]) // 256
    assert full >= 4 and len(jets[1]) % 256
    assert graph.captures == 3
    assert backend.replays == 3 * (full - 2)
    assert backend.side_streams == 2  # warm-up on a side stream before the first capture only


def test_constant_learning_rate_keeps_one_graph_per_batch_shape(jets) -> None:  # type: ignore[no-untyped-def]
    masks, x, y, w = jets
    model = DeepCSV(DeepCSV.Params(hidden=8, layers=1), x.shape[1], 4)
    opt = make_optimizer(model.parameters(), 1e-3, CPU)
    step = TrainStep(model, opt, TrainingStrategy(), loss_fn, masks, CPU)
    graph = step.graph = GraphedStep(step._eager, opt, CPU, warmup=1, backend=RerunGraphs())
    for _ in range(3):
        for i in range(0, 600, 256):  # 256, 256, 88
            j = min(i + 256, 600)
            step(x[i:j], y[i:j], w[i:j])
    assert graph.captures == 2 and len(graph.graphs) == 2  # the full and the short batch, captured once each


def test_failed_capture_trains_on_eagerly_with_one_warning(jets, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    eager_w, eager_loss, _ = trained_weights(jets, TrainingStrategy(), None, epochs=2)
    with caplog.at_level(logging.WARNING, logger="hepadv.training"):
        graph_w, graph_loss, graph = trained_weights(
            jets, TrainingStrategy(), RerunGraphs(fail=RuntimeError("operation not permitted when stream is "
                                                                    "capturing")), epochs=2)
    assert graph is not None and graph.failed == "RuntimeError: operation not permitted when stream is capturing"
    assert graph_loss == eager_loss and all(torch.equal(a, b) for a, b in zip(eager_w, graph_w, strict=True))
    warnings = [r.getMessage() for r in caplog.records if "CUDA graph" in r.getMessage()]
    assert len(warnings) == 1 and "training eagerly" in warnings[0]


def test_graph_only_where_it_is_safe() -> None:
    class Custom(TrainingStrategy):
        pass

    assert graph_safe(TrainingStrategy())
    assert graph_safe(AdversarialTraining())
    assert graph_safe(AdversarialTraining(attack="pgd", attack_params={"steps": 2, "random_start": True}))
    assert not graph_safe(AdversarialTraining(attack="gaussian_noise"))
    assert isinstance(AdversarialTraining(attack="gaussian_noise").attack, GaussianNoise)
    assert not graph_safe(Custom())  # a plugin's strategy may keep Python state: eager unless it says so


def test_cpu_step_is_unchanged(jets) -> None:  # type: ignore[no-untyped-def]
    """CPU: no graph, torch's default Adam, the loader's permutation is randperm of the same generator."""
    masks, x, _y, _w = jets
    model = DeepCSV(DeepCSV.Params(hidden=8, layers=1), x.shape[1], 4)
    opt = make_optimizer(model.parameters(), 1e-3, CPU)
    assert TrainStep(model, opt, AdversarialTraining(), loss_fn, masks, CPU).graph is None
    reference = torch.optim.Adam(model.parameters(), lr=1e-3)
    assert opt.param_groups[0].keys() == reference.param_groups[0].keys()
    assert all(opt.param_groups[0][k] == reference.param_groups[0][k] for k in reference.param_groups[0]
               if k != "params")
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    assert torch.equal(epoch_permutation(1000, g1, CPU), torch.randperm(1000, generator=g2))
    assert torch.equal(g1.get_state(), g2.get_state())
    with pytest.raises(ValueError, match="capturable=True"):
        TrainStep(model, opt, TrainingStrategy(), loss_fn, masks, CPU, cuda_graph=True)


def test_optimizer_flags_follow_the_device_after_a_resume() -> None:
    """A checkpoint written by the GPU's fused, capturable Adam resumes on CPU with CPU Adam, and back."""
    torch.manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(4, 3)), torch.nn.Parameter(torch.randn(3))]
    gpu_like = torch.optim.Adam(params, lr=1e-3, fused=True)  # CPU has a fused Adam too: it stands in here
    for p in params:
        p.grad = torch.ones_like(p)
    gpu_like.step()
    saved = gpu_like.state_dict()
    assert saved["param_groups"][0]["fused"] is True

    resumed = make_optimizer(params, 1e-3, CPU)
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["fused"] is True  # torch restores the writer's flags ...
    set_optimizer_flags(resumed, CPU)
    assert {k: resumed.param_groups[0][k] for k in optimizer_flags(CPU)} == optimizer_flags(CPU)  # ... we don't
    assert all(resumed.state[p]["step"].device == CPU and resumed.state[p]["step"].dtype == torch.float32
               for p in params)
    resumed.step()
    assert float(resumed.state[params[0]]["step"]) == 2.0
    assert optimizer_flags(torch.device("cuda")) == {"fused": True, "foreach": None, "capturable": True}
