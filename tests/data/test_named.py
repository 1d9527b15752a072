"""Named datasets convert torchvision's files to tensors (checked on fake files)."""

import pickle

import numpy as np
import torch

from cnnkit.data.catalog import DataOptions, load_dataset


def _fake_cifar10(root, n=20):
    """Files in the layout and pickle format of the real CIFAR-10 python release."""
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    batches = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
        labels = list(rng.integers(0, 10, n))
        batches[name] = (data, labels)
        with open(folder / name, "wb") as f:
            pickle.dump({"data": data, "labels": labels}, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, f)
    return batches


def test_cifar10_files_become_nchw_uint8(tmp_path, monkeypatch):
    # torchvision checks md5 sums of the real files; the fakes only need to parse.
    monkeypatch.setattr("torchvision.datasets.cifar.check_integrity", lambda *a, **k: True)
    batches = _fake_cifar10(tmp_path)
    ds = load_dataset("cifar10", DataOptions(data_dir=str(tmp_path), val_split=0, download=False))
    assert ds.class_names == [f"c{i}" for i in range(10)]
    assert ds.train.images.shape == (100, 3, 32, 32) and len(ds.test) == 20
    data, labels = batches["data_batch_1"]
    # CIFAR rows are 1024 red, 1024 green, 1024 blue values: exactly (3, 32, 32)
    assert torch.equal(ds.train.images[0], torch.from_numpy(data[0].reshape(3, 32, 32)))
    assert ds.train.targets[:20].tolist() == [int(v) for v in labels]
