"""Real NanoAOD/PFNano test files, taken from the coffea source distribution on PyPI and pinned by sha256.

CMS does not publish small PFNano files on a stable URL, but coffea ships a handful of real ones under
``tests/samples/`` in its sdist. ``ensure_test_data`` downloads that sdist once with pip, checks its
sha256, extracts only the files below (each checked against its own sha256) and caches them, so tests
and examples run on real detector output without network access after the first call.

Cache: ``$HEPADV_TESTDATA_DIR``, else ``hepadv.paths.cache_dir() / "coffea-samples"``.
A cached file whose hash does not match (truncated, edited) is treated as absent and fetched again.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import IO

from hepadv.errors import DataError
from hepadv.io import atomic_path
from hepadv.paths import cache_dir

log = logging.getLogger("hepadv.data")

COFFEA_VERSION = "2026.9.0"
SDIST_NAME = f"coffea-{COFFEA_VERSION}.tar.gz"
SDIST_SHA256 = "7dfc1b54d9d1533c8a5bd8a5786d13272ea1a170b0817061d4478f721aedae04"
#: Folder inside the sdist that holds the sample files.
SDIST_SAMPLES = f"coffea-{COFFEA_VERSION}/tests/samples"

#: file name -> sha256. What each one is good for:
#: nano_dy.root: DY MC, 40 events, NanoAOD without the DeepCSV input branches;
#: nano_dimuon.root: 2018 DoubleMuon data, 40 events (no truth flavour);
#: nano_tt_v12.root: semileptonic ttbar MC, NanoAOD v12, 200 events;
#: pfnano.root: PFNano, 10 events / 64 jets, all 65 Jet_DeepCSV_* inputs;
#: nano_dy_empty.root: same layout as nano_dy.root with 0 events;
#: nano_dy_SpecialTree.root: nano_dy.root content plus a copy of the tree named "NotEvents";
#: nano_dy_SpecialTree_rntuple.root: the "NotEvents" tree as an RNTuple (not a TTree).
SAMPLES: dict[str, str] = {
    "nano_dy.root": "159b17b34b4d13ea4960d36fb9b01f2a505cc1a5a8de0fb3cfa185154543c81c",
    "nano_dimuon.root": "eac7c0a973e054e890766ec4c61ca784d3d49e4f82ec0c8b9dfbe55c233297a9",
    "nano_tt_v12.root": "bc9afdac1e5e1bf820f79e4f8d4942c893ed2accfcb2e49bb63b69727b59af3b",
    "pfnano.root": "504f10f40146005184a1365dcf8b6c8235983597567fab04d1b4b6cc25603939",
    "nano_dy_empty.root": "6357b85ab2af3c012b9be1a2839ee42ba7e74be0ee98323397bf4179bec90fb4",
    "nano_dy_SpecialTree.root": "c5386e45c645e4394145d0a270cfddc470279ea3b102039c2607c83f4083c4dd",
    "nano_dy_SpecialTree_rntuple.root": "d656068aed2143811387c06232338560a066dec19b78a410c8f0581b449640d7",
}

ENV_VAR = "HEPADV_TESTDATA_DIR"
#: pip may build metadata in an isolated environment (downloads the build backend): allow some minutes.
DOWNLOAD_TIMEOUT_S = 900
_CHUNK = 1 << 20


def default_dir() -> Path:
    """The cache folder: ``$HEPADV_TESTDATA_DIR`` or ``<hepadv cache>/coffea-samples``."""
    env = os.environ.get(ENV_VAR)
    return Path(os.path.expanduser(env)) if env else cache_dir() / "coffea-samples"


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks so large files do not sit in memory."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def verify(path: Path, sha256: str) -> bool:
    """True when ``path`` exists and has exactly this sha256."""
    try:
        return Path(path).is_file() and sha256_of(Path(path)) == sha256.lower()
    except OSError:
        return False


def missing_samples(dest: Path, names: Iterable[str] | None = None) -> list[str]:
    """Names of the pinned samples that are absent from ``dest`` or fail their sha256."""
    wanted = list(SAMPLES) if names is None else list(names)
    return [n for n in wanted if not verify(dest / n, SAMPLES[n])]


def ensure_test_data(dest: Path | None = None, sdist: Path | None = None) -> Path:
    """Return the folder holding every file of ``SAMPLES``, fetching what is missing or corrupt.

    Nothing is downloaded when all cached files match their sha256. ``sdist`` is an already
    downloaded ``coffea-2026.9.0.tar.gz`` (offline machines); it is checked like a download.
    Raises DataError (one line) when the download fails or a hash does not match.
    """
    dest = Path(dest) if dest is not None else default_dir()
    missing = missing_samples(dest)
    if not missing:
        return dest
    log.info("test data: %d of %d files missing or corrupt in %s; fetching", len(missing), len(SAMPLES), dest)
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create the test-data folder {dest}: {exc}") from exc
    if sdist is not None:
        _check_sdist(Path(sdist))
        _extract(Path(sdist), missing, dest)
    else:
        with tempfile.TemporaryDirectory(prefix="hepadv-coffea-") as tmp:
            tarball = _download_sdist(Path(tmp))
            _extract(tarball, missing, dest)
    still = missing_samples(dest)
    if still:  # only reachable if the folder is being modified while we write
        raise DataError(f"test data in {dest} still fails its sha256 after fetching: {', '.join(still)}")
    return dest


def sample_path(name: str, dest: Path | None = None) -> Path:
    """Path of one pinned sample, fetching the set first if needed."""
    if name not in SAMPLES:
        raise DataError(f"unknown test sample {name!r}; known: {', '.join(sorted(SAMPLES))}")
    return ensure_test_data(dest) / name


def _download_sdist(tmp: Path) -> Path:
    """``pip download`` the coffea sdist into ``tmp`` (the user's pip config and index apply)."""
    cmd = [
        sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
        "--disable-pip-version-check", f"coffea=={COFFEA_VERSION}", "-d", str(tmp),
    ]  # fmt: skip
    log.info("test data: downloading %s with pip (about 30 MB)", SDIST_NAME)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DataError(f"downloading {SDIST_NAME} with pip failed: {exc}") from exc
    tarball = tmp / SDIST_NAME
    if proc.returncode != 0 or not tarball.is_file():
        lines = [ln.strip() for ln in (proc.stderr or proc.stdout or "").splitlines() if ln.strip()]
        reason = lines[-1] if lines else f"exit code {proc.returncode}"
        raise DataError(f"downloading {SDIST_NAME} with pip failed (is PyPI reachable?): {reason}")
    _check_sdist(tarball)
    return tarball


def _check_sdist(tarball: Path) -> None:
    if not tarball.is_file():
        raise DataError(f"coffea sdist {tarball} does not exist")
    got = sha256_of(tarball)
    if got != SDIST_SHA256:
        raise DataError(f"{tarball} has sha256 {got}, expected {SDIST_SHA256} for {SDIST_NAME}")


def _extract(tarball: Path, names: Iterable[str], dest: Path) -> None:
    """Copy only ``names`` out of ``SDIST_SAMPLES`` in the tarball; each written to a temp file, checked, renamed."""
    wanted = {f"{SDIST_SAMPLES}/{n}": n for n in names}
    found: set[str] = set()
    try:
        with tarfile.open(tarball, "r:*") as tf:
            for member in tf:
                name = wanted.get(member.name)
                if name is None or not member.isfile():
                    continue
                src = tf.extractfile(member)
                if src is None:
                    continue
                _write_checked(src, dest, name)
                found.add(name)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"cannot read {tarball}: {exc}") from exc
    absent = sorted(set(wanted.values()) - found)
    if absent:
        raise DataError(f"{tarball} lacks {SDIST_SAMPLES}/{absent[0]} ({len(absent)} of the pinned samples missing)")


def _write_checked(src: IO[bytes], dest: Path, name: str) -> None:
    h = hashlib.sha256()
    # 0644: mkstemp makes 0600 and the cache may be shared; a bad hash raises before the rename
    with atomic_path(dest / name, suffix=".part", mode=0o644) as tmp:
        with tmp.open("wb") as out:
            for block in iter(lambda: src.read(_CHUNK), b""):
                h.update(block)
                out.write(block)
        if h.hexdigest() != SAMPLES[name]:
            raise DataError(f"{name} in {SDIST_NAME} has sha256 {h.hexdigest()}, expected {SAMPLES[name]}")
