"""docs/plugins.md stays true: every example package is built, pip-installed and run through the CLI.

Examples are fenced blocks whose first line is ``# file: <package>/<path>`` (package files, or the
``try/`` folder of the combined run), ``# run: <folder>`` (shell lines run there, after installing) or
``# python: <folder>`` (a script run there after the shell lines). The shell lines and scripts run in one
process of the throwaway venv (``run_steps``), each CLI line through the real app.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.plugin_env import HEAVY, REPO, PluginEnv, help_imports, run_steps

#: pip builds each package in subprocesses and every venv step imports torch: ~30 s per module idle.
pytestmark = pytest.mark.slow

GUIDE = REPO / "docs" / "plugins.md"
README = REPO / "README.md"  # its "Writing a plugin" example is held to the same standard
_FENCE = re.compile(r"^```[a-z]*\n(.*?)^```", re.M | re.S)
_MARKER = re.compile(r"^# (file|run|python): (\S+).*\n")


@dataclass
class Guide:
    root: Path
    env: PluginEnv
    packages: list[Path]
    runs: list[tuple[str, str]]  # (folder, shell block)
    scripts: list[tuple[str, str]]  # (folder, python block)


def guide_blocks() -> list[tuple[str, str, str]]:
    """(marker, target, body) of every marked block of the guide."""
    blocks = []
    for body in _FENCE.findall(GUIDE.read_text() + README.read_text()):
        m = _MARKER.match(body)
        if m:
            blocks.append((m.group(1), m.group(2), body[m.end():]))
    return blocks


@pytest.fixture(scope="module")
def guide(tmp_path_factory: pytest.TempPathFactory) -> Guide:
    root = tmp_path_factory.mktemp("guide")
    runs, scripts = [], []
    for marker, target, body in guide_blocks():
        if marker == "file":
            path = root / target
            assert not path.exists(), f"{target} appears twice in {GUIDE.name}"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(body)
        else:
            (runs if marker == "run" else scripts).append((target, body))
    packages = sorted(p for p in root.iterdir() if (p / "pyproject.toml").is_file())
    env = PluginEnv(root / "venv")
    env.install(*packages, *sorted(p for p in (REPO / "plugins").iterdir() if (p / "pyproject.toml").is_file()))
    return Guide(root, env, packages, runs, scripts)


def _entry_point(package: Path) -> str:
    import tomllib

    meta = tomllib.loads((package / "pyproject.toml").read_text())["project"]
    (name,) = meta["entry-points"]["hepadv"]
    return name


def test_guide_covers_every_kind_with_the_conventions(guide: Guide) -> None:
    import tomllib

    from hepadv import __version__
    from hepadv.scaffold import version_range

    hooks: dict[str, list[str]] = {}
    for package in guide.packages:
        meta = tomllib.loads((package / "pyproject.toml").read_text())["project"]
        assert meta["dependencies"] == [version_range(__version__)], package.name
        assert package.name == "hepadv-" + _entry_point(package)
        hook_module = (package / ("hepadv_" + _entry_point(package)) / "__init__.py").read_text()
        assert not re.search(r"^(import|from) (torch|numpy)", hook_module, re.M), f"{package.name}: heavy hook module"
        for hook in re.findall(r"^def (register_\w+)", hook_module, re.M):
            hooks.setdefault(hook, []).append(package.name)
    assert set(hooks) == {"register_datasets", "register_models", "register_attacks", "register_defences",
                          "register_selections", "register_executors", "register_commands"}
    attacks = {p.name: (p / f"hepadv_{_entry_point(p)}" / "attack.py").read_text()
               for p in guide.packages if p.name in hooks["register_attacks"]}
    per_event = [src for src in attacks.values() if "(Attack)" in src]
    needs_labels = {re.search(r"needs_labels: ClassVar\[bool\] = (\w+)", src).group(1) for src in per_event}
    assert needs_labels == {"True", "False"}  # a label-using and a label-free per-event attack
    assert any("(DatasetAttack)" in src for src in attacks.values())
    defences = [(p / f"hepadv_{_entry_point(p)}").glob("*.py") for p in guide.packages
                if p.name in hooks["register_defences"]]
    sources = [f.read_text() for files in defences for f in files]
    assert any("(TrainingDefence)" in src for src in sources) and any("(FilterDefence)" in src for src in sources)
    assert guide.runs and guide.scripts


def test_examples_run_through_the_cli(guide: Guide) -> None:
    ((folder, block),) = guide.runs
    lines = [line for line in block.splitlines() if line.strip() and not line.startswith("#")]
    steps = [("cli", line) for line in lines] + [("python", code) for f, code in guide.scripts if f == folder]
    *outputs, script_output, flip_output = run_steps(guide.env, [*steps, ("python", _README_FLIP)],
                                                     guide.root / folder)
    listing = outputs[0]
    assert "failed to load" not in listing
    for package in guide.packages:
        assert _entry_point(package) in listing, f"{package.name} missing from hepadv plugins"

    metrics = json.loads((guide.root / "try" / "runs" / "try" / "metrics.json").read_text())
    attacks = {a["name"]: a for a in metrics["attacks"]}
    assert set(attacks) == {"one_feature", "jet_scale"}
    assert attacks["one_feature"]["needs_labels"] and not attacks["jet_scale"]["needs_labels"]
    for variant in ("nominal", "smooth"):
        scores = metrics["variants"][variant]["metrics"]
        assert 0.6 < scores["raw"]["bvslight"]["auc"] <= 1.0
        assert scores[attacks["one_feature"]["id"]]["bvslight"]["auc"] < scores["raw"]["bvslight"]["auc"]
        assert attacks["jet_scale"]["id"] in scores
    assert set(metrics["transfer"]) == {attacks["one_feature"]["id"]}
    inputs = next(o for line, o in zip(lines, outputs, strict=True) if line.startswith("hepadv inputs"))
    assert "sip3d\tfloat" in inputs and "n_tracks\tinteger" in inputs and "classes: light, b" in inputs
    _check_dataset_level_attack(guide.root / folder / "runs" / "try")
    _check_datamc(guide.root / folder / "runs" / "datamc")
    _check_filter(guide.root / folder / "runs" / "donut" / "defences")

    assert "moved: ['sip3d', 'mass_sv']" in script_output
    raw, flipped = (float(v) for v in flip_output.split()[-2:])
    assert flipped < raw  # the README's flip steps down the loss


def _check_dataset_level_attack(run: Path) -> None:
    """mean_free: the AUC drops while every feature's mean over the attacked set stays where it was."""
    import numpy as np

    (out,) = (run / "attacks").glob("mean_free-*")
    summary = json.loads((out / "summary.json").read_text())
    assert summary["plugin"] == "mean_free" and summary["n_events"] == 1000
    auc = summary["variants"]["nominal"]["auc"]["bvslight"]
    assert auc["attacked"] < auc["raw"]
    with np.load(out / "nominal" / "events.npz") as events:
        clean, adv = events["x_clean"].astype(np.float64), events["x_adv"].astype(np.float64)
    assert np.abs(adv - clean).max() > 0.1  # events moved ...
    tolerance = 1e-4 * clean.std(axis=0).max()
    assert np.allclose(adv.mean(axis=0), clean.mean(axis=0), rtol=0, atol=tolerance)  # ... their means did not


