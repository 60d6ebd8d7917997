"""The optimizer step, fused against the per-parameter loop, side by side in one process.

Prints ms per step of AdamW and SGD (momentum) over a model's parameters, each with torch's loop,
``foreach=True`` and ``fused=True`` (what segbench.train uses where the device has the kernel),
interleaved so that a shared machine's drift lands on every variant alike.

    python benchmarks/bench_optimizer.py                           # resnet18+unet, 8 classes, CPU
    python benchmarks/bench_optimizer.py --encoder mobilenet --decoder skip --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from segbench.models import build_model


def step_ms(optimizer: torch.optim.Optimizer, steps: int, device: torch.device) -> float:
    """Median ms of one ``optimizer.step()`` over ``steps`` steps (synchronised on CUDA)."""
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        optimizer.step()
        if device.type == "cuda":
            torch.cuda.synchronize()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--encoder", default="resnet18")
    parser.add_argument("--decoder", default="unet")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    device = torch.device(args.device)
    model = build_model(args.encoder, args.decoder, num_classes=8).to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    for p in params:
        p.grad = torch.randn_like(p)
    kinds = (("loop", {"foreach": False}), ("foreach", {"foreach": True}), ("fused", {"fused": True}))
    variants = {f"{name} {kind}": (cls, kw) for name, cls in (("adamw", torch.optim.AdamW), ("sgd", torch.optim.SGD))
                for kind, kw in kinds}
    optimizers = {k: cls(params, lr=1e-3, **({"momentum": 0.9} if cls is torch.optim.SGD else {}), **kw)
                  for k, (cls, kw) in variants.items()}
    times: dict[str, list[float]] = {k: [] for k in optimizers}
    for _ in range(args.repeats):
        for name, optimizer in optimizers.items():
            step_ms(optimizer, 2, device)  # state allocated, kernels warm
            times[name].append(step_ms(optimizer, args.steps, device))
    print(f"{args.encoder}+{args.decoder}: {sum(p.numel() for p in params) / 1e6:.1f}M parameters on {device}, "
          f"{torch.get_num_threads()} threads")
    for name, values in times.items():
        loop = statistics.median(times[name.split()[0] + " loop"])
        median = statistics.median(values)
        print(f"  {name:14s} {median:8.1f} ms/step   x{loop / median:.1f} vs loop")


if __name__ == "__main__":
    main()
