"""Results of a Data/MC run: cutflows, MC normalisation, KL/JS per tagger output with statistical
uncertainties, paired nominal-versus-other comparisons, KL vs epoch; written to disk.

KL divergence D(data || MC) and the Jensen-Shannon distance (``hepadv.evaluation.divergences``) compare the
data histogram with the MC histogram summed over flavours, per tagger, output, and MC variation (raw or a
distortion). With bootstrap replicas (card ``bootstrap``), each carries ``kl_stat``/``js_stat``: standard
deviation, floor (expected value for identical parents), its spread and the significance z
(``hepadv.evaluation.replicas``). Taggers of the same run and checkpoint are compared with the reference
variant (``nominal`` when there is one), replica by replica on the same events: difference
(other - reference, negative = the other is closer to data), standard deviation, floor, z. Files, all
written atomically once processing has finished: ``results.json``, ``hists.npz`` (the hist objects with
their axes, replicas included), ``hists.root`` (one TH1 per tagger/output/sample/variation/flavour, via
uproot; TH2s of the scale factors' CvsL x CvsB histograms too; no replicas), ``sf_inputs.npz`` (those
histograms as plain arrays for ``hepadv sf``, see ``sfhists``) and ``plots/``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from hepadv import histstore
from hepadv.datamc.histograms import DATA_FLAVOUR, FLAVOURS
from hepadv.datamc.sfhists import SF_INPUTS, write_sf_inputs, write_sf_root
from hepadv.evaluation.divergences import js_batch, kl_batch
from hepadv.evaluation.replicas import Replicated, effective_size, replicated
from hepadv.io import atomic_path, write_json
from hepadv.runs.layout import PLOTS_DIR

_EPOCH = re.compile(r"^(?:(?P<name>[^:]+):)?(?P<variant>[^@]+)@e(?P<epoch>\d+)$")
_KEY = re.compile(r"^(?:(?P<name>[^:]+):)?(?P<variant>[^@]+)@(?P<point>best|e\d+)$")


def _sample(h: Any, kind: str, variation: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(counts, variances) of data (``variation`` raw) or MC summed over flavours; None where absent."""
    try:
        kinds, variations = list(h.axes["kind"]), list(h.axes["variation"])
    except KeyError:
        return None
    if kind not in kinds or variation not in variations:
        return None
    if kind == "data" and h[{"kind": "data"}].values().sum() == 0:
        return None
    sub = h[{"kind": kind, "variation": variation}]
    flavours = [DATA_FLAVOUR] if kind == "data" else list(FLAVOURS)
    return (sum(sub[{"flavour": f}].values() for f in flavours),
            sum(sub[{"flavour": f}].variances() for f in flavours))


def data_mc(h: Any, variation: str = "raw") -> tuple[np.ndarray | None, np.ndarray | None]:
    """(data counts, MC counts summed over flavours) of one output histogram; None where a sample is absent."""
    data, mc = _sample(h, "data", "raw"), _sample(h, "mc", variation)
    return (None if data is None else data[0]), (None if mc is None else mc[0])


#: The divergences computed per histogram pair: name -> (batch function, the power at which it is quadratic).
MEASURES: dict[str, tuple[Any, int]] = {"kl": (kl_batch, 1), "js": (js_batch, 2)}


def replicated_divergences(h: Any, reps: Any | None, variation: str) -> dict[str, Replicated | None]:
    """{measure: Replicated or None} for data vs the MC ``variation`` of one output histogram.

    Without replicas (``reps`` None) the value comes alone (its statistics are then None).
    """
    data, mc = _sample(h, "data", "raw"), _sample(h, "mc", variation)
    if data is None or mc is None or not (np.clip(data[0], 0, None).sum() > 0 and np.clip(mc[0], 0, None).sum() > 0):
        return dict.fromkeys(MEASURES)
    (p, pv), (q, qv) = data, mc
    have = reps is not None and variation in list(reps.axes["variation"])
    out: dict[str, Replicated | None] = {}
    for name, (fn, power) in MEASURES.items():
        if not np.isfinite(fn(p, q)):  # everything negative after OS-SS: no distance
            out[name] = None
        elif not have:
            out[name] = Replicated(float(fn(p, q)), np.full(0, np.nan), np.full(0, np.nan), power)
        else:
            out[name] = replicated(fn, p, q, reps[{"kind": "data", "variation": "raw"}].values(),
                                   reps[{"kind": "mc", "variation": variation}].values(),
                                   effective_size(p, pv), effective_size(q, qv), power)
    return out