def _check_datamc(out: Path) -> None:
    """dimuon_jets selected events in both samples through the threads executor; divergences were measured."""
    results = json.loads((out / "results.json").read_text())
    assert results["selection"] == "dimuon_jets" and results["executor"] == "threads" and results["complete"]
    for sample in ("data", "mc"):
        cutflow = results["cutflow"][sample]
        assert cutflow["all"] == results["n_events"][sample]
        assert 0 < cutflow[">= 1 clean jet"] <= cutflow["two opposite-sign muons"] < cutflow["all"]
        assert results["n_jets"][sample] == cutflow[">= 1 clean jet"]
    assert results["divergences"]


def _check_filter(out: Path) -> None:
    """knn_filter through hepadv defend: PGD fooled some background, the filter removed some of it, let clean in."""
    (path,) = out.glob("filter-*/metrics.json")
    metrics = json.loads(path.read_text())
    assert metrics["defence"]["name"] == "knn_filter" and len(metrics["per_run"]) == 2
    white, grey = metrics["white_box"], metrics["grey_box"]
    assert white["initial_mean"] > 0 and grey["initial"]["mean"] > 0
    assert white["corrected_mean"] < white["initial_mean"] and grey["corrected"]["mean"] < grey["initial"]["mean"]
    assert min(white["detector_efficiency_clean"]) > 0.5  # not "reject everything", which would also correct
    assert min(white["detector_auc"]) > 0.5


#: The README's minimal attack (flip) applied to the combined run's nominal model.
_README_FLIP = """\
import torch
from hepadv import get_attack
from hepadv.models.base import attack_loss
from hepadv.runs import Run
run = Run("runs/try")
trained, data = run.load("nominal"), run.data()
x, y = torch.as_tensor(data.test.x[:2000]), torch.as_tensor(data.test.y[:2000])
x_adv = get_attack("flip")(epsilon=0.2)(trained.model, x, y, trained.spec)
with torch.no_grad():
    losses = [float(attack_loss(trained.model, trained.model(v), y)) for v in (x, x_adv)]
print(*losses)
"""


def test_help_imports_nothing_heavy_with_every_plugin_installed(guide: Guide) -> None:
    imported = help_imports(guide.env, guide.root)
    assert {"hepadv_smearing", *("hepadv_" + _entry_point(p) for p in guide.packages)} <= imported
    assert sorted(imported & set(HEAVY)) == []
