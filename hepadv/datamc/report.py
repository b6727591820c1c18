"""Results of a Data/MC run: cutflows, MC normalisation, KL/JS per tagger output, KL vs epoch; written to disk.

KL divergence D(data || MC) and the Jensen-Shannon distance (``hepadv.evaluation.divergences``) compare the
data histogram with the MC histogram summed over flavours, per tagger, output, and MC variation (raw or a
distortion). Files, all written atomically once processing has finished: ``results.json``, ``hists.pkl``
(the hist objects with their axes), ``hists.root`` (one TH1 per tagger/output/sample/variation/flavour,
via uproot; TH2s of the scale factors' CvsL x CvsB histograms too), ``sf_inputs.npz`` (those histograms as
plain arrays for ``hepadv sf``, see ``sfhists``) and ``plots/``.
"""

from __future__ import annotations

import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np

from hepadv.datamc.histograms import DATA_FLAVOUR, FLAVOURS
from hepadv.datamc.sfhists import SF_INPUTS, write_sf_inputs, write_sf_root
from hepadv.evaluation.divergences import js_distance, kl_divergence
from hepadv.io import atomic_path, write_json
from hepadv.runs.layout import PLOTS_DIR

_EPOCH = re.compile(r"^(?:(?P<name>[^:]+):)?(?P<variant>[^@]+)@e(?P<epoch>\d+)$")


def data_mc(h: Any, variation: str = "raw") -> tuple[np.ndarray | None, np.ndarray | None]:
    """(data counts, MC counts summed over flavours) of one output histogram; None where a sample is absent."""
    def get(kind: str, var: str, flavours: list[str]) -> np.ndarray | None:
        try:
            kinds = list(h.axes["kind"])
            variations = list(h.axes["variation"])
        except KeyError:
            return None
        if kind not in kinds or var not in variations:
            return None
        if kind == "data" and h[{"kind": "data"}].values().sum() == 0:
            return None
        sub = h[{"kind": kind, "variation": var}]
        return sum(sub[{"flavour": f}].values() for f in flavours)

    return get("data", "raw", [DATA_FLAVOUR]), get("mc", variation, list(FLAVOURS))


def divergences(h: Any, variation: str) -> dict[str, float | None]:
    p, q = data_mc(h, variation)
    if p is None or q is None or not (np.clip(p, 0, None).sum() > 0 and np.clip(q, 0, None).sum() > 0):
        return {"kl": None, "js": None}
    try:
        return {"kl": kl_divergence(p, q), "js": js_distance(p, q)}
    except ValueError:  # everything negative after OS-SS: no distance
        return {"kl": None, "js": None}


def build_results(output: dict[str, Any], card: Any, selection: Any, taggers: list[Any],
                  distortions: list[tuple[str, Any]], inputs: Any, wall_s: float) -> dict[str, Any]:
    variations = ["raw", *(label for label, _ in distortions)]
    hists = output.get("hists", {})
    div: dict[str, Any] = {}
    for tagger in taggers:
        per_output = {}
        for name, h in hists.get(tagger.key, {}).items():
            vs = variations if tagger.kind == "model" else ["raw"]
            per_output[name] = {v: divergences(h, v) for v in vs}
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
        "divergences": div,
        "kl_vs_epoch": kl_vs_epoch(div),
        "timing_s": output.get("timing", {}),
        "wall_s": wall_s,
        "events_per_s": (sum(n_events.values()) / wall_s) if wall_s > 0 else None,
        "executor": card.executor.name,
        "chunksize": card.chunksize,
        "complete": True,
    }
    return results


def _scale(sumw: dict[str, float]) -> float | None:
    mc, data = sumw.get("mc"), sumw.get("data")
    return data / mc if mc and data is not None else None


def kl_vs_epoch(div: dict[str, Any]) -> dict[str, Any]:
    """{variant: {variation: {output: [[epoch, KL], ...]}}} from the ``variant@eNNN`` taggers (thesis fig. A.22)."""
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
                series.append([epoch, d["kl"]])
    for by_var in out.values():
        for by_out in by_var.values():
            for series in by_out.values():
                series.sort()
    return out


def write_report(results: dict[str, Any], output: dict[str, Any], out: Path, card: Any) -> None:
    """hists.pkl, hists.root, plots and results.json into ``out`` (a staging folder published as a whole)."""
    out.mkdir(parents=True, exist_ok=True)
    hist_objects = {"hists": output.get("hists", {}), "controls": output.get("controls", {}),
                    "sf": output.get("sf", {})}
    with atomic_path(out / "hists.pkl", suffix=".pkl") as tmp:
        tmp.write_bytes(pickle.dumps(hist_objects, protocol=pickle.HIGHEST_PROTOCOL))
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
