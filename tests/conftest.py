"""Test isolation: no entry-point autoload, plugins registered in a test are gone after it, caches in tmp."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from hepadv.registry import manager

REPO = Path(__file__).resolve().parents[1]
# Real coffea sample files are cached across sessions where the user's cache is; generated data is per session.
os.environ.setdefault("HEPADV_TESTDATA_DIR", str(Path(os.environ.get(
    "HEPADV_CACHE_DIR", Path.home() / ".cache" / "hepadv")) / "coffea-samples"))


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hepadv-cache")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, session_cache: Path) -> object:
    monkeypatch.setenv("HEPADV_LOAD_PLUGINS", "")
    monkeypatch.setenv("HEPADV_CACHE_DIR", str(session_cache))
    manager._extra_plugins.clear()
    manager.reset()
    yield
    manager._extra_plugins.clear()
    manager.reset()
