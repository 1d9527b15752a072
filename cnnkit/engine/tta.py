"""Test-time augmentation: the views a TTA level evaluates and their averaged logits.

The run's own test, `cnnkit evaluate`, `predict` and the figures all call forward_tta with the level
the run recorded (tta_of its config), so a checkpoint is always scored the way its run was tested.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from cnnkit.errors import CnnkitError

TTA_LEVELS = ("none", "mirror", "mirror+translate")


def tta_level(tta) -> str:
    """True/False (the --tta switch) or a level name -> one of TTA_LEVELS."""
    if tta is None or tta is False:
        return "none"
    if tta is True:
        return "mirror"
    if tta not in TTA_LEVELS:
        raise CnnkitError(f"unknown TTA level {tta!r}; use {', '.join(TTA_LEVELS)}")
    return tta


def tta_of(config) -> str:
    """A run's TTA level from its config (TrainConfig or config.json dict): --tta switches
    test-time augmentation on or off (the data policy turns it off where a mirror image
    changes the label); --tta-level says which views."""
    get = config.get if isinstance(config, dict) else lambda k, d=None: getattr(config, k, d)
    return (get("tta_level") or "mirror") if get("tta", False) else "none"


def tta_views(x: torch.Tensor, level) -> list[tuple[float, torch.Tensor, bool]]:
    """The views a TTA level evaluates, as (weight, view, mirrored); weights sum to 1.

    mirror: the image and its mirror image, 1/2 each. mirror+translate (airbench94):
    those two at 1/4 each, plus the image moved one pixel down-right and one pixel
    up-left (reflected borders), each with its mirror image, at 1/8 each.
    x: (B, C, H, W)."""
    level = tta_level(level)
    if level == "none":
        return [(1.0, x, False)]
    if level == "mirror":
        return [(0.5, x, False), (0.5, x.flip(-1), True)]
    h, w = x.shape[-2:]
    padded = F.pad(x, (1, 1, 1, 1), mode="reflect")  # (B, C, H+2, W+2)
    down_right, up_left = padded[..., :h, :w], padded[..., 2:, 2:]  # out[i, j] = x[i-1, j-1] / x[i+1, j+1]
    views = [(0.25, x, False), (0.25, x.flip(-1), True)]
    for t in (down_right, up_left):
        views += [(0.125, t, False), (0.125, t.flip(-1), True)]
    return views


def forward_tta(forward, x: torch.Tensor, task: str, tta) -> torch.Tensor:
    """Logits of x averaged over the views of the TTA level (`tta`: a level name, or
    True for mirror); segmentation logits are mirrored back before averaging."""
    level = tta_level(tta)
    if level == "none":
        return forward(x)
    if level == "mirror+translate" and task == "segmentation":
        raise CnnkitError("TTA level mirror+translate is for classification; use --tta (mirror) for segmentation")
    logits = None
    for weight, view, mirrored in tta_views(x, level):
        out = forward(view).float()  # (B, K) or (B, K, H, W); float so half models average exactly
        if mirrored and task == "segmentation":
            out = out.flip(-1)
        logits = weight * out if logits is None else logits + weight * out
    return logits
