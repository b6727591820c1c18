"""One writer per run folder: an advisory ``fcntl.flock`` on ``RUN/.hepadv-lock``.

The lock file records the holder's pid and command line. A second writer is refused in one line naming them.
The kernel releases the lock of a process that died (kill -9 included), so a stale lock is simply taken
over; the takeover is said, naming the dead holder. Readers (``hepadv report``, ``load_trained``) do not lock.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from hepadv.errors import HepadvError

LOCK_NAME = ".hepadv-lock"


class RunLocked(HepadvError):
    """Another live process writes this run folder."""


def _holder(text: str) -> dict[str, object]:
    try:
        data = json.loads(text)
    except (ValueError, TypeError):
        return {}
    return data if isinstance(data, dict) else {}


def _command() -> str:
    words = [os.path.basename(sys.argv[0]) if sys.argv else "python", *sys.argv[1:]]
    text = " ".join(words)
    return text if len(text) <= 120 else text[:117] + "..."


@contextlib.contextmanager
def run_lock(folder: Path, say: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold ``folder``'s write lock for the block (re-entrant within one process)."""
    import fcntl

    folder = Path(folder)
    key = str(folder.resolve())
    if key in _held:
        _held[key] += 1
        try:
            yield
        finally:
            _held[key] -= 1
        return
    missing = [p for p in (folder, *folder.parents) if not p.exists()]
    created = missing[-1] if missing else None  # removed again if the block leaves nothing but the lock
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(os.pread(fd, 4096, 0).decode(errors="replace"))
            raise RunLocked(f"{folder}: in use by pid {holder.get('pid', '?')} ({holder.get('command', '?')}, "
                            f"since {holder.get('since', '?')}); wait for it to finish or stop it") from None
        previous = _holder(os.pread(fd, 4096, 0).decode(errors="replace"))
        if previous.get("pid") not in (None, os.getpid()) and say is not None:
            say(f"{folder}: taking over the lock of pid {previous['pid']} ({previous.get('command', '?')}), "
                "which is no longer running")
        record = json.dumps({"pid": os.getpid(), "command": _command(),
                             "since": time.strftime("%Y-%m-%dT%H:%M:%S%z")})
        os.ftruncate(fd, 0)
        os.pwrite(fd, record.encode(), 0)
        _held[key] = 1
        try:
            yield
        finally:
            del _held[key]
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
        if created is not None and _only_lock_below(created, path):
            shutil.rmtree(created, ignore_errors=True)


def _only_lock_below(top: Path, lock: Path) -> bool:
    """True when ``top`` holds nothing but the folders leading to ``lock`` and the lock file itself."""
    entries = [p for p in top.rglob("*")]
    return all(p == lock or (p.is_dir() and not p.is_symlink() and p in lock.parents) for p in entries)


_held: dict[str, int] = {}
