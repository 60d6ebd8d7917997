"""The training loop: schedule, budgets, losses, checkpoints and exact resume."""

import csv

import pytest
import torch

from segbench.data import build_dataset, train_transforms
from segbench.models import build_model
from segbench.train import LOG_FIELDS, TrainConfig, Trainer, lr_factor, segmentation_loss, train_loader


def _sets(length=8, size=48):
    train = build_dataset("synthetic", split="train", size=size, length=length)
    train.transform = train_transforms(size, ignore_index=255)
    return train, build_dataset("synthetic", split="val", size=size, length=4)


def _trainer(config, out_dir=None, model=("mobilenet", "skip")):
    torch.manual_seed(0)
    train, val = _sets()
    return Trainer(build_model(*model, num_classes=8), train, val, config, torch.device("cpu"), out_dir)


def test_lr_factor_warms_up_linearly_then_decays_by_poly():
    assert lr_factor(0.0, 0, warmup_iters=4, power=0.9) == pytest.approx(0.25)
    assert lr_factor(0.0, 3, warmup_iters=4, power=0.9) == pytest.approx(1.0)
    assert lr_factor(0.5, 10, warmup_iters=4, power=0.9) == pytest.approx(0.5**0.9)
    assert lr_factor(1.0, 10, warmup_iters=0, power=0.9) == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({}, "exactly one training budget"), ({"epochs": 1, "iterations": 2}, "exactly one"),
     ({"iterations": 0}, "must be positive"), ({"iterations": 1, "optimizer": "lamb"}, "valid: sgd, adamw")],
)
def test_train_config_validation(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_budgets_in_iterations_and_epochs():
    it = _trainer(TrainConfig(iterations=5, batch_size=2)).fit()
    assert it.iteration == 5
    ep = _trainer(TrainConfig(epochs=2, batch_size=4)).fit()
    assert (ep.epoch, ep.iteration) == (2, 4)  # 8 images, batch 4, drop_last


def test_time_budget_stops():
    state = _trainer(TrainConfig(time_s=0.5, batch_size=2)).fit()
    assert state.iteration >= 1 and state.elapsed_s >= 0.5


def test_auxiliary_heads_add_weighted_losses():
    criterion = torch.nn.CrossEntropyLoss(ignore_index=255)
    target = torch.randint(0, 3, (2, 4, 4))
    main, aux = torch.randn(2, 3, 4, 4), torch.randn(2, 3, 4, 4)
    combined = segmentation_loss((main, aux), target, criterion, aux_weight=0.4)
    assert combined == pytest.approx(criterion(main, target) + 0.4 * criterion(aux, target))


def test_training_learns_a_small_set():
    """A few dozen steps on 8 scenes must beat the untrained model on those scenes."""
    config = TrainConfig(iterations=60, batch_size=4, lr=3e-3)
    trainer = _trainer(config, model=("resnet18", "unet"))
    scenes = build_dataset("synthetic", split="train", size=48, length=8)  # no augmentation
    trainer.loader = train_loader(scenes, config, trainer.generator)
    trainer.val_set = scenes
    before = trainer.validate().miou
    trainer.fit()
    assert trainer.validate().miou > before + 20


def test_checkpoints_log_and_exact_resume(tmp_path):
    """Interrupt a 4-epoch run after epoch 2; resuming it ends with the uninterrupted run's weights."""
    config = TrainConfig(epochs=4, batch_size=4, seed=3)
    full = _trainer(config)
    full.fit()

    def interrupt_after_epoch_2(event):
        if event.val_miou is not None and event.iteration == 4:
            raise KeyboardInterrupt

    first = _trainer(config, tmp_path)
    first.on_event = interrupt_after_epoch_2
    with pytest.raises(KeyboardInterrupt):
        first.fit()
    assert {p.name for p in tmp_path.iterdir()} >= {"last.pt", "best.pt", "log.csv"}
    with open(tmp_path / "log.csv") as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [1, 2] and list(rows[0]) == LOG_FIELDS

    resumed = _trainer(config, tmp_path)
    resumed.resume(tmp_path / "last.pt")
    state = resumed.fit()
    assert (state.epoch, state.iteration, len(state.history)) == (4, 8, 4)
    for name, tensor in full.model.state_dict().items():
        assert torch.allclose(tensor.float(), resumed.model.state_dict()[name].float(), atol=1e-6), name


def test_median_frequency_class_weights_are_used():
    trainer = _trainer(TrainConfig(iterations=1, batch_size=2, class_weights=True))
    weight = trainer.criterion.weight
    assert weight is not None and weight.shape == (8,) and (weight > 0).any()


def test_short_recipe_fills_batch_lr_and_warmup_only_without_a_budget():
    from segbench.recipe import BUDGETED_RECIPE, POLY_POWER, SHORT_RECIPE
    from segbench.spec import TrainSpec

    short = TrainSpec().recipe(seed=0)
    assert (short.iterations, short.batch_size, short.lr, short.warmup_iters, short.poly_power) == (
        SHORT_RECIPE.iterations, SHORT_RECIPE.batch_size, SHORT_RECIPE.lr["adamw"], SHORT_RECIPE.warmup_iters,
        SHORT_RECIPE.poly_power)
    assert SHORT_RECIPE.poly_power != POLY_POWER  # the short recipe's own schedule, not the default one
    budgeted = TrainSpec(iterations=50).recipe(seed=0)
    assert (budgeted.iterations, budgeted.batch_size, budgeted.lr, budgeted.poly_power) == (
        50, BUDGETED_RECIPE.batch_size, 1e-3, 0.9)
    assert TrainSpec(optimizer="sgd").recipe(seed=0).lr == 0.01
    assert TrainSpec(batch_size=4).recipe(seed=0).batch_size == 4  # the user's batch wins in the short recipe


def test_the_short_recipe_clips_the_gradients_a_budget_of_ones_own_does_not():
    from segbench.recipe import SHORT_RECIPE
    from segbench.spec import TrainSpec

    assert TrainSpec().recipe(seed=0).grad_clip_norm == SHORT_RECIPE.grad_clip_norm
    assert TrainSpec(iterations=50).recipe(seed=0).grad_clip_norm is None
    assert TrainSpec(grad_clip=0.0).recipe(seed=0).grad_clip_norm is None  # 0: none, in the short recipe too
    assert TrainSpec(iterations=50, grad_clip=2.0).recipe(seed=0).grad_clip_norm == 2.0
    with pytest.raises(ValueError, match="clipping norm must be positive"):
        TrainConfig(iterations=1, grad_clip_norm=-1.0)


def _gradient_norm(model: torch.nn.Module) -> float:
    return float(torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in model.parameters()
                                                       if p.grad is not None])))


def test_a_step_clips_the_gradients_global_norm():
    images, masks = torch.randn(2, 3, 48, 48), torch.randint(0, 8, (2, 48, 48))
    free = _trainer(TrainConfig(iterations=1, batch_size=2))
    free.step(images, masks)
    clipped = _trainer(TrainConfig(iterations=1, batch_size=2, grad_clip_norm=0.05))
    clipped.step(images, masks)
    assert _gradient_norm(free.model) > 0.1  # the same first step, unclipped, is well above the norm
    assert _gradient_norm(clipped.model) == pytest.approx(0.05, rel=1e-3)


def test_default_crop_is_the_datasets_clipped_to_the_image():
    from segbench.data import dataset_info

    synthetic = dataset_info("synthetic")
    assert synthetic.default_crop((96, 96)) == (64, 64)
    assert synthetic.default_crop((48, 80)) == (48, 64)  # never a crop that pads a smaller scene
    assert dataset_info("camvid").default_crop((360, 480)) == (360, 480)  # no crop of its own: the image
