"""Training throughput: jets/s, loader overhead and the adversarial / nominal epoch-time ratio.

    python benchmarks/training_throughput.py [--jets 300000] [--batch 4096] [--device auto] [--json FILE]

Prints one table. Loader overhead = epoch time through SlicingLoader / time of the same forward +
backward + step on pre-sliced batches (the thesis' point: slicing in-memory tensors costs ~nothing).
All figures come from one run on one machine; compare ratios, not absolute numbers across machines.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from hepadv.attacks.base import FeatureMasks
from hepadv.cards.schema import PreprocessSection
from hepadv.data.preprocess import prepare
from hepadv.data.toyjets import generate_toyjets
from hepadv.defences.adversarial_training import AdversarialTraining
from hepadv.defences.base import TrainingStrategy
from hepadv.models.deepcsv import DeepCSV
from hepadv.training.device import resolve_device
from hepadv.training.loader import SlicingLoader
from hepadv.training.loss import focal_loss


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def timed_epoch(model, strategy, batches, masks, device) -> float:  # type: ignore[no-untyped-def]
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)

    def loss_fn(logits: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return focal_loss(logits.float(), y, w, 25.0)

    sync(device)
    t0 = time.perf_counter()
    for xb, yb, wb in batches:
        opt.zero_grad(set_to_none=True)
        strategy.batch_loss(model, xb, yb, wb, loss_fn, masks).backward()
        opt.step()
    sync(device)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--jets", type=int, default=300_000)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--json", type=Path, default=None, help="also write the table here (scripts/readme_figures.py)")
    args = ap.parse_args()
    device = resolve_device(args.device)
    raw = generate_toyjets(int(args.jets / 0.72) + 1, 1, (0.30, 0.05, 0.20, 0.45), 1.0)
    data = prepare(raw, PreprocessSection(cache=False))
    tensors = tuple(torch.as_tensor(a).to(device) for a in (data.train.x, data.train.y, data.train.w))
    n = len(tensors[0])
    masks = FeatureMasks.from_spec(data.spec, device)
    torch.manual_seed(0)
    model = DeepCSV(DeepCSV.Params(), data.spec.n_features, 4).to(device).train()
    presliced = [tuple(t[i : i + args.batch] for t in tensors) for i in range(0, n, args.batch)]
    gen = torch.Generator().manual_seed(0)
    rows = []
    for label, strategy in (("nominal", TrainingStrategy()), ("adversarial (FGSM 0.01)", AdversarialTraining())):
        timed_epoch(model, strategy, presliced[:5], masks, device)  # warm-up
        pure_times, loader_times = [], []
        for _ in range(args.repeats):  # interleaved, so a slow spell of the machine hits both alike
            pure_times.append(timed_epoch(model, strategy, presliced, masks, device))
            loader_times.append(timed_epoch(model, strategy, SlicingLoader(tensors, args.batch, True, gen), masks,
                                            device))
        pure, loader = min(pure_times), min(loader_times)
        rows.append((label, n / loader, loader, pure, loader / pure))
    print(f"device: {device}, torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"{n:,} training jets, batch {args.batch}")
    print(f"{'strategy':26s} {'jets/s':>12s} {'epoch [s]':>10s} {'fwd+bwd [s]':>12s} {'loader overhead':>16s}")
    for label, rate, loader, pure, ratio in rows:
        print(f"{label:26s} {rate:12,.0f} {loader:10.2f} {pure:12.2f} {ratio:16.3f}")
    print(f"adversarial / nominal epoch time: {rows[1][2] / rows[0][2]:.2f}")
    if args.json is not None:
        keys = ("strategy", "jets_per_second", "epoch_seconds", "pure_seconds", "loader_overhead")
        args.json.write_text(json.dumps({"batch": args.batch, "jets": n, "device": str(device),
                                         "rows": [dict(zip(keys, r, strict=True)) for r in rows]}, indent=1))


if __name__ == "__main__":
    main()
