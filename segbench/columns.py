"""What a result column is: its label, unit, display scale, decimals and direction, declared on its field.

A measurement is a field of a dataclass (:class:`segbench.measure.costs.Profile`,
:class:`segbench.record.Accuracy`, :class:`segbench.record.Training`) whose
metadata is made by :func:`column`. Tables, plots, the comparison and the
terminal read a column's description from :data:`segbench.results.COLUMNS`,
which gathers those fields, so a new column is one field, in one place.
"""

from __future__ import annotations

import math
from dataclasses import Field, dataclass, fields
from typing import Any, Literal

Better = Literal["lower", "higher"]


@dataclass(frozen=True)
class Column:
    """One result column: ``value * scale`` is what a reader sees, with ``decimals`` and ``unit``."""

    name: str
    label: str
    unit: str = ""
    scale: float = 1.0
    decimals: int = 2
    #: Which way is better; None for a column that is neither (a count of timed iterations).
    better: Better | None = None
    #: What it measures, for the README's column table.
    doc: str = ""
    #: A narrow header for the terminal (``ms median``); the full header where not given.
    short: str = ""

    @property
    def short_header(self) -> str:
        return self.short or self.header

    @property
    def header(self) -> str:
        """``Latency median (ms)``: the label with its unit, as a table header or an axis label."""
        return f"{self.label} ({self.unit})" if self.unit else self.label

    @property
    def higher_is_better(self) -> bool:
        return self.better == "higher"

    def display(self, value: float) -> float:
        return value * self.scale

    def format(self, value: Any) -> str:
        """The value as a reader sees it (scaled, rounded, with its unit); ``-`` when missing."""
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "-"
        text = f"{self.display(float(value)):.{self.decimals}f}"
        return f"{text} {self.unit}" if self.unit and self.unit != "%" else text + self.unit


def column(
    label: str, unit: str = "", *, scale: float = 1.0, decimals: int = 2, better: Better | None = None,
    doc: str = "", short: str = "",
) -> dict[str, Any]:
    """The field metadata that makes a dataclass field a result column (``field(metadata=column(...))``)."""
    return {"column": {"label": label, "unit": unit, "scale": scale, "decimals": decimals, "better": better,
                       "doc": doc, "short": short}}


def columns_of(*classes: type) -> dict[str, Column]:
    """Every field declared with :func:`column` in ``classes``, by name, in declaration order."""
    found: dict[str, Column] = {}
    for cls in classes:
        for f in fields(cls):
            spec = _spec(f)
            if spec is not None:
                found[f.name] = Column(f.name, **spec)
    return found


def _spec(f: Field[Any]) -> dict[str, Any] | None:
    return f.metadata.get("column") if isinstance(f.metadata.get("column"), dict) else None
