"""Profile any ``nn.Module``: parameters, FLOPs, latency and peak memory in one record."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from segbench.config import EAGER
from segbench.measure.costs import Profile
from segbench.measure.flops import count_flops
from segbench.measure.latency import LatencyStats, TimingConfig, run_until, synchronised_step
from segbench.measure.memory import PeakMemory
from segbench.measure.params import count_parameters
from segbench.measure.workload import capture_workload

if TYPE_CHECKING:
    from segbench.runtimes import Ready

PRECISIONS = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
DEVICES = ("auto", "cpu", "cuda")
MEMORY_ITERS = 2


def resolve_device(device: str | torch.device) -> torch.device:
    """``auto`` picks CUDA where there is a GPU and the CPU otherwise."""
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device '{name}' requested but CUDA is not available here; use cpu or auto")
    if name.split(":")[0] not in DEVICES:
        raise ValueError(f"unknown device '{name}'; valid: {', '.join(DEVICES)}")
    try:
        return torch.device(name)
    except RuntimeError:  # 'cpu:abc': a known type with a malformed index
        raise ValueError(f"malformed device '{name}'; expected auto, cpu, cuda or cuda:N") from None


def autocast(device: torch.device, precision: str, cache: bool = True) -> contextlib.AbstractContextManager[Any]:
    """Autocast to ``precision`` (nothing for fp32); ``cache=False`` while a CUDA graph is captured."""
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=PRECISIONS[precision], cache_enabled=cache)


def profile(
    model: nn.Module,
    input_size: tuple[int, int],
    device: str | torch.device = "auto",
    batch_size: int = 1,
    precision: str = "fp32",
    channels_last: bool = False,
    threads: int | None = None,
    timing: TimingConfig | None = None,
    in_channels: int = 3,
    runtime: str = EAGER,
    compile_mode: str | None = None,
) -> Profile:
    """Measure ``model`` at ``input_size`` (H, W). Works on any module, torchvision's too.

    FLOPs are counted at batch 1 (per image), latency and memory at ``batch_size``.
    ``precision`` fp16/bf16 runs under autocast. The model is left in eval mode on ``device``.
    Latency and memory are those of ``runtime`` (see :mod:`segbench.runtimes`), built and checked
    against eager first: NotApplicable, RuntimeBuildError or RuntimeMismatch, and nothing is timed.
    """
    from segbench.runtimes import check_runtime

    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision '{precision}'; valid: {', '.join(PRECISIONS)}")
    if batch_size < 1:
        raise ValueError(f"batch size must be positive, not {batch_size}")
    dev = resolve_device(device)
    check_runtime(runtime, dev, precision, channels_last)
    if threads is not None:
        torch.set_num_threads(threads)
    timing = timing or TimingConfig.for_device(dev)

    t0 = time.perf_counter()
    params = count_parameters(model)
    flops = count_flops(model, input_size, in_channels)
    workload = capture_workload(model, input_size, flops.macs_by_module, precision, in_channels)
    time_flops = time.perf_counter() - t0

    with _cudnn_benchmark(dev):
        ready = _prepare(model, input_size, dev, batch_size, precision, channels_last, in_channels, runtime,
                         compile_mode)
        stats, time_timed = _time_round(ready.forward, dev, timing, batch_size)
        # Memory in its own pass after warm-up, so the timed loop stays untouched.
        with PeakMemory(dev) as memory:
            for _ in range(MEMORY_ITERS):
                ready.forward()

    return Profile(
        params=params,
        gmacs=flops.gmacs,
        gmacs_encoder=flops.gmacs_encoder,
        gmacs_decoder=flops.gmacs_decoder,
        gflops=flops.gflops,
        flops_counter=flops.counter,
        flops_uncounted=flops.uncounted,
        **latency_fields(stats),
        peak_mem_mib=memory.peak_mib,
        mem_method=memory.method,
        device=dev.type,
        precision=precision,
        channels_last=channels_last,
        batch_size=batch_size,
        input_h=input_size[0],
        input_w=input_size[1],
        threads=torch.get_num_threads(),
        time_flops_s=time_flops,
        time_timed_s=time_timed,
        runtime_build=ready.figures(),
        workload=workload.to_dict(),
    )


def latency_fields(stats: LatencyStats) -> dict[str, Any]:
    """The record's latency fields from ``stats``: what a new round of :func:`time_round` updates too."""
    return {
        "latency_ms_median": stats.median,
        "latency_ms_p10": stats.percentile(10),
        "latency_ms_p90": stats.percentile(90),
        "latency_ms_mean": stats.mean,
        "latency_ms_std": stats.std,
        "latency_iqr_rel": stats.iqr_rel,
        "latency_round_iqr_rel": stats.round_iqr_rel,
        "throughput_img_s": stats.throughput,
        "warmup_iters": stats.warmup_iters,
        "time_warmup_s": stats.warmup_s,
        "timed_iters": len(stats.samples_ms),
        "latency_samples_ms": list(stats.samples_ms),
        "latency_round_ms": list(stats.rounds),
        "latency_rounds": len(stats.rounds),
    }


