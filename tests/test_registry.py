"""The plugin registry: built-ins, hand-registered plugins, real entry points, and every failure mode."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import ClassVar

import pytest

import hepadv
from hepadv.attacks.base import Attack
from hepadv.errors import RegistryError, UnknownComponentError
from hepadv.registry import manager
from hepadv.registry.manager import get_registry, plugin_infos, register_plugin


class _Dummy(Attack):
    name: ClassVar[str] = "dummy"

    def perturb(self, model, x, y, masks, rng):  # type: ignore[no-untyped-def]
        return x


class _DummyPlugin:
    @hepadv.hookimpl
    def register_attacks(self, register):  # type: ignore[no-untyped-def]
        register(_Dummy)


def test_builtins_register_through_hooks() -> None:
    assert hepadv.get_attack("fgsm").name == "fgsm" and hepadv.get_attack("pgd").name == "pgd"
    assert hepadv.get_model("deepcsv").name == "deepcsv"
    assert {"toyjets", "pfnano", "arrays"} <= set(get_registry("dataset").names())
    assert "adversarial_training" in get_registry("defence")
    builtin = {i.name: i for i in plugin_infos() if i.source == "built-in"}
    assert builtin["hepadv.attacks"].components == {
        "attack": ["conservattack", "fgsm", "gaussian_noise", "pgd", "systematic_shift"]}


def test_unknown_name_lists_valid_and_suggests() -> None:
    with pytest.raises(UnknownComponentError) as exc:
        hepadv.get_attack("fgms")
    msg = str(exc.value)
    assert "unknown attack 'fgms'" in msg
    assert "did you mean 'fgsm'?" in msg
    assert "valid names: conservattack, fgsm, gaussian_noise" in msg


def test_plugin_object_registers_and_is_removed_after_test() -> None:
    register_plugin(_DummyPlugin(), "dummy-plugin")
    assert hepadv.get_attack("dummy") is _Dummy
    info = next(i for i in plugin_infos() if i.name == "dummy-plugin")
    assert info.components == {"attack": ["dummy"]}


def test_previous_test_plugin_is_gone() -> None:
    assert "dummy" not in get_registry("attack")


def test_duplicate_name_names_both_plugins() -> None:
    register_plugin(_DummyPlugin(), "first-plugin")
    register_plugin(_DummyPlugin(), "second-plugin")
    with pytest.raises(RegistryError) as exc:
        get_registry("attack")
    msg = str(exc.value)
    assert "'dummy' is registered twice" in msg
    assert "first-plugin" in msg and "second-plugin" in msg


def test_component_without_name_is_rejected() -> None:
    class Nameless:
        pass

    class Plugin:
        @hepadv.hookimpl
        def register_models(self, register):  # type: ignore[no-untyped-def]
            register(Nameless)

    register_plugin(Plugin(), "nameless")
    with pytest.raises(RegistryError, match="without a string 'name'"):
        get_registry("model")


def test_misspelt_hook_is_caught() -> None:
    class Typo:
        @hepadv.hookimpl
        def register_atacks(self, register):  # type: ignore[no-untyped-def]
            pass

    register_plugin(Typo(), "typo-plugin")
    with pytest.raises(RegistryError, match=r"typo-plugin.*unknown hook .register_atacks."):
        get_registry("attack")


def test_plugin_may_accept_subset_of_arguments() -> None:
    called = []

    class NoArgs:
        @hepadv.hookimpl
        def register_selections(self):  # type: ignore[no-untyped-def]
            called.append(True)

    register_plugin(NoArgs(), "no-args")
    get_registry("selection")
    assert called == [True]


def test_real_entry_point_plugin_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """plugins/hepadv-smearing is pip-installed by the test command and found through its entry point."""
    monkeypatch.setenv("HEPADV_LOAD_PLUGINS", "smearing")
    manager.reset()
    smear = hepadv.get_attack("smear")
    info = next(i for i in plugin_infos() if i.name == "smearing")
    assert (info.source, info.version, info.error) == ("entry point", _smearing_version(), None)
    assert info.components == {"attack": ["smear"]}
    assert smear.needs_labels is False


def _smearing_version() -> str:
    import tomllib

    return tomllib.loads((Path(__file__).parents[1] / "plugins" / "hepadv-smearing" / "pyproject.toml")
                         .read_text())["project"]["version"]


def test_load_plugins_env_restricts_entry_points() -> None:
    # the autouse fixture sets HEPADV_LOAD_PLUGINS="" : no entry point loads
    assert "smear" not in get_registry("attack")
    assert all(i.source != "entry point" for i in plugin_infos())


def _fake_distribution(root: Path, module_body: str, ep_name: str = "broken") -> None:
    dist = root / f"hepadv_{ep_name}-1.2.3.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text(f"Metadata-Version: 2.1\nName: hepadv-{ep_name}\nVersion: 1.2.3\n")
    (dist / "entry_points.txt").write_text(f"[hepadv]\n{ep_name} = hepadv_{ep_name}_mod\n")
    (root / f"hepadv_{ep_name}_mod.py").write_text(textwrap.dedent(module_body))


def test_plugin_failing_at_import_is_reported_not_fatal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_distribution(tmp_path, "raise ImportError('needs libfoo')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("HEPADV_LOAD_PLUGINS", "broken")
    manager.reset()
    assert hepadv.get_attack("fgsm")  # everything else still works
    info = next(i for i in plugin_infos() if i.name == "broken")
    assert info.version == "1.2.3"
    assert info.error == "ImportError: needs libfoo"


def test_plugin_raising_in_hook_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_distribution(tmp_path, """
        import hepadv

        @hepadv.hookimpl
        def register_attacks(register):
            raise RuntimeError("boom")
    """, ep_name="hookfail")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("HEPADV_LOAD_PLUGINS", "hookfail")
    manager.reset()
    assert hepadv.get_attack("fgsm")
    info = next(i for i in plugin_infos() if i.name == "hookfail")
    assert info.error == "register_attacks raised RuntimeError: boom"


def test_help_does_not_import_heavy_modules() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from hepadv.cli.main import build_app\n"
        "r = CliRunner().invoke(build_app(), ['--help'])\n"
        "assert r.exit_code == 0, r.output\n"
        "heavy = [m for m in ('torch', 'coffea', 'dask', 'uproot', 'matplotlib') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_commands_are_listed_per_plugin_and_a_failing_command_hook_is_reported() -> None:
    from hepadv.cli.main import build_app

    class Commands:
        @hepadv.hookimpl
        def register_commands(self, app):  # type: ignore[no-untyped-def]
            app.command("hello")(lambda: None)

    class Broken:
        @hepadv.hookimpl
        def register_commands(self, app):  # type: ignore[no-untyped-def]
            raise RuntimeError("no typer here")

    register_plugin(Commands(), "commands-plugin")
    register_plugin(Broken(), "broken-commands")
    app = build_app()  # the broken hook does not stop the CLI
    assert "hello" in [c.name for c in app.registered_commands]
    infos = {i.name: i for i in plugin_infos()}
    assert infos["commands-plugin"].components == {"command": ["hello"]}
    assert infos["broken-commands"].error == "register_commands raised RuntimeError: no typer here"
    import typer.main

    every_command = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    assert {"plugins", "cards", "train", "evaluate"} <= every_command
    assert set(infos["hepadv.commands"].components["command"]) == every_command - {"hello"}
