"""A cell's roofline: the work of its operations (its record's ``workload``) against the run's ceilings.

Torch-free arithmetic, so it is checked by hand in tests and applied by the
runner to every record, whichever executor ran the cell. With ``b`` the batch,
``P`` the measured matmul FLOP/s at the cell's precision and ``B`` the copy
bandwidth, each op ``i`` (FLOPs ``f_i`` and activation bytes ``a_i`` per image,
weight bytes ``w_i``) costs at least ``max(b f_i / P, (b a_i + w_i) / B)``:

- ``roofline_floor_ms``: the sum of those, what a perfectly fused-per-op run could reach;
- ``roofline_model_ms``: ``max(b F / P, (W + b io) / B)``, all FLOPs ``F`` at peak and only the
  weights ``W``, the input and the output ``io`` moved once, what full fusion could reach;
- ``roofline_fraction``: floor / measured median latency (1 is the per-op limit);
- ``roofline_bound``: ``compute`` where the ops bound by ``P`` hold most of the floor, else ``memory``;
- ``achieved_gflop_s`` = ``b F / latency``, ``arith_intensity`` = ``b F / sum(b a_i + w_i)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from segbench.measure.costs import Roofline

COMPUTE, MEMORY = "compute", "memory"


def op_floor_s(flops: float, nbytes: float, peak_flop_s: float, bandwidth_b_s: float) -> float:
    """The least time one op can take: its FLOPs at peak, or its bytes at full bandwidth, whichever is longer."""
    return max(flops / peak_flop_s, nbytes / bandwidth_b_s)


def roofline(workload: Mapping[str, Any], batch_size: int, latency_ms: float, peak_flop_s: float,
             bandwidth_b_s: float) -> Roofline:
    """The :class:`Roofline` columns of a cell whose batch-1 ``workload`` ran at ``latency_ms`` per batch."""
    ops: Sequence[Sequence[Any]] = workload["ops"]
    compute_s = memory_s = moved = 0.0
    for _, flops, activation_bytes, weight_bytes in ops:
        f, nbytes = batch_size * flops, batch_size * activation_bytes + weight_bytes
        moved += nbytes
        if f / peak_flop_s >= nbytes / bandwidth_b_s:
            compute_s += f / peak_flop_s
        else:
            memory_s += nbytes / bandwidth_b_s
    total = batch_size * float(workload["flops"])
    model_bytes = workload["weight_bytes"] + batch_size * workload["io_bytes"]
    floor_s, latency_s = compute_s + memory_s, latency_ms / 1e3
    return Roofline(
        achieved_gflop_s=total / latency_s / 1e9,
        arith_intensity=total / moved if moved else math.nan,
        roofline_floor_ms=floor_s * 1e3,
        roofline_model_ms=op_floor_s(total, model_bytes, peak_flop_s, bandwidth_b_s) * 1e3,
        roofline_fraction=floor_s / latency_s,
        roofline_bound=COMPUTE if compute_s >= memory_s else MEMORY,
        peak_gflop_s=peak_flop_s / 1e9,
        bandwidth_gb_s=bandwidth_b_s / 1e9,
    )


def ceilings_for(ceilings: Mapping[str, Any], device: str, precision: str) -> tuple[float, float] | None:
    """(peak FLOP/s, bandwidth B/s) probed for ``device`` at ``precision``; None where the run has none."""
    entry = ceilings.get(device) or {}
    matmul = (entry.get("matmul") or {}).get(precision)
    bandwidth = entry.get("bandwidth")
    if not matmul or not bandwidth:
        return None
    return float(matmul["value"]), float(bandwidth["value"])


def roofline_fields(record: Mapping[str, Any], ceilings: Mapping[str, Any]) -> dict[str, Any]:
    """The roofline columns of a finished cell's record; empty for a cell without a latency or a workload."""
    workload = record.get("workload")
    latency = record.get("latency_ms_median")
    limits = ceilings_for(ceilings, str(record.get("device")), str(record.get("precision")))
    if record.get("status") != "ok" or not workload or not limits or not latency or not math.isfinite(latency):
        return {}
    return roofline(workload, int(record["batch_size"]), float(latency), *limits).to_dict()
