"""Metrics accumulated batch by batch, checked against torchmetrics in the tests.

Classification: a confusion matrix (rows = true class, columns = predicted) gives
accuracy and per-class accuracy (recall); top-5 is counted alongside.

Segmentation: per image and class, true positives, false positives and false
negatives over the pixels whose target is not the ignore index. From these:

* pooled ("dataset") Dice and IoU per class: sums over all images first, then the
  ratio (what torchmetrics computes with multidim_average="global");
* per-image Dice and IoU: one ratio per image and class. A class that is absent
  from both the prediction and the target of an image has no defined Dice (0/0),
  so it is left out of that image's mean rather than counted as 0 or 1;
  `dice_mean/std/min/max` summarise the per-image macro Dice over images;
* pixel accuracy: correct pixels / non-ignored pixels, pooled.
"""

from __future__ import annotations

import math
from typing import Optional

import torch


class ClassificationMeter:
    """Counts live on the device of the first batch (bincount there, no copy per batch);
    compute() reads them back once."""

    def __init__(self, num_classes: int):
        self.num_classes = num_classes
        self.confusion = torch.zeros(num_classes, num_classes, dtype=torch.int64)
        self.top5_correct = torch.zeros((), dtype=torch.int64)
        self.loss_sum = torch.zeros((), dtype=torch.float64)
        self.count = 0

    def _to(self, device: torch.device) -> None:
        if self.confusion.device != device:
            self.confusion, self.top5_correct, self.loss_sum = (t.to(device) for t in (self.confusion, self.top5_correct, self.loss_sum))

    def update(self, logits: torch.Tensor, targets: torch.Tensor, loss=None) -> None:
        """logits (B, K), targets (B,) int64; loss: the batch's mean loss (float or 0-d tensor)."""
        self._to(logits.device)
        pred = logits.argmax(1)
        idx = targets * self.num_classes + pred  # (B,) cell of the confusion matrix
        self.confusion += torch.bincount(idx, minlength=self.num_classes**2).reshape(self.num_classes, self.num_classes)
        if self.num_classes > 10:
            top5 = logits.topk(5, dim=1).indices  # (B, 5)
            self.top5_correct += (top5 == targets[:, None]).any(1).sum()
        if loss is not None:
            self.loss_sum += loss * len(targets)
        self.count += len(targets)

    def __getstate__(self) -> dict:  # sent between processes on the CPU, whatever device counted
        return {k: v.cpu() if isinstance(v, torch.Tensor) else v for k, v in self.__dict__.items()}

    def merge(self, other: ClassificationMeter) -> None:
        """Add another meter's counts (another process's shard of the split)."""
        self._to(other.confusion.device)
        self.confusion += other.confusion
        self.top5_correct += other.top5_correct
        self.loss_sum += other.loss_sum
        self.count += other.count

    def compute(self) -> dict:
        self._to(torch.device("cpu"))  # the one read-back
        cm = self.confusion.double()
        per_class = cm.diag() / cm.sum(1).clamp_min(1)
        out = {
            "accuracy": float(cm.diag().sum() / max(cm.sum(), 1)),
            # None (JSON null, "no images") for a class with no images here: 0.0 would say "all wrong"
            "per_class_accuracy": [float(v) if n else None for v, n in zip(per_class, cm.sum(1).tolist())],
            "confusion_matrix": self.confusion.tolist(),  # (K, K) counts, rows = true class
        }
        if self.num_classes > 10:
            out["top5_accuracy"] = int(self.top5_correct) / max(self.count, 1)
        if float(self.loss_sum):
            out["loss"] = float(self.loss_sum) / max(self.count, 1)
        return out


