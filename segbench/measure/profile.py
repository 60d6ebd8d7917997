"""Profile any ``nn.Module``: parameters, FLOPs, latency and peak memory in one record."""

from __future__ import annotations

import contextlib
import time
from typing import Any

import torch
from torch import nn

from segbench.measure.costs import Profile
from segbench.measure.flops import count_flops
from segbench.measure.latency import LatencyStats, TimingConfig, run_until, synchronised_step
from segbench.measure.memory import PeakMemory
from segbench.measure.params import count_parameters
from segbench.measure.workload import capture_workload

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


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager[Any]:
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=PRECISIONS[precision])


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
) -> Profile:
    """Measure ``model`` at ``input_size`` (H, W). Works on any module, torchvision's too.

    FLOPs are counted at batch 1 (per image), latency and memory at ``batch_size``.
    ``precision`` fp16/bf16 runs under autocast. The model is left in eval mode on ``device``.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision '{precision}'; valid: {', '.join(PRECISIONS)}")
    if batch_size < 1:
        raise ValueError(f"batch size must be positive, not {batch_size}")
    dev = resolve_device(device)
    if threads is not None:
        torch.set_num_threads(threads)
    timing = timing or TimingConfig.for_device(dev)

    t0 = time.perf_counter()
    params = count_parameters(model)
    flops = count_flops(model, input_size, in_channels)
    workload = capture_workload(model, input_size, flops.macs_by_module, precision, in_channels)
    time_flops = time.perf_counter() - t0

    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.eval().to(dev).to(memory_format=fmt)
    x = torch.randn(batch_size, in_channels, *input_size, device=dev).contiguous(memory_format=fmt)

    def forward() -> None:
        with torch.inference_mode(), _autocast(dev, precision):
            model(x)

    step = synchronised_step(forward, dev)
    cudnn_benchmark = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = dev.type == "cuda"
    try:
        t0 = time.perf_counter()
        warm = run_until(step, timing.warmup_iters, timing.warmup_s, max(timing.max_s, timing.warmup_s))
        time_warmup = time.perf_counter() - t0
        t0 = time.perf_counter()
        samples = run_until(step, timing.min_iters, timing.min_s, timing.max_s)
        time_timed = time.perf_counter() - t0
        # Memory in its own pass after warm-up, so the timed loop stays untouched.
        with PeakMemory(dev) as memory:
            for _ in range(MEMORY_ITERS):
                forward()
    finally:
        torch.backends.cudnn.benchmark = cudnn_benchmark

    stats = LatencyStats(tuple(samples), warmup_iters=len(warm), warmup_s=time_warmup, batch_size=batch_size)
    return Profile(
        params=params,
        gmacs=flops.gmacs,
        gmacs_encoder=flops.gmacs_encoder,
        gmacs_decoder=flops.gmacs_decoder,
        gflops=flops.gflops,
        flops_counter=flops.counter,
        flops_uncounted=flops.uncounted,
        latency_ms_median=stats.median,
        latency_ms_p10=stats.percentile(10),
        latency_ms_p90=stats.percentile(90),
        latency_ms_mean=stats.mean,
        latency_ms_std=stats.std,
        latency_iqr_rel=stats.iqr_rel,
        throughput_img_s=stats.throughput,
        peak_mem_mib=memory.peak_mib,
        mem_method=memory.method,
        device=dev.type,
        precision=precision,
        channels_last=channels_last,
        batch_size=batch_size,
        input_h=input_size[0],
        input_w=input_size[1],
        threads=torch.get_num_threads(),
        warmup_iters=len(warm),
        timed_iters=len(samples),
        time_flops_s=time_flops,
        time_warmup_s=time_warmup,
        time_timed_s=time_timed,
        latency_samples_ms=list(samples),
        workload=workload.to_dict(),
    )
