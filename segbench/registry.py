"""A small generic registry: the one place names are turned into things.

Encoders, decoders, whole models, datasets and losses each have one.
Registration is by decorator, a duplicate name is an error, and an unknown
name raises a ``KeyError`` whose message lists what is valid, so the CLI can
print it as a one-line error.

What a registry knows about an entry besides the object is a typed, frozen
:class:`Card` (paper, year, and the fields of the registry's own card class):
a metadata key that the card does not have is an error where the entry is
registered, that is at import time, not a silent typo.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import types
import typing
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

T = TypeVar("T")


class UnknownNameError(KeyError):
    """An unknown registry name; ``str()`` is a one-line message with the valid names."""

    def __init__(self, kind: str, name: str, valid: list[str]) -> None:
        self.kind, self.name, self.valid = kind, name, valid
        super().__init__(f"unknown {kind} '{name}'; valid: {', '.join(valid)}")

    def __str__(self) -> str:  # KeyError's str() would add quotes around the message
        return str(self.args[0])


class MetadataError(TypeError):
    """Registration metadata that the registry's card does not take: an unknown key or a wrong type.

    ``str()`` is one line naming the entry, the key and the valid keys.
    """


@dataclass(frozen=True, kw_only=True)
class Card:
    """Where a registered entry comes from. Registries with more to say subclass it.

    Every field is optional; :meth:`as_dict` leaves out the ones that are ``None``.
    """

    #: Who published it, as a short citation ("He et al., Deep Residual Learning"), or "-".
    paper: str | None = None
    #: The year of that publication, or "-".
    year: int | str | None = None

    @classmethod
    def keys(cls) -> list[str]:
        """The metadata keys this card takes, sorted."""
        return sorted(f.name for f in dataclasses.fields(cls))

    @classmethod
    def build(cls, kind: str, name: str, metadata: dict[str, Any]) -> Card:
        """The card of entry ``name`` of a ``kind`` registry; :class:`MetadataError` on a bad key or type."""
        valid = cls.keys()
        for key in metadata:
            if key not in valid:
                raise MetadataError(f"unknown metadata key '{key}' for {kind} '{name}'; "
                                    f"valid: {', '.join(valid)}")
        hints = typing.get_type_hints(cls)
        for key, value in metadata.items():
            allowed = _runtime_types(hints[key])
            if not isinstance(value, allowed):
                names = ", ".join(sorted({"None" if t is type(None) else t.__name__ for t in allowed}))
                raise MetadataError(f"metadata key '{key}' for {kind} '{name}' must be {names}, "
                                    f"not {type(value).__name__} {value!r}")
        return cls(**metadata)

    def as_dict(self) -> dict[str, Any]:
        """The fields that are set (not ``None``), by name."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        return {key: value for key, value in values.items() if value is not None}


def _runtime_types(hint: Any) -> tuple[type, ...]:
    """The classes that ``isinstance`` checks a value of annotation ``hint`` against; a float takes an int."""
    args = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    allowed: list[type] = []
    for arg in args:
        allowed.append(arg)
        if arg is float:
            allowed.append(int)
    return tuple(allowed)


class Registry(Generic[T]):
    """Maps names to objects (factories or classes), each with a :class:`Card` of metadata."""

    def __init__(self, kind: str, card: type[Card] = Card) -> None:
        self.kind = kind
        self.card_type = card
        self._entries: dict[str, T] = {}
        self._cards: dict[str, Card] = {}

    def register(self, name: str | None = None, **metadata: Any) -> Callable[[T], T]:
        """Decorator: register the decorated object under ``name`` (default: its ``__name__``).

        ``metadata`` are the fields of this registry's card; an unknown key is a :class:`MetadataError`.
        """

        def decorator(obj: T) -> T:
            key = name or cast(Any, obj).__name__  # factories and classes have one; T does not say so
            self.add(key, obj, **metadata)
            return obj

        return decorator

    def add(self, name: str, obj: T, **metadata: Any) -> None:
        if name in self._entries:
            raise ValueError(f"{self.kind} '{name}' is already registered")
        card = self.card_type.build(self.kind, name, metadata)
        self._entries[name] = obj
        self._cards[name] = card

    def get(self, name: str) -> T:
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self.names()) from None

    def card(self, name: str) -> Card:
        """The typed metadata of ``name`` (an instance of this registry's card class)."""
        self.get(name)
        return self._cards[name]

    def metadata(self, name: str) -> dict[str, Any]:
        """The card of ``name`` as a dict of the fields that are set."""
        return self.card(name).as_dict()

    def names(self, pattern: str = "*") -> list[str]:
        """Registered names matching a shell-style glob, sorted."""
        return sorted(n for n in self._entries if fnmatch.fnmatchcase(n, pattern))

    @contextmanager
    def restoring(self) -> Iterator[Registry[T]]:
        """A block after which the registry is exactly as before it, whatever was registered in it.

        For tests (and plug-in loading in them): ``with DECODERS.restoring(): load_plugins([...])``.
        The registry is restored on an exception too.
        """
        entries, cards = dict(self._entries), dict(self._cards)
        try:
            yield self
        finally:
            self._entries.clear()
            self._entries.update(entries)
            self._cards.clear()
            self._cards.update(cards)

    @contextmanager
    def temporarily(self, name: str, obj: T, **metadata: Any) -> Iterator[T]:
        """Register ``obj`` as ``name`` for the length of a ``with`` block, then restore the registry.

        ``with DECODERS.temporarily("broken", Broken, paper="test only", year=0, needs="-"): ...``;
        a name already registered is an error, as with :meth:`add`.
        """
        with self.restoring():
            self.add(name, obj, **metadata)
            yield obj

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        return len(self._entries)
