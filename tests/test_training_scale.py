"""Training at scale: precision, compile, streaming, and the fast FGSM step giving unchanged results."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from hepadv.attacks.fgsm import FGSM, loss_gradient
from hepadv.data.masks import FeatureMasks
from hepadv.defences.adversarial_training import AdversarialTraining
from hepadv.defences.base import TrainingStrategy
from hepadv.errors import HepadvError
from hepadv.training.loader import SlicingLoader, StreamingLoader
from hepadv.training.loop import train
from hepadv.training.loss import focal_loss
from hepadv.training.precision import resolve_precision
from hepadv.training.step import TrainStep
from tests.synthetic import make_prepared
from tests.test_training import small_card

CPU = torch.device("cpu")


def textbook_step(masks: FeatureMasks, x: torch.Tensor, direction: torch.Tensor, epsilon: float | torch.Tensor,
                  relative_cap: float | None) -> torch.Tensor:
    """``FeatureMasks.bounded_step`` as it was written before the blocked in-place version (the reference)."""
    size = epsilon.to(x.dtype).expand_as(x) if isinstance(epsilon, torch.Tensor) else torch.full_like(x, epsilon)
    if relative_cap is not None:
        x_orig = x * masks.std + masks.mean
        size = torch.minimum(size, relative_cap * x_orig.abs() / masks.std)
    return torch.where(masks.movable(x), direction * size, torch.zeros_like(x))


def textbook_adversarial_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor,
                              masks: FeatureMasks, epsilon: float, relative_cap: float | None,
                              ) -> tuple[torch.Tensor, torch.Tensor]:
    """The adversarial batch loss as computed before the optimisation: (loss, x_adv)."""
    model.eval()
    grad = loss_gradient(model, x, y)
    x_adv = (x + textbook_step(masks, x, grad.sign(), epsilon, relative_cap)).detach()
    model.train()
    return focal_loss(model(x_adv).float(), y, w, 25.0), x_adv


@pytest.fixture(scope="module")
def batch():  # type: ignore[no-untyped-def]
    """10,000 synthetic jets, their masks and a lightly trained DeepCSV-like model."""
    from hepadv.models.deepcsv import DeepCSV

    data = make_prepared(14000)
    x, y, w = (torch.as_tensor(a)[:10000] for a in (data.train.x, data.train.y, data.train.w))
    torch.manual_seed(3)
    model = DeepCSV(DeepCSV.Params(hidden=64, layers=3), data.spec.n_features, len(data.spec.classes))
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(30):  # a little training, so that gradients are those of a tagger, not of noise
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
    model.zero_grad(set_to_none=True)
    return model.train(), FeatureMasks.from_spec(data.spec, CPU), x, y, w


def test_auto_precision_is_fp32_on_cpu() -> None:
    assert resolve_precision("auto", CPU) is None
    assert resolve_precision("fp32", CPU) is None
    assert resolve_precision("bf16", CPU) is torch.bfloat16
    with pytest.raises(HepadvError, match=r"training\.precision 'fp8'"):
        resolve_precision("fp8", CPU)


def test_card_rejects_unknown_precision(tmp_path: Path) -> None:
    from hepadv.errors import CardError

    with pytest.raises((CardError, ValueError), match="precision"):
        small_card(tmp_path, precision="fp64")


@pytest.mark.parametrize("relative_cap", [0.25, None])
@pytest.mark.parametrize("epsilon", ["number", "per_feature", "per_value"])
def test_blocked_step_is_bitwise_the_textbook_formula(batch, epsilon: str, relative_cap: float | None) -> None:  # type: ignore[no-untyped-def]
    _model, masks, x, _y, _w = batch
    gen = torch.Generator().manual_seed(1)
    direction = torch.randn(x.shape, generator=gen).sign()
    eps: float | torch.Tensor = {"number": 0.01, "per_feature": torch.rand(x.shape[1], generator=gen) * 0.02,
                                 "per_value": torch.rand(x.shape, generator=gen) * 0.02}[epsilon]
    expected = textbook_step(masks, x, direction, eps, relative_cap)
    assert (expected != 0).any() and (expected == 0).any()  # both moved and frozen values are exercised
    assert torch.equal(masks.bounded_step(x, direction, eps, relative_cap), expected)
    assert torch.equal(masks.shifted(x, direction, eps, relative_cap), x + expected)


@pytest.mark.parametrize("relative_cap", [None, 0.25])
def test_adversarial_batch_loss_and_perturbation_unchanged_by_the_optimisation(batch, relative_cap: float | None,
                                                                                ) -> None:  # type: ignore[no-untyped-def]
    model, masks, x, y, w = batch

    def loss_fn(logits: torch.Tensor, yy: torch.Tensor, ww: torch.Tensor) -> torch.Tensor:
        return focal_loss(logits.float(), yy, ww, 25.0)

    strategy = AdversarialTraining(relative_cap=relative_cap)
    model.zero_grad(set_to_none=True)
    torch.manual_seed(5)  # dropout of the training forward
    expected_loss, expected_adv = textbook_adversarial_loss(model, x, y, w, masks, 0.01, relative_cap)
    expected_loss.backward()
    expected_grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)

    model.eval()
    assert torch.equal(strategy.attack.perturb(model, x, y, masks, None), expected_adv)
    model.train()
    torch.manual_seed(5)
    loss = strategy.batch_loss(model, x, y, w, loss_fn, masks)
    loss.backward()
    assert torch.equal(loss, expected_loss)
    assert all(torch.equal(p.grad, g) for p, g in zip(model.parameters(), expected_grads, strict=True))
    assert model.training and all(p.requires_grad for p in model.parameters())  # crafting state restored
    model.zero_grad(set_to_none=True)


def test_bf16_autocast_fgsm_keeps_the_sign_almost_everywhere(batch) -> None:  # type: ignore[no-untyped-def]
    """AMP changes the gradient's low bits; FGSM only uses its sign, which must survive (measured, not assumed)."""
    model, masks, x, y, _w = batch
    model.eval()
    attack = FGSM()
    step32 = attack.perturb(model, x, y, masks, None) - x
    with torch.autocast("cpu", dtype=torch.bfloat16):
        step16 = attack.perturb(model, x, y, masks, None) - x
    model.train()
    assert step16.dtype == torch.float32  # the perturbation and its caps stay fp32
    moved = step32 != 0
    flipped = (torch.sign(step16) != torch.sign(step32)) & moved
    fraction = flipped.sum().item() / moved.sum().item()
    assert moved.sum() > 0.5 * x[:, ~masks.integer].numel()
    assert fraction < 0.01, f"{fraction:.4f} of the moved values flip sign under bf16"


