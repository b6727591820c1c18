"""The CLI: commands, the error boundary (one red line, exit 1; usage errors exit 2)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import hepadv
from hepadv.cli.main import build_app
from hepadv.registry import manager

REPO = Path(__file__).resolve().parents[1]
runner = CliRunner()


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(build_app(), list(args))


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0
    assert result.output.strip() == f"hepadv {hepadv.__version__}"


def test_help_lists_commands() -> None:
    result = invoke("--help")
    assert result.exit_code == 0
    for command in ("plugins", "cards", "train", "evaluate"):
        assert command in result.output


def test_plugins_table() -> None:
    result = invoke("plugins")
    assert result.exit_code == 0, result.output
    assert "hepadv.attacks" in result.output
    assert "fgsm" in result.output


def test_plugins_lists_entry_point_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEPADV_LOAD_PLUGINS", "smearing")
    manager.reset()
    result = invoke("plugins")
    assert result.exit_code == 0
    assert "smearing" in result.output and "smear" in result.output


def test_cards_validate_all_shipped() -> None:
    cards = [str(p) for p in sorted((REPO / "cards").glob("*.yaml"))]
    result = invoke("cards", "validate", *cards)
    assert result.exit_code == 0, result.output
    assert result.output.count("ok ") == len(cards)


def test_cards_show_has_defaults() -> None:
    result = invoke("cards", "show", str(REPO / "cards" / "adv.yaml"), "--set", "training.epochs=2")
    assert result.exit_code == 0, result.output
    assert "epochs: 2" in result.output
    assert "relative_cap: 0.25" in result.output  # a component default filled in


def one_line_error(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ")
    return lines[0]


def test_missing_card_is_one_line() -> None:
    line = one_line_error(invoke("cards", "validate", "missing.yaml"))
    assert line.startswith("error: missing.yaml: no such card file (packaged cards: adv, ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("training: {epochs: [1\n", "YAML syntax error"),
        ("training:\n  epochz: 1\n", "training.epochz: unknown key (did you mean 'epochs'?)"),
        ("training:\n  epochs: ten\n", 'training.epochs: expected an integer >= 1, got "ten"'),
        ("model: {name: deepcvs}\n", "unknown model 'deepcvs' (did you mean 'deepcsv'?)"),
    ],
)
def test_bad_cards_are_one_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    assert expected in one_line_error(invoke("cards", "validate", str(path)))


def test_duplicate_component_is_one_line() -> None:
    import hepadv
    from hepadv.attacks.fgsm import FGSM

    class Clash:
        @hepadv.hookimpl
        def register_attacks(self, register):  # type: ignore[no-untyped-def]
            register(FGSM)

    manager.register_plugin(Clash(), "clash")
    line = one_line_error(invoke("plugins"))
    assert "'fgsm' is registered twice" in line and "clash" in line


def test_verbose_shows_traceback(tmp_path: Path) -> None:
    result = invoke("--verbose", "cards", "validate", "missing.yaml")
    assert result.exit_code != 0
    assert result.exception is not None  # re-raised for the traceback


def test_usage_error_exit_2() -> None:
    result = invoke("cards", "validate")
    assert result.exit_code == 2


def test_bad_override_is_one_line() -> None:
    line = one_line_error(invoke("cards", "validate", str(REPO / "cards" / "adv.yaml"), "--set", "training"))
    assert "expected KEY=VALUE" in line


def test_card_naming_component_of_broken_plugin(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A plugin failing at import: other commands work; a card needing it gets one line naming the cause."""
    from tests.test_registry import _fake_distribution

    _fake_distribution(tmp_path, "raise ImportError('needs libfoo')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("HEPADV_LOAD_PLUGINS", "broken")
    manager.reset()
    assert invoke("plugins").exit_code == 0
    card = tmp_path / "card.yaml"
    card.write_text("evaluation:\n  attacks:\n    - name: flip\n")
    line = one_line_error(invoke("cards", "validate", str(card)))
    assert "unknown attack 'flip'" in line
    assert "plugin 'broken' failed to load (ImportError: needs libfoo)" in line
