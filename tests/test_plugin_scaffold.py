"""``hepadv plugins new``: one package per kind, pip-installed (editable) into a throwaway venv, listed by
``hepadv plugins`` at once, passing its own generated tests; bad input gets one line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from hepadv.cli.main import build_app
from hepadv.scaffold import KINDS, plugin_name, version_range
from tests.plugin_env import HEAVY, PluginEnv, help_imports, run_steps

#: pip builds each package in subprocesses and every venv step imports torch: ~30 s per module idle.
pytestmark = pytest.mark.slow

#: (name, extra options) per generated package: every kind, and the attack kind both ways.
SCAFFOLDS = [(f"t-{kind}", ["--kind", kind]) for kind in KINDS] + [("t-free", ["--kind", "attack", "--label-free"])]


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(build_app(), list(args))


@dataclass
class Scaffolds:
    root: Path
    env: PluginEnv
    packages: list[Path]


@pytest.fixture(scope="module")
def scaffolds(tmp_path_factory: pytest.TempPathFactory) -> Scaffolds:
    root = tmp_path_factory.mktemp("scaffolds")
    for name, options in SCAFFOLDS:
        result = invoke("plugins", "new", name, *options, "--directory", str(root))
        assert result.exit_code == 0, result.output
    packages = sorted(root.glob("hepadv-*"))
    env = PluginEnv(root / "venv")
    env.install(*packages, editable=True)
    return Scaffolds(root, env, packages)


def test_layout_follows_the_guide(scaffolds: Scaffolds) -> None:
    import tomllib

    from hepadv import __version__

    assert [p.name for p in scaffolds.packages] == sorted(f"hepadv-{n}" for n, _ in SCAFFOLDS)
    for package in scaffolds.packages:
        name = plugin_name(package.name)
        meta = tomllib.loads((package / "pyproject.toml").read_text())["project"]
        assert meta["entry-points"]["hepadv"] == {name.component: name.package}
        assert meta["dependencies"] == [version_range(__version__)]
        hook = (package / name.package / "__init__.py").read_text()
        assert "import torch" not in hook and "import numpy" not in hook
        assert (package / "README.md").is_file() and list((package / "tests").glob("test_*.py"))


def test_installed_packages_are_listed_and_pass_their_tests(scaffolds: Scaffolds) -> None:
    (listing,) = run_steps(scaffolds.env, [("cli", "hepadv plugins")], scaffolds.root)
    assert "failed to load" not in listing
    for name, _ in SCAFFOLDS:
        component = plugin_name(name).component
        assert component in listing
    for kind in ("attack", "dataset", "model", "defence", "selection", "executor", "command"):
        assert f"{kind}: t" in listing  # the component column names each kind
    assert "t_dataset_attack (dataset)" in listing
    tests = [str(p / "tests") for p in scaffolds.packages]
    out = scaffolds.env.run([str(scaffolds.env.python), "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests],
                            cwd=scaffolds.root)
    assert " passed" in out.stdout and "failed" not in out.stdout


def test_help_imports_nothing_heavy_with_scaffolds_installed(scaffolds: Scaffolds) -> None:
    imported = help_imports(scaffolds.env, scaffolds.root)
    assert {plugin_name(n).package for n, _ in SCAFFOLDS} <= imported
    assert sorted(imported & set(HEAVY)) == []


@pytest.mark.parametrize(("args", "expected"), [
    (["9lives", "--kind", "attack"], "bad plugin name '9lives'"),
    (["hepadv", "--kind", "attack"], "bad plugin name 'hepadv'"),
    (["x", "--kind", "selector"], "unknown kind 'selector'; kinds: attack, dataset"),
    (["fgsm", "--kind", "attack"], "attack 'fgsm' already exists"),
    (["train", "--kind", "command"], "command 'train' already exists"),
    (["x", "--kind", "model", "--label-free"], "--label-free applies to --kind attack only"),
])
def test_bad_input_is_one_line(tmp_path: Path, args: list[str], expected: str) -> None:
    result = invoke("plugins", "new", *args, "--directory", str(tmp_path))
    assert result.exit_code == 1
    assert expected in result.output and len(result.output.strip().splitlines()) == 1
    assert list(tmp_path.iterdir()) == []


def test_existing_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "hepadv-flip").mkdir()
    result = invoke("plugins", "new", "hepadv-flip", "--kind", "attack", "--directory", str(tmp_path))
    assert result.exit_code == 1 and "hepadv-flip already exists" in result.output
    assert list((tmp_path / "hepadv-flip").iterdir()) == []


def test_names_and_version_range() -> None:
    name = plugin_name("hepadv-my-flip")
    assert (name.component, name.distribution, name.package, name.cls, name.command) == \
        ("my_flip", "hepadv-my-flip", "hepadv_my_flip", "MyFlip", "my-flip")
    assert version_range("0.1.0") == "hepadv>=0.1,<0.2"
    assert version_range("1.4.2") == "hepadv>=1.4,<2"


def test_bare_plugins_still_lists() -> None:
    bare, sub = invoke("plugins"), invoke("plugins", "list")
    assert bare.exit_code == sub.exit_code == 0
    assert "fgsm" in bare.output and bare.output == sub.output
