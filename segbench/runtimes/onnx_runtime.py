"""ONNX Runtime: the model exported with torch.onnx, run by an InferenceSession on the device's provider.

onnx, onnxscript and onnxruntime are an optional extra (``pip install "segbench[onnx]"``);
``onnxruntime-gpu`` in its place adds the CUDA execution provider. The session runs
with torch's thread count (one inter-op thread), so a CPU cell compares like with
like. On CUDA, input and output stay on the device (I/O binding): no host copy is timed.
"""

from __future__ import annotations

import copy
import importlib.util
import time
import warnings
from typing import Any

import numpy as np
import torch

from segbench.runtimes.base import RUNTIMES, Built, Runtime, Target, eager_forward, logits_of

NEEDED = ("onnx", "onnxscript", "onnxruntime")
INSTALL = 'pip install "segbench[onnx]"'
CPU_PROVIDER, CUDA_PROVIDER = "CPUExecutionProvider", "CUDAExecutionProvider"


@RUNTIMES.register("onnxruntime", paper="-", year="-", needs="onnx, onnxscript, onnxruntime")
class OnnxRuntime(Runtime):
    """torch.onnx.export (TorchDynamo exporter; opset and ``export_s`` recorded), then ONNX Runtime."""

    def missing(self) -> str | None:
        absent = [name for name in NEEDED if importlib.util.find_spec(name) is None]
        if not absent:
            return None
        return f"runtime 'onnxruntime' needs {', '.join(absent)}, not installed here: {INSTALL}"

    def not_applicable(self, device: torch.device, precision: str, channels_last: bool) -> str | None:
        if channels_last:
            return "ONNX Runtime picks its own memory layout; channels_last does not apply"
        if precision == "bf16":
            return "ONNX Runtime's CPU and CUDA providers lack bf16 convolutions; use fp32 (or fp16 on CUDA)"
        if precision == "fp16" and device.type != "cuda":
            return "ONNX Runtime runs fp16 models on CUDA only here; use fp32 on the CPU"
        return None

    def build(self, target: Target) -> Built:
        import onnxruntime as ort

        cuda = target.device.type == "cuda"
        if cuda and CUDA_PROVIDER not in ort.get_available_providers():
            raise RuntimeError(f"{CUDA_PROVIDER} is not available (install onnxruntime-gpu for CUDA cells)")
        model, x = target.model, target.x
        if target.precision == "fp16":  # exported in half precision: ONNX has no autocast
            model, x = copy.deepcopy(model).half(), x.half()
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(model, (x,), dynamo=True, verbose=False)
        export_s = time.perf_counter() - t0
        assert program is not None  # the dynamo exporter returns its program
        proto = program.model_proto
        opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))

        options = ort.SessionOptions()
        options.intra_op_num_threads = torch.get_num_threads()
        options.inter_op_num_threads = 1
        provider = CUDA_PROVIDER if cuda else CPU_PROVIDER
        session = ort.InferenceSession(proto.SerializeToString(), options, providers=[provider])
        forward = _cuda_forward(session, x, target) if cuda else _cpu_forward(session, x)
        return Built(forward, provider, {"export_s": export_s, "onnx_opset": opset})


def _cpu_forward(session: Any, x: torch.Tensor) -> Any:
    feed = {session.get_inputs()[0].name: x.contiguous().numpy()}

    def forward() -> torch.Tensor:
        return torch.from_numpy(session.run(None, feed)[0])

    return forward


def _cuda_forward(session: Any, x: torch.Tensor, target: Target) -> Any:
    """Input and logits bound to device memory; the output buffer has eager's logits' shape and x's dtype."""
    x = x.contiguous()
    logits = logits_of(eager_forward(target)())
    out = torch.empty(logits.shape, dtype=x.dtype, device=x.device)
    index = x.device.index or 0
    binding = session.io_binding()
    dtype = {torch.float32: np.float32, torch.float16: np.float16}[x.dtype]
    binding.bind_input(session.get_inputs()[0].name, "cuda", index, dtype, tuple(x.shape), x.data_ptr())
    binding.bind_output(session.get_outputs()[0].name, "cuda", index, dtype, tuple(out.shape), out.data_ptr())

    def forward() -> torch.Tensor:
        session.run_with_iobinding(binding)
        return out

    return forward
