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
    bad_files: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "reused": self.reused, "processed": self.processed, "store": self.store,
                "bad_files": self.bad_files}


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
               say: Any = log.info, skip_bad_files: bool = False) -> tuple[Any, ChunkStats]:
    """Run the chunks missing from ``store``, then merge all of them in a fixed order.

    A file that fails while its chunks are read (corrupt baskets pass the up-front checks) stops the run
    with its name; with ``skip_bad_files`` it is reported with the reason, its chunks are dropped and the
    other missing chunks run again (finished ones are in the store and are not redone).
    """
    from coffea.processor import accumulate

    chunks = sorted(runner.preprocess(fileset, treename="Events"),
                    key=lambda c: (c.dataset, c.filename, c.treename, c.entrystart))
    missing = [c for c in chunks if not store.item_path(c).is_file()]
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
        try:
            outputs.append(pickle.loads(path.read_bytes())["out"])
        except FileNotFoundError:
            raise DataError(f"chunk {c.filename} [{c.entrystart}, {c.entrystop}) has no output in {store.root} "
                            "after the run; run again to redo it") from None
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
