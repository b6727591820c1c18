"""The training loop: ``train(card)`` trains every variant of a card (nominal, adversarial, ...).

Each epoch writes a full checkpoint (model, optimiser, schedule, RNG states, history) atomically,
so ``resume=True`` continues from the last one and, on CPU, ends with the same weights as an
uninterrupted run with the same seed.
"""

from __future__ import annotations

import logging
import math
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from hepadv.cards.schema import RunCard, TrainingSection, VariantSection
from hepadv.data.masks import FeatureMasks
from hepadv.data.preprocess import PreparedData, Split, prepare_cached
from hepadv.defences.base import TrainingStrategy
from hepadv.errors import HepadvError, Interrupted
from hepadv.io import write_json
from hepadv.models.base import Model, model_from_description
from hepadv.paths import cache_dir
from hepadv.progress import Progress, as_progress
from hepadv.runs.layout import RunLayout, VariantFolder
from hepadv.runs.record import RunRecord
from hepadv.training.checkpoint import load_checkpoint, load_model_state, save_checkpoint
from hepadv.training.device import resolve_device, torch_threads
from hepadv.training.loader import make_loader
from hepadv.training.loss import focal_loss
from hepadv.training.precision import precision_name, resolve_precision
from hepadv.training.step import LossDisplay, TrainStep, make_optimizer, set_optimizer_flags, warm_up_batches

log = logging.getLogger("hepadv.training")
EpochCallback = Callable[[str, int, dict[str, Any]], None]


@dataclass
class VariantResult:
    name: str
    directory: Path
    model: Model
    history: dict[str, list[float]]
    best_epoch: int
    stopped_early: bool


@dataclass
class TrainResult:
    card: RunCard
    output: Path
    data: PreparedData | None  # None when nothing was trained (a resume of a finished run)
    variants: dict[str, VariantResult] = field(default_factory=dict)
    trained: bool = True  # False: every variant had finished already, nothing ran


def training_done(cfg: TrainingSection, state: dict[str, Any]) -> bool:
    """Whether a variant whose last checkpoint is ``state`` has nothing left to train under ``cfg``: its epochs are
    done, or it stopped early and ``cfg.patience`` does not reopen it."""
    return state["epoch"] >= cfg.epochs or (cfg.patience is not None and state["bad_epochs"] >= cfg.patience)


def build_dataset(card: RunCard) -> Any:
    from hepadv import get_dataset

    return get_dataset(card.dataset.name)(card.dataset.validated_params)


def load_data(card: RunCard) -> PreparedData:
    """Build the card's dataset and preprocess it (cached)."""
    return prepare_cached(build_dataset(card), card.preprocess, cache_dir(), seed=card.split_seed())


def card_hash(card: RunCard) -> str:
    """Content id of the resolved card minus where it writes: the identity of what was trained."""
    from hepadv.cards.load import resolved_card
    from hepadv.ids import content_id

    return content_id({k: v for k, v in resolved_card(card).items() if k not in ("output", "submit")})


def build_model_for(card: RunCard, data: PreparedData) -> Model:
    from hepadv import get_model

    cls = get_model(card.model.name)
    return cls(card.model.validated_params, data.spec.n_features, len(data.spec.classes))


def build_strategy(variant: VariantSection) -> TrainingStrategy:
    if variant.defence is None:
        return TrainingStrategy()
    from hepadv import get_defence

    defence = get_defence(variant.defence.name)(variant.defence.validated_params)
    if not isinstance(defence, TrainingStrategy):
        raise HepadvError(f"variant {variant.name!r}: defence {variant.defence.name!r} is not a training strategy")
    return defence


def train(card: RunCard, *, resume: bool = False, overwrite: bool = False, device: str | None = None,
          progress: Progress | None = None, on_epoch_end: EpochCallback | None = None,
          data: PreparedData | None = None) -> TrainResult:
    """Train every variant of ``card``; outputs under ``card.output_dir()``.

    Everything that can refuse the run is checked before anything is written (``preflight``); the run
    record is written once training starts, and a run that fails or is interrupted before completing an
    epoch leaves the folder as it found it. Ctrl-C becomes an ``Interrupted`` error saying what was kept.
    """
    from hepadv.runs.lock import run_lock
    from hepadv.training.preflight import preflight

    progress = as_progress(progress)
    preflight(card, resume=resume, overwrite=overwrite)  # refuse before anything, even the lock, is written
    with run_lock(card.output_dir(), progress.note), torch_threads(card.threads):
        record = preflight(card, resume=resume, overwrite=overwrite)  # again, now that no one else can write
        return _train(card, record, device, progress, on_epoch_end, data)


