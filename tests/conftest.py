"""Test isolation: no entry-point autoload, plugins registered in a test are gone after it, caches in tmp."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

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


@pytest.fixture(scope="session")
def small_tagger():  # type: ignore[no-untyped-def]
    """A small MLP trained on synthetic jets, and the test split: the target of the attack tests."""
    from hepadv.cards.load import validate_card
    from hepadv.training.loop import build_model_for
    from tests.synthetic import make_prepared

    data = make_prepared(3000)
    card = validate_card({"model": {"name": "deepcsv", "params": {"hidden": 32, "layers": 2}}})
    torch.manual_seed(0)
    model = build_model_for(card, data)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = torch.as_tensor(data.train.x), torch.as_tensor(data.train.y)
    for _ in range(100):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
    model.eval()
    return data, model, torch.as_tensor(data.test.x), torch.as_tensor(data.test.y)


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny trained run (nominal + adversarial, 2 epochs): the models of the Data/MC tests."""
    from hepadv.cards.load import validate_card
    from hepadv.training.loop import train
    from tests.test_datamc import TINY

    out = tmp_path_factory.mktemp("run") / "adv"
    train(validate_card({**TINY, "output": str(out)}), progress=False)
    return out
