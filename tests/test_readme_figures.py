"""README figures: every measured number comes from scripts/readme_figures.py and names its commit."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "tests" / "data" / "readme_figures"
#: figure -> the small deterministic metrics file its golden rendering comes from
FIXTURES = {"demo": "metrics_adv.json", "transfer": "metrics_adv.json", "distortions": "metrics_distortions.json",
            "pgd": "metrics_distortions.json", "benchmark": "benchmark.json", "attacks": "attacks.json",
            "conservattack-benchmark": "conservattack_benchmark.json", "sf": "sf_results.json",
            "benchmark-gpu": "benchmark_gpu.json", "datamc": "datamc.json", "datamc-cost": "datamc_cost.json",
            "datamc-real": "datamc_real.json", "memory": "memory.json",
            "defences-conservattack": "defences_conservattack.json"}
#: a table cell holding only measured numbers: 0.9442, 0.932 (-0.0120), 87.0k, 0.97 / 1.09
NUMBER_CELL = re.compile(r"[\s\d.+\-/()k%]*\d\.\d+[\s\d.+\-/()k%]*")


def number_cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|") if NUMBER_CELL.fullmatch(c.strip())]


def _script():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("readme_figures", REPO / "scripts" / "readme_figures.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["readme_figures"] = module
    spec.loader.exec_module(module)
    return module


rf = _script()
README = (REPO / "README.md").read_text()


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_rendering_of_fixed_metrics_matches_golden(name: str) -> None:
    _run, render = rf.FIGURES[name]
    assert render(json.loads((DATA / FIXTURES[name]).read_text())) == (DATA / f"{name}.md").read_text()


def test_every_block_is_a_known_figure_with_its_commit() -> None:
    found = rf.blocks(README)
    assert {"demo", "transfer", "distortions", "pgd", "benchmark"} <= set(found)
    in_git = (REPO / ".git").exists() and shutil.which("git") is not None
    for name, body in found.items():
        assert name in rf.FIGURES, f"block {name!r} has no renderer in scripts/readme_figures.py"
        if rf.PENDING.search(body) and not rf.PROVENANCE.search(body):
            assert not re.search(r"\d\.\d", body), f"block {name!r} is not yet measured but holds numbers"
            continue
        lines = rf.PROVENANCE.findall(body)
        assert len(lines) == 1, f"block {name!r}: expected one 'Measured at commit ...' line"
        m = rf.PROVENANCE.search(body)
        assert m is not None and not m.group("dirty"), f"block {name!r} was measured on uncommitted code"
        if in_git:
            known = subprocess.run(["git", "cat-file", "-e", f"{m.group('commit')}^{{commit}}"], cwd=REPO,
                                   capture_output=True)
            assert known.returncode == 0, f"block {name!r}: commit {m.group('commit')} is not in the history"


def test_no_table_of_numbers_outside_a_block() -> None:
    outside = rf.BLOCK.sub("", README)
    stray = [line for line in outside.splitlines() if line.startswith("|") and number_cells(line)]
    assert not stray, f"measured numbers outside a figures block (render them from a run): {stray}"
    assert number_cells("| nominal | 0.9442 | 0.932 (-0.0120) | 87.0k | 0.97 / 1.09 | 1024 |") == [
        "0.9442", "0.932 (-0.0120)", "87.0k", "0.97 / 1.09"]
    assert not number_cells("| `fgsm` | shift capped at 0.25 \\|x\\| (eq. 4) |")


def test_script_rewrites_only_the_blocks(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    for key, fixture in (("adv", "metrics_adv.json"), ("adv-distortions", "metrics_distortions.json")):
        (runs / key).mkdir(parents=True)
        shutil.copy(DATA / fixture, runs / key / "metrics.json")
    shutil.copy(DATA / "benchmark.json", runs / "benchmark.json")
    readme = tmp_path / "README.md"
    text = ("# t\nkept 1\n<!-- figures:demo -->\nold 0.944\n<!-- /figures:demo -->\nkept 2\n"
            "<!-- figures:distortions -->\n<!-- /figures:distortions -->\nkept 3 | 0.5 |\n"
            "<!-- figures:benchmark -->\nx\n<!-- /figures:benchmark -->\n")
    readme.write_text(text)
    rf.main(["--readme", str(readme), "--runs-dir", str(runs), "--from-runs", "--set", "training.epochs=2"])
    new = readme.read_text()
    assert rf.BLOCK.sub("", new) == rf.BLOCK.sub("", text)  # everything outside the blocks untouched
    found = rf.blocks(new)
    for name in ("demo", "distortions", "benchmark"):
        assert found[name].startswith((DATA / f"{name}.md").read_text() + "\n_Measured at commit `")
        assert rf.PROVENANCE.search(found[name])
    assert "`hepadv train cards/adv.yaml --set training.epochs=2`" in found["demo"]  # overrides are shown
    assert "on a copy of the demo models" in found["distortions"]
    rf.main(["--readme", str(readme), "--runs-dir", str(runs), "--from-runs", "--set", "training.epochs=2"])
    assert readme.read_text() == new  # idempotent

    with pytest.raises(SystemExit, match="unknown figure 'nope'"):
        rf.main(["nope", "--readme", str(readme), "--from-runs"])
    with pytest.raises(SystemExit, match=r"expected one <!-- figures:transfer --> block, found 0"):
        rf.main(["transfer", "--readme", str(readme), "--runs-dir", str(runs), "--from-runs"])


def test_run_commands_are_what_make_demo_runs(tmp_path: Path) -> None:
    assert rf.command_line("adv", [], None) == ["hepadv", "train", "cards/adv.yaml", "--no-progress", "--overwrite"]
    assert rf.RUNS["adv"].display([]) == "hepadv train cards/adv.yaml"
    assert "hepadv train cards/adv.yaml --overwrite" in (REPO / "Makefile").read_text()
    evaluate = rf.command_line("adv-distortions", [], tmp_path)
    assert evaluate[:3] == ["hepadv", "evaluate", "cards/adv.yaml"]
    assert f"output={tmp_path.resolve() / 'adv-distortions'}" in evaluate
    assert rf.DISTORTIONS.split("=", 1)[1] in " ".join(README.split())  # the list the README's example shows


def test_datamc_figures_run_shipped_cards() -> None:
    """Every Data/MC figure runs a shipped card, each named mismodelling in every selection plus the ablations."""
    for rows in rf.DATAMC.values():
        for _label, args in rows:
            assert (REPO / args[0]).is_file(), args[0]
    labels = [label for label, _ in rf.DATAMC["datamc"]]
    assert len(labels) == len(rf.MISMODELLINGS) * len(rf.SELECTIONS) + len(rf.SELECTIONS)


def test_defence_figures_run_the_shipped_conservattack_cards() -> None:
    """The defence table runs the three CONSERVAttack defence cards (not the PGD baselines)."""
    import yaml

    for rows in rf.DEFENCES.values():
        for _label, card in rows:
            assert (REPO / card).is_file(), card
            assert yaml.safe_load((REPO / card).read_text())["attack"]["name"] == "conservattack", card


def test_gpu_tables_are_two_runs_measured_anywhere_and_rendered_with_git(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """benchmark-gpu: an eager and a compiled run (``BENCHMARK_MODES``); ``--measure-only`` runs them on a GPU
    machine without git or README, ``--from-runs`` renders them where the history is, naming their device."""
    runs = tmp_path / "runs"
    runs.mkdir()
    calls: list[list[str]] = []

    def fake_run(cmd: list[str], **kwargs: object) -> None:  # the benchmark, writing what it measured
        calls.append(cmd)
        mode = "compiled" if "--compile" in cmd else "eager"
        fixture = json.loads((DATA / "benchmark_gpu.json").read_text())[mode]
        Path(cmd[cmd.index("--json") + 1]).write_text(json.dumps(fixture))

    def no_git(*args: str) -> str:
        raise AssertionError("--measure-only must not need git")

    readme = tmp_path / "README.md"
    readme.write_text("<!-- figures:benchmark-gpu -->\n_Not yet measured._\n<!-- /figures:benchmark-gpu -->\n")
    monkeypatch.setattr(rf.subprocess, "run", fake_run)
    monkeypatch.setattr(rf, "git", no_git)
    rf.main(["benchmark-gpu", "--readme", str(readme), "--runs-dir", str(runs), "--measure-only"])
    assert [c[1:] for c in calls] == [
        ["benchmarks/training_throughput.py", *rf.BENCHMARKS["benchmark-gpu"], "--batches", "16384,65536",
         "--json", str(runs.resolve() / "benchmark-gpu-eager.json")],
        ["benchmarks/training_throughput.py", *rf.BENCHMARKS["benchmark-gpu"], "--batches", "65536", "--compile",
         "--json", str(runs.resolve() / "benchmark-gpu-compiled.json")]]
    assert "Not yet measured" in readme.read_text()  # untouched

    monkeypatch.undo()
    rf.main(["benchmark-gpu", "--readme", str(readme), "--runs-dir", str(runs), "--from-runs"])
    body = rf.blocks(readme.read_text())["benchmark-gpu"]
    assert body.startswith((DATA / "benchmark-gpu.md").read_text() + "\n_Measured at commit `")
    fixture = json.loads((DATA / "benchmark_gpu.json").read_text())["eager"]
    assert body.rstrip().endswith(f"; {fixture['device_name']}, torch {fixture['torch']}._")  # where it ran
    assert "--compile" in body and "**reached**" in body


def test_memory_figures_measure_the_peak_rss_of_the_child() -> None:
    """The memory block's measurement: a child that holds 300 MiB reads as at least that (and not hugely more)."""
    code = "import numpy as np; a = np.ones(300 * 2**20 // 8); print(a.sum())"
    rss, seconds = rf.max_rss_run([sys.executable, "-c", code], dict(os.environ))
    assert 300 * 1024 <= rss < 600 * 1024 and seconds > 0
    # Measured from a parent that holds 1 GiB (pytest on CI did): the child's figure must not carry the parent's.
    parent = ("import numpy as np, os, sys; sys.path.insert(0, 'scripts'); import readme_figures as rf; "
              "big = np.ones(2**30 // 8); "
              f"print(rf.max_rss_run([sys.executable, '-c', {code!r}], dict(os.environ))[0])")
    out = subprocess.run([sys.executable, "-c", parent], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert 300 * 1024 <= int(out.stdout.split()[-1]) < 600 * 1024, out.stdout
    with pytest.raises(SystemExit, match="failed \\(exit 3\\)"):
        rf.max_rss_run([sys.executable, "-c", "raise SystemExit(3)"], dict(os.environ))
    commands = [shown for shown, _ in rf.MEMORY]
    assert commands == ["hepadv train cards/adv.yaml", "hepadv attack --plugin conservattack",
                        "hepadv datamc --selection dy"]
    for shown, args in rf.MEMORY:  # the measured command is the shown one, outputs redirected
        assert args[0] == shown.split()[1] and all(w in args for w in shown.split()[2:])
