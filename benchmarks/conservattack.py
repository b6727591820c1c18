"""CONSERVAttack benchmark: incremental scoring vs full recomputation, and the whole attack.

Table 1: for the same candidates (one changed entry each), the incremental JSD/dFN of ``IncrementalStats.score``
against recomputing histograms and the Pearson matrix from scratch, at n = 1e4, 1e5, 1e6 events and d = 30, 67:
max difference and time per candidate. Table 2: the whole attack (cards/conservattack.yaml, 10 iterations) on
1e5 events x 67 features x 10 iterations of the trained main-job model if ``runs/adv`` exists (else a
synthetic 4-class MLP), its scaling with n and d, and where the time goes. Tables 3 and 4: the same for
``use_disco`` (distance correlation on groups of m events): incremental score vs recomputation, and the
whole attack on 2500 jets (the paper's DisCo runs attacked 1000-2500 events) next to the Pearson one.

    python benchmarks/conservattack.py [--quick] [--threads N] [--device cpu|cuda] [--json PATH]

Timings depend on the machine and its load; compare the ratios.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from hepadv.attacks.conservattack.attack import ConservAttack
from hepadv.attacks.conservattack.stats import IncrementalStats, recompute
from hepadv.data.base import FeatureSpec

console = Console(width=150)
RESULTS: dict[str, list[dict]] = {"scoring": [], "attack": [], "disco_scoring": [], "disco_attack": []}
CARD_PATH = Path(__file__).resolve().parents[1] / "cards" / "conservattack.yaml"


def card_params() -> dict:
    """The shipped card's params (cards/conservattack.yaml), so the benchmark measures what users run."""
    from hepadv.cards import load

    params = load(CARD_PATH, "attack").attack.validated_params.model_dump()
    return {**params, "n_iterations": 10}  # the benchmark: 10 iterations, whatever the card uses


def correlated(n: int, d: int, seed: int, device: str) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    mix = torch.eye(d, dtype=torch.float64) + 0.3 * torch.randn(d, d, generator=g, dtype=torch.float64)
    return (torch.randn(n, d, generator=g, dtype=torch.float64) @ mix).to(device)


def scoring_table(sizes: list[int], dims: list[int], device: str) -> None:
    table = Table(title="Incremental score vs full recomputation (same candidates)")
    for col in ("n", "d", "candidates", "incremental / cand.", "full / cand.", "time ratio", "max |dJSD|",
                "max |d dFN|"):
        table.add_column(col, justify="right")
    for d in dims:
        for n in sizes:
            x = correlated(n, d, 0, device)
            stats = IncrementalStats(x, 200)
            g = torch.Generator().manual_seed(1)
            rows = torch.randint(0, n, (2000,), generator=g).unique()[:1000].to(device)
            moved = stats.x[rows] + 0.3 * torch.randn(len(rows), d, generator=g, dtype=torch.float64).to(device)
            stats.apply(rows, moved)  # a set that already differs from the clean one
            rows = torch.arange(64, device=device)
            steps = 0.02 * torch.arange(1, 5, dtype=torch.float64, device=device)
            values = stats.x[rows][:, :, None] + steps
            stats.score(rows, values)  # warm up
            reps = 3
            t0 = time.perf_counter()
            for _ in range(reps):
                jsd, dfn = stats.score(rows, values)
            if device == "cuda":
                torch.cuda.synchronize()
            inc = (time.perf_counter() - t0) / reps / values.numel()
            k = 6 if n <= 100_000 else 2
            picks = [(int(b), int(j), int(c)) for b, j, c in zip(torch.randint(0, 64, (k,), generator=g),
                                                                   torch.randint(0, d, (k,), generator=g),
                                                                   torch.randint(0, 4, (k,), generator=g),
                                                                   strict=True)]
            diffs_j, diffs_f = [], []
            t0 = time.perf_counter()
            for b, j, c in picks:
                old = stats.x[b, j].clone()
                stats.x[b, j] = values[b, j, c]
                ref_jsd, _, ref_dfn = recompute(stats.x, stats.edges, stats.clean_counts, stats.c_clean, stats.keep)
                stats.x[b, j] = old
                diffs_j.append(abs(float(ref_jsd[j]) - float(jsd[b, j, c])))
                diffs_f.append(abs(ref_dfn - float(dfn[b, j, c])))
            full = (time.perf_counter() - t0) / k
            table.add_row(f"{n:.0e}", str(d), f"{values.numel():,}", f"{inc * 1e6:.3f} µs", f"{full * 1e3:.1f} ms",
                          f"{full / inc:,.0f}", f"{max(diffs_j):.1e}", f"{max(diffs_f):.1e}")
            RESULTS["scoring"].append({"n": n, "d": d, "incremental_s": inc, "full_s": full, "ratio": full / inc,
                                       "max_diff_jsd": max(diffs_j), "max_diff_dfn": max(diffs_f)})
            del stats, x
    console.print(table)


