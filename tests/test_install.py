"""hepadv works after ``pip install`` from any folder: the wheel is built, installed into a fresh virtual environment,
and the README's three commands run verbatim (with small ``--set`` overrides) in an empty folder.

The fresh environment gets hepadv's dependencies by a ``.pth`` path to this environment's packages, minus every
hepadv distribution (so nothing from the source tree can leak in and no download is needed); hepadv itself comes
only from the wheel.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the fresh venv's bin folder, the wheel)."""
    root = tmp_path_factory.mktemp("install")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # pip must see the venvs, not a source tree
    env |= {"PIP_NO_INPUT": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    build = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                  str(root / "dist"), str(REPO)], root, env)
    assert build.returncode == 0, build.stderr
    wheel = next((root / "dist").glob("hepadv-*.whl"))
    venv = root / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], root, env)
    assert made.returncode == 0, made.stderr
    install = _run([sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q",
                    "--no-deps", "--no-index", str(wheel)], root, env)
    assert install.returncode == 0, install.stderr
    deps = root / "deps"  # this environment's packages without any hepadv distribution
    deps.mkdir()
    here = Path(sysconfig.get_paths()["purelib"])
    for entry in here.iterdir():
        if not entry.name.lower().startswith(("hepadv", "__editable__", "_hepadv")):
            (deps / entry.name).symlink_to(entry)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "hepadv-deps.pth").write_text(f"{deps}\n")
    return venv / "bin", wheel


def test_wheel_ships_the_cards_and_not_the_test_data_fetcher(installed: tuple[Path, Path]) -> None:
    _, wheel = installed
    names = zipfile.ZipFile(wheel).namelist()
    assert {"hepadv/cards/examples/adv.yaml", "hepadv/cards/examples/conservattack.yaml",
            "hepadv/cards/examples/datamc_dy.yaml"} <= set(names)
    assert not [n for n in names if n.startswith("hepadv/testdata")]


def test_three_commands_verbatim_from_an_empty_folder(installed: tuple[Path, Path], tmp_path: Path) -> None:
    bin_dir, _ = installed
    work = tmp_path / "analysis"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env |= {"PATH": f"{bin_dir}:{env.get('PATH', '')}", "HEPADV_CACHE_DIR": str(tmp_path / "cache"),
            "HEPADV_LOAD_PLUGINS": "", "COLUMNS": "120"}
    hepadv = str(bin_dir / "hepadv")
    where = _run([str(bin_dir / "python"), "-c", "import hepadv; print(hepadv.__file__)"], work, env)
    assert str(bin_dir.parent) in where.stdout, where.stdout + where.stderr  # the wheel's hepadv, not the tree's

    train = _run([hepadv, "train", "cards/adv.yaml", "--no-progress", "--set", "dataset.params.n_jets=4000",
                  "--set", "training.epochs=1", "--set", "evaluation.max_jets=500", "--set", "evaluation.plots=false"],
                 work, env)
    assert train.returncode == 0, train.stdout + train.stderr
    assert "cards/adv.yaml not found here: using the packaged card adv.yaml" in train.stdout
    assert (work / "runs" / "adv" / "nominal" / "checkpoints" / "best.pt").is_file()

    attack = _run([hepadv, "attack", "--plugin", "conservattack", "--no-progress", "--max-events", "300",
                   "--set", "n_iterations=1", "--set", "num_bins=20"], work, env)
    assert attack.returncode == 0, attack.stdout + attack.stderr
    assert list((work / "runs" / "adv" / "attacks").glob("conservattack-*/nominal/metrics.json"))

    datamc = _run([hepadv, "datamc", "--selection", "dy", "--no-progress", "--set", "toynano.n_events_mc=2000",
                   "--set", "toynano.n_events_data=1000", "--set", "chunksize=1000", "--set", "plots=false",
                   "--set", "root=false"], work, env)
    assert datamc.returncode == 0, datamc.stdout + datamc.stderr
    assert (work / "runs" / "adv" / "datamc" / "dy" / "results.json").is_file()
    assert sorted(p.name for p in work.iterdir()) == ["runs"]  # nothing else written into the user's folder