def _train(card: RunCard, record: RunRecord, device: str | None, progress: Progress,
           on_epoch_end: EpochCallback | None, data: PreparedData | None) -> TrainResult:
    dev = resolve_device(device or card.device)
    out = record.out
    if record.mode == "resume":
        finished = _finished_variants(card, out, dev)
        if len(finished) == len(card.variants):  # nothing to train: say so, log the resume, load nothing
            record.begin(card, str(dev))
            record.finish("nothing to train", _last_epochs(out, card))
            epochs = sorted({len(v.history["epoch"]) for v in finished.values()})
            done = f"all {epochs[0]} epochs" if len(epochs) == 1 else "every variant's epochs"
            progress.note(f"nothing to train: {done} done in {out}")
            return TrainResult(card, out, data, finished, trained=False)
    if data is None:
        data = load_data(card)
    log.info("data: %d train / %d val / %d test jets, %d features, device %s",
             len(data.train), len(data.val), len(data.test), data.spec.n_features, dev)
    result = TrainResult(card, out, data)

    def epoch_end(name: str, epoch: int, state: dict[str, Any]) -> None:
        record.epoch_done()
        if on_epoch_end is not None:
            on_epoch_end(name, epoch, state)

    provenance = {"card_hash": card_hash(card), "dataset_key": build_dataset(card).cache_key()}
    precisions = {precision_name(resolve_precision(card.variant_training(v).precision, dev)) for v in card.variants}
    record.begin(card, str(dev), ", ".join(sorted(precisions)))
    current = card.variants[0].name
    try:
        for variant in card.variants:
            current = variant.name
            result.variants[variant.name] = train_variant(
                card, variant, data, RunLayout(out).variant(variant.name), dev, resume=record.mode == "resume",
                overwrite=False, progress=progress, on_epoch_end=epoch_end, provenance=provenance)
    except KeyboardInterrupt:
        done = _last_epochs(out, card)
        record.abort("interrupted", done)
        epoch = done.get(current, 0) + 1
        if record.trained_anything() or done:
            raise Interrupted(f"interrupted during {current} epoch {epoch}; completed epochs are saved: "
                              "rerun with --resume") from None
        raise Interrupted(f"interrupted during {current} epoch {epoch}, before any epoch was completed; "
                          "nothing was saved") from None
    except BaseException as exc:
        record.abort(f"failed: {type(exc).__name__}", _last_epochs(out, card))
        raise
    record.finish("completed", _last_epochs(out, card))
    return result


def _finished_variants(card: RunCard, out: Path, device: torch.device) -> dict[str, VariantResult]:
    """The variants with nothing left to train under ``card`` (read from their last and best checkpoints)."""
    finished = {}
    for variant in card.variants:
        folder = VariantFolder(RunLayout(out).variant(variant.name))
        if not folder.checkpoint("last").is_file():
            continue  # never started: there is something to train
        state = load_checkpoint(folder.checkpoint("last"), map_location=device)
        cfg = card.variant_training(variant)
        if not training_done(cfg, state):
            continue
        best = load_checkpoint(folder.checkpoint("best"), map_location=device)
        model = model_from_description(best["model"])
        load_model_state(model, best, folder.checkpoint("best"))
        stopped = state["epoch"] < cfg.epochs
        finished[variant.name] = VariantResult(variant.name, folder.path, model.to(device).eval(), state["history"],
                                               state["best_epoch"], stopped)
    return finished


def _last_epochs(out: Path, card: RunCard) -> dict[str, int]:
    """The last completed epoch of each variant, read from its checkpoint (what a resume would start from)."""
    done = {}
    for variant in card.variants:
        last = RunLayout(out).checkpoint(variant.name, "last")
        if last.is_file():
            try:
                done[variant.name] = int(load_checkpoint(last).get("epoch", 0))
            except HepadvError:
                continue
    return done


def _to_device(split: Split, device: torch.device) -> tuple[torch.Tensor, ...]:
    return tuple(torch.as_tensor(a).to(device) for a in (split.x, split.y, split.w))


def _fits_on(device: torch.device, nbytes: int) -> bool:
    if device.type != "cuda":
        return True
    free, _total = torch.cuda.mem_get_info(device)
    return nbytes < 0.5 * free


