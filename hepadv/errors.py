"""Exception hierarchy: every user mistake is a HepadvError, shown as one red line by the CLI."""

from __future__ import annotations


class HepadvError(Exception):
    """Base class for errors caused by user input (cards, files, names), not by bugs."""


class CardError(HepadvError):
    """A run card is missing, unreadable, or does not validate."""


class UnknownComponentError(HepadvError):
    """A card or call names a component that no plugin registered."""


class RegistryError(HepadvError):
    """Plugins disagree: duplicate names, bad hook implementations."""


class DataError(HepadvError):
    """An input file is missing, corrupt, or lacks what is needed."""


class CheckpointError(HepadvError):
    """A checkpoint is missing or does not fit the model it is loaded into."""


class MissingLabelsError(HepadvError, ValueError):
    """An attack that needs truth labels was given none (also a ValueError, as plugin API 1 raised)."""


class Interrupted(HepadvError):
    """The user pressed Ctrl-C; the message says what was kept. The CLI exits 130 (128 + SIGINT)."""

    exit_code = 130
