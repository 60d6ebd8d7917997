"""The runtimes torch has itself: eager, torch.compile and CUDA graph replay."""

from __future__ import annotations

import time
from typing import Any

import torch

from segbench.config import EAGER
from segbench.measure.profile import autocast
from segbench.runtimes.base import RUNTIMES, Built, Runtime, Target, eager_forward

#: Eager forwards on a side stream before a CUDA graph is captured (cuDNN autotuning, lazy kernels).
GRAPH_WARMUP_ITERS = 3


@RUNTIMES.register(EAGER, paper="-", year="-")
class Eager(Runtime):
    """The model called as it is: what every cell measured before runtimes existed."""

    def build(self, target: Target) -> Built:
        return Built(eager_forward(target), EAGER)


@RUNTIMES.register("compile", paper="Ansel et al., PyTorch 2 (torch.compile)", year=2024, compile_mode=True,
                   needs="a C++ compiler on the CPU (inductor)")
class Compile(Runtime):
    """``torch.compile(model, mode=..., dynamic=False)``; its first call, where it compiles, is ``compile_s``.

    TorchDynamo's caches are reset first, so a cell never inherits another cell's graphs (nor hits
    the recompile limit that would silently fall back to eager). Graph breaks are those of the first
    call; ``recompiles`` counts the graphs compiled after it, through warm-up and timing.
    """

    def build(self, target: Target) -> Built:
        import torch._dynamo
        from torch._dynamo.utils import counters

        torch._dynamo.reset()
        counters.clear()
        mode = None if target.compile_mode in (None, "default") else target.compile_mode
        compiled = torch.compile(target.model, mode=mode, dynamic=False)
        x = target.x

        def forward() -> Any:
            with torch.inference_mode(), autocast(target.device, target.precision):
                return compiled(x)

        t0 = time.perf_counter()
        forward()
        if target.device.type == "cuda":
            torch.cuda.synchronize(target.device)
        compile_s = time.perf_counter() - t0
        graph_breaks = sum(counters["graph_break"].values())
        graphs = counters["stats"]["unique_graphs"]

        def after_timing() -> dict[str, Any]:
            return {"recompiles": counters["stats"]["unique_graphs"] - graphs}

        return Built(forward, "inductor", {"compile_s": compile_s, "graph_breaks": graph_breaks},
                     after_timing=after_timing)


@RUNTIMES.register("cudagraphs", paper="-", year="-", needs="CUDA")
class CudaGraphs(Runtime):
    """The eager model captured once in a CUDA graph (a static input and output), then replayed.

    Warm-up runs on a side stream before capture, as CUDA graphs require; autocast's weight cache
    is off during capture, so the casts are part of the graph.
    """

    def not_applicable(self, device: torch.device, precision: str, channels_last: bool) -> str | None:
        return None if device.type == "cuda" else f"CUDA graphs need a CUDA device; this cell runs on the {device.type}"

    def build(self, target: Target) -> Built:
        model, x = target.model, target.x

        def run() -> Any:
            with torch.inference_mode(), autocast(target.device, target.precision, cache=False):
                return model(x)

        side = torch.cuda.Stream(target.device)
        side.wait_stream(torch.cuda.current_stream(target.device))
        with torch.cuda.stream(side):
            for _ in range(GRAPH_WARMUP_ITERS):
                run()
        torch.cuda.current_stream(target.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            output = run()
        torch.cuda.synchronize(target.device)

        def forward() -> Any:
            graph.replay()
            return output

        return Built(forward, "cuda graph")
