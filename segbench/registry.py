"""A small generic registry: the one place names are turned into things.

Encoders, decoders, whole models and datasets each have one. Registration is
by decorator, a duplicate name is an error, and an unknown name raises a
``KeyError`` whose message lists what is valid, so the CLI can print it as a
one-line error.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")


class UnknownNameError(KeyError):
    """An unknown registry name; ``str()`` is a one-line message with the valid names."""

    def __init__(self, kind: str, name: str, valid: list[str]) -> None:
        self.kind, self.name, self.valid = kind, name, valid
        super().__init__(f"unknown {kind} '{name}'; valid: {', '.join(valid)}")

    def __str__(self) -> str:  # KeyError's str() would add quotes around the message
        return str(self.args[0])


class Registry(Generic[T]):
    """Maps names to objects (factories or classes), with per-entry metadata."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._metadata: dict[str, dict[str, Any]] = {}

    def register(self, name: str | None = None, **metadata: Any) -> Callable[[T], T]:
        """Decorator: register the decorated object under ``name`` (default: its ``__name__``)."""

        def decorator(obj: T) -> T:
            key = name or cast(Any, obj).__name__  # factories and classes have one; T does not say so
            self.add(key, obj, **metadata)
            return obj

        return decorator

    def add(self, name: str, obj: T, **metadata: Any) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is already registered")
        self._entries[name] = obj
        self._metadata[name] = metadata

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names()) from None

    def metadata(self, name: str) -> dict[str, Any]:
        self.get(name)
        return dict(self._metadata[name])

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching a shell-style glob, sorted."""
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
