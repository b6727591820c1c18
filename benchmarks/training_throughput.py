"""Training throughput: nominal and adversarial (FGSM) jets/s at batch 1024, 16384 and 65536 in one run.

    python benchmarks/training_throughput.py [--jets 196608] [--batches 1024,16384,65536] [--repeats 5]
        [--device auto] [--precision auto] [--compile] [--threads N] [--json PATH]
    make benchmark        # this machine, CPU unless a GPU is found
    make benchmark-gpu    # the GPU table on 10^7 toy jets, eager and compiled, as JSON

Each timed unit is one epoch of the production path (``make_loader`` + ``TrainStep``, as ``hepadv train``)
over the same toy training set. Every repeat runs every batch size, nominal and adversarial back to back
in alternating order (ABBA), after a warm-up, so a slow spell of a shared machine hits both members of a
pair alike; the adversarial / nominal ratio is formed per pair, and the table gives the median and the
min-max spread over repeats. The FLOP rate counts the matrix multiplications of the step (nominal 3F,
adversarial 5F per jet, F = one forward pass, less the unneeded input gradient of the first layer) and is
given as a fraction of a plain GEMM of the same dtype timed in each repeat. Compare ratios and fractions,
not absolute numbers across machines.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from hepadv.cards.schema import PreprocessSection
from hepadv.data.masks import FeatureMasks
from hepadv.data.preprocess import prepare
from hepadv.data.toyjets import generate_toyjets
from hepadv.defences.adversarial_training import AdversarialTraining
from hepadv.defences.base import TrainingStrategy
from hepadv.io import write_json
from hepadv.models.deepcsv import DeepCSV
from hepadv.training.device import resolve_device
from hepadv.training.loader import make_loader
from hepadv.training.loss import focal_loss
from hepadv.training.precision import precision_name, resolve_precision
from hepadv.training.step import TrainStep, warm_up_batches

STRATEGIES = ("nominal", "adversarial")


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    threads, isa = torch.get_num_threads(), torch.backends.cpu.get_cpu_capability()
    return f"{model or platform.machine()} ({threads} threads, {isa})"


def linear_flops(model: torch.nn.Module) -> tuple[int, int]:
    """(F, first): multiply-add FLOPs per jet of one forward pass, and those of the first layer."""
    layers = [m for m in model.modules() if isinstance(m, torch.nn.Linear)]
    flops = [2 * m.in_features * m.out_features for m in layers]
    return sum(flops), flops[0]


def gemm_rate(device: torch.device, dtype: torch.dtype, n: int) -> float:
    """FLOP/s of an n x n x n matrix product in ``dtype``: the ceiling the training step is compared with."""
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    a @ b  # warm-up
    reps = 3 if device.type == "cpu" else 20
    sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - t0)


def make_steps(n_features: int, masks: FeatureMasks, device: torch.device, precision: torch.dtype | None,
               compile: bool) -> dict[str, TrainStep]:
    def loss_fn(logits: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return focal_loss(logits.float(), y, w, 25.0)

    steps = {}
    for name, strategy in zip(STRATEGIES, (TrainingStrategy(), AdversarialTraining()), strict=True):
        torch.manual_seed(0)  # the same initial weights for both
        model = DeepCSV(DeepCSV.Params(), n_features, 4).to(device).train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-4)
        steps[name] = TrainStep(model, opt, strategy, loss_fn, masks, device, precision, compile=compile)
    return steps


def timed_epoch(step: TrainStep, loader: Any, device: torch.device, limit: int | None = None) -> float:
    sync(device)
    t0 = time.perf_counter()
    for i, (xb, yb, wb) in enumerate(loader):
        if limit is not None and i >= limit:
            break
        step(xb, yb, wb)
    sync(device)
    return time.perf_counter() - t0


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jets", type=int, default=196_608, help="training jets per epoch")
    ap.add_argument("--batches", default="1024,16384,65536", help="comma-separated batch sizes")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    ap.add_argument("--compile", action="store_true", help="torch.compile the steps (training.compile: true)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    ap.add_argument("--flush-denormal", action="store_true", help="treat denormal floats as zero on CPU")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(args.flush_denormal)
    device = resolve_device(args.device)
    precision = resolve_precision(args.precision, device)
    batches = [int(b) for b in args.batches.split(",")]

    raw = generate_toyjets(int(args.jets / 0.72) + 1, 1, (0.30, 0.05, 0.20, 0.45), 1.0)
    data = prepare(raw, PreprocessSection(cache=False))
    host = tuple(torch.as_tensor(a)[: args.jets] for a in (data.train.x, data.train.y, data.train.w))
    n = len(host[0])
    masks = FeatureMasks.from_spec(data.spec, device)
    gemm_dtype = precision or torch.float32
    gemm_n = 4096 if device.type == "cuda" else 1024

    steps = {b: make_steps(data.spec.n_features, masks, device, precision, args.compile) for b in batches}
    resident = tuple(t.to(device) for t in host)  # one copy on the device, shared by every loader
    loaders = {b: make_loader(resident, b, device, resident=True, generator=torch.Generator().manual_seed(b))
               for b in batches}
    flops_fwd, flops_first = linear_flops(steps[batches[0]]["nominal"].model)
    flops = {"nominal": 3 * flops_fwd - flops_first, "adversarial": 5 * flops_fwd - flops_first}
    compile_seconds: dict[str, float] = {}
    for b in batches:  # compile (if asked) and warm up every step on a few batches
        for name, step in steps[b].items():
            compile_seconds[f"{name}@{b}"] = step.warm_up(warm_up_batches(host, b, device))
            timed_epoch(step, loaders[b], device, limit=3)

    times: dict[tuple[int, str], list[float]] = {(b, s): [] for b in batches for s in STRATEGIES}
    ratios: dict[int, list[float]] = {b: [] for b in batches}
    peak: dict[tuple[int, str], int] = {}
    gemm: list[float] = []
    for r in range(args.repeats):
        gemm.append(gemm_rate(device, gemm_dtype, gemm_n))
        for b in batches:
            pair = {}
            for name in STRATEGIES if r % 2 == 0 else STRATEGIES[::-1]:
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                pair[name] = timed_epoch(steps[b][name], loaders[b], device)
                times[(b, name)].append(pair[name])
                if device.type == "cuda":
                    peak[(b, name)] = max(peak.get((b, name), 0), torch.cuda.max_memory_allocated(device))
            ratios[b].append(pair["adversarial"] / pair["nominal"])
        print(f"repeat {r + 1}/{args.repeats}: " + ", ".join(f"{b}: {ratios[b][-1]:.2f}" for b in batches), flush=True)

    gemm_med = statistics.median(gemm)
    rows = []
    for b in batches:
        for name in STRATEGIES:
            rates = [n / t for t in times[(b, name)]]
            med = statistics.median(rates)
            rows.append({"batch": b, "strategy": name, "jets_per_second": spread(rates),
                         "epoch_seconds": spread(times[(b, name)]), "flops_per_jet": flops[name],
                         "flop_rate": med * flops[name], "gemm_fraction": med * flops[name] / gemm_med,
                         "peak_memory_bytes": peak.get((b, name)), "compile_seconds": compile_seconds[f"{name}@{b}"]})
    result = {
        "device": str(device), "device_name": device_name(device), "torch": torch.__version__,
        "threads": torch.get_num_threads(), "precision": precision_name(precision), "compile": args.compile,
        "flush_denormal": args.flush_denormal, "jets": n, "repeats": args.repeats,
        "gemm": {"n": gemm_n, "dtype": str(gemm_dtype).removeprefix("torch."), "flop_rate": spread(gemm)},
        "rows": rows, "ratio": {str(b): {**spread(ratios[b]), "per_repeat": ratios[b]} for b in batches},
    }
    print_table(result)
    if args.json is not None:
        write_json(args.json, result)
        print(f"written {args.json}")


def print_table(res: dict[str, Any]) -> None:
    print(f"\ndevice {res['device']} ({res['device_name']}), torch {res['torch']}, precision {res['precision']}, "
          f"compile {res['compile']}, flush denormal {res['flush_denormal']}")
    g = res["gemm"]["flop_rate"]
    print(f"{res['jets']:,} training jets per epoch, {res['repeats']} interleaved repeats; reference GEMM "
          f"{res['gemm']['n']}^3 {res['gemm']['dtype']}: {g['median'] / 1e9:,.1f} GFLOP/s "
          f"({g['min'] / 1e9:,.1f}-{g['max'] / 1e9:,.1f})")
    print(f"{'batch':>6s} {'strategy':12s} {'jets/s median':>14s} {'(min-max)':>22s} {'epoch [s]':>10s} "
          f"{'GEMM frac':>9s} {'peak mem':>9s}")
    for row in res["rows"]:
        j = row["jets_per_second"]
        mem = "" if row["peak_memory_bytes"] is None else f"{row['peak_memory_bytes'] / 2**30:.2f} GiB"
        span = f"({j['min']:,.0f}-{j['max']:,.0f})"
        print(f"{row['batch']:6d} {row['strategy']:12s} {j['median']:14,.0f} {span:>22s} "
              f"{row['epoch_seconds']['median']:10.3f} "
              f"{row['gemm_fraction']:9.3f} {mem:>9s}")
    print("adversarial / nominal epoch time, per interleaved pair:")
    for b, r in res["ratio"].items():
        print(f"  batch {b:>6s}: median {r['median']:.2f}  (min {r['min']:.2f}, max {r['max']:.2f}; "
              + ", ".join(f"{v:.2f}" for v in r["per_repeat"]) + ")")
    if res["compile"]:
        print("compile seconds: " + ", ".join(f"{row['strategy']}@{row['batch']} {row['compile_seconds']:.1f}"
                                              for row in res["rows"]))


if __name__ == "__main__":
    main()
