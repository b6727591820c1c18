"""Regenerate the README's measured figures: rerun what it quotes and rewrite the marked blocks in place.

    python scripts/readme_figures.py [FIGURE ...] [--readme README.md] [--runs-dir DIR] [--from-runs]
                                     [--set KEY=VALUE ...] [--list]

Every measured number in the README lives in a block between ``<!-- figures:NAME -->`` and
``<!-- /figures:NAME -->``. This script reruns the card behind each named block (``hepadv train
cards/adv.yaml`` for ``demo``, exactly what ``make demo`` runs), renders the block from the run's
``metrics.json`` and ends it with the commit, date, command and wall time it was measured with.
``make figures`` runs all of them; ``--from-runs`` re-renders from runs already on disk.

Stale numbers cannot hide: ``tests/test_readme_figures.py`` fails when a table of numbers in the
README sits outside a block, when a block lacks its commit line or names a commit that is not in
the history or was measured on uncommitted code, and when the rendering of a fixed metrics file
changes. ``--list`` shows each block's commit and how many commits changed hepadv/ or cards/ since.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"(<!-- figures:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /figures:(?P=name) -->)", re.S)
PROVENANCE = re.compile(r"^_Measured at commit `(?P<commit>[0-9a-f]{7,40})(?P<dirty>\+dirty)?` on "
                        r"(?P<date>\d{4}-\d{2}-\d{2})", re.M)
#: A block not measured yet says so, and holds no numbers until ``make figures`` fills it.
PENDING = re.compile(r"^_Not yet measured", re.M)
RAW = "raw"
#: The distortion list the README's ``hepadv evaluate`` example names.
DISTORTIONS = ("evaluation.attacks=[{name: fgsm}, {name: gaussian_noise, params: {sigma: 0.1}}, "
               "{name: systematic_shift, params: {direction: up}}, "
               "{name: systematic_shift, params: {direction: down}}]")


@dataclass(frozen=True)
class Run:
    """One command whose metrics.json feeds figures: train a card, or re-evaluate another run's models."""

    card: str
    command: str = "train"
    sets: tuple[str, ...] = ()
    models_of: str | None = None  # evaluate: a copy of this run's models (its own metrics stay untouched)
    shown: str = ""  # how the README names ``sets`` in the commit line

    def display(self, sets: list[str]) -> str:
        """The command as a reader would type it: no output/progress flags, the card overrides that matter."""
        words = ["hepadv", self.command, self.card, *(w for s in sets for w in ("--set", s))]
        return shlex.join(words) + (f" {self.shown}" if self.shown else "")


@dataclass
class Measured:
    results: dict[str, Any]
    command: str
    seconds: float | None
    extra: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- rendering (pure: metrics dict -> markdown)

def _f(value: float | None, digits: int = 4, sign: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.{digits}f}" if sign else f"{value:.{digits}f}"


def _discs(results: dict[str, Any], wanted: tuple[str, ...] = ("BvsL", "CvsL")) -> list[str]:
    return [d for d in wanted if d in results["discriminators"]] or list(results["discriminators"][:2])


def _auc(results: dict[str, Any], variant: str, key: str, disc: str) -> float | None:
    return results["variants"][variant]["metrics"][key][disc]["auc"]


def render_demo(results: dict[str, Any]) -> str:
    """What ``hepadv train`` prints at its end (``hepadv.cli.summary``), as the README quotes it."""
    from hepadv.cli.summary import summary_text

    out = Path("runs") / Path(results.get("run_dir", "runs/adv")).name  # as `make demo` prints it
    return "```text\n" + summary_text(results, out).rstrip() + "\n```\n"


