"""The machine's ceilings, measured once per run: matrix-multiply FLOP/s per precision, and copy bandwidth.

Datasheet peaks are not what a kernel reaches on a given machine (clocks,
power limits, a shared CPU), so the roofline is drawn from what this machine
does: the best of several timed ``torch.mm`` products of square matrices (the
size grown until one product takes long enough to time; on a CPU, a reduced
precision's never below fp32's, see :func:`at_least_fp32`), and the best of
several ``dst.copy_(src)`` of a buffer larger than the caches, counted as bytes
read plus bytes written. How each was measured (size, repeats, statistic,
math mode) is written beside its value in run.json.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

import torch

from segbench.measure.latency import run_until, synchronised_step
from segbench.measure.profile import resolve_device

if TYPE_CHECKING:
    from segbench.config import CellConfig

DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
STATISTIC = "best of the timed repeats"


@dataclass(frozen=True)
class ProbeConfig:
    """How hard the probe works: matrix sizes grow from ``min_n`` until one product takes ``target_ms``."""

    min_n: int
    max_n: int
    target_ms: float
    copy_bytes: int
    warmup_s: float
    min_repeats: int
    min_s: float
    max_s: float

    @classmethod
    def for_device(cls, device: torch.device) -> ProbeConfig:
        if device.type == "cuda":  # a GPU idles at a low clock: warm it by time first
            return cls(min_n=1024, max_n=8192, target_ms=1.0, copy_bytes=2**30, warmup_s=0.5,
                       min_repeats=10, min_s=0.2, max_s=2.0)
        return cls(min_n=256, max_n=2048, target_ms=5.0, copy_bytes=64 * 2**20, warmup_s=0.0,
                   min_repeats=3, min_s=0.03, max_s=0.5)


@dataclass(frozen=True)
class Ceiling:
    """One measured ceiling and how it was measured."""

    value: float
    unit: str
    how: str
    size: int
    repeats: int
    statistic: str = STATISTIC


def _best_ms(work: Any, device: torch.device, config: ProbeConfig, warm: bool) -> tuple[float, int]:
    step = synchronised_step(work, device)
    if warm and config.warmup_s:
        run_until(step, 1, config.warmup_s, config.warmup_s)
    samples = run_until(step, config.min_repeats, config.min_s, config.max_s)
    return min(samples), len(samples)


@contextlib.contextmanager
def _math_mode(device: torch.device, precision: str) -> Iterator[str]:
    """fp32 on CUDA multiplies as its convolutions do: in TF32 where cuDNN's TF32 is on (torch's default)."""
    if device.type != "cuda" or precision != "fp32":
        yield precision
        return
    before = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32
    try:
        yield "tf32" if torch.backends.cudnn.allow_tf32 else "fp32"
    finally:
        torch.backends.cuda.matmul.allow_tf32 = before


def matmul_ceiling(device: torch.device, precision: str, config: ProbeConfig) -> Ceiling:
    """FLOP/s of ``torch.mm`` of two n x n matrices (2 n^3 FLOPs), n doubled until one product is long enough."""
    dtype = DTYPES[precision]
    with _math_mode(device, precision) as math:
        n = config.min_n
        while True:
            a, b = (torch.randn(n, n, device=device).to(dtype) for _ in range(2))
            out = torch.empty(n, n, device=device, dtype=dtype)

            def product(a: torch.Tensor = a, b: torch.Tensor = b, out: torch.Tensor = out) -> None:
                torch.mm(a, b, out=out)

            once = synchronised_step(product, device)
            once()  # the first call of a size loads its kernel
            if min(once() for _ in range(3)) >= config.target_ms or n >= config.max_n:
                break
            n *= 2
        best_ms, repeats = _best_ms(product, device, config, warm=True)
    how = f"torch.mm of two {n}x{n} {precision} matrices ({math} math), 2 n^3 FLOPs"
    return Ceiling(2.0 * n**3 / (best_ms / 1e3), "FLOP/s", how, n, repeats)


def at_least_fp32(matmul: dict[str, Ceiling], device: torch.device, config: ProbeConfig) -> dict[str, Ceiling]:
    """The CPU's ceilings with each reduced precision's raised to fp32's where that is higher.

    A CPU without bf16 or fp16 arithmetic (AVX2 and older) multiplies those
    types in a slow generic kernel (torch.mm in bf16: 1.4 GFLOP/s on one
    thread of a 2-core AVX2 EPYC, against 89 in fp32), while its convolutions
    convert to fp32 and run at fp32's rate: a bf16 cell then ran at 1.5x its
    "roof". fp32's product is what that hardware does reach.
    """
    if all(p == "fp32" for p in matmul):
        return matmul
    fp32 = matmul.get("fp32") or matmul_ceiling(device, "fp32", config)
    raised = {}
    for precision, ceiling in matmul.items():
        if precision != "fp32" and ceiling.value < fp32.value:
            ceiling = replace(fp32, how=f"{fp32.how}; above torch.mm in {precision} here "
                                        f"({ceiling.value / 1e9:.3g} GFLOP/s): this CPU's {precision} convolutions "
                                        "compute in fp32")
        raised[precision] = ceiling
    return raised


def copy_ceiling(device: torch.device, config: ProbeConfig) -> Ceiling:
    """Bytes read plus bytes written per second by ``dst.copy_(src)`` of a buffer larger than the caches."""
    size = config.copy_bytes
    if device.type == "cuda":
        size = min(size, torch.cuda.mem_get_info(device)[0] // 8)
    src = torch.ones(size, dtype=torch.uint8, device=device)  # written: every page is really there
    dst = torch.empty_like(src)

    def copy() -> None:
        dst.copy_(src)

    copy()
    best_ms, repeats = _best_ms(copy, device, config, warm=False)
    how = f"dst.copy_(src) of {size} bytes, counted as {2 * size} bytes moved (read + write)"
    return Ceiling(2.0 * size / (best_ms / 1e3), "B/s", how, size, repeats)


def probe_device(device: torch.device, precisions: Iterable[str], threads: int | None = None,
                 config: ProbeConfig | None = None) -> dict[str, Any]:
    """The ceilings of one device: ``{"matmul": {precision: Ceiling}, "bandwidth": Ceiling, ...}`` as plain data."""
    config = config or ProbeConfig.for_device(device)
    threads_before = torch.get_num_threads()
    if threads is not None and device.type == "cpu":
        torch.set_num_threads(threads)
    t0 = time.perf_counter()
    try:
        with torch.inference_mode():
            products = {p: matmul_ceiling(device, p, config) for p in sorted(set(precisions))}
            if device.type == "cpu":
                products = at_least_fp32(products, device, config)
            matmul = {p: asdict(c) for p, c in products.items()}
            bandwidth = asdict(copy_ceiling(device, config))
        used_threads = torch.get_num_threads()
    finally:
        torch.set_num_threads(threads_before)
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return {
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "threads": used_threads if device.type == "cpu" else None,
        "matmul": matmul,
        "bandwidth": bandwidth,
        "probe_s": time.perf_counter() - t0,
    }


def needed(cells: Iterable[CellConfig]) -> dict[str, tuple[set[str], int | None]]:
    """Device type -> (precisions, CPU threads) the cells will run at; a device not here is left out.

    The CPU is probed at the cells' thread count where they agree on one (else at torch's current one).
    """
    wanted: dict[str, tuple[set[str], set[int | None]]] = {}
    for cell in cells:
        try:
            device = resolve_device(cell.device).type
        except ValueError:  # CUDA asked for where there is none: the cell fails on its own
            continue
        precisions, threads = wanted.setdefault(device, (set(), set()))
        precisions.add(cell.precision)
        threads.add(cell.threads)
    return {d: (p, next(iter(t)) if len(t) == 1 else None) for d, (p, t) in wanted.items()}


def ensure_ceilings(cells: Iterable[CellConfig], known: dict[str, Any]) -> dict[str, Any]:
    """``known`` (run.json's ceilings) with every device and precision the cells need and it lacks, probed now."""
    ceilings = {device: dict(entry) for device, entry in known.items()}
    for device, (precisions, threads) in needed(cells).items():
        have = ceilings.get(device, {})
        missing = precisions - set(have.get("matmul", {}))
        if not missing:
            continue
        probed = probe_device(torch.device(device), missing, threads)
        probed["matmul"] = {**have.get("matmul", {}), **probed["matmul"]}
        if "bandwidth" in have:  # one bandwidth per device and run, as first measured
            probed.update(bandwidth=have["bandwidth"], threads=have.get("threads"))
        ceilings[device] = probed
    return ceilings
