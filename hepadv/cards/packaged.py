"""The example cards shipped inside the package, so every command works after ``pip install`` from any folder.

``hepadv cards list`` shows them, ``hepadv cards init [DIR]`` copies them, and a card path that does not exist
locally but names one of them (``cards/adv.yaml``, ``adv.yaml`` or ``adv``) resolves to it, saying so in one line.
Cards refer to each other by file name (``card: adv.yaml``), which resolves beside them: inside the package for
the packaged cards, beside the copies after ``cards init``.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

from hepadv.errors import CardError


def examples_dir() -> Path:
    """The folder of the packaged example cards."""
    return Path(str(resources.files("hepadv.cards") / "examples"))


def packaged_cards() -> dict[str, Path]:
    """``{name: path}`` of every packaged card, by name (``adv`` for ``adv.yaml``)."""
    return {p.stem: p for p in sorted(examples_dir().glob("*.yaml"))}


def kind_of(path: Path) -> str:
    """The ``kind:`` a packaged card names (they all do)."""
    for line in path.read_text().splitlines():
        if line.startswith("kind:"):
            return line.split(":", 1)[1].strip()
    return "run"


def resolve_card_path(path: Path) -> tuple[Path, str | None]:
    """``path`` when it exists, else the packaged card it names, with the note to print; else a one-line error."""
    if path.exists():
        return path, None
    name = path.name[:-5] if path.name.endswith(".yaml") else path.name
    packaged = packaged_cards()
    plain = len(path.parts) == 1 or (len(path.parts) == 2 and path.parts[0] == "cards")
    if plain and name in packaged:
        return packaged[name], (f"{path} not found here: using the packaged card {name}.yaml "
                                f"(hepadv cards init copies the examples into a folder of yours)")
    listing = ", ".join(packaged)
    raise CardError(f"{path}: no such card file (packaged cards: {listing})")


def init_cards(folder: Path, overwrite: bool = False) -> list[Path]:
    """Copy every packaged card into ``folder``; an existing file is kept unless ``overwrite``."""
    folder.mkdir(parents=True, exist_ok=True)
    existing = [folder / p.name for p in packaged_cards().values() if (folder / p.name).exists()]
    if existing and not overwrite:
        raise CardError(f"{folder}: {', '.join(p.name for p in existing)} already exist(s); pass --overwrite to "
                        "replace them")
    written = []
    for p in packaged_cards().values():
        shutil.copyfile(p, folder / p.name)
        written.append(folder / p.name)
    return written