def build_results(output: dict[str, Any], card: Any, selection: Any, taggers: list[Any],
                  distortions: list[tuple[str, Any]], inputs: Any, wall_s: float) -> dict[str, Any]:
    variations = ["raw", *(label for label, _ in distortions)]
    hists = output.get("hists", {})
    replicas = output.get("replicas", {})
    div: dict[str, Any] = {}
    replicated_: dict[str, Any] = {}
    for tagger in taggers:
        per_output: dict[str, Any] = {}
        for name, h in hists.get(tagger.key, {}).items():
            reps = replicas.get(tagger.key, {}).get(name)
            per_var = {}
            for v in (variations if tagger.kind == "model" else ["raw"]):
                r = replicated_divergences(h, reps, v)
                replicated_.setdefault(tagger.key, {}).setdefault(name, {})[v] = r
                per_var[v] = {**{m: None if x is None else x.value for m, x in r.items()},
                              **{f"{m}_stat": None if x is None else x.summary() for m, x in r.items()}}
            per_output[name] = per_var
        div[tagger.key] = per_output
    n_events = output.get("n_events", {})
    results: dict[str, Any] = {
        "selection": selection.name,
        "selection_params": selection.params.model_dump(mode="json"),
        "origin": inputs.origin,
        "files": {s: [str(p) for p in ps] for s, ps in inputs.files.items()},
        "skipped_files": inputs.skipped,
        "notes": inputs.notes,
        "cutflow": output.get("cutflow", {}),
        "n_events": n_events,
        "n_jets": output.get("n_jets", {}),
        "sum_weights": output.get("sumw", {}),
        "mc_scale_to_data": _scale(output.get("sumw", {})),
        "taggers": [t.key for t in taggers],
        "variations": variations,
        "distortions": {label: a.label() for label, a in distortions},
        "bootstrap": {"replicas": card.bootstrap.replicas, "groups": card.bootstrap.groups},
        "divergences": div,
        "comparisons": comparisons(replicated_),
        "kl_vs_epoch": kl_vs_epoch(div),
        "timing_s": output.get("timing", {}),
        "wall_s": wall_s,
        "events_per_s": (sum(n_events.values()) / wall_s) if wall_s > 0 else None,
        "executor": card.executor.name,
        "chunksize": card.chunksize,
        "complete": True,
    }
    return results


def pairs(keys: list[str]) -> list[tuple[str, str]]:
    """(reference, other) tagger keys of the same run name and checkpoint: ``nominal`` (else the first
    variant) against every other variant, e.g. (``nominal@best``, ``adversarial@best``)."""
    groups: dict[tuple[str | None, str], list[tuple[str, str]]] = {}
    for key in keys:
        m = _KEY.match(key)
        if m:
            groups.setdefault((m["name"], m["point"]), []).append((m["variant"], key))
    out = []
    for members in groups.values():
        variants = [v for v, _ in members]
        ref = "nominal" if "nominal" in variants else variants[0]
        ref_key = dict(members)[ref]
        out += [(ref_key, key) for v, key in members if v != ref]
    return out


def comparisons(replicated_: dict[str, Any]) -> list[dict[str, Any]]:
    """Paired differences other - reference per output, variation and measure (same events, same replicas)."""
    out = []
    for ref, other in pairs(list(replicated_)):
        per_output: dict[str, Any] = {}
        for name, by_var in replicated_[ref].items():
            for variation, measures in by_var.items():
                theirs = replicated_[other].get(name, {}).get(variation, {})
                entry = {m: (None if r is None or theirs.get(m) is None else (theirs[m] - r).difference())
                         for m, r in measures.items()}
                per_output.setdefault(name, {})[variation] = entry
        out.append({"reference": ref, "other": other, "outputs": per_output})
    return out