def time_round(
    model: nn.Module,
    input_size: tuple[int, int],
    device: str | torch.device = "auto",
    batch_size: int = 1,
    precision: str = "fp32",
    channels_last: bool = False,
    threads: int | None = None,
    timing: TimingConfig | None = None,
    in_channels: int = 3,
    runtime: str = EAGER,
    compile_mode: str | None = None,
) -> LatencyStats:
    """One more latency round of ``model``, built for ``runtime``, checked, warmed up and timed as
    :func:`profile` times its first."""
    dev = resolve_device(device)
    if threads is not None:
        torch.set_num_threads(threads)
    with _cudnn_benchmark(dev):
        ready = _prepare(model, input_size, dev, batch_size, precision, channels_last, in_channels, runtime,
                         compile_mode)
        stats, _ = _time_round(ready.forward, dev, timing or TimingConfig.for_device(dev), batch_size)
    return stats


def _prepare(
    model: nn.Module, input_size: tuple[int, int], dev: torch.device, batch_size: int, precision: str,
    channels_last: bool, in_channels: int, runtime: str, compile_mode: str | None,
) -> Ready:
    """The timed call: ``model`` in eval mode on ``dev``, built for ``runtime`` on a random input already there."""
    from segbench.runtimes import Target, prepare_runtime  # they import this module

    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.eval().to(dev).to(memory_format=fmt)
    x = torch.randn(batch_size, in_channels, *input_size, device=dev).contiguous(memory_format=fmt)
    return prepare_runtime(runtime, Target(model, x, dev, precision, channels_last, compile_mode))


@contextlib.contextmanager
def _cudnn_benchmark(dev: torch.device) -> Iterator[None]:
    """cuDNN autotuning on for CUDA timings, and the global flag as it was afterwards."""
    before = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = dev.type == "cuda"
    try:
        yield
    finally:
        torch.backends.cudnn.benchmark = before


def _time_round(
    forward: Callable[[], Any], dev: torch.device, timing: TimingConfig, batch_size: int
) -> tuple[LatencyStats, float]:
    """Warm up, then time one round of ``forward``: its statistics and the seconds the timed part took."""
    step = synchronised_step(forward, dev)
    t0 = time.perf_counter()
    warm = run_until(step, timing.warmup_iters, timing.warmup_s, max(timing.max_s, timing.warmup_s))
    time_warmup = time.perf_counter() - t0
    t0 = time.perf_counter()
    samples = run_until(step, timing.min_iters, timing.min_s, timing.max_s)
    stats = LatencyStats(tuple(samples), warmup_iters=len(warm), warmup_s=time_warmup, batch_size=batch_size)
    return stats, time.perf_counter() - t0