def render_transfer(results: dict[str, Any]) -> str:
    """First discriminator's AUC under the first transferable attack: rows crafted on, columns scored by."""
    disc = _discs(results)[0]
    attack_id, rows = next(iter(results["transfer"].items()))
    label = next(a["label"] for a in results["attacks"] if a["id"] == attack_id)
    targets = list(next(iter(rows.values())))
    head = ["crafted on \\ scored by", *(f"{t} (raw {_f(_auc(results, t, RAW, disc))})" for t in targets)]
    lines = [f"{disc} AUC under {label}:", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for source, by_target in rows.items():
        lines.append("| " + " | ".join([source, *(_f(by_target[t].get(disc)) for t in targets)]) + " |")
    return "\n".join(lines) + "\n"


def render_distortions(results: dict[str, Any]) -> str:
    """AUC change of every variant under every attack, for two discriminators."""
    discs = _discs(results)
    names = list(results["variants"])
    head = ["distortion", *(f"{d} {n}" for d in discs for n in names)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    table = results["comparison"]["table"]
    for attack in results["attacks"]:
        cells = [_f(table[n][attack["id"]][d]["delta"], sign=True) for d in discs for n in names]
        lines.append("| " + " | ".join([attack["label"], *cells]) + " |")
    return "\n".join(lines) + "\n"


def render_summary(results: dict[str, Any]) -> str:
    """Per variant: raw and attacked AUC (first discriminator), drop ratio against the reference under the
    model-dependent attacks (the ratio of two tiny random-distortion changes means nothing), training speed."""
    disc = _discs(results)[0]
    attacks = results["attacks"]
    adversarial = [a for a in attacks if a.get("needs_labels", True)]
    checks = results["comparison"]["checks"]
    head = ["variant", f"{disc} AUC raw", *(f"{disc} AUC, {a['label']}" for a in attacks),
            *(f"drop ratio, {a['label']}" for a in adversarial), "training jets/s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, entry in results["variants"].items():
        ratios = [checks[name]["attacks"][a["id"]]["drop_ratio"].get(disc) if name in checks else None
                  for a in adversarial]
        rates = entry.get("history", {}).get("jets_per_second") or []
        row = [name, _f(_auc(results, name, RAW, disc)), *(_f(_auc(results, name, a["id"], disc)) for a in attacks),
               *("reference" if name == results["comparison"]["reference"] else _f(r, 2) for r in ratios),
               f"{sum(rates) / len(rates) / 1e3:.1f}k" if rates else "n/a"]
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def render_benchmark(results: dict[str, Any]) -> str:
    """The throughput benchmark (benchmarks/training_throughput.py --json): per batch size, hepadv and the
    hand-written reference loop side by side, nominal and adversarial, and hepadv ÷ reference per pair."""
    graph = ", hepadv step as a CUDA graph" if results.get("cuda_graph") else ""
    lines = [f"{results['device_name']}, {results['precision']}, compile {str(results['compile']).lower()}{graph}, "
             f"{results['jets']:,} jets per epoch, median (min-max) over {results['repeats']} interleaved repeats; "
             f"reference GEMM {results['gemm']['n']}^3 {results['gemm']['dtype']} "
             f"{results['gemm']['flop_rate']['median'] / 1e9:,.1f} GFLOP/s{_load(results)}:",
             "", "| batch | nominal jets/s | reference loop | hepadv ÷ reference | adversarial jets/s | "
             "reference loop | hepadv ÷ reference | adversarial / nominal | GEMM fraction nominal / adversarial |",
             "|---|---|---|---|---|---|---|---|---|"]
    rows = {(r["batch"], r["strategy"]): r for r in results["rows"]}

    def rate(spread: dict[str, float]) -> str:
        return f"{_k(spread['median'])} ({_k(spread['min'])}-{_k(spread['max'])})"

    def ratio(spread: dict[str, float]) -> str:
        return f"{spread['median']:.2f} ({spread['min']:.2f}-{spread['max']:.2f})"

    for batch, adv_nom in results["ratio"].items():
        cells = [batch]
        for strategy in ("nominal", "adversarial"):
            row = rows[(int(batch), strategy)]
            cells += [rate(row["jets_per_second"]), rate(row["reference"]["jets_per_second"]),
                      ratio(row["vs_reference"])]
        nom, adv = rows[(int(batch), "nominal")], rows[(int(batch), "adversarial")]
        cells += [ratio(adv_nom), f"{nom['gemm_fraction']:.2f} / {adv['gemm_fraction']:.2f}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _load(results: dict[str, Any]) -> str:
    """The machine's load while it was measured, where the run recorded it (1-minute load, before and after)."""
    if "load_average" not in results:
        return ""
    before, after = results["load_average"]
    return f"; load average {before:.1f} before, {after:.1f} after, on {results['cpu_cores']} CPU cores"


#: issue 23's goals for the GPU tables: (mode, batch) -> what hepadv ÷ reference must reach, in words
GPU_GOALS = {("compiled", 65536): "the compiled reference loop", ("eager", 16384): "the eager reference loop"}


def render_benchmark_gpu(results: dict[str, Any]) -> str:
    """The GPU tables, eager and compiled (one benchmark run each), and issue 23's goals, reached or missed."""
    parts = []
    for mode, res in results.items():
        parts.append(f"**{mode}**: " + render_benchmark(res))
    goals = []
    for (mode, batch), against in GPU_GOALS.items():
        rows = [r for r in results.get(mode, {}).get("rows", []) if r["batch"] == batch]
        for row in rows:
            vs = row["vs_reference"]["median"]
            goals.append(f"- {row['strategy']} at batch {batch:,}, {mode}: hepadv ÷ {against} {vs:.3f} "
                         f"(goal >= 1.0): **{'reached' if vs >= 1.0 else 'missed'}**; "
                         f"{_k(row['jets_per_second']['median'])} jets/s")
    return "\n".join(parts) + ("\nGoals of issue 23, side by side in one run:\n\n" + "\n".join(goals) + "\n"
                                if goals else "")


def _k(value: float) -> str:
    return f"{value / 1e6:.2f}M" if value >= 1e6 else f"{value / 1e3:.1f}k"


RUNS: dict[str, Run] = {
    "adv": Run("cards/adv.yaml"),
    "adv-distortions": Run("cards/adv.yaml", "evaluate", (DISTORTIONS,), models_of="adv",
                           shown="with the distortions listed above, on a copy of the demo models"),
    "adv_pgd": Run("cards/adv_pgd.yaml"),
    "adv_ablation": Run("cards/adv_ablation.yaml"),
}
#: attack comparisons: key -> (label, ``hepadv attack`` arguments) per row, all on the main job's test split
ATTACKS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "attacks": (
        ("conservattack", ("--plugin", "conservattack")),
        # the other selection rule, at the setting the validation sweep chose for it (cards/conservattack.yaml)
        ("conservattack per_feature", ("--plugin", "conservattack", "--set", "selection=per_feature",
                                       "--set", "min_change=0.05", "--set", "step=0.2", "--set", "n_iterations=1")),
        ("conservattack, paper's settings", ("--plugin", "conservattack", "--card", "cards/conservattack_paper.yaml")),
        ("conservattack control region", ("--plugin", "conservattack", "--set", "control_region=true")),
        *((f"fgsm eps {e}", ("--plugin", "fgsm", "--set", f"epsilon={e}")) for e in ("0.01", "0.05", "0.1", "0.2")),
    ),
}

#: The named toy mismodellings of ``cards/datamc_NAME.yaml`` and the selections each is run in.
MISMODELLINGS = ("ip_resolution", "track_multiplicity", "sv_mass", "pv_pull")
SELECTIONS = ("dy", "wc", "ttsemilep")
#: Data/MC figures: key -> (label, ``hepadv datamc`` arguments) per run; each run's results.json, by label.
DATAMC: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "datamc": (
        *((f"{name} {sel}", (f"cards/datamc_{name}.yaml", "--selection", sel))
          for name in MISMODELLINGS for sel in SELECTIONS),
        # size 0 gives the same data for every effect (tested), so one ablation per selection serves them all
        *((f"none {sel}", ("cards/datamc_pv_pull.yaml", "--selection", sel, "--set", "toynano.effects.pv_pull=0"))
          for sel in SELECTIONS),
    ),
    "datamc-cost": (("replicas", ("cards/datamc_dy.yaml",)),
                    ("no replicas", ("cards/datamc_dy.yaml", "--set", "bootstrap.replicas=0"))),
    "datamc-real": (("real", ("cards/datamc_real_dy.yaml",)),),
}

#: figure key -> (label, defence card) rows, each run by ``hepadv defend`` into one folder (``measure_defences``)
DEFENCES: dict[str, tuple[tuple[str, str], ...]] = {
    "defences-conservattack": (("detector", "cards/detector_conservattack.yaml"),
                               ("iterative", "cards/iterative_adv_conservattack.yaml"),
                               ("augmentation", "cards/augmentation_conservattack.yaml")),
}


#: our target for CONSERVAttack (not the paper's, which sets none): FR >= 0.6 at mean JSD <= 0.05 and dFN <= 0.2;
#: ``cards/conservattack.yaml`` records it as ``tuned_on.target``
TARGET = {"min_fooling_ratio": 0.6, "max_mean_jsd": 0.05, "max_dfn": 0.2}


def _versus_fgsm(v: dict[str, Any], fgsm: list[tuple[str, dict[str, Any]]]) -> str:
    """How one CONSERVAttack result compares with the FGSM rows of the same model: marginals and correlations."""
    if not fgsm:
        return ""
    beaten = [lab for lab, f in fgsm if f["mean_jsd"] >= v["mean_jsd"] and f["fooling_ratio"] < v["fooling_ratio"]]
    marg = (f"higher FR at equal or lower mean JSD than {', '.join(beaten)}" if beaten
            else "no FGSM row has lower FR at equal or higher mean JSD")
    top_label, top = max(fgsm, key=lambda item: item[1]["dfn"])
    low = min(f["dfn"] for _, f in fgsm)
    if v["dfn"] > top["dfn"]:
        corr = (f"but its dFN is {v['dfn'] / top['dfn']:.1f}x the largest FGSM dFN ({top['dfn']:.4f}, {top_label}): "
                "more visible in the correlations than every FGSM row")
    elif v["dfn"] < low:
        corr = "and its dFN is below every FGSM row's"
    else:
        corr = f"and its dFN lies within FGSM's ({low:.4f}-{top['dfn']:.4f})"
    return f"; against FGSM: {marg}, {corr}"


def render_attacks(results: dict[str, Any]) -> str:
    """FGSM and CONSERVAttack through ``hepadv attack``: fooling ratio against how visible each attack is."""
    first = next(iter(results.values()))
    lines = [f"All {first['n_events']:,} {first['split']} jets of the main job (`cards/adv.yaml`); fooled = "
             f"{next(iter(first['variants'].values()))['fooled_definition']}; JSD and dFN from scratch on the "
             "final sets (200 bins over the clean range plus under/overflow; for the control-region row, of the "
             "control region with the cut re-applied to the attacked set):", "",
             "| attack | model | fooling ratio | mean JSD | dFN | BvsL AUC raw -> attacked | CvsL AUC raw -> attacked |"
             " seconds |", "|---|---|---|---|---|---|---|---|"]
    for label, summary in results.items():
        for variant, v in summary["variants"].items():
            auc = v["auc"]
            lines.append(f"| {label} | {variant} | {v['fooling_ratio']:.3f} | {v['mean_jsd']:.4f} | {v['dfn']:.4f} | "
                         f"{_f(auc['BvsL']['raw'])} -> {_f(auc['BvsL']['attacked'])} | "
                         f"{_f(auc['CvsL']['raw'])} -> {_f(auc['CvsL']['attacked'])} | {v['seconds']:.0f} |")
    t = TARGET
    lines += ["", f"Our target (ours, the paper sets no threshold): FR >= {t['min_fooling_ratio']} at mean JSD <= "
                  f"{t['max_mean_jsd']} and dFN <= {t['max_dfn']}.", ""]
    for label, summary in results.items():
        if summary["plugin"] != "conservattack":
            continue
        for variant, v in summary["variants"].items():
            fgsm = [(lab, s["variants"][variant]) for lab, s in results.items()
                    if s["plugin"] == "fgsm" and variant in s["variants"]]
            regions = v.get("regions")
            if regions:
                r = regions
                lines.append(f"- {label}, {variant}: FR control {r['control']['fooling_ratio']:.3f}, signal "
                             f"{_f(r['signal']['fooling_ratio'], 3)}, all {r['all']['fooling_ratio']:.3f}; control "
                             f"region ({r['control']['n_events']:,} jets; {r['n_crossed']} changed region when the "
                             f"cut was re-applied) mean JSD {v['mean_jsd']:.4f}, dFN {v['dfn']:.4f}.")
                continue
            ok = (v["fooling_ratio"] >= t["min_fooling_ratio"] and v["mean_jsd"] <= t["max_mean_jsd"]
                  and v["dfn"] <= t["max_dfn"])
            lines.append(f"- {label}, {variant}: FR {v['fooling_ratio']:.3f} at mean JSD {v['mean_jsd']:.4f}, dFN "
                         f"{v['dfn']:.4f}: our target **{'reached' if ok else 'missed'}**{_versus_fgsm(v, fgsm)}.")
    return "\n".join(lines) + "\n"


def render_conservattack_benchmark(results: dict[str, Any]) -> str:
    """benchmarks/conservattack.py --json: incremental vs full scores, the whole attack, the DisCo variant."""
    lines = [f"{results['device_name']}, {results['threads']} torch threads, device {results['device']}.", "",
             "Incremental candidate score vs recomputing histograms and the Pearson matrix for the same candidates:",
             "", "| n | d | incremental per candidate | full per candidate | ratio | max diff JSD | max diff dFN |",
             "|---|---|---|---|---|---|---|"]
    for r in results["scoring"]:
        lines.append(f"| {r['n']:.0e} | {r['d']} | {r['incremental_s'] * 1e6:.2f} µs | {r['full_s'] * 1e3:.1f} ms | "
                     f"{r['ratio']:.1e} | {r['max_diff_jsd']:.1e} | {r['max_diff_dfn']:.1e} |")
    lines += ["", "Whole attack, params of `cards/conservattack.yaml` (10 iterations); where the time goes:", "",
              "| data | n | d | block | total | per event-iteration | gradient | score | apply | predict | FR | "
              "mean JSD | dFN |", "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results["attack"]:
        sh = r["share"]
        lines.append(f"| {r['data']} | {r['n']:,} | {r['d']} | {r['block_size']} | {r['seconds']:.0f} s | "
                     f"{r['seconds'] / max(r['event_iterations'], 1) * 1e6:.0f} µs | "
                     + " | ".join(f"{100 * sh[k]:.0f} %" for k in ("gradient", "score", "apply", "predict"))
                     + f" | {r['fooling_ratio']:.3f} | {r['mean_jsd']:.4f} | {r['dfn']:.4f} |")
    if results.get("disco_scoring"):
        lines += ["", "`use_disco`: incremental distance-correlation score vs recomputing it per candidate:", "",
                  "| m | d | incremental per candidate | full per candidate | ratio | max diff dFN |",
                  "|---|---|---|---|---|---|"]
        for r in results["disco_scoring"]:
            lines.append(f"| {r['m']} | {r['d']} | {r['incremental_s'] * 1e6:.1f} µs | {r['full_s'] * 1e3:.0f} ms | "
                         f"{r['ratio']:.1e} | {r['max_diff_dfn']:.1e} |")
        lines += ["", "| n | dFN from | total | per event-iteration | FR | mean JSD | dFN (Pearson) | dFN (disco) |",
                  "|---|---|---|---|---|---|---|---|"]
        for r in results["disco_attack"]:
            lines.append(f"| {r['n']:,} | {'distance correlation, m = ' + str(r['m']) if r['disco'] else 'Pearson'} | "
                         f"{r['seconds']:.0f} s | {r['seconds'] / max(r['event_iterations'], 1) * 1e6:.0f} µs | "
                         f"{r['fooling_ratio']:.3f} | {r['mean_jsd']:.4f} | {r['dfn']:.4f} | "
                         f"{_f(r['dfn_disco'])} |")
    return "\n".join(lines) + "\n"


def render_conservattack_sweep(results: dict[str, Any]) -> str:
    """scripts/conservattack_sweep.py --json: the step-size sweep on the validation split, the choice, block sizes."""
    shown = (1, 3, 10, 30)

    def fig(e: dict[str, Any]) -> str:
        return f"{e['fooling_ratio']:.3f} / {e['mean_jsd']:.4f} / {e['dfn']:.4f}"

    t = results["target"]
    lines = [f"`scripts/conservattack_sweep.py` on the first {results['n_events']:,} **{results['split']}** jets of "
             f"the main job's {results['variant']} model (never the test split); params not swept are the card's. Each "
             "cell is FR / mean JSD / dFN after that many iterations (iteration k of a long run is the k-iteration "
             f"attack). Our target: FR >= {t['min_fooling_ratio']} at mean JSD <= {t['max_mean_jsd']} and dFN <= "
             f"{t['max_dfn']}.", "",
             "| selection | min_change | step | " + " | ".join(f"{k} it." for k in shown)
             + " | first reaching the target | seconds |", "|---|---|---|" + "---|" * (len(shown) + 2)]
    for r in results["records"]:
        hist = r["history"]
        cells = [fig(hist[k - 1]) if k <= len(hist) else "" for k in shown]
        hit = next((e for e in hist if e["fooling_ratio"] >= t["min_fooling_ratio"]
                    and e["mean_jsd"] <= t["max_mean_jsd"] and e["dfn"] <= t["max_dfn"]), None)
        first = "none" if hit is None else f"{hit['iteration']} it.: {fig(hit)}"
        lines.append(f"| {r['selection']} | {r['min_change']:g} | {r['step']:g} | " + " | ".join(cells)
                     + f" | {first} | {r['seconds']:.0f} |")
    lines += ["", f"Rule, fixed before the sweep: {results['rule']}."]
    for selection, c in results["chosen"].items():
        lines.append(f"- {selection}: " + ("no setting reaches the target." if c is None else
                                           f"min_change {c['min_change']:g}, step {c['step']:g}, {c['n_iterations']} "
                                           f"iterations ({fig(c)})."))
    if results.get("block_sizes"):
        lines += ["", "The chosen global setting at other block sizes (events scored against the same statistics):", "",
                  "| block | share of the set | FR | mean JSD | dFN | seconds |", "|---|---|---|---|---|---|"]
        for b in results["block_sizes"]:
            e = b["history"][-1]
            lines.append(f"| {b['block_size']} | {100 * b['block_size'] / results['n_events']:.3g} % | "
                         f"{e['fooling_ratio']:.3f} | {e['mean_jsd']:.4f} | {e['dfn']:.4f} | {b['seconds']:.0f} |")
#: |z| from which a Data/MC difference or a nominal-vs-adversarial difference counts as significant.
SIGNIFICANT = 3.0
#: The discriminators whose KL the tables show; the verdicts use these and BvsC (CvsB mirrors BvsC).
SHOWN_DISCS = ("BvsL", "CvsL")
VERDICT_DISCS = ("BvsL", "BvsC", "CvsL")


def _pm3(stat: dict[str, Any] | None, value: float | None = None, key: str = "std") -> str:
    """A KL x 10^3 with its std and z (``*``: outside its quadratic regime, z from its own std)."""
    if value is None or not stat or stat.get(key) is None:
        return "n/a" if value is None else f"{1e3 * value:.2f}"
    rough = "" if stat.get("smooth", True) else "*"
    z = stat.get("z")
    return f"{1e3 * value:.2f} ± {1e3 * stat[key]:.2f} (z {z:+.1f}{rough})" if z is not None else \
        f"{1e3 * value:.2f} ± {1e3 * stat[key]:.2f}"


def _datamc_cells(res: dict[str, Any], disc: str) -> list[str]:
    """nominal KL, adversarial KL, paired adversarial - nominal difference (KL x 10^3) of one run."""
    div = res["divergences"]
    cells = []
    for tagger in ("nominal@best", "adversarial@best"):
        d = div[tagger][disc]["raw"]
        cells.append(_pm3(d.get("kl_stat"), d["kl"]))
    comp = _comparison(res)
    diff = comp["outputs"][disc]["raw"]["kl"] if comp else None
    cells.append(_pm3(diff, diff["difference"] if diff else None))
    return cells


def _comparison(res: dict[str, Any]) -> dict[str, Any] | None:
    return next((c for c in res.get("comparisons", []) if c["reference"] == "nominal@best"
                 and c["other"] == "adversarial@best"), None)


def _verdict(res: dict[str, Any]) -> str:
    """Whether adversarial and nominal differ significantly (|z| >= SIGNIFICANT), in which direction."""
    comp = _comparison(res)
    if comp is None:
        return "no comparison"
    zs = {d: comp["outputs"][d]["raw"]["kl"]["z"] for d in VERDICT_DISCS}
    closer = [d for d, z in zs.items() if z is not None and z <= -SIGNIFICANT]
    further = [d for d, z in zs.items() if z is not None and z >= SIGNIFICANT]
    parts = ([f"adversarial closer to data in {', '.join(closer)}"] if closer else []) + \
            ([f"adversarial further from data in {', '.join(further)}"] if further else [])
    shown = ", ".join(f"{d} {z:+.1f}" for d, z in zs.items() if z is not None)
    return ("; ".join(parts) if parts else "no significant difference") + f" (z: {shown})"


def _label_effect(res: dict[str, Any]) -> str:
    effects = res.get("toynano", {}).get("effects", {})
    return ", ".join(f"{n} {v:+g}" for n, v in effects.items()) or "none (ablation)"


def render_datamc(results: dict[str, Any]) -> str:
    """Per named mismodelling and selection: raw KL of both models with std and z, and their paired difference."""
    first = next(iter(results.values()))
    t = first["toynano"]
    lines = [f"KL(data || MC) x 10^3 of the main job's models (best checkpoints, raw inputs), ± its std "
             f"(z against the floor for identical parents; `*`: KL outside its quadratic regime, z from its own "
             f"std), and the paired difference adversarial - nominal on the same events (negative: adversarial "
             f"closer to data); {t['n_events_mc']:,} MC and {t['n_events_data']:,} data toynano events per "
             f"selection, {first['bootstrap']['replicas']} replicas; significant: |z| >= {SIGNIFICANT:g}.", ""]
    head = ["data/MC difference", "selection"]
    for d in SHOWN_DISCS:
        head += [f"{d} nominal", f"{d} adversarial", f"{d} adv - nom"]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for res in results.values():
        row = [_label_effect(res), res["selection"]]
        for d in SHOWN_DISCS:
            row += _datamc_cells(res, d)
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    for res in results.values():
        nominal = res["divergences"]["nominal@best"]
        zs = {d: nominal[d]["raw"]["kl_stat"]["z"] for d in VERDICT_DISCS if nominal[d]["raw"]["kl_stat"]}
        best = max(zs, key=lambda d: zs[d]) if zs else None
        z_text = f"nominal KL up to z {zs[best]:+.1f} ({best})" if best else "no z"
        lines.append(f"- {_label_effect(res)}, {res['selection']}: {z_text}; {_verdict(res)}.")
    ablation = [r for r in results.values() if not r.get("toynano", {}).get("effects")]
    if ablation:
        zs = []
        for res in ablation:
            for d in VERDICT_DISCS:
                for tagger in ("nominal@best", "adversarial@best"):
                    stat = res["divergences"][tagger][d]["raw"]["kl_stat"]
                    zs.append((stat["z"], f"{tagger.split('@')[0]} {d}, {res['selection']}"))
                comp = _comparison(res)
                if comp:
                    zs.append((comp["outputs"][d]["raw"]["kl"]["z"], f"adv - nom {d}, {res['selection']}"))
        zs = [(z, what) for z, what in zs if z is not None]
        z_max, what = max(zs, key=lambda t: abs(t[0]))
        chance = 1 - (1 - math.erfc(abs(z_max) / math.sqrt(2))) ** len(zs)
        lines.append(f"- Size 0 (ablation): the largest |z| of the {len(zs)} shown (both models and their difference; "
                     f"{', '.join(VERDICT_DISCS)}; every selection) is {z_max:+.1f} ({what}); at least one of "
                     f"{len(zs)} independent standard normal numbers is that far out {100 * chance:.0f} % of the "
                     "time.")
    seconds = sum(r["wall_s"] for r in results.values())
    lines.append(f"- {len(results)} runs, {seconds / 60:.0f} min of processing (toynano generation not included).")
    return "\n".join(lines) + "\n"


def render_datamc_cost(results: dict[str, Any]) -> str:
    """``cards/datamc_dy.yaml`` verbatim with and without replicas: its KL with uncertainties, and the cost."""
    with_r, without = results["replicas"], results["no replicas"]
    n_tag = len(with_r["taggers"])
    lines = [f"`cards/datamc_dy.yaml` ({with_r['n_events']['mc']:,} MC, {with_r['n_events']['data']:,} data events; "
             f"{n_tag} taggers: every epoch checkpoint of both models; MC raw and "
             f"{', '.join(with_r['variations'][1:])}), KL(data || MC) x 10^3 of the best checkpoints:", "",
             "| tagger | MC | BvsL | CvsL |", "|---|---|---|---|"]
    for tagger in ("nominal@best", "adversarial@best"):
        for variation in with_r["variations"]:
            cells = [_pm3(with_r["divergences"][tagger][d][variation]["kl_stat"],
                          with_r["divergences"][tagger][d][variation]["kl"]) for d in ("BvsL", "CvsL")]
            lines.append(f"| {tagger} | {variation} | " + " | ".join(cells) + " |")
    comp = _comparison(with_r)
    if comp:
        for variation in with_r["variations"]:
            cells = [_pm3(comp["outputs"][d][variation]["kl"], comp["outputs"][d][variation]["kl"]["difference"])
                     for d in ("BvsL", "CvsL")]
            lines.append(f"| adversarial - nominal | {variation} | " + " | ".join(cells) + " |")
    rate_w, rate_wo = with_r["events_per_s"], without["events_per_s"]
    total = sum(with_r["timing_s"].values())
    replicas = with_r["timing_s"].get("replicas", 0.0)
    lines += ["", f"- Cost of {with_r['bootstrap']['replicas']} replicas ({with_r['bootstrap']['groups']} groups), "
                  f"measured within the run that fills them: {replicas:.0f} s of the processor's {total:.0f} s "
                  f"({100 * replicas / total:.0f} %), so the throughput with them is {1 - replicas / total:.2f} of "
                  f"that without. The two runs' throughputs, {rate_w:,.0f} and {rate_wo:,.0f} events/s (ratio "
                  f"{rate_w / rate_wo:.2f}), also differ by the load of the shared machine: their inference, "
                  f"which the replicas do not touch, took {with_r['timing_s']['inference']:.0f} and "
                  f"{without['timing_s']['inference']:.0f} s."]
    return "\n".join(lines) + "\n"


def render_datamc_real(results: dict[str, Any]) -> str:
    """``cards/datamc_real_dy.yaml``: CMS's stored discriminators on coffea's 40-event files, with uncertainties."""
    res = results["real"]
    lines = [f"`cards/datamc_real_dy.yaml`: {res['n_jets']['data']} data and {res['n_jets']['mc']} MC jets after the "
             "dy selection; KL(data || MC) with its std, floor and the replicas in which it is defined:", "",
             "| tagger | output | KL | floor | z | replicas |", "|---|---|---|---|---|---|"]
    for tagger, outputs in res["divergences"].items():
        for name in ("BvsL", "CvsL"):
            d = outputs[name]["raw"]
            st = d.get("kl_stat") or {}
            kl = "n/a" if d["kl"] is None else (f"{d['kl']:.2f} ± {st['std']:.2f}" if st.get("std") is not None
                                                else f"{d['kl']:.2f}")
            floor = "n/a" if st.get("floor") is None else f"{st['floor']:.2f} ± {st['floor_std']:.2f}"
            z = "n/a" if st.get("z") is None else f"{st['z']:+.1f}"
            lines.append(f"| {tagger} | {name} | {kl} | {floor} | {z} | {st.get('replicas', 0)} |")
    return "\n".join(lines) + "\n"


def render_sf(results: dict[str, Any]) -> str:
    """``hepadv sf``'s results.json: per tagger and flavour how many bins were fitted and how far the factors
    are from 1; per selection KL(data || MC) on the fine grid before and after the factors, with its floor."""
    lines = ["| tagger | flavour | fitted bins | chi2 (SF = 1) / ndf | p-value |", "|---|---|---|---|---|"]
    for key, r in results["taggers"].items():
        for f, d in r["flavours"].items():
            chi2 = f"{d['chi2_vs_1']:.0f} / {d['ndf']}" if d["ndf"] else "-"
            p = "n/a" if d["p_value_vs_1"] is None else f"{d['p_value_vs_1']:.2g}"
            lines.append(f"| {key} | {f} | {d['n_fitted']} / {d['n_bins']} | {chi2} | {p} |")
    sels = list(results["selections"])
    lines += ["", "| KL(data \\|\\| MC), before -> after (floor +- spread) | " + " | ".join(sels) + " |",
              "|---|" + "---|" * len(sels)]
    for key, r in results["taggers"].items():
        cells = [f"{_f(a['kl_before'])} -> {_f(a['kl_after'])} ({_f(a['kl_floor'])} +- {_f(a['kl_floor_std'])})"
                 for a in (r["agreement"][s] for s in sels)]
        lines.append(f"| {key} | " + " | ".join(cells) + " |")
    verdict = []
    for key, r in results["taggers"].items():
        off = [f for f, d in r["flavours"].items() if d["p_value_vs_1"] is not None and d["p_value_vs_1"] < 0.05]
        verdict.append(f"{key}: " + (f"factors of {', '.join(off)} differ from 1" if off else "all compatible with 1"))
    lines += ["", f"At p < 0.05 against SF = 1 ({results['variation']} MC): " + "; ".join(verdict) + "."]
    return "\n".join(lines) + "\n"


#: The README's memory table: each command's default run, one after the other (the attack and the Data/MC run
#: use the models the training wrote). RUN and OUT are filled in by ``measure_memory``.
MEMORY: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("hepadv train cards/adv.yaml", ("train", "cards/adv.yaml", "--overwrite", "--set", "output=RUN")),
    ("hepadv attack --plugin conservattack", ("attack", "RUN", "--plugin", "conservattack", "--output", "OUT")),
    ("hepadv datamc --selection dy", ("datamc", "--selection", "dy", "--set", "taggers=[{run: RUN, checkpoints: all}]",
                                      "--output", "OUT")),
)



def _ms(values: list[float], digits: int = 3) -> str:
    """mean ± std over the R runs."""
    return f"{statistics.fmean(values):.{digits}f} ± {statistics.pstdev(values):.{digits}f}"


def _at(curve: dict[str, Any], thresholds: list[float], t: float) -> str:
    i = min(range(len(thresholds)), key=lambda k: abs(thresholds[k] - t))
    return f"{curve['mean'][i]:.3f} ± {curve['std'][i]:.3f}"


def render_defences(results: dict[str, Any]) -> str:
    """The CONSERVAttack defence studies (``hepadv defend``) next to seed 004's figures, mean ± std over R runs."""
    det, it, aug = results["detector"], results["iterative"], results["augmentation"]
    gb, wb = det["grey_box"], det["white_box"]
    curves = det["efficiency_vs_threshold"]
    thr = curves["thresholds"]
    data = curves.get('clean ("data")')
    r_det, r_it, r_aug = len(det["per_run"]), len(it["per_run"]), len(aug["per_run"])
    base_it = [statistics.fmean(row) for row in it["baseline_matrix"]]
    lines = ["| study (R runs) | figure | paper (seed 004) | ours (toy tagger) |", "|---|---|---|---|",
             f"| detector ({r_det}) | grey-box FR, initial -> corrected | corrected 0.05-0.08 (Higgs, fig. 14) | "
             f"{_ms(gb['initial_per_run'])} -> {_ms(gb['corrected_per_run'])} |",
             f"| | white-box FR, initial -> corrected | | {_ms(wb['initial'])} -> {_ms(wb['corrected'])} |",
             f"| | detector efficiency at threshold 0.5: adversarial / clean | 0.568 / 0.788 (donut, sec. 9) | "
             f"{_ms(wb['detector_efficiency_adversarial'])} / {_ms(wb['detector_efficiency_clean'])} |"]
    if data is not None:
        lines.append(f"| | clean efficiency at threshold 0.8: simulation / shifted \"data\" | ~0.8 / ~0.8, "
                     f"\"data\" with a larger run-to-run spread (TT vs WW, fig. 16) | "
                     f"{_at(curves['clean (simulation)'], thr, 0.8)} / {_at(data, thr, 0.8)} |")
    lines += [f"| iterative training ({r_it}) | grey-box FR (white-box diagonal included): base -> average, best "
              f"iteration | ~0.7 -> ~0.2, ~0.15 (Higgs, fig. 12) | {_ms(base_it)} -> "
              f"{_ms(it['average_case']['per_run'])}, {_ms(it['best_case']['per_run'])} |",
              f"| augmentation ({r_aug}) | clean-test AUC gain (BvsL) | about +0.01 (Higgs, fig. 10) | "
              f"{aug['auc_gain']['mean']:+.4f} ± {aug['auc_gain']['std']:.4f} |"]
    adv = [x["train_fooling_ratio"] for x in aug["per_run"]]
    added = [x["n_added"] for x in aug["per_run"]]
    lines += ["", f"- Attacked test events per run: detector {det['attacked_test_events']:,}; augmentation: "
                  f"{aug['per_run'][0]['n_train']:,} training jets, training-split FR {_ms(adv)}, "
                  f"{statistics.fmean(added):.0f} adversaries added on average.",
              "- ± is the standard deviation over the R runs (grey-box: each run's model or detector on the "
              "other runs' adversaries)."]
    return "\n".join(lines) + "\n"


def render_memory(results: dict[str, Any]) -> str:
    """Peak memory (max RSS) and wall time of each command's default run (``measure_memory``)."""
    lines = ["Peak resident memory of each command's default run, first run on an empty data cache (the toy jets "
             "and toynano files are generated inside the command); max RSS of the largest process, as "
             "`/usr/bin/time -v` reports it:", "", "| command | peak memory (max RSS) | wall time |", "|---|---|---|"]
    for row in results["rows"]:
        lines.append(f"| `{row['command']}` | {row['max_rss_kib'] / 2**20:.2f} GiB | {row['seconds'] / 60:.1f} min |")
    load = [x for row in results["rows"] for x in row.get("load_average", [])]
    if load:  # wall times on a shared machine are only indicative; the memory figures do not depend on load
        lines += ["", f"Load average of the machine during the runs: {min(load):.1f}-{max(load):.1f} "
                      f"({results.get('cpus', '?')} CPU cores)."]
    return "\n".join(lines) + "\n"


# Linux carries a process's peak RSS across exec, so a child forked straight from a large parent (pytest holding
# a gigabyte, say) would report the parent's size. A small Python launcher forks the command instead and
# reports its children's peak (ru_maxrss of RUSAGE_CHILDREN: the command and its waited-for children, as GNU time).
RSS_LAUNCHER = """import resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=open(sys.argv[1], "w"))
sys.exit(code)"""


def max_rss_run(args: list[str], env: dict[str, str]) -> tuple[int, float]:
    """Run ``args``; its peak RSS in KiB (the process and its waited-for children, as GNU time) and wall time."""
    with tempfile.TemporaryDirectory(prefix="hepadv-rss-") as tmp:
        report = Path(tmp) / "maxrss"
        t0 = time.perf_counter()
        code = subprocess.call([sys.executable, "-c", RSS_LAUNCHER, str(report), *args], cwd=REPO, env=env)
        seconds = time.perf_counter() - t0
        if code != 0:
            raise SystemExit(f"{shlex.join(args)} failed (exit {code}); the README is unchanged "
                             "for the figures still to come")
        return int(report.read_text()), seconds


def measure_memory(key: str, rerun: bool, runs_dir: Path | None) -> Measured:
    """Each ``MEMORY`` command in turn, on a fresh cache; the figures kept in ``memory.json`` for --from-runs."""
    base = (runs_dir.resolve() if runs_dir is not None else REPO / "runs") / f"readme-{key}"
    path = base / "memory.json"
    seconds = None
    if rerun:
        shutil.rmtree(base, ignore_errors=True)
        base.mkdir(parents=True)
        env = {**os.environ, "HEPADV_CACHE_DIR": str(base / "cache")}
        rows = []
        t0 = time.perf_counter()
        for i, (shown, args) in enumerate(MEMORY):
            fill = {"RUN": str(base / "adv"), "OUT": str(base / str(i))}
            words = [re.sub(r"\b(RUN|OUT)\b", lambda m, f=fill: f[m.group(1)], a) for a in args]
            cmd = [sys.executable, "-m", "hepadv", words[0], *words[1:], "--no-progress"]
            print("$", shlex.join(cmd[2:]), flush=True)
            before = os.getloadavg()[0]
            rss, took = max_rss_run(cmd, env)
            rows.append({"command": shown, "max_rss_kib": rss, "seconds": took, "argv": cmd[2:],
                         "load_average": [before, os.getloadavg()[0]]})
        seconds = time.perf_counter() - t0
        path.write_text(json.dumps({"rows": rows, "cpus": os.cpu_count()}, indent=1))
    if not path.is_file():
        raise SystemExit(f"{path}: no memory figures (run without --from-runs to produce them)")
    command = "; ".join(shown for shown, _ in MEMORY)
    return Measured(json.loads(path.read_text()), command, seconds)


#: README block name -> (run it comes from, renderer)
FIGURES: dict[str, tuple[str, Callable[[dict[str, Any]], str]]] = {
    "demo": ("adv", render_demo),
    "transfer": ("adv", render_transfer),
    "distortions": ("adv-distortions", render_distortions),
    "pgd": ("adv_pgd", render_summary),
    "ablation": ("adv_ablation", render_demo),  # the headline table without the planted feature
    "benchmark": ("benchmark", render_benchmark),
    "benchmark-gpu": ("benchmark-gpu", render_benchmark_gpu),
    "attacks": ("attacks", render_attacks),
    "conservattack-benchmark": ("conservattack-benchmark", render_conservattack_benchmark),
    "conservattack-sweep": ("conservattack-sweep", render_conservattack_sweep),
    "datamc": ("datamc", render_datamc),
    "datamc-cost": ("datamc-cost", render_datamc_cost),
    "datamc-real": ("datamc-real", render_datamc_real),
    "sf": ("sf", render_sf),
    "memory": ("memory", render_memory),
    "defences-conservattack": ("defences-conservattack", render_defences),
}
#: benchmark key -> its arguments (the CPU table: one thread, as the project's shared 2-core machine needs)
BENCHMARKS: dict[str, tuple[str, ...]] = {
    "benchmark": ("--device", "cpu", "--threads", "1"),
    "benchmark-gpu": ("--device", "cuda", "--jets", "2097152", "--repeats", "5"),
    "conservattack-benchmark": (),
    "conservattack-sweep": ("--threads", "1", "--block-sizes", "5", "20", "80", "320", "2000"),
}
#: benchmark key -> its runs, each one process with these arguments added (one JSON each, ``KEY-MODE.json``):
#: the GPU goals are eager at batch 16,384 and compiled at 65,536 (``benchmarks/gpu_check.sh`` runs these)
BENCHMARK_MODES: dict[str, dict[str, tuple[str, ...]]] = {
    "benchmark-gpu": {"eager": ("--batches", "16384,65536"), "compiled": ("--batches", "65536", "--compile")},
}
#: figure key -> a hepadv command run as the README shows it, and the results.json it writes (relative to the
#: repository; under ``--runs-dir`` it writes there, the models still come from the Data/MC cards' runs)
COMMANDS: dict[str, tuple[tuple[str, ...], str]] = {"sf": (("sf",), "runs/adv/sf")}
#: benchmark key -> its script (default: the training throughput)
SCRIPTS: dict[str, str] = {"conservattack-benchmark": "benchmarks/conservattack.py",
                           "conservattack-sweep": "scripts/conservattack_sweep.py"}


# ---------------------------------------------------------------- measuring

def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=True).stdout.strip()


def commit_of_tree(readme: Path) -> str:
    """The commit measured; ``+dirty`` when tracked files other than the README differ from it."""
    commit = git("rev-parse", "--short=10", "HEAD")
    changed = [line[3:] for line in git("status", "--porcelain", "--untracked-files=no").splitlines()]
    rel = os.path.relpath(readme.resolve(), REPO)
    return commit + ("+dirty" if [c for c in changed if c != rel] else "")


def machine() -> str:
    import torch

    gpu = f", GPU {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{os.cpu_count()} CPU cores{gpu}, torch {torch.__version__}"


def run_output(key: str, runs_dir: Path | None) -> Path:
    """Where a run writes: under ``--runs-dir`` when given, else the card's own output (``runs/<name>``)."""
    if runs_dir is not None:
        return runs_dir.resolve() / key
    if RUNS[key].models_of is not None:
        return run_output(RUNS[key].models_of, None).with_name(key)
    import yaml

    card = yaml.safe_load((REPO / RUNS[key].card).read_text())
    return REPO / (card.get("output") or Path("runs") / card.get("name", "run"))


def command_line(key: str, sets: list[str], runs_dir: Path | None) -> list[str]:
    run = RUNS[key]
    args = ["hepadv", run.command, run.card, "--no-progress"]
    if run.command == "train":
        args.append("--overwrite")
    outputs = [f"output={run_output(key, runs_dir)}"] if runs_dir is not None or run.models_of else []
    for s in [*run.sets, *sets, *outputs]:
        args += ["--set", s]
    return args


def measure(key: str, sets: list[str], runs_dir: Path | None, rerun: bool, done: dict[str, Measured],
            benchmark_args: tuple[str, ...] = ()) -> Measured:
    if key in done:
        return done[key]
    if key in ATTACKS:
        done[key] = measure_attacks(key, rerun, runs_dir)
        return done[key]
    if key == "memory":
        done[key] = measure_memory(key, rerun, runs_dir)
        return done[key]
    if key in DATAMC:
        done[key] = measure_datamc(key, rerun, runs_dir)
        return done[key]
    if key in DEFENCES:
        done[key] = measure_defences(key, rerun, runs_dir)
        return done[key]
    if key in COMMANDS:
        done[key] = measure_command(key, rerun, runs_dir)
        return done[key]
    if key in BENCHMARKS:
        extra = benchmark_args if key not in SCRIPTS else ()
        done[key] = measure_benchmark(key, rerun, runs_dir, (*BENCHMARKS[key], *extra))
        return done[key]
    run = RUNS[key]
    out = run_output(key, runs_dir)
    if run.models_of is not None and rerun:
        measure(run.models_of, sets, runs_dir, rerun, done)  # the models it re-evaluates
        shutil.rmtree(out, ignore_errors=True)
        shutil.copytree(run_output(run.models_of, runs_dir), out,
                        ignore=shutil.ignore_patterns("metrics.json", "plots"))
    args = command_line(key, sets, runs_dir)
    seconds = None
    if rerun:
        if not (REPO / run.card).is_file():
            raise SystemExit(f"{run.card}: no such card (needed by the figures of run {key!r})")
        print("$", shlex.join(args), flush=True)
        t0 = time.perf_counter()
        try:
            subprocess.run([sys.executable, "-m", *args], cwd=REPO, check=True)
        except subprocess.CalledProcessError as exc:
            raise SystemExit(f"{shlex.join(args)} failed (exit {exc.returncode}); the README is unchanged "
                             "for the figures still to come") from None
        seconds = time.perf_counter() - t0
    metrics = out / "metrics.json"
    if not metrics.is_file():
        raise SystemExit(f"{metrics}: no metrics (run without --from-runs to produce them)")
    done[key] = Measured(json.loads(metrics.read_text()), run.display(sets), seconds)
    return done[key]


def measure_benchmark(key: str, rerun: bool, runs_dir: Path | None, extra: tuple[str, ...] = ()) -> Measured:
    """A benchmark script's run(s), each written as JSON: every batch size, interleaved; with
    ``BENCHMARK_MODES`` one run per mode, the results keyed by mode."""
    folder = runs_dir.resolve() if runs_dir is not None else REPO / "runs"
    modes = BENCHMARK_MODES.get(key, {"": ()})
    script = SCRIPTS.get(key, "benchmarks/training_throughput.py")
    results, commands, seconds = {}, [], None
    t0 = time.perf_counter()
    for mode, mode_args in modes.items():
        path = folder / (f"{key}-{mode}.json" if mode else f"{key}.json")
        cmd = [sys.executable, script, *extra, *mode_args]
        if rerun:
            path.parent.mkdir(parents=True, exist_ok=True)
            print("$", shlex.join(cmd[1:]), flush=True)
            subprocess.run([*cmd, "--json", str(path)], cwd=REPO, check=True)
        if not path.is_file():
            raise SystemExit(f"{path}: no benchmark results (run without --from-runs to produce them)")
        results[mode] = json.loads(path.read_text())
        commands.append(shlex.join(["python", *cmd[1:]]))
    if rerun:
        seconds = time.perf_counter() - t0
    return Measured(results if key in BENCHMARK_MODES else results[""], "; ".join(commands), seconds)


def measure_attacks(key: str, rerun: bool, runs_dir: Path | None) -> Measured:
    """Each row of ``ATTACKS[key]`` through ``hepadv attack`` into one folder; results keyed by row label."""
    base = (runs_dir.resolve() if runs_dir is not None else REPO / "runs") / f"readme-{key}"
    rows = ATTACKS[key]
    seconds = None
    if rerun:
        t0 = time.perf_counter()
        for i, (_, args) in enumerate(rows):
            cmd = ["hepadv", "attack", *args, "--no-progress", "--output", str(base / str(i))]
            print("$", shlex.join(cmd), flush=True)
            subprocess.run([sys.executable, "-m", *cmd], cwd=REPO, check=True)
        seconds = time.perf_counter() - t0
    results = {}
    for i, (label, _) in enumerate(rows):
        path = base / str(i) / "summary.json"
        if not path.is_file():
            raise SystemExit(f"{path}: no attack results (run without --from-runs to produce them)")
        results[label] = json.loads(path.read_text())
    command = "; ".join(shlex.join(["hepadv", "attack", *args]) for _, args in rows)
    return Measured(results, command, seconds)


def measure_datamc(key: str, rerun: bool, runs_dir: Path | None) -> Measured:
    """Each row of ``DATAMC[key]`` through ``hepadv datamc`` into one folder; results keyed by row label."""
    base = (runs_dir.resolve() if runs_dir is not None else REPO / "runs") / f"readme-{key}"
    rows = DATAMC[key]
    seconds = None
    if rerun:
        t0 = time.perf_counter()
        for i, (_, args) in enumerate(rows):
            cmd = ["hepadv", "datamc", *args, "--no-progress", "--output", str(base / str(i))]
            print("$", shlex.join(cmd), flush=True)
            subprocess.run([sys.executable, "-m", *cmd], cwd=REPO, check=True)
        seconds = time.perf_counter() - t0
    results = {}
    for i, (label, _) in enumerate(rows):
        path = base / str(i) / "results.json"
        if not path.is_file():
            raise SystemExit(f"{path}: no Data/MC results (run without --from-runs to produce them)")
        results[label] = json.loads(path.read_text())
    command = "; ".join(shlex.join(["hepadv", "datamc", *args]) for _, args in rows)
    return Measured(results, command, seconds)


def measure_defences(key: str, rerun: bool, runs_dir: Path | None) -> Measured:
    """Each row of ``DEFENCES[key]`` through ``hepadv defend`` into one folder; its metrics keyed by row label."""
    base = (runs_dir.resolve() if runs_dir is not None else REPO / "runs") / f"readme-{key}"
    rows = DEFENCES[key]
    seconds = None
    if rerun:
        t0 = time.perf_counter()
        for i, (_, card) in enumerate(rows):
            cmd = ["hepadv", "defend", card, "--no-progress", "--no-report", "--set", f"output={base / str(i)}"]
            print("$", shlex.join(cmd), flush=True)
            subprocess.run([sys.executable, "-m", *cmd], cwd=REPO, check=True)
        seconds = time.perf_counter() - t0
    results = {}
    for i, (label, _) in enumerate(rows):
        found = sorted((base / str(i)).glob("*/metrics.json"), key=lambda p: p.stat().st_mtime)
        if not found:
            raise SystemExit(f"{base / str(i)}: no defence metrics (run without --from-runs to produce them)")
        results[label] = json.loads(found[-1].read_text())
    command = "; ".join(f"hepadv defend {card}" for _, card in rows)
    return Measured(results, command, seconds)


def measured_on(key: str, measured: Measured, host: str) -> str:
    """The machine of a run of several modes (the GPU tables), from its own JSON: it is rendered with
    --from-runs on another machine than the one it ran on. ``host`` (this machine) for everything else."""
    if key not in BENCHMARK_MODES:
        return host
    first = next(iter(measured.results.values()))
    return f"{first['device_name']}, torch {first['torch']}"


def measure_command(key: str, rerun: bool, runs_dir: Path | None) -> Measured:
    """``hepadv <COMMANDS[key]>`` from the repository root (``hepadv sf``: three Data/MC runs and the fit)."""
    words, folder = COMMANDS[key]
    out = runs_dir.resolve() / key if runs_dir is not None else REPO / folder
    cmd = ["hepadv", *words, "--no-progress", *(("--output", str(out)) if runs_dir is not None else ())]
    seconds = None
    if rerun:
        print("$", shlex.join(cmd), flush=True)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", *cmd], cwd=REPO, check=True)
        seconds = time.perf_counter() - t0
    path = out / "results.json"
    if not path.is_file():
        raise SystemExit(f"{path}: no results (run without --from-runs to produce them)")
    return Measured(json.loads(path.read_text()), shlex.join(["hepadv", *words]), seconds)


def provenance(commit: str, measured: Measured, host: str) -> str:
    took = f" in {measured.seconds:.0f} s" if measured.seconds is not None else ""
    return (f"_Measured at commit `{commit}` on {time.strftime('%Y-%m-%d')} by `scripts/readme_figures.py`: "
            f"`{measured.command}`{took}; {host}._\n")


def replace_block(text: str, name: str, body: str) -> str:
    """``text`` with the contents of block ``name`` replaced; everything outside it untouched."""
    matches = [m for m in BLOCK.finditer(text) if m.group("name") == name]
    if len(matches) != 1:
        raise SystemExit(f"README: expected one <!-- figures:{name} --> block, found {len(matches)}")
    m = matches[0]
    return text[: m.start("body")] + body + text[m.end("body"):]


def blocks(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for m in BLOCK.finditer(text):
        if m.group("name") in found:
            raise ValueError(f"figures block {m.group('name')!r} appears twice")
        found[m.group("name")] = m.group("body")
    return found


def list_blocks(readme: Path) -> None:
    """Each block's commit and how many commits changed hepadv/ or cards/ since: the stale ones stand out."""
    for name, body in blocks(readme.read_text()).items():
        m = PROVENANCE.search(body)
        if m is None:
            print(f"{name:12s} {'not yet measured' if PENDING.search(body) else 'no provenance line'}")
            continue
        since = git("rev-list", "--count", f"{m.group('commit')}..HEAD", "--", "hepadv", "cards")
        print(f"{name:12s} commit {m.group('commit')} on {m.group('date')}: {since} commits to hepadv/ or cards/ since")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("figures", nargs="*", help=f"blocks to refresh (default: every block in the README): "
                                               f"{', '.join(FIGURES)}")
    ap.add_argument("--readme", type=Path, default=REPO / "README.md")
    ap.add_argument("--runs-dir", type=Path, default=None, help="write runs here instead of the cards' outputs")
    ap.add_argument("--from-runs", action="store_true", help="render from existing runs, do not rerun")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="extra card override (shown in the "
                                                                            "commit line)")
    ap.add_argument("--benchmark-jets", type=int, default=None, help="jets for the throughput benchmark "
                                                                       "(default: the benchmark's own)")
    ap.add_argument("--list", action="store_true", help="list the blocks with their commits and exit")
    ap.add_argument("--measure-only", action="store_true", help="run what the figures need into --runs-dir and "
                                                                "leave the README alone (no git needed: a GPU "
                                                                "machine's copy; render later with --from-runs)")
    args = ap.parse_args(argv)
    if args.list:
        list_blocks(args.readme)
        return
    text = args.readme.read_text()
    names = args.figures or list(blocks(text))
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise SystemExit(f"unknown figure {unknown[0]!r}; known: {', '.join(FIGURES)}")
    done: dict[str, Measured] = {}
    bench = ("--jets", str(args.benchmark_jets)) if args.benchmark_jets else ()
    if args.measure_only:
        for name in names:
            measure(FIGURES[name][0], args.sets, args.runs_dir, True, done, bench)
        return
    commit, host = commit_of_tree(args.readme), machine()
    for name in names:
        key, render = FIGURES[name]
        measured = measure(key, args.sets, args.runs_dir, not args.from_runs, done, bench)
        text = replace_block(text, name, render(measured.results) + "\n" + provenance(commit, measured,
                                                                                  measured_on(key, measured, host)))
        args.readme.write_text(text)  # block by block: an interrupted run keeps what it finished
        print(f"updated {name} in {args.readme}")


if __name__ == "__main__":
    main()
