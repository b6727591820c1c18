"""Resumable Data/MC runs: every completed chunk's output persists in the run directory.

``ChunkStore`` is a coffea checkpointer: the worker that finishes a chunk writes its output atomically
(temporary file, then rename) under ``OUT/chunks/FINGERPRINT/``, so a run killed at any moment leaves only
whole chunks. Chunks are ``.npz`` files of plain arrays plus JSON (``hepadv.histstore``, read with
``allow_pickle=False``): a file planted in a run folder can never execute code. The fingerprint hashes
canonical JSON of what a chunk depends on (selection, taggers with a hash of their weights, distortions,
seed, hepadv's version), never pickled objects, so it is the same in every process (any PYTHONHASHSEED): a
changed card or model never reuses old chunks, an unchanged one always does. Only folders carrying
``MARKER`` (written when hepadv creates a store) are ever removed, and symlinks are never followed.
``run_chunks`` skips the chunks that
are already stored, runs the rest with whatever executor is active, then merges every chunk in a fixed
order (dataset, file, entry range), so the histograms are identical however the run was split, interrupted
or distributed. Workers must see the output folder (a shared filesystem on a batch system).
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hepadv.errors import DataError

try:
    from coffea.processor.checkpointer import CheckpointerABC
except ImportError:  # pragma: no cover
    CheckpointerABC = object  # type: ignore[misc,assignment]

log = logging.getLogger("hepadv.datamc")


#: File inside every chunk store hepadv creates; cleaning removes only folders that carry it.
MARKER = ".hepadv-chunks"


def _component(obj: Any) -> dict[str, Any]:
    """Class, registered name and params (JSON) of a selection or attack."""
    params = getattr(obj, "params", None)
    dumped = params.model_dump(mode="json") if hasattr(params, "model_dump") else params
    return {"class": f"{type(obj).__module__}.{type(obj).__qualname__}", "name": getattr(obj, "name", None),
            "params": dumped}


def _weights_hash(weights: dict[str, Any]) -> str:
    import numpy as np

    h = hashlib.sha256()
    for key in sorted(weights):
        a = np.ascontiguousarray(np.asarray(weights[key]))
        h.update(json.dumps([key, str(a.dtype), list(a.shape)]).encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _tagger(tagger: Any) -> dict[str, Any]:
    portable = getattr(tagger, "portable", None)
    if portable is None:
        return {"key": tagger.key, "kind": tagger.kind, "preset": getattr(tagger, "preset", None)}
    return {"key": tagger.key, "kind": tagger.kind, "description": portable.description, "spec": portable.spec,
            "variant": portable.variant, "epoch": portable.epoch, "weights": _weights_hash(portable.weights)}


def describe(processor: Any) -> dict[str, Any]:
    """What a chunk's output depends on, as plain JSON-able data (no object identities, no hash seeds)."""
    from hepadv import __version__

    return {"hepadv": __version__, "processor": f"{type(processor).__module__}.{type(processor).__qualname__}",
            "selection": _component(processor.selection), "taggers": [_tagger(t) for t in processor.taggers],
            "samples": processor.samples, "distortions": [[label, _component(a)] for label, a in processor.distortions],
            "seed": processor.seed, "replicas": processor.replicas, "groups": processor.groups,
            "sf_bins": list(processor.sf_bins)}


def fingerprint(processor: Any) -> str:
    """16 hex digits of the canonical JSON of ``describe(processor)``."""
    text = json.dumps(describe(processor), sort_keys=True, separators=(",", ":"), default=str, allow_nan=False)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def chunk_key(dataset: str, fileuuid: str, treename: str, start: int, stop: int) -> str:
    return f"{dataset}/{fileuuid}-{treename.replace('/', '_')}-{start}-{stop}.npz"


def _uuid(raw: bytes | str) -> str:
    if isinstance(raw, str):
        return raw
    import uuid

    return str(uuid.UUID(bytes=raw)) if raw else "nouuid"


class ChunkStore(CheckpointerABC):  # type: ignore[misc]
    """Chunk outputs under ``root``; picklable (it travels to workers inside the coffea work function)."""

    def __init__(self, root: Path | str) -> None:
        self.root = str(root)

    def path(self, metadata: dict[str, Any]) -> Path:
        return Path(self.root) / chunk_key(metadata["dataset"], _uuid(metadata["fileuuid"]), metadata["treename"],
                                           metadata["entrystart"], metadata["entrystop"])

    def item_path(self, item: Any) -> Path:
        return Path(self.root) / chunk_key(item.dataset, _uuid(item.fileuuid), item.treename, item.entrystart,
                                           item.entrystop)

    def load(self, metadata: Any, processor_instance: Any) -> Any:
        """Never reuse inside coffea: ``run_chunks`` hands coffea only the chunks the store lacks."""
        return None

    def save(self, output: Any, metadata: Any, processor_instance: Any) -> None:
        from hepadv import histstore

        histstore.save(output["out"], self.path(metadata))

    def read(self, path: Path) -> Any:
        """A stored chunk output; ``histstore.StoreError`` if the file is not one hepadv wrote."""
        from hepadv import histstore

        if path.is_symlink():
            raise histstore.StoreError(f"{path}: a symlink, not a chunk file")
        return histstore.load(path)


