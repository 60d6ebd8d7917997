"""ConfusionMatrix / SegMetrics against an independent per-class count written here in plain numpy."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from segbench.measure.metrics import ConfusionMatrix, SegMetrics, score_arrays

NAN = float("nan")


def reference(preds, targets, num_classes, ignore_index):
    """Scores from set logic per class, no confusion matrix: TP, FP, FN counted directly."""
    p = np.concatenate([np.asarray(x).ravel() for x in preds]).astype(np.int64)
    t = np.concatenate([np.asarray(x).ravel() for x in targets]).astype(np.int64)
    if ignore_index is not None:
        keep = t != ignore_index
        p, t = p[keep], t[keep]
    n = len(t)
    iou, acc, fw = [], [], 0.0
    for c in range(num_classes):
        tp = int(np.sum((t == c) & (p == c)))
        fp = int(np.sum((t != c) & (p == c)))
        fn = int(np.sum((t == c) & (p != c)))
        union = tp + fp + fn
        iou.append(100 * tp / union if union else NAN)
        acc.append(100 * tp / (tp + fn) if tp + fn else NAN)
        if union:
            fw += (tp + fn) / n * iou[-1]

    def mean_defined(xs):
        xs = [x for x in xs if not math.isnan(x)]
        return sum(xs) / len(xs) if xs else NAN

    return {
        "miou": mean_defined(iou),
        "pixel_acc": 100 * float(np.sum(p == t)) / n if n else NAN,
        "mean_acc": mean_defined(acc),
        "fwiou": fw if n else NAN,
        "per_class_iou": iou,
        "per_class_acc": acc,
        "num_pixels": n,
    }


def assert_matches(m: SegMetrics, ref: dict) -> None:
    for key in ("miou", "pixel_acc", "mean_acc", "fwiou"):
        np.testing.assert_allclose(getattr(m, key), ref[key], rtol=1e-12, atol=1e-12, err_msg=key)
    np.testing.assert_allclose(m.per_class_iou, ref["per_class_iou"], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(m.per_class_acc, ref["per_class_acc"], rtol=1e-12, atol=1e-12)
    assert m.num_pixels == ref["num_pixels"]


def random_batches(rng, num_batches=4, shape=(2, 17, 23), num_classes=6, ignore_index=255, p_ignore=0.15):
    """Noisy predictions of a random GT; predictions on ignored pixels are arbitrary, even out of range."""
    preds, targets = [], []
    for _ in range(num_batches):
        t = rng.integers(0, num_classes, size=shape)
        p = np.where(rng.random(shape) < 0.6, t, rng.integers(0, num_classes, size=shape))
        if ignore_index is not None:
            ign = rng.random(shape) < p_ignore
            t = np.where(ign, ignore_index, t)
            p = np.where(ign & (rng.random(shape) < 0.5), 255, p)
        preds.append(p)
        targets.append(t.astype(np.uint8))
    return preds, targets


def accumulate(preds, targets, num_classes, ignore_index=255) -> ConfusionMatrix:
    cm = ConfusionMatrix(num_classes, ignore_index)
    for p, t in zip(preds, targets, strict=True):
        cm.update(torch.from_numpy(p), torch.from_numpy(t))
    return cm


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_batches_match_reference(seed):
    rng = np.random.default_rng(seed)
    preds, targets = random_batches(rng, num_classes=7)
    assert_matches(accumulate(preds, targets, 7).compute(), reference(preds, targets, 7, 255))


def test_hand_computed_case():
    # Counted pixels (gt, pred): (0,0) (0,1) (1,1) (1,1) (2,0); two ignored pixels predicted 1 and 3.
    # TP = [1, 2, 0, 0], GT = [2, 2, 1, 0], predicted = [2, 3, 0, 0], union = [3, 3, 1, 0].
    gt = torch.tensor([0, 0, 1, 1, 2, 255, 255])
    pred = torch.tensor([0, 1, 1, 1, 0, 1, 3])
    cm = ConfusionMatrix(4)
    cm.update(pred, gt)
    expected = torch.tensor([[1, 1, 0, 0], [0, 2, 0, 0], [1, 0, 0, 0], [0, 0, 0, 0]])
    assert torch.equal(cm.matrix, expected)
    m = cm.compute()
    assert m.per_class_iou[:3] == pytest.approx([100 / 3, 200 / 3, 0.0])
    assert math.isnan(m.per_class_iou[3])
    assert m.miou == pytest.approx(100 / 3)  # (1/3 + 2/3 + 0) / 3: class 3 left out
    assert m.pixel_acc == pytest.approx(60.0)  # 3 / 5
    assert m.per_class_acc[:3] == pytest.approx([50.0, 100.0, 0.0])
    assert m.mean_acc == pytest.approx(50.0)
    assert m.fwiou == pytest.approx(40.0)  # 2/5 * 1/3 + 2/5 * 2/3 + 1/5 * 0
    assert m.num_pixels == 5


def test_predictions_on_ignored_pixels_are_not_false_positives():
    # Had the two ignored pixels counted, class 1 would be 2/4 and class 3 would be 0 instead of NaN.
    gt = torch.tensor([1, 1, 255, 255])
    pred = torch.tensor([1, 1, 1, 3])
    m = score_arrays(pred.numpy(), gt.numpy(), num_classes=4, ignore_index=255)
    assert m.per_class_iou[1] == 100.0
    assert math.isnan(m.per_class_iou[3])
    assert m.miou == 100.0 and m.num_pixels == 2


def test_absent_class_is_nan_but_missed_class_is_zero():
    gt = torch.tensor([0, 0, 1, 1])  # class 2 in GT nowhere, class 1 never predicted
    pred = torch.tensor([0, 0, 0, 0])
    cm = ConfusionMatrix(3, ignore_index=None)
    cm.update(pred, gt)
    m = cm.compute()
    assert m.per_class_iou[0] == 50.0 and m.per_class_iou[1] == 0.0
    assert math.isnan(m.per_class_iou[2]) and math.isnan(m.per_class_acc[2])
    assert m.miou == 25.0  # (50 + 0) / 2, not (50 + 0 + 0) / 3
    assert m.mean_acc == 50.0


def test_perfect_prediction():
    rng = np.random.default_rng(3)
    t = rng.integers(0, 5, size=(3, 8, 9))
    m = score_arrays(t, t.astype(np.uint8), num_classes=5)
    assert (m.miou, m.pixel_acc, m.mean_acc, m.fwiou) == (100.0, 100.0, 100.0, 100.0)
    assert m.per_class_iou == [100.0] * 5 and m.num_pixels == t.size


def test_batches_equal_one_update_and_merge():
    rng = np.random.default_rng(4)
    preds, targets = random_batches(rng, num_batches=5, num_classes=5)
    batched = accumulate(preds, targets, 5)
    whole = accumulate([np.concatenate(preds)], [np.concatenate(targets)], 5)
    assert torch.equal(batched.matrix, whole.matrix)
    left, right = accumulate(preds[:2], targets[:2], 5), accumulate(preds[2:], targets[2:], 5)
    left += right
    assert torch.equal(left.matrix, whole.matrix)
    assert left.compute().to_dict() == whole.compute().to_dict()
    with pytest.raises(ValueError, match="cannot merge"):
        left.merge(ConfusionMatrix(6))


def test_prediction_out_of_range_is_an_error():
    cm = ConfusionMatrix(3)
    gt = torch.tensor([0, 1, 2, 255])
    with pytest.raises(ValueError, match=r"predictions span \[0, 3\]"):
        cm.update(torch.tensor([0, 1, 3, 0]), gt)
    with pytest.raises(ValueError, match=r"predictions span \[-1, 1\]"):
        cm.update(torch.tensor([0, 1, -1, 0]), gt)
    cm.update(torch.tensor([0, 1, 2, 255]), gt)  # anything goes on an ignored pixel
    assert cm.matrix.trace() == 3 and cm.matrix.sum() == 3


def test_target_out_of_range_is_an_error():
    cm = ConfusionMatrix(3)
    with pytest.raises(ValueError, match=r"target labels span \[0, 7\]"):
        cm.update(torch.tensor([0, 1, 2]), torch.tensor([0, 7, 255]))
    assert cm.matrix.sum() == 0  # a rejected batch is not counted


def test_ignore_index_none():
    rng = np.random.default_rng(5)
    preds, targets = random_batches(rng, num_classes=4, ignore_index=None)
    assert_matches(accumulate(preds, targets, 4, None).compute(), reference(preds, targets, 4, None))
    cm = ConfusionMatrix(4, ignore_index=None)
    with pytest.raises(ValueError, match="target labels"):  # 255 is now just an invalid label
        cm.update(torch.tensor([0, 1]), torch.tensor([0, 255], dtype=torch.uint8))


@pytest.mark.parametrize("pred_dtype", [torch.int64, torch.int32, torch.uint8])
@pytest.mark.parametrize("target_dtype", [torch.uint8, torch.int16, torch.int64])
def test_dtypes(pred_dtype, target_dtype):
    rng = np.random.default_rng(6)
    preds, targets = random_batches(rng, num_batches=2, num_classes=12, ignore_index=200)
    cm = ConfusionMatrix(12, ignore_index=200)
    for p, t in zip(preds, targets, strict=True):
        cm.update(torch.from_numpy(p).to(pred_dtype), torch.from_numpy(t).to(target_dtype))
    assert cm.matrix.dtype == torch.int64
    assert_matches(cm.compute(), reference(preds, targets, 12, 200))


def test_float_labels_and_shape_mismatch_are_rejected():
    cm = ConfusionMatrix(3)
    with pytest.raises(TypeError, match="integer labels"):
        cm.update(torch.zeros(4), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match="shape"):
        cm.update(torch.zeros(4, dtype=torch.long), torch.zeros(2, 2, dtype=torch.long))
    with pytest.raises(ValueError, match="valid class"):
        ConfusionMatrix(3, ignore_index=1)


def test_update_logits_takes_argmax():
    rng = np.random.default_rng(7)
    logits = torch.from_numpy(rng.standard_normal((2, 4, 5, 6)))
    target = torch.from_numpy(rng.integers(0, 4, size=(2, 5, 6)))
    a, b = ConfusionMatrix(4), ConfusionMatrix(4)
    a.update_logits(logits, target)
    b.update(logits.argmax(1), target)
    assert torch.equal(a.matrix, b.matrix)
    with pytest.raises(ValueError, match="logits"):
        a.update_logits(logits[:, :3], target)


def test_empty_gives_nan_and_json_none():
    cm = ConfusionMatrix(3)
    cm.update(torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.uint8))
    cm.update(torch.tensor([1, 2]), torch.tensor([255, 255]))  # everything ignored
    m = cm.compute()
    assert m.num_pixels == 0
    assert all(math.isnan(x) for x in (m.miou, m.pixel_acc, m.mean_acc, m.fwiou, *m.per_class_iou))
    d = m.to_dict()
    assert d["miou"] is None and d["per_class_iou"] == [None, None, None]
    json.dumps(d, allow_nan=False)


def test_to_dict_is_strict_json():
    m = score_arrays(np.array([0, 0, 1]), np.array([0, 0, 0]), num_classes=3)
    d = json.loads(json.dumps(m.to_dict(), allow_nan=False))
    assert d["per_class_iou"] == [pytest.approx(200 / 3), 0.0, None]
    assert d["num_pixels"] == 3 and isinstance(d["miou"], float)


def test_score_arrays_sequences_and_wide_unsigned():
    rng = np.random.default_rng(8)
    preds = [rng.integers(0, 3, size=s) for s in [(4, 5), (7, 3)]]
    targets = [rng.integers(0, 3, size=p.shape).astype(np.uint16) for p in preds]
    assert_matches(score_arrays(preds, targets, 3, None), reference(preds, targets, 3, None))
    with pytest.raises(ValueError, match="2 predictions but 1 targets"):
        score_arrays(preds, targets[:1], 3)


def test_reset():
    cm = ConfusionMatrix(2)
    cm.update(torch.tensor([0, 1]), torch.tensor([0, 1]))
    cm.reset()
    assert cm.matrix.sum() == 0 and cm.matrix.shape == (2, 2)


def test_all_reduce_without_process_group_is_a_noop():
    cm = ConfusionMatrix(2)
    cm.update(torch.tensor([0, 1]), torch.tensor([0, 1]))
    assert cm.all_reduce() is cm and cm.matrix.sum() == 2