def evaluate_loss(model: Model, tensors: tuple[torch.Tensor, ...], gamma: float, batch_size: int,
                  device: torch.device) -> float:
    """Weighted focal loss over a whole split, in eval mode.

    Weighted, unlike the thesis' validation loss: early stopping then watches the objective that is being
    trained, and "best" does not drift toward the most populous flavour.
    """
    x, y, w = tensors
    was_training = model.training
    model.eval()
    total = torch.zeros((), dtype=torch.float64, device=device)
    weight = torch.zeros((), dtype=torch.float64, device=device)
    with torch.no_grad():
        for i in range(0, len(x), batch_size):
            xb, yb, wb = (t[i : i + batch_size].to(device) for t in (x, y, w))
            wsum = wb.sum()
            total += focal_loss(model(xb), yb, wb, gamma) * wsum
            weight += wsum
    model.train(was_training)
    return float(total / weight) if float(weight) else math.nan


def _stop_if_not_finite(batch: int, variant: str, epoch: int, last_good: int, directory: Path) -> None:
    """One line naming where the loss stopped being finite; the checkpoints written so far are kept."""
    if batch < 0:
        return
    kept = f"checkpoints up to epoch {last_good} are kept" if last_good else "no epoch finished, nothing is kept"
    raise HepadvError(f"{variant}: training loss is not finite at epoch {epoch}, batch {batch + 1} (learning rate "
                      f"too high, or non-finite inputs?); {kept} in {directory}")


