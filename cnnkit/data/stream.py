"""The streaming path for image folders too large to hold in memory.

A StreamSplit knows its files and labels; batches are decoded by DataLoader
workers (one whole batch per worker task, so there is no per-sample collation) and
then go through the same on-device batch augmentation as in-memory data. The
order and augmentation come from the same (seed, epoch) generator, so a streamed
epoch equals the in-memory one image for image.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from cnnkit.data.decode import read_images, resize_image


def memory_budget_bytes() -> int:
    """How much decoded data may live in memory: $CNNKIT_MAX_MEMORY_MB, else a quarter of RAM."""
    env = os.environ.get("CNNKIT_MAX_MEMORY_MB")
    if env:
        return int(float(env) * 2**20)
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 4
    except (ValueError, OSError, AttributeError):
        return 4 * 2**30


class StreamSplit:
    """Files + labels of one split; images are decoded on demand to (C, H, W) uint8."""

    streaming = True

    def __init__(self, files: list[str], targets: torch.Tensor, channels: int, size: tuple[int, int]):
        self.files, self.targets = list(files), targets
        self.channels, self.size = channels, tuple(size)

    def __len__(self) -> int:
        return len(self.files)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self.files), self.channels, *self.size)

    @property
    def nbytes(self) -> int:
        n, c, h, w = self.shape
        return n * c * h * w

    def subset(self, index: torch.Tensor) -> StreamSplit:
        return StreamSplit([self.files[i] for i in index.tolist()], self.targets[index], self.channels, self.size)

    def to(self, device) -> StreamSplit:
        return self  # stays on disk; batches move to the device

    def load(self, index: list[int]) -> torch.Tensor:
        """(B, C, H, W) uint8 for the given sample indices."""
        images = read_images([Path(self.files[i]) for i in index])
        out = torch.empty((len(index), self.channels, *self.size), dtype=torch.uint8)
        for j, img in enumerate(images):
            if img.shape[0] != self.channels:
                img = img.expand(self.channels, -1, -1) if self.channels == 3 else img[:1]
            out[j] = resize_image(img, self.size)
        return out

    def sample(self, n: int, seed: int = 0) -> torch.Tensor:
        """Up to n decoded images, for normalisation statistics."""
        gen = torch.Generator().manual_seed(seed)
        index = torch.randperm(len(self), generator=gen)[:n].sort().values
        return self.load(index.tolist())


class _Batches(torch.utils.data.Dataset):
    """Item i = the i-th batch of an epoch's order, decoded in a worker."""

    def __init__(self, split: StreamSplit, batches: list[list[int]]):
        self.split, self.batches = split, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, i: int):
        index = self.batches[i]
        return self.split.load(index), self.split.targets[index]


def stream_batches(split: StreamSplit, batches: list[list[int]], workers: int = 2):
    """Yield (uint8 images, targets) batch by batch, decoded by `workers` processes."""
    loader = torch.utils.data.DataLoader(_Batches(split, batches), batch_size=None, shuffle=False,
                                         num_workers=workers, prefetch_factor=4 if workers else None)
    yield from loader
