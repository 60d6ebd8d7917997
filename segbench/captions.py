"""What a table's caption says: the conventions behind its numbers, each measurement at its own size.

Costs are profiled at the grid's ``--size``; accuracy is scored at the
evaluation images' own size (``eval_h`` x ``eval_w`` in the record), and a
caption names each. The runs behind a mean are stated once, for the n most
cells have; a cell with another n states its own (:class:`Replicates`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from segbench.aggregate import THROUGHPUT
from segbench.results import ACCURACY_COLUMNS, COLUMNS
from segbench.rundir import RunDir, hardware

#: The accuracy columns (scored on a split; the rest are costs, measured on a device).
ACCURACY = tuple(c for c in ACCURACY_COLUMNS if COLUMNS[c].unit == "%")


def value_text(value: Any) -> str:
    """A key value as a table prints it: ``-`` when missing, ``360`` rather than ``360.0``."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _unique(frame: pd.DataFrame, col: str) -> list[str]:
    return [value_text(v) for v in pd.unique(frame[col]) if value_text(v) != "-"] if col in frame else []


def _sizes(frame: pd.DataFrame, height: str, width: str) -> list[str]:
    """``HxW`` of every row that has both (older tables lack the evaluation size: none)."""
    if height not in frame or width not in frame:
        return []
    pairs = frame[[height, width]].apply(pd.to_numeric, errors="coerce").dropna()
    return sorted({f"{int(h)}x{int(w)}" for h, w in pairs.itertuples(index=False)})


def run_context(runs: Sequence[Path | str], frame: pd.DataFrame) -> dict[str, Any]:
    """What a caption must say about the cells in ``frame``: sizes, device, precision, data, runs.

    Two sizes: costs are profiled at ``input_sizes`` (the grid's ``--size``),
    accuracy is scored at ``eval_sizes`` (the evaluation images' own size,
    recorded as ``eval_h`` x ``eval_w``); the two differ whenever a grid
    profiles at another size than its dataset's.
    """
    envs = [env for env in (RunDir(run).environment() for run in runs) if env]
    device_names = []
    for device in _unique(frame, "device"):
        # the name, with the CPU's instruction set where recorded: "AMD EPYC, AVX2"
        names = sorted({", ".join(str(part) for part in parts if part)
                        for e in envs if (parts := hardware(e, device))[0]})
        device_names.append(f"{' / '.join(names) or device} ({'GPU' if device.startswith('cuda') else 'CPU'})")
    return {
        "input_sizes": _sizes(frame, "input_h", "input_w"),
        "eval_sizes": _sizes(frame, "eval_h", "eval_w"),
        "batch_size": _unique(frame, "batch_size"),
        "precision": _unique(frame, "precision"),
        "device": device_names,
        "threads": _unique(frame, "threads") if set(_unique(frame, "device")) == {"cpu"} else [],
        "torch": sorted({str(e["torch"]) for e in envs if e.get("torch")}),
        "mem_method": _unique(frame, "mem_method"),
        "dataset": _unique(frame, "dataset"),
        "eval_split": _unique(frame, "eval_split"),
        "seeds": _unique(frame, "seed"),
        "n_runs": len(runs),
    }


@dataclass(frozen=True)
class Replicates:
    """How many runs the cells of a table average: what the caption says, and what the cells must add.

    ``typical`` is the n of most cells; ``marked`` is true when some cell has
    another n (and says it); ``unranked`` when a column's best was chosen among
    means of several runs only, its single runs left out.
    """

    typical: int
    marked: bool = False
    unranked: bool = False
    bolded: bool = True


def caption_text(title: str, metrics: Sequence[str], context: Mapping[str, Any],
                 replicates: Replicates | int) -> str:
    """The conventions behind the numbers, in plain text (``±`` and all; renderers escape it)."""
    if context.get("caption"):
        return str(context["caption"])
    n = replicates if isinstance(replicates, Replicates) else Replicates(replicates)

    def words(key: str) -> str:
        value = context.get(key) or []
        return ", ".join(map(str, value)) if isinstance(value, (list, tuple)) else str(value)

    seeds = f" (seeds {words('seeds')})" if len(context.get("seeds") or []) > 1 else ""
    if n.typical > 1:
        title += f"; mean ± std over {n.typical} runs{seeds}"
        title += ", or over the n a cell states" if n.marked else ""
    else:
        title += "; one run, or the mean ± std over the n a cell states" if n.marked else "; one run"
    sentences = [title]
    if any(m in ("gflops", "gmacs") for m in metrics):
        sentences.append("GFLOPs = 2 x multiply-adds (fvcore; GMACs = multiply-adds), per image at batch 1")
    accuracy = [m for m in metrics if m in ACCURACY]
    if len(accuracy) < len(metrics):
        where = "Costs profiled at" if accuracy else "Profiled at"
        setting = (f"{where} input {words('input_sizes') or '?'}, batch size {words('batch_size') or '?'}, "
                   f"{words('precision') or '?'} precision, on {words('device') or 'an unrecorded device'}")
        if context.get("threads"):
            setting += f" with {words('threads')} threads"
        if context.get("torch"):
            setting += f", torch {words('torch')}"
        sentences.append(setting)
    if any(m.startswith("latency") or m == THROUGHPUT for m in metrics):
        sentences.append("Latency per batch (median of synchronised forwards); "
                         "throughput = batch x 1000 / mean latency")
    if "peak_mem_mib" in metrics and context.get("mem_method"):
        sentences.append(f"Peak memory by {words('mem_method')}")
    if accuracy:
        data = words("dataset") or "an unrecorded dataset"
        split = f", {words('eval_split')} split" if context.get("eval_split") else ""
        size = f", at {words('eval_sizes')}" if context.get("eval_sizes") else ""
        sentences.append(f"Accuracy scored on {data}{split}{size}")
    if n.bolded:
        sentences.append("Best per column in bold" + (
            " among means of several runs (single runs are not ranked)" if n.unranked else ""))
    return ". ".join(sentences) + "."