def train_variant(card: RunCard, variant: VariantSection, data: PreparedData, directory: Path,
                  device: torch.device, *, resume: bool = False, overwrite: bool = False,
                  progress: Progress | None = None,
                  on_epoch_end: EpochCallback | None = None, provenance: dict[str, Any] | None = None,
                  ) -> VariantResult:
    cfg: TrainingSection = card.variant_training(variant)
    seed = card.training_seed(cfg)
    folder = VariantFolder(directory)
    ckpt_dir = folder.checkpoints
    last = folder.checkpoint("last")
    if last.exists() and not resume:
        if not overwrite:
            raise HepadvError(f"{directory} already holds checkpoints; pass --resume to continue or "
                              "--overwrite to start again")
        shutil.rmtree(ckpt_dir)

    torch.manual_seed(seed)
    model = build_model_for(card, data).to(device)
    strategy = build_strategy(variant)
    optimizer = make_optimizer(model.parameters(), cfg.lr, device)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda e: 1.0 / (1.0 + e / cfg.lr_decay_epochs))
    shuffle_gen = torch.Generator().manual_seed(seed)
    history: dict[str, list[float]] = {"epoch": [], "train_loss": [], "val_loss": [], "lr": [], "seconds": [],
                                       "jets_per_second": []}
    best_val, best_epoch, bad_epochs, start_epoch, finished = math.inf, 0, 0, 0, False

    if resume and last.exists():
        state = load_checkpoint(last, map_location=device)
        load_model_state(model, state, last)
        optimizer.load_state_dict(state["optimizer"])
        set_optimizer_flags(optimizer, device)  # this device's Adam, whichever device wrote the checkpoint
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["rng"])
        if device.type == "cuda" and state.get("cuda_rng"):
            torch.cuda.set_rng_state_all(state["cuda_rng"])
        shuffle_gen.set_state(state["shuffle_rng"])
        history = state["history"]
        best_val, best_epoch, bad_epochs = state["best_val"], state["best_epoch"], state["bad_epochs"]
        start_epoch = state["epoch"]
        # with this run's settings: more epochs or more patience (checked by preflight) reopen a finished run
        finished = training_done(cfg, state)
        log.info("%s: resuming after epoch %d", variant.name, start_epoch)

    train_cpu = _to_device(data.train, torch.device("cpu"))
    resident = cfg.on_gpu_if_fits and _fits_on(device, sum(t.numel() * t.element_size() for t in train_cpu))
    val_t = _to_device(data.val, device if resident else torch.device("cpu"))
    loader = make_loader(train_cpu, cfg.batch_size, device, resident, generator=shuffle_gen)
    masks = FeatureMasks.from_spec(data.spec, device)

    def loss_fn(logits: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return focal_loss(logits.float(), y, w, cfg.gamma)

    precision = resolve_precision(cfg.precision, device)
    step = TrainStep(model, optimizer, strategy, loss_fn, masks, device, precision, compile=cfg.compile,
                     cuda_graph=None if cfg.cuda_graph else False)
    history.setdefault("compile_seconds", [0.0] * len(history["epoch"]))
    history.setdefault("threads", [None] * len(history["epoch"]))  # (runs from before threads were recorded)
    compile_seconds = 0.0
    if cfg.compile and not finished:
        compile_seconds = step.warm_up(warm_up_batches(train_cpu, cfg.batch_size, device))
    log.info("%s: %s on %s, %s, compile %s%s%s", variant.name, precision_name(precision), device,
             "training data resident" if resident or device.type == "cpu" else "training data streamed",
             cfg.compile, f" ({compile_seconds:.1f} s)" if cfg.compile else "",
             ", step replayed as a CUDA graph" if step.graph is not None else "")

    progress = as_progress(progress)
    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        if finished:
            break
        model.train()
        t0 = time.perf_counter()
        running = torch.zeros((), device=device)  # accumulated on the device: no sync per batch
        seen_w = torch.zeros((), device=device)
        seen_n = 0
        shown = LossDisplay(device)
        first_bad = torch.full((), -1, dtype=torch.long, device=device)  # first non-finite batch, on the device
        with progress.task(f"{variant.name} epoch {epoch}/{cfg.epochs}", total=len(loader), unit="jets") as bar:
            for i, (xb, yb, wb) in enumerate(loader):
                loss = step(xb, yb, wb)
                first_bad = torch.where((first_bad < 0) & ~torch.isfinite(loss.detach()), i, first_bad)
                if device.type == "cpu" or i % 16 == 0 or i == len(loader) - 1:  # a GPU syncs every 16 batches
                    _stop_if_not_finite(int(first_bad), variant.name, epoch, epoch - 1,
                                        directory)
                wsum = wb.sum()
                running += loss * wsum
                seen_w += wsum
                seen_n += len(xb)
                if progress.shows_bars and (i % 16 == 0 or i == len(loader) - 1):
                    shown.update(running / seen_w)  # reading the loss syncs a GPU: only every 16 batches
                bar.advance(1, loss=shown.value(), rate=seen_n / max(time.perf_counter() - t0, 1e-9))
        train_loss = float(running / seen_w)
        seconds = time.perf_counter() - t0
        lr = optimizer.param_groups[0]["lr"]
        scheduler.step()
        val_loss = evaluate_loss(model, val_t, cfg.gamma, max(cfg.batch_size, 65536), device)
        for key, value in (("epoch", epoch), ("train_loss", train_loss), ("val_loss", val_loss),
                           ("lr", lr), ("seconds", seconds), ("jets_per_second", len(data.train) / seconds),
                           ("threads", torch.get_num_threads()),
                           ("compile_seconds", compile_seconds if epoch == start_epoch + 1 else 0.0)):
            history[key].append(value)
        improved = val_loss < best_val
        if improved:
            best_val, best_epoch, bad_epochs = val_loss, epoch, 0
        else:
            bad_epochs += 1
        finished = epoch == cfg.epochs or (cfg.patience is not None and bad_epochs >= cfg.patience)
        state = {
            "model": model.describe(),
            "state_dict": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if device.type == "cuda" else [],
            "shuffle_rng": shuffle_gen.get_state(),
            "history": history,
            "epoch": epoch,
            "best_val": best_val,
            "best_epoch": best_epoch,
            "bad_epochs": bad_epochs,
            "finished": finished,
            "spec": data.spec.to_dict(),
            "variant": variant.name,
            **(provenance or {}),
        }
        save_checkpoint(state, folder.checkpoint(epoch))
        if improved:
            save_checkpoint(state, folder.checkpoint("best"))
        save_checkpoint(state, last)
        write_json(folder.history, history)
        progress.note(f"{variant.name} epoch {epoch}: train loss {train_loss:.5g}, val loss {val_loss:.5g}, "
                      f"{seconds:.1f} s")
        if on_epoch_end is not None:
            on_epoch_end(variant.name, epoch, state)
    stopped_early = cfg.patience is not None and bad_epochs >= cfg.patience and history["epoch"][-1] < cfg.epochs

    best = load_checkpoint(folder.checkpoint("best"), map_location=device)
    load_model_state(model, best, folder.checkpoint("best"))
    model.eval()
    return VariantResult(variant.name, directory, model, history, best_epoch, stopped_early)