class SegmentationMeter:
    def __init__(self, num_classes: int, ignore_index: Optional[int] = None):
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.tp, self.fp, self.fn = [], [], []  # one (K,) tensor per image
        self.correct = 0
        self.valid = 0
        self.loss_sum = 0.0
        self.count = 0

    def update(self, logits: torch.Tensor, targets: torch.Tensor, loss: Optional[float] = None) -> None:
        """logits (B, K, H, W), targets (B, H, W) int64."""
        pred = logits.argmax(1)  # (B, H, W)
        k = self.num_classes
        valid = torch.ones_like(targets, dtype=torch.bool) if self.ignore_index is None else targets != self.ignore_index
        b = targets.shape[0]
        # Per image, a (K x K) confusion of (target, prediction) pixel counts.
        t = torch.where(valid, targets, 0).clamp_max(k - 1)
        code = (t * k + pred).reshape(b, -1)
        offset = (torch.arange(b, device=code.device) * k * k)[:, None]
        counts = torch.bincount((code + offset)[valid.reshape(b, -1)], minlength=b * k * k).reshape(b, k, k).cpu()
        tp = counts.diagonal(dim1=1, dim2=2)  # (B, K)
        self.tp.append(tp)
        self.fp.append(counts.sum(1) - tp)  # predicted c, target something else
        self.fn.append(counts.sum(2) - tp)  # target c, predicted something else
        self.correct += int(tp.sum())
        self.valid += int(valid.sum())
        if loss is not None:
            self.loss_sum += float(loss) * b
        self.count += b

    def merge(self, other: SegmentationMeter) -> None:
        """Append another meter's images (another process's shard of the split)."""
        self.tp += other.tp
        self.fp += other.fp
        self.fn += other.fn
        self.correct += other.correct
        self.valid += other.valid
        self.loss_sum += other.loss_sum
        self.count += other.count

    def per_image(self) -> dict:
        """(N, K) per-image Dice and IoU with NaN where a class is absent from both."""
        tp, fp, fn = (torch.cat(v).double() for v in (self.tp, self.fp, self.fn))
        denom = 2 * tp + fp + fn
        dice = torch.where(denom > 0, 2 * tp / denom.clamp_min(1), torch.nan)
        union = tp + fp + fn
        iou = torch.where(union > 0, tp / union.clamp_min(1), torch.nan)
        return {"dice": dice, "iou": iou}

    def compute(self) -> dict:
        tp, fp, fn = (torch.cat(v).double().sum(0) for v in (self.tp, self.fp, self.fn))
        present = (tp + fp + fn) > 0
        dice_c = torch.where(present, 2 * tp / (2 * tp + fp + fn).clamp_min(1), torch.nan)
        iou_c = torch.where(present, tp / (tp + fp + fn).clamp_min(1), torch.nan)
        images = self.per_image()
        dice_img = images["dice"].nanmean(1)  # (N,) per-image macro Dice over classes present
        iou_img = images["iou"].nanmean(1)
        finite = dice_img[~dice_img.isnan()]
        stats = lambda v: (float(v.mean()), float(v.std(unbiased=False)), float(v.min()), float(v.max())) if len(v) else (math.nan,) * 4
        d_mean, d_std, d_min, d_max = stats(finite)
        i_mean, i_std, i_min, i_max = stats(iou_img[~iou_img.isnan()])
        out = {
            "pixel_accuracy": self.correct / max(self.valid, 1),
            # pooled over all pixels of the split, per class and macro-averaged over classes
            "dice_per_class": [_f(v) for v in dice_c],
            "iou_per_class": [_f(v) for v in iou_c],
            "dice": _f(dice_c.nanmean()),
            "iou": _f(iou_c.nanmean()),
            # per-image macro Dice / IoU, summarised over images
            "dice_mean": d_mean, "dice_std": d_std, "dice_min": d_min, "dice_max": d_max,
            "iou_mean": i_mean, "iou_std": i_std, "iou_min": i_min, "iou_max": i_max,
            "images": self.count,
        }
        if self.loss_sum:
            out["loss"] = self.loss_sum / max(self.count, 1)
        return out


def _f(v) -> Optional[float]:
    v = float(v)
    return None if math.isnan(v) else v


def make_meter(task: str, num_classes: int, ignore_index: Optional[int] = None):
    return SegmentationMeter(num_classes, ignore_index) if task == "segmentation" else ClassificationMeter(num_classes)


def headline(task: str, metrics: dict) -> float:
    """The number model selection maximises: accuracy, or pooled macro Dice."""
    return metrics["accuracy"] if task == "classification" else (metrics["dice"] or 0.0)
