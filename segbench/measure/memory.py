"""Peak memory of the measured region, on GPU and on CPU.

GPU: ``torch.cuda.max_memory_allocated`` after resetting the peak once warm-up
is over (cuDNN autotuning inflates a cold peak). It includes the weights and
the input, not the CUDA context.

CPU: tracemalloc does not see tensor memory, so we use the kernel's resident
set high-water mark (Linux): hand the allocator's free pages back to the OS
(glibc ``malloc_trim``; otherwise memory freed after warm-up stays resident and
the next run's peak hides inside the baseline), reset the mark through
/proc/self/clear_refs, read the resident set as the baseline, run, and report
VmHWM above that baseline: activations and workspaces beyond the already
resident model and input.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
from pathlib import Path

import torch

CUDA_METHOD = "cuda_max_allocated"
CPU_METHOD = "rss_hwm_above_baseline"
_STATUS = Path("/proc/self/status")
_CLEAR_REFS = Path("/proc/self/clear_refs")


def _trim_heap() -> None:
    libc_name = ctypes.util.find_library("c")
    if libc_name:
        libc = ctypes.CDLL(libc_name)
        if hasattr(libc, "malloc_trim"):
            libc.malloc_trim(0)


def _status_kib(key: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise KeyError(key)


def cpu_peak_supported() -> bool:
    try:
        _CLEAR_REFS.write_text("5")
        _status_kib("VmHWM")
    except OSError:
        return False
    return True


class PeakMemory:
    """Context manager: ``with PeakMemory(device) as mem: ...``; then ``mem.peak_mib``.

    ``peak_mib`` is NaN where the platform cannot measure it (``method`` says so).
    """

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self.peak_mib = float("nan")
        self.method = CUDA_METHOD if device.type == "cuda" else CPU_METHOD
        self._baseline_kib = 0

    def __enter__(self) -> PeakMemory:
        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            return self
        _trim_heap()
        if cpu_peak_supported():  # this also resets the high-water mark
            self._baseline_kib = _status_kib("VmRSS")
        else:
            self.method = "unavailable"
        return self

    def __exit__(self, *exc: object) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)
            self.peak_mib = torch.cuda.max_memory_allocated(self.device) / 2**20
        elif self.method == CPU_METHOD:
            self.peak_mib = max(_status_kib("VmHWM") - self._baseline_kib, 0) / 1024
