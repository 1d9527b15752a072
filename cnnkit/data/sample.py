"""An even sample of a dataset's split: what the figures search for the images that
activate a unit most (`cnnkit visualize maximize / deconv / features`, `cnnkit explore`)."""

from __future__ import annotations

import torch

from cnnkit.data.catalog import DataOptions, load_dataset
from cnnkit.errors import CnnkitError


def sample_split(spec: str, options: DataOptions, limit: int = 2000, split: str = "train") -> dict:
    """Up to `limit` images of dataset `spec`'s `split` (train or test), loaded with `options`
    (a checkpoint's: its splits and input size), spread evenly over the whole split (folder
    data is sorted by class: the first 2,000 would be two or three classes):
    {'images': (N, C, H, W) uint8, 'labels': (N,) or None, 'files': [str], 'class_names', 'total'}."""
    ds = load_dataset(spec, options)
    part = getattr(ds, split)
    if part is None:
        raise CnnkitError(f"{spec} has no {split} split here; use --split train")
    n = len(part)
    index = torch.arange(n) if n <= limit else torch.linspace(0, n - 1, limit).round().long().unique()
    labels = part.targets[index] if ds.task == "classification" else None
    # built-in data has no files: name each image by its split and index there ("test[161]")
    files = [part.files[i] for i in index.tolist()] if part.files else [f"{split}[{i}]" for i in index.tolist()]
    return {"images": part.images[index], "labels": labels, "files": files, "class_names": ds.class_names, "total": n}
