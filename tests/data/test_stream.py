"""Folders over the memory budget stream from disk and give the same batches."""

import numpy as np
import torch
from PIL import Image

from cnnkit.data.augment import Augment
from cnnkit.data.catalog import DataOptions, load_dataset
from cnnkit.data.loader import BatchLoader


def test_streamed_folder_equals_in_memory(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    for split, n in (("train", 12), ("test", 4)):
        for cls in ("a", "b"):
            for i in range(n):
                p = tmp_path / "d" / split / cls / f"{i}.png"
                p.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)).save(p)
    opts = DataOptions(data_dir=str(tmp_path / "root"), val_split=0.25)
    memory = load_dataset(f"folder:{tmp_path / 'd'}", opts)
    monkeypatch.setenv("CNNKIT_MAX_MEMORY_MB", "0.001")
    streamed = load_dataset(f"folder:{tmp_path / 'd'}", opts)
    assert getattr(streamed.train, "streaming", False) and any("streaming" in n for n in streamed.notes)
    assert streamed.input_shape == memory.input_shape == (3, 10, 10)
    assert streamed.train.files == memory.train.files and streamed.val.files == memory.val.files
    assert streamed.normalization == memory.normalization  # the sample covers all 18 training images
    make = lambda split: BatchLoader(split, 5, augment=Augment(flip=True, translate=2), normalization=memory.normalization,
                                     shuffle=True, seed=3)
    for (xa, ya), (xb, yb) in zip(make(memory.train), make(streamed.train), strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
