"""Images/s delivered to the model: cnnkit's in-memory batched path vs the per-sample
torchvision pipeline (ImageFolder + transforms + DataLoader with 2 workers).

Both produce the same thing: augmented (random crop with 4 px reflect padding +
horizontal flip), normalised float batches of 256 CIFAR-10 images on the CPU.
Nothing is trained, so this isolates the data path.

    python benchmarks/data_throughput.py [--root ../shared/data/cifar10] [--batches 60] [--repeats 3]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch


def rate(batches, count: int) -> float:
    """Images/s over `count` batches after 3 warm-up batches."""
    it = iter(batches)
    for _ in range(3):
        next(it)
    n, t = 0, time.perf_counter()
    for _ in range(count):
        x, _ = next(it)
        n += len(x)
    return n / (time.perf_counter() - t)


def torchvision_pipeline(root: Path, batch: int):
    import torchvision.transforms as T
    from torch.utils.data import DataLoader
    from torchvision.datasets import ImageFolder

    tf = T.Compose([T.RandomCrop(32, padding=4, padding_mode="reflect"), T.RandomHorizontalFlip(), T.ToTensor(),
                    T.Normalize((0.491, 0.482, 0.447), (0.247, 0.243, 0.261))])
    ds = ImageFolder(str(root / "train"), tf)
    return DataLoader(ds, batch_size=batch, shuffle=True, num_workers=2, persistent_workers=True)


def cnnkit_pipeline(root: Path, batch: int, data_dir: str):
    from cnnkit.data.augment import Augment
    from cnnkit.data.catalog import DataOptions, load_dataset
    from cnnkit.data.loader import BatchLoader

    ds = load_dataset(f"folder:{root}", DataOptions(data_dir=data_dir, val_split=0))
    return BatchLoader(ds.train, batch, augment=Augment(flip=True, translate=4), normalization=ds.normalization, shuffle=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--root", default=str(Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10"))
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--batches", type=int, default=60)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    root = Path(args.root)
    torch.set_num_threads(2)
    with tempfile.TemporaryDirectory() as data_dir:
        t = time.perf_counter()
        cnnkit_pipeline(root, args.batch, data_dir)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        ours = cnnkit_pipeline(root, args.batch, data_dir)
        warm = time.perf_counter() - t
        theirs = torchvision_pipeline(root, args.batch)
        a, b = [], []
        for _ in range(args.repeats):  # interleaved, so machine noise hits both
            b.append(rate(theirs, args.batches))
            a.append(rate(ours, args.batches))
    ma, mb = statistics.median(a), statistics.median(b)
    print(f"first load (decode 60,000 JPEGs + cache): {cold:.1f} s; cached load: {warm:.1f} s")
    print(f"torchvision ImageFolder+DataLoader(2 workers): median {mb:,.0f} img/s  runs {[round(x) for x in b]}")
    print(f"cnnkit in-memory batched path:                 median {ma:,.0f} img/s  runs {[round(x) for x in a]}")
    print(f"ratio: {ma / mb:.1f}x")


if __name__ == "__main__":
    main()
