"""cnnkit's metrics against torchmetrics on random and crafted cases."""

import math

import pytest
import torch
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score, MulticlassJaccardIndex

from cnnkit.engine.metrics import ClassificationMeter, SegmentationMeter


def _logits_for(pred: torch.Tensor, k: int) -> torch.Tensor:
    """Logits whose argmax is `pred`: (B, H, W) -> (B, K, H, W)."""
    return torch.nn.functional.one_hot(pred, k).permute(0, 3, 1, 2).float()


@pytest.mark.parametrize("k", [3, 12])
def test_classification_against_torchmetrics(k):
    g = torch.Generator().manual_seed(k)
    logits = torch.randn(500, k, generator=g)
    targets = torch.randint(0, k, (500,), generator=g)
    meter = ClassificationMeter(k)
    for chunk in range(0, 500, 128):  # batch by batch, as in evaluation
        meter.update(logits[chunk : chunk + 128], targets[chunk : chunk + 128])
    got = meter.compute()
    assert got["accuracy"] == pytest.approx(float(MulticlassAccuracy(k, average="micro")(logits, targets)))
    assert got["per_class_accuracy"] == pytest.approx(MulticlassAccuracy(k, average=None)(logits, targets).tolist())
    assert ("top5_accuracy" in got) == (k > 10)
    if k > 10:
        assert got["top5_accuracy"] == pytest.approx(float(MulticlassAccuracy(k, top_k=5, average="micro")(logits, targets)))


@pytest.mark.parametrize("ignore", [None, 255])
def test_segmentation_pooled_against_torchmetrics(ignore):
    g = torch.Generator().manual_seed(1)
    k = 4
    targets = torch.randint(0, k, (6, 16, 16), generator=g)
    pred = torch.where(torch.rand(6, 16, 16, generator=g) < 0.7, targets, torch.randint(0, k, (6, 16, 16), generator=g))
    if ignore is not None:
        targets[:, :3] = ignore
    meter = SegmentationMeter(k, ignore)
    meter.update(_logits_for(pred[:4], k), targets[:4])
    meter.update(_logits_for(pred[4:], k), targets[4:])
    got = meter.compute()
    tm_kw = {"ignore_index": ignore} if ignore is not None else {}
    f1 = MulticlassF1Score(k, average=None, multidim_average="global", **tm_kw)(pred, targets)
    iou = MulticlassJaccardIndex(k, average=None, **tm_kw)(pred, targets)
    acc = MulticlassAccuracy(k, average="micro", multidim_average="global", **tm_kw)(pred, targets)
    assert got["dice_per_class"] == pytest.approx(f1.tolist())
    assert got["iou_per_class"] == pytest.approx(iou.tolist())
    assert got["pixel_accuracy"] == pytest.approx(float(acc))
    # per image: torchmetrics' samplewise F1, where the class occurs in target or prediction
    per = MulticlassF1Score(k, average=None, multidim_average="samplewise", **tm_kw)(pred, targets)
    assert torch.allclose(meter.per_image()["dice"].float(), per.float())
    assert got["dice_mean"] == pytest.approx(float(per.mean(1).mean()))


def test_absent_classes_and_empty_masks_are_left_out_not_zero():
    k = 3
    # image 0: only background, predicted perfectly -> classes 1 and 2 absent from both
    # image 1: class 1 everywhere in the target, predicted as class 2
    targets = torch.stack([torch.zeros(4, 4, dtype=torch.long), torch.ones(4, 4, dtype=torch.long)])
    pred = torch.stack([torch.zeros(4, 4, dtype=torch.long), torch.full((4, 4), 2)])
    meter = SegmentationMeter(k)
    meter.update(_logits_for(pred, k), targets)
    per = meter.per_image()["dice"]
    assert per[0, 0] == 1 and math.isnan(per[0, 1]) and math.isnan(per[0, 2])
    assert per[1].tolist()[1:] == [0.0, 0.0] and math.isnan(per[1, 0])
    got = meter.compute()
    assert got["dice_min"] == 0.0 and got["dice_max"] == 1.0  # image 0 scores 1, not 1/3
    assert got["dice_per_class"] == [1.0, 0.0, 0.0]


def test_fully_ignored_image_contributes_nothing():
    meter = SegmentationMeter(2, ignore_index=255)
    targets = torch.full((2, 4, 4), 255)
    targets[1] = 1
    meter.update(_logits_for(torch.ones(2, 4, 4, dtype=torch.long), 2), targets)
    got = meter.compute()
    assert got["pixel_accuracy"] == 1.0 and got["dice_per_class"] == [None, 1.0]
    assert got["dice_mean"] == 1.0  # the all-ignored image has no Dice at all and is skipped
