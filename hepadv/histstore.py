"""Nested outputs with ``hist`` histograms stored as plain arrays plus JSON: nothing is unpickled on load.

Run folders are untrusted (a shared filesystem, files anyone may replace), so what hepadv reads back from
them must never execute code. ``save`` walks a nested structure of dicts (string keys), lists, numbers,
strings, None and ``hist.Hist`` objects; each histogram's flow-inclusive counts (and variances for Weight
storage) go into an ``.npz`` and its axes into the JSON tree, which is stored in the same ``.npz`` as a
string array. ``load`` reads with ``allow_pickle=False`` and rebuilds bit-identical ``hist`` objects.
Anything else (sets, arbitrary objects) is refused when saving, so the format stays closed.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from hepadv.io import atomic_path

#: Bump when the stored layout changes.
FORMAT_VERSION = 1
_TREE = "__tree__"


class StoreError(ValueError):
    """A stored file that is not what ``save`` writes (corrupt, foreign or from another version)."""


def _axis_json(ax: Any) -> dict[str, Any]:
    import hist

    t = ax.traits
    d: dict[str, Any] = {"name": ax.name, "label": ax.label, "underflow": bool(t.underflow),
                         "overflow": bool(t.overflow), "growth": bool(t.growth)}
    if isinstance(ax, hist.axis.StrCategory):
        return {"type": "str", "categories": [str(c) for c in ax], **d}
    if isinstance(ax, hist.axis.IntCategory):
        return {"type": "int_cat", "categories": [int(c) for c in ax], **d}
    if isinstance(ax, hist.axis.Integer):
        return {"type": "integer", "low": int(ax.edges[0]), "high": int(ax.edges[-1]), **d}
    if isinstance(ax, hist.axis.Regular) and ax.transform is None:
        return {"type": "regular", "bins": len(ax), "low": float(ax.edges[0]), "high": float(ax.edges[-1]), **d}
    if isinstance(ax, hist.axis.Variable | hist.axis.Regular):
        return {"type": "variable", "edges": [float(e) for e in ax.edges], **d}
    raise TypeError(f"axis {type(ax).__name__} cannot be stored")


def _axis(d: dict[str, Any]) -> Any:
    import hist

    common = {"name": str(d["name"]), "label": str(d["label"]), "growth": bool(d["growth"])}
    flow = {"underflow": bool(d["underflow"]), "overflow": bool(d["overflow"])}
    kind = d["type"]
    if kind == "str":
        return hist.axis.StrCategory([str(c) for c in d["categories"]], overflow=flow["overflow"], **common)
    if kind == "int_cat":
        return hist.axis.IntCategory([int(c) for c in d["categories"]], overflow=flow["overflow"], **common)
    if kind == "integer":
        return hist.axis.Integer(int(d["low"]), int(d["high"]), **flow, **common)
    if kind == "regular":
        return hist.axis.Regular(int(d["bins"]), float(d["low"]), float(d["high"]), **flow, **common)
    if kind == "variable":
        return hist.axis.Variable([float(e) for e in d["edges"]], **flow, **common)
    raise StoreError(f"unknown axis type {kind!r}")


def _encode(obj: Any, arrays: dict[str, np.ndarray]) -> Any:
    import hist

    if isinstance(obj, hist.Hist):
        i = len([k for k in arrays if k.endswith("_v")])
        storage = {hist.storage.Weight: "weight", hist.storage.Double: "double",
                   hist.storage.Int64: "int64"}.get(obj.storage_type)
        if storage is None:
            raise TypeError(f"histogram storage {obj.storage_type} cannot be stored")
        view = obj.view(flow=True)
        if storage == "weight":
            arrays[f"h{i}_v"] = np.ascontiguousarray(view["value"])
            arrays[f"h{i}_w"] = np.ascontiguousarray(view["variance"])
        else:
            arrays[f"h{i}_v"] = np.ascontiguousarray(view)
        return {"__hist__": i, "storage": storage, "label": obj.label, "name": obj.name,
                "axes": [_axis_json(ax) for ax in obj.axes]}
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise TypeError("only string keys can be stored")
        if "__hist__" in obj or "__float__" in obj:
            raise TypeError("reserved key in stored dict")
        return {k: _encode(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_encode(v, arrays) for v in obj]
    if isinstance(obj, bool | str) or obj is None:
        return obj
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        x = float(obj)
        return x if math.isfinite(x) else {"__float__": repr(x)}
    raise TypeError(f"{type(obj).__name__} cannot be stored")


def _decode(obj: Any, arrays: Any) -> Any:
    import hist

    if isinstance(obj, dict):
        if "__float__" in obj:
            return float(obj["__float__"])
        if "__hist__" in obj:
            i = int(obj["__hist__"])
            storage = {"weight": hist.storage.Weight, "double": hist.storage.Double,
                       "int64": hist.storage.Int64}[obj["storage"]]
            h = hist.Hist(*(_axis(a) for a in obj["axes"]), storage=storage(), label=obj.get("label"),
                          name=obj.get("name"))
            view = h.view(flow=True)
            values = arrays[f"h{i}_v"]
            if values.shape != view.shape:
                raise StoreError(f"histogram {i}: stored shape {values.shape}, axes give {view.shape}")
            if obj["storage"] == "weight":
                view["value"] = values
                view["variance"] = arrays[f"h{i}_w"]
            else:
                view[...] = values
            return h
        return {k: _decode(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v, arrays) for v in obj]
    return obj


def dumps_arrays(obj: Any) -> dict[str, np.ndarray]:
    """The arrays ``save`` writes for ``obj`` (the JSON tree included, as a 0-d unicode array)."""
    arrays: dict[str, np.ndarray] = {}
    tree = _encode(obj, arrays)
    arrays[_TREE] = np.array(json.dumps({"version": FORMAT_VERSION, "tree": tree}, allow_nan=False))
    return arrays


def save(obj: Any, path: Path, compress: bool = True) -> Path:
    """Write ``obj`` atomically to ``path`` (an ``.npz``)."""
    arrays = dumps_arrays(obj)
    with atomic_path(path, suffix=".npz") as tmp, open(tmp, "wb") as f:
        (np.savez_compressed if compress else np.savez)(f, **arrays)
    return path


def load(path: Path) -> Any:
    """What ``save`` wrote, rebuilt; ``StoreError`` naming the file for anything else."""
    try:
        with np.load(path, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
        if not isinstance(arrays, dict) or _TREE not in arrays:
            raise StoreError("no index")
        head = json.loads(str(arrays[_TREE][()]))
        if head.get("version") != FORMAT_VERSION:
            raise StoreError(f"format version {head.get('version')!r}, this hepadv reads {FORMAT_VERSION}")
        return _decode(head["tree"], arrays)
    except StoreError as exc:
        raise StoreError(f"{path}: not a hepadv histogram store ({exc})") from None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, EOFError) as exc:
        raise StoreError(f"{path}: not a hepadv histogram store ({type(exc).__name__})") from None
