"""Does the convolutional CRF help on CamVid, and what does it cost?

Trains a small model briefly on CamVid at reduced resolution (or loads a
segbench checkpoint), then prints, in one run, mIoU on the validation and
test splits without and with the CRF (its fixed defaults: 5 mean-field
iterations, 7 x 7 window, see segbench/inference/crf.py), and the CRF's
added latency per image (median of interleaved timings of the model alone
and of model + CRF). Scores are at the reduced resolution (labels resized
with nearest neighbour), so they are for comparing the two rows, not for
comparing with published full-resolution numbers.

    python benchmarks/bench_crf.py --data-root ../shared/datasets/camvid --train-s 180
    python benchmarks/bench_crf.py --data-root ../shared/datasets/camvid \
        --checkpoint results/runs/train/last.pt
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.data import Subset
from torchvision.transforms import v2

from segbench.data import build_dataset, eval_transforms, train_transforms
from segbench.evaluate import eval_loader, evaluate, load_checkpoint
from segbench.inference import InferenceConfig, apply_inference
from segbench.measure.profile import resolve_device
from segbench.models import build_model
from segbench.train import TrainConfig, Trainer


def reduced(size: tuple[int, int]) -> v2.Compose:
    """Resize to ``size`` (bilinear images, nearest masks), then normalise."""
    return v2.Compose([v2.Resize(size, antialias=True), *eval_transforms().transforms])


def latency_ms(modules: dict[str, torch.nn.Module], x: torch.Tensor, rounds: int) -> dict[str, float]:
    """Median per-forward milliseconds of each module, timed interleaved (shared machines drift)."""
    times: dict[str, list[float]] = {name: [] for name in modules}
    with torch.inference_mode():
        for module in modules.values():
            module.eval()(x)  # warm-up
        for _ in range(rounds):
            for name, module in modules.items():
                t0 = time.perf_counter()
                module(x)
                if x.device.type == "cuda":
                    torch.cuda.synchronize(x.device)
                times[name].append((time.perf_counter() - t0) * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", required=True)
    parser.add_argument("--encoder", default="mobilenet")
    parser.add_argument("--decoder", default="skip")
    parser.add_argument("--checkpoint", default=None, help="A segbench last.pt/best.pt instead of training.")
    parser.add_argument("--train-s", type=float, default=180.0, help="Training budget in seconds.")
    parser.add_argument("--size", default="90x120", help="Evaluation size HxW (CamVid is 360x480).")
    parser.add_argument("--limit", type=int, default=None,
                        help="Score only the first N images of each split.")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--rounds", type=int, default=10, help="Timed rounds for the latency.")
    args = parser.parse_args()

    device = resolve_device(args.device)
    h, w = (int(v) for v in args.size.split("x"))
    torch.manual_seed(0)
    if args.checkpoint:
        model, _ = load_checkpoint(args.checkpoint, device)
        print(f"model: {args.checkpoint}")
    else:
        model = build_model(args.encoder, args.decoder, 11)
        train_set = build_dataset("camvid", args.data_root, "train")
        factor = h / 360  # images drawn at 0.8-1.5x the evaluation scale
        train_set.transform = train_transforms((h, w), scale_range=(0.8 * factor, 1.5 * factor),
                                               ignore_index=11)
        recipe = TrainConfig(time_s=args.train_s, batch_size=8, lr=2e-3, warmup_iters=10, class_weights=True)
        state = Trainer(model, train_set, None, recipe, device).fit()
        print(f"model: {args.encoder} + {args.decoder} from scratch, {state.iteration} iterations "
              f"({state.elapsed_s:.0f} s, batch 8, median-frequency class weights) at about {h}x{w}")

    crf_pipeline = apply_inference(model, InferenceConfig(crf=True))
    print(f"{'split':6} {'images':>6} {'mIoU plain':>11} {'mIoU CRF':>9} {'delta':>6}")
    for split in ("val", "test"):
        ds = build_dataset("camvid", args.data_root, split, transform=reduced((h, w)))
        data = Subset(ds, range(min(args.limit, len(ds)))) if args.limit else ds
        scores = [evaluate(m, eval_loader(data), 11, 11, device).miou for m in (model, crf_pipeline)]
        print(f"{split:6} {len(data):6d} {scores[0]:11.2f} {scores[1]:9.2f} {scores[1] - scores[0]:+6.2f}")

    for size in dict.fromkeys([(h, w), (360, 480)]):
        x = torch.randn(1, 3, *size, device=device)
        ms = latency_ms({"plain": model, "crf": crf_pipeline}, x, args.rounds)
        print(f"latency at {size[0]}x{size[1]}, batch 1, {device.type}: model {ms['plain']:.1f} ms, "
              f"model + CRF {ms['crf']:.1f} ms (CRF adds {ms['crf'] - ms['plain']:.1f} ms, "
              f"median of {args.rounds} interleaved rounds)")


if __name__ == "__main__":
    main()
