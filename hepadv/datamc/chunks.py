"""Resumable Data/MC runs: every completed chunk's output persists in the run directory.

``ChunkStore`` is a coffea checkpointer: the worker that finishes a chunk writes its output atomically
(temporary file, then rename) under ``OUT/chunks/FINGERPRINT/``, so a run killed at any moment leaves only
whole chunks. The fingerprint hashes the pickled processor (selection, taggers with their weights,
distortions, seed): a changed card or model never reuses old chunks. ``run_chunks`` skips the chunks that
are already stored, runs the rest with whatever executor is active, then merges every chunk in a fixed
order (dataset, file, entry range), so the histograms are identical however the run was split, interrupted
or distributed. Workers must see the output folder (a shared filesystem on a batch system).
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
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


def fingerprint(processor: Any) -> str:
    """16 hex digits identifying what a chunk's output depends on (the processor and everything in it)."""
    import cloudpickle

    return hashlib.sha256(cloudpickle.dumps(processor)).hexdigest()[:16]


def chunk_key(dataset: str, fileuuid: str, treename: str, start: int, stop: int) -> str:
    return f"{dataset}/{fileuuid}-{treename.replace('/', '_')}-{start}-{stop}.pkl"


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
        path = self.path(metadata)
        if not path.is_file():
            return None
        try:
            return pickle.loads(path.read_bytes())
        except Exception:  # an unreadable chunk file is redone, not trusted
            return None

    def save(self, output: Any, metadata: Any, processor_instance: Any) -> None:
        path = self.path(metadata)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_bytes(pickle.dumps(output, protocol=pickle.HIGHEST_PROTOCOL))
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)


@dataclass
class ChunkStats:
    total: int
    reused: int
    processed: int
    store: str

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "reused": self.reused, "processed": self.processed, "store": self.store}


def open_store(out_dir: Path, processor: Any) -> ChunkStore:
    """The store for this processor under ``out_dir/chunks``; stores of other fingerprints are removed."""
    base = out_dir / "chunks"
    fp = fingerprint(processor)
    if base.is_dir():
        for old in base.iterdir():
            if old.is_dir() and old.name != fp:
                log.info(f"removing chunks of a different card or model: {old}")
                shutil.rmtree(old, ignore_errors=True)
    (base / fp).mkdir(parents=True, exist_ok=True)
    return ChunkStore(base / fp)


def run_chunks(runner: Any, fileset: dict[str, Any], processor: Any, store: ChunkStore,
               say: Any = log.info) -> tuple[Any, ChunkStats]:
    """Run the chunks missing from ``store``, then merge all of them in a fixed order."""
    from coffea.processor import accumulate

    chunks = sorted(runner.preprocess(fileset, treename="Events"),
                    key=lambda c: (c.dataset, c.filename, c.treename, c.entrystart))
    missing = [c for c in chunks if not store.item_path(c).is_file()]
    reused = len(chunks) - len(missing)
    if reused:
        say(f"resuming: {reused} of {len(chunks)} chunks already done in {store.root}; "
            f"running the other {len(missing)}")
    if missing:
        runner(missing, processor, treename="Events")
    outputs = []
    for c in chunks:
        path = store.item_path(c)
        try:
            outputs.append(pickle.loads(path.read_bytes())["out"])
        except FileNotFoundError:
            raise DataError(f"chunk {c.filename} [{c.entrystart}, {c.entrystop}) has no output in {store.root} "
                            "after the run; run again to redo it") from None
    merged = accumulate(outputs)
    post = processor.postprocess(merged)
    return (merged if post is None else post), ChunkStats(len(chunks), reused, len(missing), store.root)
