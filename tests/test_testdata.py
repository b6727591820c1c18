"""The pinned coffea test files: hashes are enforced, the cache is reused, failures are one-line DataErrors.

Everything except the ``realdata`` tests runs on a fake sdist built in tmp_path, so nothing is downloaded.
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from hepadv.errors import DataError
from tests import testdata

REPO = Path(__file__).resolve().parents[1]


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def fake_sdist(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A small tarball laid out like the coffea sdist, with the module's pins pointed at it."""
    contents = {"a.root": b"first file", "b.root": b"second file"}
    tarball = tmp_path / "coffea-fake.tar.gz"
    with tarfile.open(tarball, "w:gz") as tf:
        for name, data in {**contents, "unrelated.txt": b"not wanted"}.items():
            info = tarfile.TarInfo(f"{testdata.SDIST_SAMPLES}/{name}")
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    monkeypatch.setattr(testdata, "SAMPLES", {n: _sha(d) for n, d in contents.items()})
    monkeypatch.setattr(testdata, "SDIST_SHA256", testdata.sha256_of(tarball))
    return tarball


@pytest.fixture
def no_download(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to run pip fails the test: a complete cache must not download."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("pip must not run")

    monkeypatch.setattr(testdata.subprocess, "run", refuse)


def test_verify_accepts_right_hash_and_rejects_others(tmp_path: Path) -> None:
    f = tmp_path / "x.root"
    f.write_bytes(b"payload")
    assert testdata.verify(f, _sha(b"payload"))
    assert testdata.verify(f, _sha(b"payload").upper())
    assert not testdata.verify(f, _sha(b"other"))
    assert not testdata.verify(tmp_path / "absent.root", _sha(b"payload"))


def test_extracts_only_pinned_files(tmp_path: Path, fake_sdist: Path, no_download: None) -> None:
    dest = testdata.ensure_test_data(tmp_path / "cache", sdist=fake_sdist)
    assert sorted(p.name for p in dest.iterdir()) == ["a.root", "b.root"]
    assert (dest / "a.root").read_bytes() == b"first file"


def test_complete_cache_is_reused_without_download(tmp_path: Path, fake_sdist: Path, no_download: None) -> None:
    dest = testdata.ensure_test_data(tmp_path / "cache", sdist=fake_sdist)
    mtime = (dest / "a.root").stat().st_mtime_ns
    assert testdata.ensure_test_data(dest) == dest  # no sdist, no pip: the cache is complete
    assert (dest / "a.root").stat().st_mtime_ns == mtime


def test_tampered_cache_file_is_replaced(tmp_path: Path, fake_sdist: Path, no_download: None) -> None:
    """A cached file failing its hash counts as absent and is fetched again; the good one is left alone."""
    dest = testdata.ensure_test_data(tmp_path / "cache", sdist=fake_sdist)
    (dest / "a.root").write_bytes(b"tampered")
    b_mtime = (dest / "b.root").stat().st_mtime_ns
    assert testdata.missing_samples(dest) == ["a.root"]
    testdata.ensure_test_data(dest, sdist=fake_sdist)
    assert (dest / "a.root").read_bytes() == b"first file"
    assert (dest / "b.root").stat().st_mtime_ns == b_mtime
    assert not list(dest.glob(".*.part"))


def test_env_var_sets_the_cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(testdata.ENV_VAR, str(tmp_path / "td"))
    assert testdata.default_dir() == tmp_path / "td"
    monkeypatch.delenv(testdata.ENV_VAR)
    monkeypatch.setenv("HEPADV_CACHE_DIR", str(tmp_path / "c"))
    assert testdata.default_dir() == tmp_path / "c" / "coffea-samples"


def test_sdist_with_wrong_hash_is_refused(tmp_path: Path, fake_sdist: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(testdata, "SDIST_SHA256", "0" * 64)
    with pytest.raises(DataError, match="sha256"):
        testdata.ensure_test_data(tmp_path / "cache", sdist=fake_sdist)
    assert not (tmp_path / "cache" / "a.root").exists()


def test_member_with_wrong_hash_is_not_written(
    tmp_path: Path, fake_sdist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(testdata, "SAMPLES", {**testdata.SAMPLES, "a.root": "1" * 64})
    with pytest.raises(DataError, match=r"a\.root .*sha256"):
        testdata.ensure_test_data(tmp_path / "cache", sdist=fake_sdist)
    assert not (tmp_path / "cache" / "a.root").exists()
    assert not list((tmp_path / "cache").glob(".*.part"))


def test_sdist_lacking_a_sample_is_an_error(tmp_path: Path, fake_sdist: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(testdata, "SAMPLES", {**testdata.SAMPLES, "c.root": "2" * 64})
    with pytest.raises(DataError, match=r"lacks .*c\.root"):
        testdata.ensure_test_data(tmp_path / "cache", sdist=fake_sdist)


def test_failed_download_is_a_one_line_data_error(
    tmp_path: Path, fake_sdist: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []

    def failing_pip(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        calls.append(cmd)
        return subprocess.CompletedProcess(cmd, 1, "", "noise\nERROR: No matching distribution found for coffea\n")

    monkeypatch.setattr(testdata.subprocess, "run", failing_pip)
    with pytest.raises(DataError) as err:
        testdata.ensure_test_data(tmp_path / "cache")
    assert "No matching distribution" in str(err.value)
    assert "\n" not in str(err.value)
    assert calls and calls[0][1:4] == ["-m", "pip", "download"]
    assert "--no-binary" in calls[0] and f"coffea=={testdata.COFFEA_VERSION}" in calls[0]


def test_unknown_sample_name() -> None:
    with pytest.raises(DataError, match="unknown test sample"):
        testdata.sample_path("nope.root")


@pytest.fixture(scope="session")
def real_samples() -> Path:
    """The real coffea files, fetched once per machine (skip when PyPI cannot be reached)."""
    try:
        return testdata.ensure_test_data()
    except DataError as exc:
        pytest.skip(f"real test data unavailable: {exc}")


@pytest.mark.realdata
def test_real_cache_matches_pins(real_samples: Path, capsys: pytest.CaptureFixture[str], no_download: None) -> None:
    """After the one-time fetch the cache verifies, and the script reports it without downloading."""
    assert testdata.missing_samples(real_samples) == []
    spec = importlib.util.spec_from_file_location("fetch_test_data", REPO / "scripts" / "fetch_test_data.py")
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main([]) == 0
    out = capsys.readouterr().out
    assert str(real_samples / "pfnano.root") in out
