"""Data/MC throughput: events/s per worker for ``dy`` with tagger inference on toynano, against a pure uproot
read of the same branches in the same run, the 1 -> 2 worker speed-up, and where the time goes.

    python benchmarks/datamc.py [--events 200000] [--chunksize 50000] [--repeats 2]

The tagger is the thesis' DeepCSV MLP (5 x 100, untrained weights: inference costs the same) with a spec
prepared from toyjets. Prints tables; asserts nothing (the machine may be shared: read the load average).
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import numpy as np


def make_tagger() -> object:
    import torch

    from hepadv.cards.schema import PreprocessSection
    from hepadv.data.preprocess import prepare
    from hepadv.data.toyjets import generate_toyjets
    from hepadv.datamc.taggers import ModelTagger
    from hepadv.models.base import build_model
    from hepadv.runs import PortableModel

    spec = prepare(generate_toyjets(20_000, seed=3), PreprocessSection()).spec
    torch.manual_seed(0)
    model = build_model("deepcsv", {}, spec.n_features, len(spec.classes))
    weights = {k: v.detach().numpy() for k, v in model.state_dict().items()}
    return ModelTagger("deepcsv@bench", PortableModel(model.describe(), weights, spec.to_dict(), "bench", 0))


def pure_read(files: dict[str, list[str]], branches: list[str], chunksize: int) -> float:
    """Seconds for uproot to read the processor's branches of every file (MC adds the truth and genWeight)."""
    import uproot

    t0 = time.perf_counter()
    for sample, paths in files.items():
        names = [*branches, "Jet_hadronFlavour", "genWeight"] if sample == "mc" else branches
        for path in paths:
            for _ in uproot.iterate({path: "Events"}, names, step_size=chunksize, library="ak"):
                pass
    return time.perf_counter() - t0


def processor_run(files: dict[str, list[str]], tagger: object, executor: str, workers: int, chunksize: int,
                  ) -> tuple[float, dict[str, float], int]:
    from coffea import processor
    from coffea.nanoevents import NanoAODSchema

    from hepadv import get_executor, get_selection
    from hepadv.datamc.processor import DataMCProcessor

    proc = DataMCProcessor(get_selection("dy")({}), [tagger], {"data": "data", "mc": "mc"}, [], seed=1,
                           torch_threads=1)
    import uproot

    keys = {s: set(uproot.open(ps[0])["Events"].keys()) for s, ps in files.items()}
    fileset = {s: {"files": {p: "Events" for p in ps}, "preload": proc.branches(keys[s], s == "mc")}
               for s, ps in files.items()}
    with get_executor(executor)({"workers": workers}).run(status=False) as ex:
        runner = processor.Runner(executor=ex, schema=NanoAODSchema, chunksize=chunksize)
        runner.preprocess(fileset, treename="Events")  # metadata (file opening) outside the timed part
        t0 = time.perf_counter()
        out = runner(fileset, proc, treename="Events")
        wall = time.perf_counter() - t0
    timing = dict(out["timing"])
    # the bulk read (preload) and NanoEvents construction happen before process(): the rest of the wall time
    timing["read"] += max(0.0, wall - sum(out["timing"].values()))
    return wall, timing, sum(out["n_events"].values())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=200_000, help="MC events (data: half)")
    ap.add_argument("--chunksize", type=int, default=50_000)
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    warnings.filterwarnings("ignore")
    from hepadv.datamc.toynano import ToyNanoParams, toynano_files

    t0 = time.perf_counter()
    paths = toynano_files(ToyNanoParams(topology="dy", n_events_mc=args.events, n_events_data=args.events // 2))
    print(f"toynano dy: {args.events:,} MC + {args.events // 2:,} data events ready in {time.perf_counter() - t0:.1f} s"
          " (cached after the first call)")
    files = {s: [str(p)] for s, p in paths.items()}
    tagger = make_tagger()
    sel_branches = ["Muon_pt", "Muon_eta", "Muon_phi", "Muon_mass", "Muon_charge", "Muon_tightId",
                    "Muon_pfRelIso04_all", "Jet_pt", "Jet_eta", "Jet_phi", "Jet_mass", "Jet_jetId"]
    branches = sorted({*sel_branches, *tagger.required_branches()})  # type: ignore[attr-defined]
    print(f"load average: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; {len(branches)} branches read")

    rows = []
    for _ in range(args.repeats):  # interleaved so a load change hits both alike
        t_read = pure_read(files, branches, args.chunksize)
        wall, timing, n = processor_run(files, tagger, "iterative", 1, args.chunksize)
        rows.append((n / t_read, n / wall, timing))
    read_rate = max(r[0] for r in rows)
    proc_rate = max(r[1] for r in rows)
    print("\n| measure (1 worker) | events/s |\n|---|---:|")
    print(f"| pure uproot read of the same branches | {read_rate:,.0f} |")
    print(f"| dy selection + DeepCSV inference + histograms (coffea, iterative) | {proc_rate:,.0f} |")
    print(f"| ratio (target >= 0.8) | {proc_rate / read_rate:.2f} |")

    timing = rows[int(np.argmax([r[1] for r in rows]))][2]
    total = sum(timing.values())
    print("\n| stage | s | share |\n|---|---:|---:|")
    for stage, sec in timing.items():
        print(f"| {stage} | {sec:.2f} | {sec / total:.0%} |")

    rates = {}
    for workers in (1, 2):
        best = 0.0
        for _ in range(args.repeats):
            wall, _, n = processor_run(files, tagger, "futures", workers, args.chunksize)
            best = max(best, n / wall)
        rates[workers] = best
    print("\n| futures workers | events/s | speed-up |\n|---:|---:|---:|")
    for w, r in rates.items():
        print(f"| {w} | {r:,.0f} | {r / rates[1]:.2f} |")
    print(f"\n(target 1 -> 2 workers >= 1.7; load average now {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
