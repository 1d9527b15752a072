"""Losses by name: cross-entropy (label smoothing, class weights, ignore index),
Dice, or both for segmentation."""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from cnnkit.errors import CnnkitError

LOSSES = {"classification": ("ce",), "segmentation": ("ce", "dice", "ce+dice")}


class DiceLoss(nn.Module):
    """1 - soft Dice, averaged over classes (each class's Dice pooled over the batch).

    logits (B, K, H, W), targets (B, H, W); ignored pixels contribute nothing."""

    def __init__(self, ignore_index: Optional[int] = None, eps: float = 1.0):
        super().__init__()
        self.ignore_index, self.eps = ignore_index, eps

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        k = logits.shape[1]
        probs = logits.float().softmax(1)
        valid = torch.ones_like(targets, dtype=torch.bool) if self.ignore_index is None else targets != self.ignore_index
        onehot = F.one_hot(torch.where(valid, targets, 0).clamp_max(k - 1), k).permute(0, 3, 1, 2).float()
        w = valid[:, None].float()
        inter = (probs * onehot * w).sum(dim=(0, 2, 3))
        total = ((probs + onehot) * w).sum(dim=(0, 2, 3))
        return 1 - ((2 * inter + self.eps) / (total + self.eps)).mean()


class CombinedLoss(nn.Module):
    def __init__(self, *losses: nn.Module):
        super().__init__()
        self.losses = nn.ModuleList(losses)

    def forward(self, logits, targets):
        return sum(loss(logits, targets) for loss in self.losses)


def class_weights_from(targets: torch.Tensor, num_classes: int, ignore_index: Optional[int]) -> torch.Tensor:
    """'balanced' weights: n_samples / (K * n_c), as scikit-learn defines them."""
    flat = targets.reshape(-1).long()
    if ignore_index is not None:
        flat = flat[flat != ignore_index]
    counts = torch.bincount(flat, minlength=num_classes).double().clamp_min(1)
    return (counts.sum() / (num_classes * counts)).float()


def build_loss(task: str, name: str, num_classes: int, label_smoothing: float = 0.0,
               class_weights: Optional[torch.Tensor] = None, ignore_index: Optional[int] = None) -> nn.Module:
    if name not in LOSSES[task]:
        raise CnnkitError(f"loss {name!r} does not apply to {task}; choose one of {', '.join(LOSSES[task])}")
    ce = nn.CrossEntropyLoss(weight=class_weights, label_smoothing=label_smoothing,
                             ignore_index=-100 if ignore_index is None else ignore_index)
    if name == "ce":
        return ce
    dice = DiceLoss(ignore_index)
    return dice if name == "dice" else CombinedLoss(ce, dice)