def _scale(sumw: dict[str, float]) -> float | None:
    mc, data = sumw.get("mc"), sumw.get("data")
    return data / mc if mc and data is not None else None


def kl_vs_epoch(div: dict[str, Any]) -> dict[str, Any]:
    """{variant: {variation: {output: [{epoch, kl, std, floor}, ...]}}} from the ``variant@eNNN`` taggers
    (thesis fig. A.22; std and floor None without replicas)."""
    out: dict[str, Any] = {}
    for key, per_output in div.items():
        m = _EPOCH.match(key)
        if not m:
            continue
        variant = (m["name"] + ":" if m["name"] else "") + m["variant"]
        epoch = int(m["epoch"])
        for output_name, per_var in per_output.items():
            for variation, d in per_var.items():
                series = out.setdefault(variant, {}).setdefault(variation, {}).setdefault(output_name, [])
                stat = d.get("kl_stat") or {}
                series.append({"epoch": epoch, "kl": d["kl"], "std": stat.get("std"), "floor": stat.get("floor")})
    for by_var in out.values():
        for by_out in by_var.values():
            for series in by_out.values():
                series.sort(key=lambda point: point["epoch"])
    return out


#: The histograms of a Data/MC output folder (``hepadv.histstore``: arrays plus JSON, never a pickle).
HISTS = "hists.npz"


def load_hists(folder: Path) -> dict[str, Any]:
    """The hist objects a Data/MC run wrote into ``folder`` (hists, controls, sf, replicas)."""
    return histstore.load(Path(folder) / HISTS)


def write_report(results: dict[str, Any], output: dict[str, Any], out: Path, card: Any) -> None:
    """hists.npz, hists.root, plots and results.json into ``out`` (a staging folder published as a whole)."""
    out.mkdir(parents=True, exist_ok=True)
    hist_objects = {"hists": output.get("hists", {}), "controls": output.get("controls", {}),
                    "sf": output.get("sf", {}), "replicas": output.get("replicas", {})}
    histstore.save(hist_objects, out / HISTS)
    write_sf_inputs(hist_objects["sf"], out / SF_INPUTS)  # what hepadv sf reads (no pickle)
    if card.root:
        write_root(hist_objects, out / "hists.root")
    if card.plots:
        from hepadv.plotting.datamc import plot_report

        results["plots"] = [str(p.relative_to(out)) for p in plot_report(results, hist_objects, out / PLOTS_DIR)]
    write_json(out / "results.json", results)


def write_root(hist_objects: dict[str, Any], path: Path) -> None:
    """One 1D histogram per category combination, named TAGGER/OUTPUT/KIND_VARIATION_FLAVOUR."""
    import uproot

    with atomic_path(path, suffix=".root") as tmp, uproot.recreate(tmp) as f:
        for tagger, outputs in hist_objects["hists"].items():
            for name, h in outputs.items():
                for kind in h.axes["kind"]:
                    for variation in h.axes["variation"]:
                        for flavour in h.axes["flavour"]:
                            sub = h[{"kind": kind, "variation": variation, "flavour": flavour}]
                            if sub.sum().value == 0 and sub.sum().variance == 0:
                                continue
                            f[f"{_safe(tagger)}/{_safe(name)}/{kind}_{_safe(variation)}_{flavour}"] = sub
        for name, h in hist_objects["controls"].items():
            for kind in h.axes["kind"]:
                for flavour in h.axes["flavour"]:
                    sub = h[{"kind": kind, "flavour": flavour}]
                    if sub.sum().value != 0:
                        f[f"controls/{name}/{kind}_{flavour}"] = sub
        write_sf_root(f, hist_objects.get("sf", {}), _safe)


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.@-]", "_", text)
