"""Run cards: every shipped card validates; every kind of mistake gets one clear line."""

from __future__ import annotations

from pathlib import Path

import pytest

from hepadv.cards import apply_overrides, load_card
from hepadv.errors import CardError

REPO = Path(__file__).resolve().parents[1]
CARDS = sorted(c for c in (REPO / "cards").glob("*.yaml") if not c.name.startswith("datamc_"))
DATAMC_CARDS = sorted((REPO / "cards").glob("datamc_*.yaml"))


def write(tmp_path: Path, text: str, name: str = "card.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("card", CARDS, ids=[c.name for c in CARDS])
def test_every_shipped_card_validates(card: Path) -> None:
    """Every shipped card names its kind and validates through the one loader."""
    from hepadv.cards import load

    kind = load(card).kind
    assert f"kind: {kind}" in card.read_text()
    if kind == "attack":  # attack cards (hepadv attack) hold one attack's params
        assert load(card, "attack").attack.validated_params is not None
        return
    if kind == "datamc":
        return  # test_every_shipped_datamc_card_validates
    if kind == "defence":  # hepadv defend cards: a base run, an attack and a defence
        dcard = load(card, "defence")
        assert dcard.run_card.variants and dcard.runs >= 2
        assert dcard.attack.validated_params is not None and dcard.defence.validated_params is not None
        return
    loaded = load_card(card)
    assert loaded.variants
    for _kind, _where, spec in loaded.component_specs():
        assert spec.validated_params is not None


@pytest.mark.parametrize("card", DATAMC_CARDS, ids=[c.name for c in DATAMC_CARDS])
def test_every_shipped_datamc_card_validates(card: Path) -> None:
    from hepadv.cards import load

    loaded = load(card, "datamc")
    assert loaded.selection.validated_params is not None and loaded.taggers
    # datamc_SELECTION.yaml, a variant of it (datamc_dy_slurm.yaml), real files, or a named mismodelling
    assert (card.name.startswith(f"datamc_{loaded.selection.name}") or loaded.data is not None
            or card.stem.removeprefix("datamc_") in (loaded.toynano.effects or {}))


def test_every_named_mismodelling_has_a_card_at_its_documented_size() -> None:
    """cards/datamc_NAME.yaml for each toynano effect (ip_scale is the old cards' mismodelling)."""
    from hepadv.cards import load
    from hepadv.datamc.toynano import EFFECTS

    for name, effect in EFFECTS.items():
        if name == "ip_scale":
            continue
        card = load(REPO / "cards" / f"datamc_{name}.yaml", "datamc")
        assert card.toynano.effects == {name: effect.default}, name
        assert "{selection}" in str(card.output) and card.bootstrap.replicas >= 100


def test_shipped_datamc_cards_exist() -> None:
    assert {"datamc_dy.yaml", "datamc_wc.yaml", "datamc_ttsemilep.yaml", "datamc_real_dy.yaml"} <= {
        c.name for c in DATAMC_CARDS}


def test_shipped_cards_exist() -> None:
    assert {"nominal.yaml", "adv.yaml", "pfnano.yaml"} <= {c.name for c in CARDS}


def test_empty_mapping_card_gets_defaults(tmp_path: Path) -> None:
    card = load_card(write(tmp_path, "{}\n"))
    assert card.dataset.name == "toyjets"
    assert card.training.gamma == 25
    assert card.training.lr == 1e-4
    assert card.preprocess.split == (0.72, 0.08, 0.20)
    assert [v.name for v in card.variants] == ["nominal"]


def test_missing_file() -> None:
    with pytest.raises(CardError, match=r"^nope\.yaml: no such card file \(packaged cards: adv, .*\)$"):
        load_card("nope.yaml")


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    path = write(tmp_path, "training:\n  epochs: [1, 2\n")
    with pytest.raises(CardError) as exc:
        load_card(path)
    assert str(exc.value).startswith(f"{path}:3:")
    assert "YAML syntax error" in str(exc.value)


def test_top_level_must_be_mapping(tmp_path: Path) -> None:
    with pytest.raises(CardError, match="expected a mapping of sections at the top level, got list"):
        load_card(write(tmp_path, "- a\n- b\n"))


def test_wrong_type_names_field_and_expectation(tmp_path: Path) -> None:
    path = write(tmp_path, "training:\n  epochs: ten\n")
    with pytest.raises(CardError) as exc:
        load_card(path)
    assert str(exc.value) == f'{path}: training.epochs: expected an integer >= 1, got "ten"'


def test_out_of_range(tmp_path: Path) -> None:
    path = write(tmp_path, "training:\n  epochs: 0\n")
    with pytest.raises(CardError, match=r"training\.epochs: expected a value >= 1, got 0"):
        load_card(path)


def test_unknown_key_suggests(tmp_path: Path) -> None:
    path = write(tmp_path, "training:\n  epoch: 3\n")
    with pytest.raises(CardError) as exc:
        load_card(path)
    msg = str(exc.value)
    assert "training.epoch: unknown key (did you mean 'epochs'?)" in msg
    assert "valid keys:" in msg


def test_unknown_top_level_section(tmp_path: Path) -> None:
    with pytest.raises(CardError, match=r"trainig: unknown key \(did you mean 'training'\?\)"):
        load_card(write(tmp_path, "trainig: {}\n"))


def test_unknown_component_name(tmp_path: Path) -> None:
    path = write(tmp_path, "dataset:\n  name: toyjet\n")
    with pytest.raises(CardError) as exc:
        load_card(path)
    assert "dataset.name: unknown dataset 'toyjet' (did you mean 'toyjets'?)" in str(exc.value)


def test_component_params_validated_by_component(tmp_path: Path) -> None:
    path = write(tmp_path, "evaluation:\n  attacks:\n    - name: fgsm\n      params: {epsilon: -1}\n")
    with pytest.raises(CardError, match=r"evaluation\.attacks\.0\.params\.epsilon: expected a value >= 0, got -1"):
        load_card(path)
    path = write(tmp_path, "model:\n  name: deepcsv\n  params: {hiden: 3}\n")
    with pytest.raises(CardError, match=r"model\.params\.hiden: unknown key \(did you mean 'hidden'\?\)"):
        load_card(path)


def test_variant_training_override_validated(tmp_path: Path) -> None:
    path = write(tmp_path, "variants:\n  - name: a\n    training: {epochs: x}\n")
    with pytest.raises(CardError, match=r"variants\.0\.training\.epochs: expected an integer"):
        load_card(path)


def test_duplicate_variant_names(tmp_path: Path) -> None:
    path = write(tmp_path, "variants:\n  - name: a\n  - name: a\n")
    with pytest.raises(CardError, match="'a' appears twice"):
        load_card(path)


def test_bad_split(tmp_path: Path) -> None:
    with pytest.raises(CardError, match=r"preprocess\.split: expected three positive fractions summing to 1"):
        load_card(write(tmp_path, "preprocess:\n  split: [0.5, 0.5, 0.5]\n"))


def test_overrides_parse_yaml_values(tmp_path: Path) -> None:
    path = write(tmp_path, "variants:\n  - name: a\n  - name: b\n")
    card = load_card(path, ["training.epochs=3", "training.lr=0.01", "variants.1.training.epochs=7",
                            "evaluation.every_epoch=false", "dataset.params.n_jets=1000"])
    assert card.training.epochs == 3
    assert card.training.lr == 0.01
    assert card.variant_training(card.variants[1]).epochs == 7
    assert card.evaluation.every_epoch is False
    assert card.dataset.validated_params.n_jets == 1000


def test_override_errors() -> None:
    with pytest.raises(CardError, match="expected KEY=VALUE"):
        apply_overrides({}, ["training.epochs"])
    with pytest.raises(CardError, match="not an index"):
        apply_overrides({"variants": [{"name": "a"}]}, ["variants.3.name=b"])


def test_override_error_reported_as_card_field(tmp_path: Path) -> None:
    with pytest.raises(CardError, match=r'training\.epochs: expected an integer >= 1, got "many"'):
        load_card(write(tmp_path, "{}"), ["training.epochs=many"])


def test_paths_resolve_relative_to_card(tmp_path: Path) -> None:
    sub = tmp_path / "cards"
    sub.mkdir()
    path = write(sub, "dataset:\n  name: pfnano\n  params:\n    files: [../data/x.root, /abs/y.root]\n")
    card = load_card(path)
    files = card.dataset.validated_params.files
    assert files[0] == sub / "../data/x.root"
    assert files[1] == Path("/abs/y.root")


def test_cards_never_evaluate_code(tmp_path: Path) -> None:
    path = write(tmp_path, "name: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(CardError, match="YAML syntax error"):
        load_card(path)
