"""In-memory datasets: uint8 tensors, the train/val/test splits and their statistics.

Everything that fits in memory is held as one uint8 tensor per split (airbench's
trick): images (N, C, H, W) and targets, either labels (N,) int64 or masks
(N, H, W) uint8 holding class indices (and possibly the ignore index). Batches are
cut from these tensors on the training device, so no per-sample Python runs while
training.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch

from cnnkit.errors import CnnkitError


@dataclass
class Split:
    images: torch.Tensor  # (N, C, H, W) uint8
    targets: torch.Tensor  # (N,) int64 labels | (N, H, W) uint8 masks
    files: Optional[list[str]] = None  # where each sample came from (per-image reports)

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise ValueError(f"images must be uint8 (N, C, H, W), got {self.images.dtype} {tuple(self.images.shape)}")
        if len(self.targets) != len(self.images):
            raise ValueError("images and targets differ in length")

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index: torch.Tensor) -> Split:
        files = None if self.files is None else [self.files[i] for i in index.tolist()]
        return Split(self.images[index], self.targets[index], files)

    def to(self, device) -> Split:
        return Split(self.images.to(device), self.targets.to(device), self.files)

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.images.shape)  # (N, C, H, W)

    @property
    def nbytes(self) -> int:
        return self.images.numel() * self.images.element_size() + self.targets.numel() * self.targets.element_size()


@dataclass
class Dataset:
    """A dataset ready for training: splits plus what a checkpoint must remember."""

    name: str  # the spec the user gave, e.g. "shapes" or "folder:/data/pets"
    task: str  # classification | segmentation
    class_names: list[str]
    train: Split
    test: Optional[Split]
    val: Optional[Split] = None
    ignore_index: Optional[int] = None  # mask value left out of loss and metrics
    notes: list[str] = field(default_factory=list)  # what loading did (resized, 0/255 mapped, ...)
    normalization: Optional[dict] = None  # {"mean": [...], "std": [...]} from the train split
    # segmentation: the value stored in the mask files of each class 0..K-1 when loading mapped
    # sparse values to classes (0, 128, 255 -> 0, 1, 2); None when the stored values are the classes
    mask_class_values: Optional[list[int]] = None

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.train.shape[1:])  # (C, H, W)

    def split(self, name: str) -> Split:
        found = {"train": self.train, "val": self.val, "test": self.test}.get(name)
        if found is None:
            raise CnnkitError(f"dataset {self.name} has no {name!r} split; use one of: " + ", ".join(self.available_splits()))
        return found

    def available_splits(self) -> list[str]:
        return [n for n in ("train", "val", "test") if getattr(self, n) is not None]


def channel_stats(images: torch.Tensor) -> dict:
    """Per-channel mean and std of uint8 images (N, C, H, W) as fractions of 255.

    Exact and cheap: a 256-bin histogram per channel (no float copy of the set)."""
    mean, std = [], []
    values = torch.arange(256, dtype=torch.float64) / 255.0
    for c in range(images.shape[1]):
        counts = torch.bincount(images[:, c].reshape(-1), minlength=256).to(torch.float64)
        p = counts / counts.sum()
        m = (p * values).sum()
        v = (p * (values - m) ** 2).sum()
        mean.append(round(float(m), 6))
        std.append(round(max(float(v.sqrt()), 1e-3), 6))
    return {"mean": mean, "std": std}


def holdout(split: Split, fraction: float, seed: int, stratify: bool) -> tuple[Split, Split]:
    """Deterministically split off `fraction` of a split (per class when stratify).

    The permutation depends only on `seed` (the split seed, not the training seed), so
    every trial of an experiment sees the same validation images."""
    if not 0 < fraction < 1:
        raise CnnkitError(f"a validation/test fraction must be between 0 and 1, got {fraction}")
    n = len(split)
    gen = torch.Generator().manual_seed(seed)
    if stratify:
        held, kept = [], []
        for cls in torch.unique(split.targets):
            members = torch.nonzero(split.targets == cls).flatten()
            members = members[torch.randperm(len(members), generator=gen)]
            k = int(round(fraction * len(members)))
            held.append(members[:k])
            kept.append(members[k:])
        held_idx, kept_idx = torch.cat(held).sort().values, torch.cat(kept).sort().values
    else:
        perm = torch.randperm(n, generator=gen)
        k = int(round(fraction * n))
        held_idx, kept_idx = perm[:k].sort().values, perm[k:].sort().values
    if len(held_idx) == 0 or len(kept_idx) == 0:
        raise CnnkitError(f"splitting {n} samples with fraction {fraction} leaves an empty split; use more data or another fraction")
    return split.subset(kept_idx), split.subset(held_idx)


def train_statistics(train) -> dict:
    """The normalisation measured on a training split (a sample of 2,000 when streamed from disk)."""
    return channel_stats(train.sample(2000) if getattr(train, "streaming", False) else train.images)


def hold_out_validation(ds: Dataset, fraction: float, seed: int) -> Dataset:
    """Hold out `fraction` of ds.train as ds.val (per class, except for segmentation) and
    measure the normalisation on what is left for training. The one way a validation split
    is made: load_dataset(val_split=...) and the training plan (once the policy has sized
    it) both call this, so both give the same images."""
    ds.train, ds.val = holdout(ds.train, fraction, seed, stratify=ds.task != "segmentation")
    ds.normalization = train_statistics(ds.train)
    return ds
