"""Batches cut from an in-memory split on the device, augmented and normalised.

    loader = BatchLoader(split, batch_size=256, device="cuda", augment=Augment(flip=True, translate=2),
                         normalization=ds.normalization, shuffle=True, seed=0)
    for epoch in range(E):
        loader.set_epoch(epoch)
        for x, y in loader:   # x (B, C, H, W) float, y (B,) int64 or (B, H, W) int64
            ...

The order and the augmentations depend only on (seed, epoch), so a resumed run
sees the same batches as an uninterrupted one.

Under data-parallel training (rank r of `world` processes) a shuffled loader cuts
the same global batches of `batch_size` on every rank and yields rank r's equal
share of each; an unshuffled (evaluation) loader yields batches of rank r's
contiguous shard of the split, so the ranks together see every sample exactly once.
"""

from __future__ import annotations

import math
from typing import Optional

import torch

from cnnkit.data.augment import Augment, apply_cutout, augment_batch, normalize
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
        norm = normalization or {"mean": [0.5] * c, "std": [0.5] * c}
        self.mean = torch.tensor(norm["mean"], device=self.device)
        self.std = torch.tensor(norm["std"], device=self.device)
        self.shuffle, self.seed, self.drop_last = shuffle, seed, drop_last
        self.dtype, self.channels_last = dtype, channels_last
        self.epoch = 0
        self.rank, self.world = rank, world
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

    def __iter__(self):
        gen = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        n = len(self.split)
        order = torch.randperm(n, generator=gen) if self.shuffle else torch.arange(*self.shard)
        if self.world > 1:  # the same order on every rank, but each rank its own augmentation draws
            gen.manual_seed(self.seed * 1_000_003 + self.epoch + 7_919 * self.rank)
        seg = self.split.targets.ndim == 3
        for images, targets in self._uint8_batches(self._index_batches(order)):  # (B, C, H, W) uint8, (B,) | (B, H, W)
            images, masks = augment_batch(images, targets if seg else None, self.augment, gen)
            x = normalize(images, self.mean, self.std, self.dtype)
            x = apply_cutout(x, self.augment.cutout, gen)
            if self.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            y = (masks if seg else targets).long()
            yield x, y

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

    def _uint8_batches(self, batches: list[torch.Tensor]):
        if self.streaming:
            from cnnkit.data.stream import stream_batches

            for images, targets in stream_batches(self.split, [b.tolist() for b in batches]):
                yield images.to(self.device, non_blocking=True), targets.to(self.device)
            return
        for idx in batches:
            idx = idx.to(self.device)
            yield self.split.images[idx], self.split.targets[idx]
