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
import os
import re
import shlex
import shutil
import subprocess
import sys
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
    """Raw and attacked AUCs of every variant under the first attack, the papers' checks, the drop by epoch."""
    discs = _discs(results)
    attack = results["attacks"][0]
    head = ["model"]
    for i, d in enumerate(discs):
        head += [f"{d} AUC"] + (["eff @ 1 % mistag"] if i == 0 else []) + [f"{d} AUC, {attack['label']}"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in results["variants"]:
        row = [name]
        for i, d in enumerate(discs):
            raw, hit = _auc(results, name, RAW, d), _auc(results, name, attack["id"], d)
            eff = results["variants"][name]["metrics"][RAW][d]["eff_at_mistag"]["medium"]
            drop = None if None in (raw, hit) else hit - raw
            row += [_f(raw)] + ([_f(eff, 3)] if i == 0 else []) + [f"{_f(hit)} ({_f(drop, sign=True)})"]
        lines.append("| " + " | ".join(row) + " |")
    lines.append("")
    for other, check in results["comparison"]["checks"].items():
        ratios = check["attacks"][attack["id"]]["drop_ratio"]
        text = ", ".join(f"{d} {_f(ratios.get(d), 2)}" for d in discs)
        raw = (f"raw {check['primary']} AUC difference {_f(check['raw_auc_difference'], sign=True)}; "
               if "raw_auc_difference" in check else "")
        lines.append(f"- {other} vs {check['reference']}: {raw}AUC drop under {attack['label']} as a fraction of "
                     f"{check['reference']}'s: {text}.")
    by_epoch = []
    for name, entry in results["variants"].items():
        drops = [e[attack["id"]][discs[0]] - e[RAW][discs[0]] for e in entry.get("per_epoch", [])
                 if e[attack["id"]].get(discs[0]) is not None and e[RAW].get(discs[0]) is not None]
        if len(drops) > 1:
            epochs = [e["epoch"] for e in entry["per_epoch"]]
            by_epoch.append(f"{name} {_f(drops[0], sign=True)} (epoch {epochs[0]}) to {_f(drops[-1], sign=True)} "
                            f"(epoch {epochs[-1]})")
    if by_epoch:
        lines.append(f"- {discs[0]} AUC change under {attack['label']} over training: " + "; ".join(by_epoch) + ".")
    lines.append(f"- {results['n_test_jets']:,} test jets.")
    return "\n".join(lines) + "\n"


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
    """The throughput benchmark (benchmarks/training_throughput.py --json): one row per batch size."""
    lines = [f"{results['device_name']}, {results['precision']}, compile {str(results['compile']).lower()}, "
             f"{results['jets']:,} jets per epoch, median (min-max) over {results['repeats']} interleaved repeats; "
             f"reference GEMM {results['gemm']['n']}^3 {results['gemm']['dtype']} "
             f"{results['gemm']['flop_rate']['median'] / 1e9:,.1f} GFLOP/s:",
             "", "| batch | nominal jets/s | adversarial jets/s | adversarial / nominal | GEMM fraction nominal / "
             "adversarial |", "|---|---|---|---|---|"]
    rows = {(r["batch"], r["strategy"]): r for r in results["rows"]}

    def rate(row: dict[str, Any]) -> str:
        j = row["jets_per_second"]
        return f"{_k(j['median'])} ({_k(j['min'])}-{_k(j['max'])})"

    for batch, ratio in results["ratio"].items():
        nom, adv = rows[(int(batch), "nominal")], rows[(int(batch), "adversarial")]
        lines.append(f"| {batch} | {rate(nom)} | {rate(adv)} | {ratio['median']:.2f} ({ratio['min']:.2f}-"
                     f"{ratio['max']:.2f}) | {nom['gemm_fraction']:.2f} / {adv['gemm_fraction']:.2f} |")
    return "\n".join(lines) + "\n"


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
        *((f"fgsm eps {e}", ("--plugin", "fgsm", "--set", f"epsilon={e}")) for e in ("0.01", "0.05", "0.1", "0.2")),
    ),
}