class _MLP(torch.nn.Module):
    def __init__(self, d: int, seed: int) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.net = torch.nn.Sequential(torch.nn.Linear(d, 100), torch.nn.ReLU(), torch.nn.Linear(100, 100),
                                       torch.nn.ReLU(), torch.nn.Linear(100, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def synthetic_target(n: int, d: int, device: str) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, FeatureSpec]:
    """A 4-class MLP trained briefly on correlated Gaussians whose class shifts the means."""
    x = correlated(n, d, 2, "cpu").float()
    g = torch.Generator().manual_seed(3)
    y = torch.randint(0, 4, (n,), generator=g)
    x = x + 0.6 * torch.randn(4, d, generator=g)[y]
    model = _MLP(d, 0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(60):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x[:20000]), y[:20000]).backward()
        opt.step()
    spec = FeatureSpec(names=tuple(f"f{i}" for i in range(d)), integer=np.zeros(d, bool),
                       defaults=np.full(d, -1e6), mean=np.zeros(d), std=np.ones(d), classes=("b", "bb", "c", "udsg"))
    return model.eval().to(device), x.to(device), y.to(device), spec


def toy_target(n: int, device: str) -> tuple[torch.nn.Module, torch.Tensor, torch.Tensor, FeatureSpec] | None:
    """The main job's nominal model and its test (then training) jets, when runs/adv is trained."""
    run = Path("runs/adv")
    if not (run / "nominal" / "checkpoints" / "best.pt").is_file():
        return None
    from hepadv.runs import check_spec, open_run

    run, card = open_run(Path("cards/adv.yaml"))
    loaded = run.load("nominal", device=device)
    data = run.data(card)
    check_spec(loaded.spec, data.spec, str(run.dir))
    x = np.concatenate([data.test.x, data.train.x])[:n]
    y = np.concatenate([data.test.y, data.train.y])[:n]
    return loaded.model, torch.as_tensor(x).to(device), torch.as_tensor(y).to(device), loaded.spec


