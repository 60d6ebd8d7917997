"""The environment a run measured on, written once per run to run.json."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch
import torchvision

import segbench


def cpu_model() -> str:
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():  # Linux; elsewhere the platform module's answer is the best we have
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def cpu_capability() -> str:
    """The widest vector instruction set torch's CPU kernels use here (``AVX2``, ``AVX512``, ``DEFAULT``).

    A CPU's name alone does not tell hosts apart: the default grid took 161 s
    on one 2-core "AMD EPYC" and 595 s on another. The instruction set torch
    dispatches to is a part of such a difference that a run can record.
    """
    return str(torch.backends.cpu.get_cpu_capability())


def git_sha() -> str | None:
    """The commit of the segbench checkout, when it runs from one (None otherwise)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(segbench.__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    sha = out.stdout.strip()
    return sha if out.returncode == 0 and sha else None


def gpu_info() -> dict[str, Any]:
    if not torch.cuda.is_available():
        return {"gpu": None}
    props = torch.cuda.get_device_properties(0)
    return {
        "gpu": props.name,
        "gpu_count": torch.cuda.device_count(),
        "gpu_mem_gib": round(props.total_memory / 2**30, 1),
        "gpu_capability": f"{props.major}.{props.minor}",
        "cudnn_allow_tf32": torch.backends.cudnn.allow_tf32,
        "matmul_precision": torch.get_float32_matmul_precision(),
    }


def environment() -> dict[str, Any]:
    """Everything a reader needs to judge whether two runs' timings are comparable."""
    return {
        "segbench_version": segbench.__version__,
        "git_sha": git_sha(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torchvision": torchvision.__version__,
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "cpu": cpu_model(),
        "cpu_capability": cpu_capability(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "hostname": socket.gethostname(),
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        **gpu_info(),
    }
