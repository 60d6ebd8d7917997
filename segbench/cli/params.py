"""Options of the commands that describe no benchmark (eval, score, train's device), declared once.

A benchmark's settings are fields of :mod:`segbench.spec`'s sections, and
their options are made from those fields (:func:`segbench.spec.options`).
"""

from __future__ import annotations

from typing import Annotated

import typer

Device = Annotated[str, typer.Option(help="auto, cpu or cuda.")]
DataRoot = Annotated[str | None, typer.Option(help="Dataset root folder.", rich_help_panel="Data")]