def render_attacks(results: dict[str, Any]) -> str:
    """FGSM and CONSERVAttack through ``hepadv attack``: fooling ratio against how visible each attack is."""
    first = next(iter(results.values()))
    lines = [f"All {first['n_events']:,} {first['split']} jets of the main job (`cards/adv.yaml`); fooled = "
             f"{next(iter(first['variants'].values()))['fooled_definition']}; JSD and dFN from scratch on the "
             "final sets (200 bins over the clean range plus under/overflow):", "",
             "| attack | model | fooling ratio | mean JSD | dFN | BvsL AUC raw -> attacked | CvsL AUC raw -> attacked |"
             " seconds |", "|---|---|---|---|---|---|---|---|"]
    for label, summary in results.items():
        for variant, v in summary["variants"].items():
            auc = v["auc"]
            lines.append(f"| {label} | {variant} | {v['fooling_ratio']:.3f} | {v['mean_jsd']:.4f} | {v['dfn']:.4f} | "
                         f"{_f(auc['BvsL']['raw'])} -> {_f(auc['BvsL']['attacked'])} | "
                         f"{_f(auc['CvsL']['raw'])} -> {_f(auc['CvsL']['attacked'])} | {v['seconds']:.0f} |")
    ca = results.get("conservattack")
    if ca is not None:
        lines.append("")
        for variant, v in ca["variants"].items():
            ok = v["fooling_ratio"] >= 0.6 and v["mean_jsd"] <= 0.05 and v["dfn"] <= 0.2
            fgsm = [(lab, s["variants"][variant]) for lab, s in results.items() if lab.startswith("fgsm")]
            beaten = [lab for lab, f in fgsm
                      if f["mean_jsd"] >= v["mean_jsd"] and f["fooling_ratio"] < v["fooling_ratio"]]
            lines.append(f"- {variant}: CONSERVAttack FR {v['fooling_ratio']:.3f} at mean JSD {v['mean_jsd']:.4f}, "
                         f"dFN {v['dfn']:.4f}: goal FR >= 0.6 at JSD <= 0.05 and dFN <= 0.2 "
                         f"**{'reached' if ok else 'missed'}**; higher FR at equal or lower JSD than "
                         f"{', '.join(beaten) if beaten else 'no FGSM row'}.")
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


#: The README's memory table: each command's default run, one after the other (the attack and the Data/MC run
#: use the models the training wrote). RUN and OUT are filled in by ``measure_memory``.
MEMORY: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("hepadv train cards/adv.yaml", ("train", "cards/adv.yaml", "--overwrite", "--set", "output=RUN")),
    ("hepadv attack --plugin conservattack", ("attack", "RUN", "--plugin", "conservattack", "--output", "OUT")),
    ("hepadv datamc --selection dy", ("datamc", "--selection", "dy", "--set", "taggers=[{run: RUN, checkpoints: all}]",
                                      "--output", "OUT")),
)


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


def max_rss_run(args: list[str], env: dict[str, str]) -> tuple[int, float]:
    """Run ``args``; its peak RSS in KiB (the process and its waited-for children, as GNU time) and wall time."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(args, cwd=REPO, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{shlex.join(args)} failed (exit {proc.returncode}); the README is unchanged "
                         "for the figures still to come")
    return int(usage.ru_maxrss), time.perf_counter() - t0


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
    "benchmark-gpu": ("benchmark-gpu", render_benchmark),
    "attacks": ("attacks", render_attacks),
    "conservattack-benchmark": ("conservattack-benchmark", render_conservattack_benchmark),
    "memory": ("memory", render_memory),
}
#: benchmark key -> its arguments (the GPU table: ``make benchmark-gpu``'s eager run)
BENCHMARKS: dict[str, tuple[str, ...]] = {
    "benchmark": (),
    "benchmark-gpu": ("--device", "cuda", "--jets", "10000000", "--repeats", "5"),
    "conservattack-benchmark": (),
}
#: benchmark key -> its script (default: the training throughput)
SCRIPTS: dict[str, str] = {"conservattack-benchmark": "benchmarks/conservattack.py"}


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
    """One run of benchmarks/training_throughput.py: every batch size, interleaved, written as JSON."""
    path = (runs_dir.resolve() if runs_dir is not None else REPO / "runs") / f"{key}.json"
    cmd = [sys.executable, SCRIPTS.get(key, "benchmarks/training_throughput.py"), *extra]
    seconds = None
    if rerun:
        path.parent.mkdir(parents=True, exist_ok=True)
        print("$", shlex.join(cmd[1:]), flush=True)
        t0 = time.perf_counter()
        subprocess.run([*cmd, "--json", str(path)], cwd=REPO, check=True)
        seconds = time.perf_counter() - t0
    if not path.is_file():
        raise SystemExit(f"{path}: no benchmark results (run without --from-runs to produce them)")
    return Measured(json.loads(path.read_text()), shlex.join(["python", *cmd[1:]]), seconds)


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
    args = ap.parse_args(argv)
    if args.list:
        list_blocks(args.readme)
        return
    text = args.readme.read_text()
    names = args.figures or list(blocks(text))
    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise SystemExit(f"unknown figure {unknown[0]!r}; known: {', '.join(FIGURES)}")
    commit, host = commit_of_tree(args.readme), machine()
    done: dict[str, Measured] = {}
    for name in names:
        key, render = FIGURES[name]
        bench = ("--jets", str(args.benchmark_jets)) if args.benchmark_jets else ()
        measured = measure(key, args.sets, args.runs_dir, not args.from_runs, done, bench)
        text = replace_block(text, name, render(measured.results) + "\n" + provenance(commit, measured, host))
        args.readme.write_text(text)  # block by block: an interrupted run keeps what it finished
        print(f"updated {name} in {args.readme}")


if __name__ == "__main__":
    main()