def test_train_step_with_bf16_on_cpu_keeps_loss_fp32(batch) -> None:  # type: ignore[no-untyped-def]
    model, masks, x, y, w = batch
    clone = type(model)(model.params, model.n_features, model.n_classes)
    clone.load_state_dict(model.state_dict())
    opt = torch.optim.Adam(clone.parameters(), lr=1e-3)

    def loss_fn(logits: torch.Tensor, yy: torch.Tensor, ww: torch.Tensor) -> torch.Tensor:
        return focal_loss(logits.float(), yy, ww, 2.0)

    step = TrainStep(clone, opt, AdversarialTraining(), loss_fn, masks, CPU, torch.bfloat16)
    losses = [step(x[:2048], y[:2048], w[:2048]) for _ in range(3)]
    assert all(loss.dtype == torch.float32 and torch.isfinite(loss) and not loss.requires_grad for loss in losses)
    assert all(p.dtype == torch.float32 for p in clone.parameters())  # master weights stay fp32
    assert not torch.equal(clone.net[0].weight, model.net[0].weight)  # it trained


def test_streaming_loader_gives_the_slicing_loaders_batches() -> None:
    x = torch.arange(1000, dtype=torch.float32)[:, None].expand(1000, 3).contiguous()
    y = torch.arange(1000)
    slicing = list(SlicingLoader((x, y), 64, generator=torch.Generator().manual_seed(4)))
    streaming = StreamingLoader((x, y), 64, CPU, generator=torch.Generator().manual_seed(4), chunk_bytes=3000)
    assert streaming.chunk_batches == 2 and len(streaming) == len(slicing)  # 20 bytes a row, 64 rows a batch
    streamed = list(streaming)
    assert len(streamed) == len(slicing)
    for a, b in zip(slicing, streamed, strict=True):
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    big_chunks = list(StreamingLoader((x, y), 64, CPU, generator=torch.Generator().manual_seed(4)))
    assert all(torch.equal(a[1], b[1]) for a, b in zip(slicing, big_chunks, strict=True))


def test_card_precision_bf16_trains_on_cpu_and_records_compile_time(tmp_path: Path) -> None:
    card = small_card(tmp_path, epochs=1, precision="bf16")
    result = train(card, data=make_prepared(1500), progress=False)
    for variant in result.variants.values():
        assert variant.history["compile_seconds"] == [0.0]  # not compiled
        assert torch.isfinite(torch.tensor(variant.history["train_loss"])).all()


def _inductor_unusable() -> str | None:
    """Why torch.compile cannot run here (no C++ toolchain, unsupported platform), or None."""
    try:
        torch._dynamo.reset()
        torch.compile(lambda t: t * 2 + 1)(torch.ones(3))
    except Exception as exc:  # any failure of the compiler stack is a reason to skip, reported verbatim
        return f"torch.compile unusable here: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return None


@pytest.mark.slow
def test_compiled_steps_match_eager(batch) -> None:  # type: ignore[no-untyped-def]
    reason = _inductor_unusable()
    if reason:
        pytest.skip(reason)
    from hepadv.models.deepcsv import DeepCSV

    _model, masks, x, y, w = batch
    x, y, w = x[:512], y[:512], w[:512]

    def loss_fn(logits: torch.Tensor, yy: torch.Tensor, ww: torch.Tensor) -> torch.Tensor:
        return focal_loss(logits.float(), yy, ww, 2.0)

    weights = {}
    for compiled in (False, True):
        torch.manual_seed(0)
        model = DeepCSV(DeepCSV.Params(hidden=16, layers=2, dropout=0.0), x.shape[1], 4)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        nominal = TrainStep(model, opt, TrainingStrategy(), loss_fn, masks, CPU, compile=compiled)
        adversarial = TrainStep(model, opt, AdversarialTraining(), loss_fn, masks, CPU, compile=compiled)
        seconds = adversarial.warm_up([(x, y, w)])
        assert (seconds > 0) == compiled
        for _ in range(2):
            nominal(x, y, w)
            adversarial(x, y, w)
        weights[compiled] = [p.detach().clone() for p in model.parameters()]
    for eager, comp in zip(weights[False], weights[True], strict=True):
        torch.testing.assert_close(comp, eager, rtol=1e-4, atol=1e-5)
