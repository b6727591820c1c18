"""A name -> class table for one component kind, owning name uniqueness and lookup errors."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Generic, TypeVar

from hepadv.errors import RegistryError, UnknownComponentError

T = TypeVar("T")


@dataclass(frozen=True)
class Entry(Generic[T]):
    name: str
    component: type[T]
    plugin: str


class Registry(Generic[T]):
    """Components of one kind (``"attack"``, ``"model"``...), keyed by their ``name`` class attribute."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[T]] = {}

    def add(self, component: type[T], plugin: str) -> None:
        name = getattr(component, "name", None)
        if not isinstance(name, str) or not name:
            raise RegistryError(
                f"plugin {plugin!r} registered {self.kind} {component!r} without a string 'name' class attribute"
            )
        if name in self._entries:
            other = self._entries[name].plugin
            raise RegistryError(
                f"{self.kind} name {name!r} is registered twice: by plugin {other!r} and by plugin {plugin!r}"
            )
        self._entries[name] = Entry(name, component, plugin)

    def get(self, name: str) -> type[T]:
        try:
            return self._entries[name].component
        except KeyError:
            raise UnknownComponentError(self.unknown_message(name)) from None

    def unknown_message(self, name: str) -> str:
        valid = sorted(self._entries)
        hint = difflib.get_close_matches(name, valid, n=1)
        did_you_mean = f" (did you mean {hint[0]!r}?)" if hint else ""
        listing = ", ".join(valid) if valid else "none registered"
        return f"unknown {self.kind} {name!r}{did_you_mean}; valid names: {listing}"

    def entries(self) -> list[Entry[T]]:
        return [self._entries[k] for k in sorted(self._entries)]

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __len__(self) -> int:
        return len(self._entries)
