"""How much of the model's own speed the evaluation and training loops keep.

Prints, measured side by side in one process and interleaved (these machines
are shared and drift; ratios hold better than absolute times):

- eval:  images/s through ``segbench.evaluate`` (loading, forward, confusion
         matrix) over images/s of the same forwards on preloaded tensors;
- train: images/s through ``Trainer.fit`` (loading, augmentation, step) over
         images/s of a bare forward/backward/step loop on preloaded batches.

Both loops run once before timing: on the synthetic set that caches the drawn
scenes, so the figures are those of every epoch after the first.

Targets (issue 3): eval >= 0.90, train >= 0.85.

    python benchmarks/bench_pipeline.py --dataset camvid --data-root ../shared/datasets/camvid
    python benchmarks/bench_pipeline.py --dataset synthetic --device cuda
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.data import Subset

from segbench.data import build_dataset, train_transforms
from segbench.evaluate import eval_loader, evaluate
from segbench.measure.profile import resolve_device
from segbench.models import build_model
from segbench.train import TrainConfig, Trainer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_eval(model, dataset, args, device) -> tuple[float, float]:
    info = dataset.info
    loader = eval_loader(dataset, batch_size=args.batch_size, num_workers=args.workers,
                         pin_memory=device.type == "cuda")
    preloaded = [images.to(device) for images, _ in loader]
    n = len(dataset)

    @torch.inference_mode()
    def forward_only() -> float:
        model.eval()
        _sync(device)
        t0 = time.perf_counter()
        for images in preloaded:
            model(images).argmax(1)
        _sync(device)
        return n / (time.perf_counter() - t0)

    def full_loop() -> float:
        _sync(device)
        t0 = time.perf_counter()
        evaluate(model, loader, info.num_classes, info.ignore_index, device)
        _sync(device)
        return n / (time.perf_counter() - t0)

    forward_only(), full_loop()  # warm-up
    bare, loop = [], []
    for _ in range(args.repeats):
        bare.append(forward_only())
        loop.append(full_loop())
    return statistics.median(bare), statistics.median(loop)


def bench_train(model, dataset, args, device) -> tuple[float, float]:
    config = TrainConfig(iterations=args.train_iters, batch_size=args.batch_size, num_workers=args.workers)
    trainer = Trainer(model, dataset, None, config, device)
    batches = []
    for images, masks in trainer.loader:
        batches.append((images.to(device), masks.to(device)))
        if len(batches) == args.train_iters:
            break
    criterion = torch.nn.CrossEntropyLoss(ignore_index=dataset.info.ignore_index)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    images_per_run = args.train_iters * args.batch_size

    def bare_loop() -> float:
        model.train()
        _sync(device)
        t0 = time.perf_counter()
        for images, masks in batches:
            loss = criterion(model(images), masks)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        _sync(device)
        return images_per_run / (time.perf_counter() - t0)

    def trainer_loop() -> float:
        trainer.state.iteration = 0  # a fresh budget of train_iters steps each time
        trainer.state.epoch = 0
        _sync(device)
        t0 = time.perf_counter()
        trainer.fit()
        _sync(device)
        return images_per_run / (time.perf_counter() - t0)

    bare_loop(), trainer_loop()  # warm-up
    bare, loop = [], []
    for _ in range(args.repeats):
        bare.append(bare_loop())
        loop.append(trainer_loop())
    return statistics.median(bare), statistics.median(loop)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--encoder", default="mobilenet")
    p.add_argument("--decoder", default="skip")
    p.add_argument("--dataset", default="synthetic")
    p.add_argument("--data-root", default=None)
    p.add_argument("--split", default="val")
    p.add_argument("--images", type=int, default=32, help="evaluation images per run")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--train-iters", type=int, default=8)
    p.add_argument("--train-images", type=int, default=64,
                   help="training images (synthetic scenes are cached after the warm-up pass over them)")
    p.add_argument("--crop", type=int, default=None, help="training crop (default: image size)")
    p.add_argument("--workers", type=int, default=0)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    device = resolve_device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)

    full = build_dataset(args.dataset, args.data_root, args.split)
    eval_set = Subset(full, range(min(args.images, len(full))))
    eval_set.info = full.info  # type: ignore[attr-defined]
    train_full = build_dataset(args.dataset, args.data_root, "train")
    crop = args.crop or tuple(train_full[0][1].shape)
    train_full.transform = train_transforms(crop, ignore_index=train_full.info.ignore_index)
    train_set = Subset(train_full, range(min(args.train_images, len(train_full))))
    train_set.info = train_full.info  # type: ignore[attr-defined]
    model = build_model(args.encoder, args.decoder, full.info.num_classes).to(device)

    print(f"{args.encoder}+{args.decoder} on {args.dataset}, device {device}, threads "
          f"{torch.get_num_threads()}, workers {args.workers}, batch {args.batch_size}, "
          f"median of {args.repeats} interleaved repeats")
    bare, loop = bench_eval(model, eval_set, args, device)
    print(f"eval : forward-only {bare:8.2f} img/s | eval loop {loop:8.2f} img/s | ratio {loop / bare:.3f} "
          f"(target >= 0.90)")
    bare, loop = bench_train(model, train_set, args, device)
    print(f"train: bare step    {bare:8.2f} img/s | Trainer   {loop:8.2f} img/s | ratio {loop / bare:.3f} "
          f"(target >= 0.85)")


if __name__ == "__main__":
    main()
