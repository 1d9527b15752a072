"""Batches cut from an in-memory split on the device, augmented and normalised.

    loader = BatchLoader(split, batch_size=256, device="cuda", augment=Augment(flip=True, translate=2),
                         normalization=ds.normalization, shuffle=True, seed=0)
    for epoch in range(E):
        loader.set_epoch(epoch)
        for x, y in loader:   # x (B, C, H, W) float, y (B,) int64 or (B, H, W) int64
            ...

The order and the augmentations depend only on (seed, epoch), so a resumed run
sees the same batches as an uninterrupted one. All of an epoch's random draws (order,
windows, flips, cutout centres) are made on the CPU at the start of the epoch and
copied to the device once, from pinned memory without blocking, so a CUDA epoch has
three host-to-device copies rather than several per batch.

With `alternating_flip` (airbench's derandomised flip) each image gets one coin toss
for the whole run, a function of the seed only, and is mirrored on the other epochs:
over any two consecutive epochs every image is seen both ways round.

Under data-parallel training (rank r of `world` processes) a shuffled loader cuts
the same global batches of `batch_size` on every rank and yields rank r's equal
share of each; an unshuffled (evaluation) loader yields batches of rank r's
contiguous shard of the split, so the ranks together see every sample exactly once.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from cnnkit.data.augment import (
    Augment,
    apply_cutout,
    cutout_centres,
    default_normalization,
    draw_indices,
    gather,
    normalize,
)
from cnnkit.data.splits import Split


class BatchLoader:
    def __init__(
        self,
        split: Split,
        batch_size: int,
        device="cpu",
        augment: Optional[Augment] = None,
        normalization: Optional[dict] = None,
        shuffle: bool = False,
        seed: int = 0,
        drop_last: bool = False,
        dtype: torch.dtype = torch.float32,
        channels_last: bool = False,
        rank: int = 0,
        world: int = 1,
        alternating_flip: bool = False,
    ):
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        if shuffle and batch_size % world:
            raise ValueError(f"the global batch of {batch_size} does not split evenly over {world} processes")
        self.device = torch.device(device)
        self.split = split.to(self.device)  # the whole split lives on the device (a StreamSplit stays on disk)
        self.streaming = getattr(split, "streaming", False)
        self.batch_size = batch_size
        self.augment = augment or Augment()
        c = split.shape[1]
        norm = normalization or default_normalization(c)
        self.mean = torch.tensor(norm["mean"], device=self.device)
        self.std = torch.tensor(norm["std"], device=self.device)
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.dtype, self.channels_last = dtype, channels_last
        self.epoch = 0
        self.rank, self.world = rank, world
        self.alternating_flip = alternating_flip and self.augment.flip
        # (N,) bool: the epoch-0 flip of every image, from the seed alone (same on every rank)
        self.base_flip = (torch.rand(len(split), generator=torch.Generator().manual_seed(self.seed * 1_000_003 - 1)) < 0.5
                          if self.alternating_flip else None)
        if world > 1 and not shuffle:  # evaluation: this rank's contiguous shard, no padding
            base, extra = divmod(len(split), world)
            start = rank * base + min(rank, extra)
            self.shard = (start, start + base + (rank < extra))
        else:
            self.shard = (0, len(split))

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        """Batches per epoch (the same on every rank when training)."""
        n = self.shard[1] - self.shard[0]
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    @property
    def num_samples(self) -> int:
        return len(self) * self.batch_size if self.drop_last else len(self.split)

    def flips(self, index: torch.Tensor) -> Optional[torch.Tensor]:
        """(B,) bool: which of these samples are mirrored this epoch under the
        alternating flip (None: flips are coin tosses)."""
        if self.base_flip is None:
            return None
        return self.base_flip[index] ^ bool(self.epoch % 2)

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        n = len(self.split)
        order = torch.randperm(n, generator=gen) if self.shuffle else torch.arange(*self.shard)
        if self.world > 1:  # the same order on every rank, but each rank its own augmentation draws
            gen.manual_seed(self.seed * 1_000_003 + self.epoch + 7_919 * self.rank)
        seg = self.split.targets.ndim == 3
        batches = self._index_batches(order)
        if not batches:
            return
        sizes = [len(b) for b in batches]
        flat = torch.cat(batches)  # (M,) this rank's samples for the epoch, in order
        h, w = self.split.shape[2], self.split.shape[3]
        drawn = draw_indices(len(flat), h, w, self.augment, gen, self.flips(flat))  # (M, oh), (M, ow) or None
        centres = cutout_centres(len(flat), *self._out_hw(h, w), gen) if self.augment.cutout else None
        # one copy each to the device for the whole epoch; then per batch only views
        drawn = tuple(_to_device(t, self.device).split(sizes) for t in drawn) if drawn is not None else None
        centres = _to_device(centres, self.device).split(sizes) if centres is not None else None
        for i, (images, targets) in enumerate(self._uint8_batches(batches, flat, sizes)):  # (B, C, H, W) uint8, (B,) | (B, H, W)
            masks = targets if seg else None
            if drawn is not None:
                images, masks = gather(images, masks, drawn[0][i], drawn[1][i])
            x = normalize(images, self.mean, self.std, self.dtype)
            if centres is not None:
                x = apply_cutout(x, self.augment.cutout, centres=centres[i])
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = (masks if seg else targets).long()
            yield x, y

    def _out_hw(self, h: int, w: int) -> tuple[int, int]:
        return tuple(self.augment.crop) if self.augment.crop else (h, w)

    def _index_batches(self, order: torch.Tensor) -> list[torch.Tensor]:
        """This rank's sample indices, one tensor per batch."""
        batches = [order[i * self.batch_size : (i + 1) * self.batch_size] for i in range(len(self))]
        if self.world == 1 or not self.shuffle:
            return batches
        out = []
        for b in batches:  # a short last batch is topped up from the epoch's start so it splits evenly
            if len(b) % self.world:
                b = torch.cat([b, order.repeat(self.world)[: self.world - len(b) % self.world]])
            per = len(b) // self.world
            out.append(b[self.rank * per : (self.rank + 1) * per])
        return out

    def _uint8_batches(self, batches: list[torch.Tensor], flat: torch.Tensor, sizes: list[int]):
        if self.streaming:
            from cnnkit.data.stream import stream_batches

            for images, targets in stream_batches(self.split, [b.tolist() for b in batches]):
                yield _to_device(images, self.device), _to_device(targets, self.device)
            return
        for idx in _to_device(flat, self.device).split(sizes):  # the epoch's indices copied once
            yield self.split.images[idx], self.split.targets[idx]


def _to_device(t: torch.Tensor, device: torch.device) -> torch.Tensor:
    """A CPU tensor on `device`; to CUDA through pinned memory without blocking the host
    (a pageable copy would wait for the GPU to finish everything queued before it)."""
    if device.type == "cuda":
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)