@dataclass
class ChunkStats:
    total: int
    reused: int
    processed: int
    store: str
    bad_files: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "reused": self.reused, "processed": self.processed, "store": self.store,
                "bad_files": self.bad_files}


def open_store(out_dir: Path, processor: Any) -> ChunkStore:
    """The store for this processor under ``out_dir/chunks``; stores of other fingerprints are removed."""
    base = out_dir / "chunks"
    fp = fingerprint(processor)
    if base.is_symlink():
        raise DataError(f"{base} is a symlink; hepadv keeps its chunks in a plain folder (remove the link)")
    if base.is_dir():
        for old in base.iterdir():
            if old.name != fp and not old.is_symlink() and old.is_dir() and (old / MARKER).is_file():
                log.info(f"removing chunks of a different card or model: {old}")
                shutil.rmtree(old, ignore_errors=True)
    store = base / fp
    if store.is_symlink():
        raise DataError(f"{store} is a symlink; hepadv keeps its chunks in a plain folder (remove the link)")
    store.mkdir(parents=True, exist_ok=True)
    for partial in store.glob("*/.*.npz.*"):  # a write cut short by a kill: atomic_path's temp, never a chunk
        if partial.is_file() and not partial.is_symlink():
            partial.unlink(missing_ok=True)
    (store / MARKER).write_text(json.dumps(describe(processor), sort_keys=True, default=str) + "\n")
    return ChunkStore(store)


def run_chunks(runner: Any, fileset: dict[str, Any], processor: Any, store: ChunkStore,
               say: Any = log.info, skip_bad_files: bool = False) -> tuple[Any, ChunkStats]:
    """Run the chunks missing from ``store``, then merge all of them in a fixed order.

    A file that fails while its chunks are read (corrupt baskets pass the up-front checks) stops the run
    with its name; with ``skip_bad_files`` it is reported with the reason, its chunks are dropped and the
    other missing chunks run again (finished ones are in the store and are not redone).
    """
    from coffea.processor import accumulate

    chunks = sorted(runner.preprocess(fileset, treename="Events"),
                    key=lambda c: (c.dataset, c.filename, c.treename, c.entrystart))
    done: dict[Path, Any] = {}
    for c in chunks:
        path = store.item_path(c)
        if path.is_file() or path.is_symlink():
            try:
                done[path] = store.read(path)
            except Exception as exc:  # redone, never trusted
                say(f"redoing an unreadable chunk: {exc}")
                path.unlink(missing_ok=True)
    missing = [c for c in chunks if store.item_path(c) not in done]
    reused = len(chunks) - len(missing)
    if reused:
        say(f"resuming: {reused} of {len(chunks)} chunks already done in {store.root}; "
            f"running the other {len(missing)}")
    bad: dict[str, str] = {}
    while missing:
        try:
            runner(missing, processor, treename="Events")
            break
        except Exception as exc:
            name = failed_file(exc, {c.filename for c in missing})
            if name is None:
                raise
            reason = f"{name}: unreadable while processing ({_reason(exc)})"
            if not skip_bad_files:
                raise DataError(f"{reason}; completed chunks are kept in {store.root} (--skip-bad-files skips it)"
                                ) from exc
            bad[name] = reason
            say(f"skipped bad file: {reason}")
            missing = [c for c in missing if c.filename not in bad and not store.item_path(c).is_file()]
    chunks = [c for c in chunks if c.filename not in bad]
    if not {c.dataset for c in chunks} >= {"data", "mc"} & set(fileset):
        raise DataError("no usable file left in a sample after skipping bad files: " + "; ".join(bad.values()))
    outputs = []
    for c in chunks:
        path = store.item_path(c)
        if path in done:
            outputs.append(done[path])
            continue
        try:
            outputs.append(store.read(path))
        except Exception:
            raise DataError(f"chunk {c.filename} [{c.entrystart}, {c.entrystop}) has no readable output in "
                            f"{store.root} after the run; run again to redo it") from None
    merged = accumulate(outputs)
    post = processor.postprocess(merged)
    stats = ChunkStats(len(chunks), reused, len(chunks) - reused, store.root, list(bad.values()))
    return (merged if post is None else post), stats


def _chain(exc: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    node: BaseException | None = exc
    while node is not None and node not in out:
        out.append(node)
        node = node.__cause__ or node.__context__
    return out


def failed_file(exc: BaseException, filenames: set[str]) -> str | None:
    """The input file an exception from coffea names (its messages carry the WorkItem), if any."""
    for link in _chain(exc):
        text = str(link)
        for name in sorted(filenames, key=len, reverse=True):
            if f"'{name}'" in text or f'"{name}"' in text:
                return name
    return None


def _reason(exc: BaseException) -> str:
    """The innermost cause in one line (e.g. the zlib error), not coffea's wrapper text."""
    from hepadv.data.pfnano import one_line

    root = _chain(exc)[-1]
    return f"{type(root).__name__}: {one_line(root)}"[:300]