def attack_table(n_full: int, device: str) -> None:
    table = Table(title="Whole attack, 10 iterations (card settings, blocks of 0.1 % of n)")
    for col in ("data", "n", "d", "total", "per event-iteration", "gradient", "score", "apply", "predict",
                "FR", "mean JSD", "dFN"):
        table.add_column(col, justify="right")
    runs: list[tuple[str, int, int]] = [("toy", n, 67) for n in (n_full // 4, n_full)]
    runs += [("synthetic", n_full // 4, 30), ("synthetic", n_full // 4, 67)]
    for kind, n, d in runs:
        target = toy_target(n, device) if kind == "toy" else synthetic_target(n, d, device)
        if target is None:
            kind, target = "synthetic", synthetic_target(n, d, device)
        model, x, y, spec = target
        t0 = time.perf_counter()
        result = ConservAttack(card_params()).generate(model, x, y, spec)
        total = time.perf_counter() - t0
        h = result.history
        work = sum(e["n_active"] for e in h)
        parts = {k: sum(e[f"seconds_{k}"] for e in h) for k in ("gradient", "score", "apply", "predict")}
        table.add_row(kind, f"{n:,}", str(d), f"{total:.1f} s", f"{total / max(work, 1) * 1e6:.0f} µs",
                      *(f"{100 * v / total:.0f} %" for v in parts.values()), f"{h[-1]['fooling_ratio']:.3f}",
                      f"{h[-1]['mean_jsd']:.4f}", f"{h[-1]['dfn']:.4f}")
        RESULTS["attack"].append({"data": kind, "n": n, "d": d, "seconds": total, "event_iterations": work,
                                  "share": {k: v / total for k, v in parts.items()},
                                  "fooling_ratio": h[-1]["fooling_ratio"], "mean_jsd": h[-1]["mean_jsd"],
                                  "dfn": h[-1]["dfn"], "block_size": result.info["block_size"]})
    console.print(table)


def disco_table(sizes: list[int], m: int, device: str) -> None:
    """use_disco: incremental distance-correlation scores vs recomputing R per candidate, and whole attacks."""
    from hepadv.attacks.conservattack.disco import DisCoStats, distance_correlation, relative_change

    table = Table(title=f"use_disco: distance correlation on groups of m = {m} events")
    for col in ("d", "incremental / cand.", "full / cand.", "time ratio", "max |d dFN|"):
        table.add_column(col, justify="right")
    for d in (30, 67):
        x = correlated(m, d, 4, device)
        keep = torch.ones(d, dtype=torch.bool, device=device)
        stats = DisCoStats(x, keep)
        stats.apply(torch.arange(0, m, 7, device=device), stats.x[::7] + 0.3)
        rows = torch.arange(16, device=device)
        values = stats.x[rows][:, :, None] + 0.05 * torch.arange(1, 5, dtype=torch.float64, device=device)
        stats.score(rows, values)
        t0 = time.perf_counter()
        got = stats.score(rows, values)
        inc = (time.perf_counter() - t0) / values.numel()
        r_clean, _ = distance_correlation(x)
        diffs = []
        t0 = time.perf_counter()
        for b, j, c in ((0, 0, 0), (3, d // 2, 2), (15, d - 1, 3)):
            y = stats.x.clone()
            y[b, j] = values[b, j, c]
            diffs.append(abs(relative_change(distance_correlation(y)[0], r_clean, keep) - float(got[b, j, c])))
        full = (time.perf_counter() - t0) / 3
        table.add_row(str(d), f"{inc * 1e6:.1f} µs", f"{full * 1e3:.0f} ms", f"{full / inc:,.0f}", f"{max(diffs):.1e}")
        RESULTS["disco_scoring"].append({"m": m, "d": d, "incremental_s": inc, "full_s": full, "ratio": full / inc,
                                         "max_diff_dfn": max(diffs)})
    console.print(table)
    whole = Table(title="Whole attack, card settings, Pearson vs use_disco (d = 67)")
    for col in ("n", "dFN from", "total", "per event-iteration", "FR", "mean JSD", "dFN", "dFN disco"):
        whole.add_column(col, justify="right")
    for n in sizes:
        target = toy_target(n, device) or synthetic_target(n, 67, device)
        model, x, y, spec = target
        for disco in (False, True):
            t0 = time.perf_counter()
            attack = ConservAttack({**card_params(), "use_disco": disco, "disco_subsample": m})
            result = attack.generate(model, x, y, spec)
            total = time.perf_counter() - t0
            h = result.history
            work = sum(e["n_active"] for e in h)
            whole.add_row(f"{n:,}", "disco" if disco else "Pearson", f"{total:.1f} s",
                          f"{total / max(work, 1) * 1e6:.0f} µs", f"{h[-1]['fooling_ratio']:.3f}",
                          f"{h[-1]['mean_jsd']:.4f}", f"{h[-1]['dfn']:.4f}",
                          f"{h[-1]['dfn_disco']:.4f}" if disco else "")
            RESULTS["disco_attack"].append({"n": n, "m": m, "disco": disco, "seconds": total,
                                            "event_iterations": work, "fooling_ratio": h[-1]["fooling_ratio"],
                                            "mean_jsd": h[-1]["mean_jsd"], "dfn": h[-1]["dfn"],
                                            "dfn_disco": h[-1].get("dfn_disco")})
    console.print(whole)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small sizes, to check the script runs")
    ap.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--skip-attack", action="store_true")
    ap.add_argument("--skip-disco", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    console.print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, device {args.device}")
    t0 = time.perf_counter()
    if args.quick:
        scoring_table([10_000], [30], args.device)
        if not args.skip_attack:
            attack_table(8_000, args.device)
        if not args.skip_disco:
            disco_table([1024], 256, args.device)
    else:
        scoring_table([10_000, 100_000, 1_000_000], [30, 67], args.device)
        if not args.skip_attack:
            attack_table(100_000, args.device)
        if not args.skip_disco:
            disco_table([2500], 512, args.device)
    if args.json is not None:
        from training_throughput import device_name  # same directory: the same machine description

        from hepadv.io import write_json

        write_json(args.json, {**RESULTS, "threads": torch.get_num_threads(), "device": args.device,
                               "device_name": device_name(torch.device(args.device)), "torch": torch.__version__,
                               "seconds": time.perf_counter() - t0, "card": card_params()})
        console.print(f"written {args.json}")


if __name__ == "__main__":
    main()
