"""Augmentation of whole batches on the training device.

Instead of one PIL call per image per transform (torchvision's per-sample
pipeline), every geometric transform here is an index computation shared by the
batch: a translated, cropped and flipped image is one gather with per-sample row
and column indices. The same indices move the mask, so image and mask stay
aligned. Random numbers come from a CPU torch.Generator, so a seed gives the same
augmentations on every device.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch


@dataclass(frozen=True)
class Augment:
    flip: bool = False  # horizontal flip with probability 1/2
    vflip: bool = False  # vertical flip with probability 1/2 (microscopy, satellite)
    translate: int = 0  # random shift of up to this many pixels, reflected borders (pad-and-crop)
    crop: Optional[tuple[int, int]] = None  # random crop of this size (segmentation on large images)
    cutout: int = 0  # zero a random square of this side (after normalisation: the mean colour)

    @classmethod
    def parse(cls, text: str, crop: Optional[tuple[int, int]] = None) -> Augment:
        """'flip,translate=4,cutout=8' or 'none'."""
        kwargs: dict = {"crop": crop}
        for item in filter(None, (t.strip() for t in text.split(","))):
            key, _, value = item.partition("=")
            if key == "none":
                continue
            if key in ("flip", "vflip"):
                kwargs[key] = True
            elif key in ("translate", "cutout") and value.isdigit():
                kwargs[key] = int(value)
            else:
                from cnnkit.errors import SpecError

                raise SpecError(f"unknown augmentation {item!r}; use flip, vflip, translate=N, cutout=N or none (e.g. --augment flip,translate=4)")
        return cls(**kwargs)

    @property
    def active(self) -> bool:
        return bool(self.flip or self.vflip or self.translate or self.crop or self.cutout)


def _reflect(index: torch.Tensor, size: int) -> torch.Tensor:
    """Reflect out-of-range indices back into [0, size) without repeating the edge
    (like F.pad(mode='reflect'))."""
    if size == 1:
        return torch.zeros_like(index)
    period = 2 * (size - 1)
    index = index.remainder(period)
    return torch.where(index >= size, period - index, index)


def _axis_indices(n: int, size: int, out: int, shift: int, flip: bool, gen: torch.Generator,
                  reverse: Optional[torch.Tensor] = None) -> torch.Tensor:
    """(n, out) source indices along one axis: a random window start in
    [-shift, size - out + shift], reflected at the borders, optionally reversed.
    `reverse` (n,) bool, when given, says which rows to reverse instead of a coin toss
    (the alternating flip of the speed runs)."""
    offset = torch.randint(-shift, size - out + shift + 1, (n, 1), generator=gen)
    index = _reflect(offset + torch.arange(out), size)
    if flip:
        if reverse is None:
            reverse = torch.rand(n, generator=gen) < 0.5
        index = torch.where(reverse[:, None], index.flip(1), index)
    return index


def _check_crop(aug: Augment, h: int, w: int) -> tuple[int, int]:
    oh, ow = aug.crop if aug.crop else (h, w)
    if oh > h or ow > w:
        from cnnkit.errors import GeometryError

        raise GeometryError(f"crop {oh}x{ow} is larger than the images ({h}x{w}); choose a smaller --crop")
    return oh, ow


def draw_indices(n: int, h: int, w: int, aug: Augment, gen: torch.Generator, flip: Optional[torch.Tensor] = None):
    """The random part of augmenting n images of h x w, drawn on the CPU in one go:
    (rows (n, oh), cols (n, ow)) source indices, or None when nothing geometric is on.
    flip (n,) bool fixes the horizontal flips (otherwise each is a coin toss)."""
    oh, ow = _check_crop(aug, h, w)
    if not (aug.flip or aug.vflip or aug.translate or aug.crop):
        return None
    rows = _axis_indices(n, h, oh, aug.translate, aug.vflip, gen)
    cols = _axis_indices(n, w, ow, aug.translate, aug.flip, gen, reverse=flip)
    return rows, cols


def gather(images: torch.Tensor, masks: Optional[torch.Tensor], rows: torch.Tensor, cols: torch.Tensor):
    """Apply drawn indices (on the images' device): images (B, C, H, W), masks (B, H, W) or None,
    rows (B, oh), cols (B, ow) -> (B, C, oh, ow), (B, oh, ow)."""
    b, c, _, w = images.shape
    oh, ow = rows.shape[1], cols.shape[1]
    # Two gathers: rows then columns. (B, C, H, W) -> (B, C, oh, W) -> (B, C, oh, ow)
    out = images.gather(2, rows[:, None, :, None].expand(b, c, oh, w))
    out = out.gather(3, cols[:, None, None, :].expand(b, c, oh, ow))
    if masks is not None:
        m = masks.gather(1, rows[:, :, None].expand(b, oh, w))
        masks = m.gather(2, cols[:, None, :].expand(b, oh, ow))
    return out, masks


def cutout_centres(n: int, h: int, w: int, gen: torch.Generator) -> torch.Tensor:
    """(n, 2) random (row, column) centres for cutout."""
    return torch.stack([torch.randint(0, h, (n,), generator=gen), torch.randint(0, w, (n,), generator=gen)], 1)


def apply_cutout(x: torch.Tensor, size: int, gen: Optional[torch.Generator] = None,
                 centres: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Zero one size x size square per image of a normalised batch (B, C, H, W), centred
    at `centres` (B, 2) or at random points drawn from gen."""
    if size <= 0:
        return x
    b, _, h, w = x.shape
    if centres is None:
        centres = cutout_centres(b, h, w, gen)
    centres = centres.to(x.device)
    cy, cx = centres[:, 0, None, None], centres[:, 1, None, None]  # (B, 1, 1)
    ys = torch.arange(h, device=x.device)[None, :, None]
    xs = torch.arange(w, device=x.device)[None, None, :]
    hole = ((ys - cy).abs() <= size // 2) & ((xs - cx).abs() <= size // 2)  # (B, H, W)
    return x.masked_fill(hole[:, None], 0.0)


def default_normalization(channels: int) -> dict:
    """What training applies when it has no statistics: mean 0.5, std 0.5 per channel (pixels to
    -1..1). The BatchLoader's default, hence also what a checkpoint without a recorded
    normalisation is read with (engine/checkpoint.normalization_of), so evaluate, predict and
    the figures see the inputs as training did."""
    return {"mean": [0.5] * channels, "std": [0.5] * channels}


def normalize(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, dtype=torch.float32) -> torch.Tensor:
    """uint8 (B, C, H, W) -> (x / 255 - mean) / std in `dtype`; mean/std (C,) fractions."""
    x = images.to(dtype).div_(255.0)
    return x.sub_(mean.to(x)[None, :, None, None]).div_(std.to(x)[None, :, None, None])
