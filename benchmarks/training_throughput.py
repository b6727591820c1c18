"""Training throughput against a hand-written loop: hepadv ÷ reference, nominal and FGSM, per batch size.

    python benchmarks/training_throughput.py [--jets 196608] [--batches 1024,16384,65536] [--repeats 5]
        [--device auto] [--precision auto] [--compile] [--no-cuda-graph] [--threads N] [--profile]
        [--json PATH]
    make benchmark        # this machine, CPU unless a GPU is found
    make benchmark-gpu    # the GPU tables, eager and compiled, as JSON
    benchmarks/gpu_check.sh   # the issue-23 goals on a GPU, in a few minutes

Each timed unit is one epoch over the same toy training set, resident on the device, by one of two
implementations: hepadv's production path (``make_loader`` + ``TrainStep``, as ``hepadv train`` runs it)
and the plain loop a user would write by hand (``benchmarks/reference_loop.py``: same network, focal loss
and Adam, a gather per batch), each nominal and adversarial (FGSM, epsilon 0.01). Every repeat runs every
batch size; within a batch size the four units run back to back, in an order that reverses every repeat
(ABBA), after a warm-up, so a slow spell of a shared machine hits both members of a pair alike. The ratios
hepadv ÷ reference (jets/s) and adversarial / nominal (epoch time) are formed per pair, and the table
gives the median and min-max over repeats. The jets per epoch are rounded down to a multiple of every
batch size, so both implementations train on the same number of full batches. ``--compile`` compiles
both (hepadv: ``training.compile``; the reference: ``torch.compile`` of its whole step). The FLOP rate
counts the matrix multiplications of hepadv's step (nominal 3F, adversarial 5F per jet, F = one forward
pass, less the unneeded input gradient of the first layer) as a fraction of a plain GEMM of the same dtype
timed in each repeat. Compare ratios and fractions, not absolute numbers across machines.
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
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
from hepadv.training.step import TrainStep, make_optimizer, warm_up_batches

sys.path.insert(0, str(Path(__file__).resolve().parent))
import reference_loop  # benchmarks/ is not a package: imported from its folder

STRATEGIES = ("nominal", "adversarial")
IMPLEMENTATIONS = ("hepadv", "reference")
#: steps each implementation runs before the clock starts (a CUDA graph is captured after 3)
WARM_UP_STEPS = 6


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
               compile: bool, cuda_graph: bool | None = None) -> dict[str, TrainStep]:
    def loss_fn(logits: torch.Tensor, y: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        return focal_loss(logits.float(), y, w, 25.0)

    steps = {}
    for name, strategy in zip(STRATEGIES, (TrainingStrategy(), AdversarialTraining()), strict=True):
        torch.manual_seed(0)  # the same initial weights for both
        model = DeepCSV(DeepCSV.Params(), n_features, 4).to(device).train()
        opt = make_optimizer(model.parameters(), 1e-4, device)
        steps[name] = TrainStep(model, opt, strategy, loss_fn, masks, device, precision, compile=compile,
                                cuda_graph=cuda_graph)
    return steps


def make_reference_steps(n_features: int, device: torch.device, precision: torch.dtype | None, compile: bool,
                         ) -> dict[str, reference_loop.Step]:
    steps = {}
    for name in STRATEGIES:
        torch.manual_seed(0)
        model, opt = reference_loop.build(n_features, 4, device)
        steps[name] = reference_loop.make_step(model, opt, name == "adversarial", device, precision, compile)
    return steps


def hepadv_epoch(step: TrainStep, loader: Any, limit: int | None = None) -> int:
    """One epoch of the production path; returns the jets seen."""
    seen = 0
    for i, (xb, yb, wb) in enumerate(loader):
        if limit is not None and i >= limit:
            break
        step(xb, yb, wb)
        seen += len(xb)
    return seen


def timed(run: Callable[[], int], device: torch.device) -> float:
    sync(device)
    t0 = time.perf_counter()
    run()
    sync(device)
    return time.perf_counter() - t0


def warm_up(run: Callable[[int], int], batch: int, steps: int = WARM_UP_STEPS) -> None:
    """Run ``run(limit)`` (an epoch of at most ``limit`` batches, returning its jets) until ``steps`` batches
    have trained: compiles, captures the CUDA graph and fills the allocator's caches before the clock."""
    done = 0
    while done < steps:
        done += max(1, run(steps - done) // batch)


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def order(repeat: int) -> list[tuple[str, str]]:
    """The four units of one batch size: pairs (hepadv, reference) per strategy, reversed every repeat."""
    units = [("hepadv", "nominal"), ("reference", "nominal"), ("reference", "adversarial"), ("hepadv", "adversarial")]
    return units if repeat % 2 == 0 else units[::-1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--jets", type=int, default=196_608, help="training jets per epoch (rounded down to a "
                                                              "multiple of every batch size)")
    ap.add_argument("--batches", default="1024,16384,65536", help="comma-separated batch sizes")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--precision", default="auto", choices=("auto", "fp32", "bf16", "fp16"))
    ap.add_argument("--compile", action="store_true", help="torch.compile both implementations "
                                                           "(hepadv: training.compile: true)")
    ap.add_argument("--no-cuda-graph", action="store_true", help="hepadv's step without its CUDA graph (GPU)")
    ap.add_argument("--threads", type=int, default=None, help="CPU threads (default: torch's choice)")
    ap.add_argument("--flush-denormal", action="store_true", help="treat denormal floats as zero on CPU")
    ap.add_argument("--profile", action="store_true", help="after timing, profile one epoch of each unit at the "
                                                           "largest batch and print where the time goes")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(args.flush_denormal)
    device = resolve_device(args.device)
    precision = resolve_precision(args.precision, device)
    batches = [int(b) for b in args.batches.split(",")]
    unit = math.lcm(*batches)
    n = args.jets // unit * unit
    if n == 0:
        raise SystemExit(f"--jets {args.jets}: fewer than one batch of {unit} (a multiple of every batch size)")

    raw = generate_toyjets(int(n / 0.72) + 64, 1, (0.30, 0.05, 0.20, 0.45), 1.0)  # 72 % train split
    data = prepare(raw, PreprocessSection(cache=False))
    host = tuple(torch.as_tensor(a)[:n] for a in (data.train.x, data.train.y, data.train.w))
    if len(host[0]) < n:
        raise SystemExit(f"the toy sample gave {len(host[0])} training jets, fewer than {n}")
    masks = FeatureMasks.from_spec(data.spec, device)
    gemm_dtype = precision or torch.float32
    gemm_n = 4096 if device.type == "cuda" else 1024
    n_features = data.spec.n_features
    cuda_graph = False if args.no_cuda_graph else None

    steps = {b: make_steps(n_features, masks, device, precision, args.compile, cuda_graph) for b in batches}
    refs = {b: make_reference_steps(n_features, device, precision, args.compile) for b in batches}
    resident = tuple(t.to(device) for t in host)  # one copy on the device, shared by both implementations
    loaders = {b: make_loader(resident, b, device, resident=True, generator=torch.Generator().manual_seed(b))
               for b in batches}
    runs: dict[tuple[int, str, str], Callable[[int | None], int]] = {}
    for b in batches:
        for name in STRATEGIES:
            runs[(b, "hepadv", name)] = lambda limit=None, b=b, name=name: hepadv_epoch(steps[b][name], loaders[b],
                                                                                         limit)
            runs[(b, "reference", name)] = lambda limit=None, b=b, name=name: reference_loop.epoch(
                refs[b][name], resident, b, limit)
    flops_fwd, flops_first = linear_flops(steps[batches[0]]["nominal"].model)
    flops = {"nominal": 3 * flops_fwd - flops_first, "adversarial": 5 * flops_fwd - flops_first}
    compile_seconds: dict[tuple[int, str, str], float] = {}
    for b in batches:  # compile (if asked), capture and warm up every unit before any clock starts
        for impl in IMPLEMENTATIONS:
            for name in STRATEGIES:
                t0 = time.perf_counter()
                if impl == "hepadv":
                    steps[b][name].warm_up(warm_up_batches(host, b, device))
                warm_up(runs[(b, impl, name)], b)
                sync(device)
                compile_seconds[(b, impl, name)] = time.perf_counter() - t0

    load = [os.getloadavg()[0]]  # the machine's 1-minute load around the timing (a shared machine is noisy)
    times: dict[tuple[int, str, str], list[float]] = {key: [] for key in runs}
    vs_reference: dict[tuple[int, str], list[float]] = {(b, s): [] for b in batches for s in STRATEGIES}
    ratios: dict[int, list[float]] = {b: [] for b in batches}
    peak: dict[tuple[int, str], int] = {}
    gemm: list[float] = []
    for r in range(args.repeats):
        gemm.append(gemm_rate(device, gemm_dtype, gemm_n))
        for b in batches:
            took = {}
            for impl, name in order(r):
                if device.type == "cuda":
                    torch.cuda.reset_peak_memory_stats(device)
                took[(impl, name)] = timed(runs[(b, impl, name)], device)
                times[(b, impl, name)].append(took[(impl, name)])
                if device.type == "cuda" and impl == "hepadv":
                    peak[(b, name)] = max(peak.get((b, name), 0), torch.cuda.max_memory_allocated(device))
            for name in STRATEGIES:
                vs_reference[(b, name)].append(took[("reference", name)] / took[("hepadv", name)])
            ratios[b].append(took[("hepadv", "adversarial")] / took[("hepadv", "nominal")])
        print(f"repeat {r + 1}/{args.repeats}: hepadv ÷ reference " + ", ".join(
            f"{b}: {vs_reference[(b, 'nominal')][-1]:.2f} / {vs_reference[(b, 'adversarial')][-1]:.2f}"
            for b in batches) + " (nominal / adversarial)", flush=True)

    load.append(os.getloadavg()[0])
    gemm_med = statistics.median(gemm)
    rows = []
    for b in batches:
        for name in STRATEGIES:
            rates = [n / t for t in times[(b, "hepadv", name)]]
            ref_rates = [n / t for t in times[(b, "reference", name)]]
            med = statistics.median(rates)
            rows.append({"batch": b, "strategy": name, "jets_per_second": spread(rates),
                         "epoch_seconds": spread(times[(b, "hepadv", name)]), "flops_per_jet": flops[name],
                         "flop_rate": med * flops[name], "gemm_fraction": med * flops[name] / gemm_med,
                         "peak_memory_bytes": peak.get((b, name)),
                         "compile_seconds": compile_seconds[(b, "hepadv", name)],
                         "reference": {"jets_per_second": spread(ref_rates),
                                       "epoch_seconds": spread(times[(b, "reference", name)]),
                                       "compile_seconds": compile_seconds[(b, "reference", name)]},
                         "vs_reference": {**spread(vs_reference[(b, name)]), "per_repeat": vs_reference[(b, name)]}})
    graphs = [steps[b][name].graph for b in batches for name in STRATEGIES]
    result = {
        "device": str(device), "device_name": device_name(device), "torch": torch.__version__,
        "threads": torch.get_num_threads(), "precision": precision_name(precision), "compile": args.compile,
        "cuda_graph": any(g is not None and g.captures > 0 for g in graphs),
        "cuda_graph_failed": sorted({g.failed for g in graphs if g is not None and g.failed}),
        "flush_denormal": args.flush_denormal, "jets": n, "repeats": args.repeats,
        "cpu_cores": os.cpu_count(), "load_average": load,
        "reference_loop": "benchmarks/reference_loop.py",
        "gemm": {"n": gemm_n, "dtype": str(gemm_dtype).removeprefix("torch."), "flop_rate": spread(gemm)},
        "rows": rows, "ratio": {str(b): {**spread(ratios[b]), "per_repeat": ratios[b]} for b in batches},
    }
    print_table(result)
    if args.json is not None:
        write_json(args.json, result)
        print(f"written {args.json}")
    if args.profile:
        profile(runs, max(batches), device)


def profile(runs: dict[tuple[int, str, str], Callable[[int | None], int]], batch: int, device: torch.device) -> None:
    """Where one epoch's time goes, per unit: the operators with the most self time (host, and device)."""
    from torch.profiler import ProfilerActivity
    from torch.profiler import profile as torch_profile

    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda" else [])
    sort = "self_cuda_time_total" if device.type == "cuda" else "self_cpu_time_total"
    for impl in IMPLEMENTATIONS:
        for name in STRATEGIES:
            run = runs[(batch, impl, name)]
            with torch_profile(activities=activities) as prof:
                seen = run(None)
                sync(device)
            events = prof.key_averages()
            host = sum(e.self_cpu_time_total for e in events) / 1e3
            print(f"\nprofile: {impl} {name}, batch {batch}, {seen:,} jets: host (self) {host:,.1f} ms in "
                  f"{sum(e.count for e in events):,} operator calls")
            print(events.table(sort_by=sort, row_limit=12))


def print_table(res: dict[str, Any]) -> None:
    graph = (" (failed: " + "; ".join(res["cuda_graph_failed"]) + ")") if res["cuda_graph_failed"] else ""
    print(f"\ndevice {res['device']} ({res['device_name']}), torch {res['torch']}, precision {res['precision']}, "
          f"compile {res['compile']}, hepadv CUDA graph {res['cuda_graph']}{graph}, "
          f"flush denormal {res['flush_denormal']}")
    g = res["gemm"]["flop_rate"]
    print(f"{res['jets']:,} training jets per epoch, {res['repeats']} interleaved repeats; reference GEMM "
          f"{res['gemm']['n']}^3 {res['gemm']['dtype']}: {g['median'] / 1e9:,.1f} GFLOP/s "
          f"({g['min'] / 1e9:,.1f}-{g['max'] / 1e9:,.1f}); reference loop: {res['reference_loop']}; load average "
          f"{res['load_average'][0]:.1f} before, {res['load_average'][1]:.1f} after on {res['cpu_cores']} cores")
    print(f"{'batch':>6s} {'strategy':12s} {'hepadv jets/s':>14s} {'(min-max)':>22s} {'reference':>12s} "
          f"{'hepadv ÷ ref':>12s} {'(min-max)':>12s} {'GEMM frac':>9s} {'peak mem':>9s}")
    for row in res["rows"]:
        j, ref, vs = row["jets_per_second"], row["reference"]["jets_per_second"], row["vs_reference"]
        mem = "" if row["peak_memory_bytes"] is None else f"{row['peak_memory_bytes'] / 2**30:.2f} GiB"
        span = f"({j['min']:,.0f}-{j['max']:,.0f})"
        vs_span = f"({vs['min']:.2f}-{vs['max']:.2f})"
        print(f"{row['batch']:6d} {row['strategy']:12s} {j['median']:14,.0f} {span:>22s} {ref['median']:12,.0f} "
              f"{vs['median']:12.2f} {vs_span:>12s} "
              f"{row['gemm_fraction']:9.3f} {mem:>9s}")
    print("hepadv adversarial / nominal epoch time, per interleaved pair:")
    for b, r in res["ratio"].items():
        print(f"  batch {b:>6s}: median {r['median']:.2f}  (min {r['min']:.2f}, max {r['max']:.2f}; "
              + ", ".join(f"{v:.2f}" for v in r["per_repeat"]) + ")")
    print("warm-up seconds (compile, capture, first steps): " + ", ".join(
        f"{row['strategy']}@{row['batch']} {row['compile_seconds']:.1f} / {row['reference']['compile_seconds']:.1f}"
        for row in res["rows"]) + " (hepadv / reference)")


if __name__ == "__main__":
    main()
