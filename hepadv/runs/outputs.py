"""Publishing outputs: a folder appears complete or not at all, and a failed run leaves nothing half-written.

``publish_dir(final)`` yields a fresh staging folder beside ``final``; on success the staging folder replaces
``final`` in one rename (an older ``final`` is moved aside first and removed after), on any error it is
removed. Staging folders are hidden (``.NAME.staging-PID-...``) and carry ``MARKER``, so a later run can tell
an abandoned one of its own from anything else and clean it up (``sweep_staging``). Single files are written
with ``hepadv.io.atomic_path``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from hepadv.ids import content_id, named_id

__all__ = ["MARKER", "content_id", "named_id", "owned_by_hepadv", "publish_dir", "remove_owned", "sweep_staging"]

#: A file hepadv puts in every folder it creates and may later delete; nothing without it is ever removed.
MARKER = ".hepadv-owned"


def _mark(folder: Path) -> None:
    (folder / MARKER).write_text("created by hepadv; safe for hepadv to replace or remove\n")


def owned_by_hepadv(folder: Path) -> bool:
    """A real folder (not a symlink) that hepadv created."""
    return folder.is_dir() and not folder.is_symlink() and (folder / MARKER).is_file()


def remove_owned(folder: Path) -> bool:
    """Remove ``folder`` only when hepadv owns it (never through a symlink); True when removed."""
    if not owned_by_hepadv(folder):
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True


def sweep_staging(parent: Path) -> None:
    """Remove staging folders of dead runs beside ``parent``'s outputs (left by kill -9)."""
    if not parent.is_dir() or parent.is_symlink():
        return
    for entry in parent.iterdir():
        if entry.name.startswith(".") and ".staging-" in entry.name and owned_by_hepadv(entry):
            pid = entry.name.split(".staging-", 1)[1].split("-", 1)[0]
            if pid.isdigit() and not _alive(int(pid)):
                shutil.rmtree(entry, ignore_errors=True)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@contextlib.contextmanager
def publish_dir(final: Path, keep: tuple[str, ...] = ()) -> Iterator[Path]:
    """Stage ``final``'s new content in a hidden folder beside it, then swap it in with one rename.

    ``keep`` names entries of ``final`` that carry over into the new one, moved (not copied) just before the swap:
    e.g. a resumable cache that is written into ``final`` while the new content is built.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    sweep_staging(final.parent)
    staging = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.staging-{os.getpid()}-"))
    _mark(staging)
    moved: list[str] = []
    try:
        yield staging
        os.chmod(staging, 0o755)
        if final.is_dir() and not final.is_symlink():
            for name in keep:
                if (final / name).exists() and not (staging / name).exists():
                    os.replace(final / name, staging / name)
                    moved.append(name)
        if final.exists() or final.is_symlink():
            old = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.staging-{os.getpid()}-old-"))
            _mark(old)
            os.replace(final, old / "previous")
            os.replace(staging, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, final)
    except BaseException:
        if staging.exists() and final.is_dir() and not final.is_symlink():
            for name in moved:  # what was carried over goes back
                if (staging / name).exists() and not (final / name).exists():
                    os.replace(staging / name, final / name)
        raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
