"""Named torchvision datasets, converted once to uint8 tensors.

torchvision knows each dataset's file format and download; cnnkit only asks it
for the raw arrays. With no network, the error names the files expected, where
to put them and where to get them. CNNKIT_OFFLINE=1 (or download=False) never
tries the network.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from cnnkit.data.decode import DataError, read_images, read_mask, resize_mask, stack_images


@dataclass(frozen=True)
class NamedDataset:
    name: str
    task: str
    description: str
    expected: tuple[str, ...]  # files under the data root that mean "already downloaded"
    urls: tuple[str, ...]
    size: tuple[int, int] | None = None  # images resized to this (datasets of mixed sizes)
    # Which flips keep an image's label: () for digits and signs (a mirrored 3 or "no left turn"
    # is another thing), ("flip",) for photos of objects and animals. The training policy reads it.
    flips: tuple[str, ...] = ()


NAMED = {
    d.name: d
    for d in (
        NamedDataset("cifar10", "classification", "CIFAR-10: 50k/10k 32x32 colour images, 10 classes",
                     ("cifar-10-batches-py/data_batch_1", "cifar-10-batches-py/test_batch", "cifar-10-batches-py/batches.meta"),
                     ("https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",), flips=("flip",)),
        NamedDataset("cifar100", "classification", "CIFAR-100: 50k/10k 32x32 colour images, 100 classes",
                     ("cifar-100-python/train", "cifar-100-python/test", "cifar-100-python/meta"),
                     ("https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",), flips=("flip",)),
        NamedDataset("mnist", "classification", "MNIST: 60k/10k 28x28 handwritten digits",
                     ("MNIST/raw/train-images-idx3-ubyte", "MNIST/raw/train-labels-idx1-ubyte",
                      "MNIST/raw/t10k-images-idx3-ubyte", "MNIST/raw/t10k-labels-idx1-ubyte"),
                     tuple(f"https://ossci-datasets.s3.amazonaws.com/mnist/{f}-ubyte.gz" for f in
                           ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1"))),
        NamedDataset("fashion-mnist", "classification", "Fashion-MNIST: 60k/10k 28x28 clothing images, 10 classes",
                     ("FashionMNIST/raw/train-images-idx3-ubyte", "FashionMNIST/raw/train-labels-idx1-ubyte",
                      "FashionMNIST/raw/t10k-images-idx3-ubyte", "FashionMNIST/raw/t10k-labels-idx1-ubyte"),
                     tuple(f"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/{f}-ubyte.gz" for f in
                           ("train-images-idx3", "train-labels-idx1", "t10k-images-idx3", "t10k-labels-idx1")), flips=("flip",)),
        NamedDataset("svhn", "classification", "SVHN: 73k/26k 32x32 house-number digits (needs scipy)",
                     ("train_32x32.mat", "test_32x32.mat"),
                     ("http://ufldl.stanford.edu/housenumbers/train_32x32.mat", "http://ufldl.stanford.edu/housenumbers/test_32x32.mat")),
        NamedDataset("gtsrb", "classification", "GTSRB: 27k/13k German traffic signs, 43 classes, resized to 32x32",
                     ("gtsrb/GTSRB/Training", "gtsrb/GTSRB/Final_Test/Images", "gtsrb/GT-final_test.csv"),
                     ("https://sid.erda.dk/public/archives/daaeac0d7ce1152aea9b61d9f1e19370/",), (32, 32)),
        NamedDataset("oxford-pets", "segmentation", "Oxford-IIIT Pet: 3.7k/3.7k photos with pet/background trimaps, resized to 128x128",
                     ("oxford-iiit-pet/images", "oxford-iiit-pet/annotations/trimaps", "oxford-iiit-pet/annotations/trainval.txt"),
                     ("https://www.robots.ox.ac.uk/~vgg/data/pets/data/images.tar.gz",
                      "https://www.robots.ox.ac.uk/~vgg/data/pets/data/annotations.tar.gz"), (128, 128), flips=("flip",)),
    )
}

PETS_IGNORE = 255  # the trimap's "border" pixels: left out of loss and metrics


def _missing(info: NamedDataset, root: Path) -> list[Path]:
    return [root / e for e in info.expected if not (root / e).exists()]


def _offline_error(info: NamedDataset, root: Path, reason: str) -> DataError:
    missing = _missing(info, root)
    return DataError(
        f"{info.name} is not in {root} ({reason}). Expected {', '.join(str(m) for m in missing[:3])}. "
        f"Download {', '.join(info.urls)} and extract so that those paths exist, or pass --data-dir to where the files already are"
    )


def _torchvision(info: NamedDataset, root: Path, download: bool, **kwargs):
    """Instantiate the torchvision dataset class, downloading if allowed."""
    import torchvision.datasets as tvd

    cls = {"cifar10": tvd.CIFAR10, "cifar100": tvd.CIFAR100, "mnist": tvd.MNIST, "fashion-mnist": tvd.FashionMNIST,
           "svhn": tvd.SVHN, "gtsrb": tvd.GTSRB, "oxford-pets": tvd.OxfordIIITPet}[info.name]
    if _missing(info, root):
        if not download or os.environ.get("CNNKIT_OFFLINE", "") not in ("", "0"):
            raise _offline_error(info, root, "downloads are off")
        try:
            root.mkdir(parents=True, exist_ok=True)
            return cls(str(root), download=True, **kwargs)
        except Exception as e:  # URLError, HTTPError, md5 mismatch, ... all mean the same to the user
            raise _offline_error(info, root, f"download failed: {type(e).__name__}") from None
    try:
        return cls(str(root), download=False, **kwargs)
    except ImportError as e:
        raise DataError(f"{info.name} needs an extra package: {e}; pip install scipy") from None
    except Exception as e:
        raise DataError(f"{info.name} files in {root} are incomplete or corrupt ({type(e).__name__}: {e}); delete them and download again") from None


def load_named(name: str, root: Path, download: bool = True, image_size=None) -> dict:
    """{'classes', 'task', 'notes', 'train': {...}, 'test': {...}} with uint8 tensors."""
    info = NAMED[name]
    out = {"task": info.task, "notes": []}
    for split in ("train", "test"):
        train = split == "train"
        if name in ("cifar10", "cifar100"):
            ds = _torchvision(info, root, download, train=train)
            images = torch.from_numpy(np.ascontiguousarray(ds.data)).permute(0, 3, 1, 2).contiguous()  # (N,32,32,3)->(N,3,32,32)
            targets = torch.tensor(ds.targets, dtype=torch.int64)
            out["classes"] = list(ds.classes)
        elif name in ("mnist", "fashion-mnist"):
            ds = _torchvision(info, root, download, train=train)
            images = ds.data.unsqueeze(1).contiguous()  # (N,28,28) -> (N,1,28,28)
            targets = ds.targets.to(torch.int64)
            out["classes"] = list(ds.classes)
        elif name == "svhn":
            ds = _torchvision(info, root, download, split=split)
            images = torch.from_numpy(ds.data)  # (N,3,32,32)
            targets = torch.from_numpy(ds.labels.astype(np.int64))
            out["classes"] = [str(i) for i in range(10)]
        elif name == "gtsrb":
            ds = _torchvision(info, root, download, split=split)
            paths = [Path(p) for p, _ in ds._samples]
            images, notes = stack_images(read_images(paths), image_size or info.size)
            targets = torch.tensor([label for _, label in ds._samples], dtype=torch.int64)
            out["classes"] = [f"sign{i:02d}" for i in range(43)]
            out["notes"] += notes
        else:  # oxford-pets: trimap 1 = pet, 2 = background, 3 = border
            ds = _torchvision(info, root, download, split="trainval" if train else "test", target_types="segmentation")
            size = tuple(image_size or info.size)
            images, notes = stack_images(read_images([Path(p) for p in ds._images]), size)
            lookup = np.array([PETS_IGNORE, 1, 0, PETS_IGNORE] + [PETS_IGNORE] * 252, dtype=np.uint8)
            targets = torch.stack([resize_mask(torch.from_numpy(lookup[read_mask(Path(p)).astype(np.int64)]), size) for p in ds._segs])
            out["classes"] = ["background", "pet"]
            out["ignore_index"] = PETS_IGNORE
            out["notes"] += notes
        out[split] = {"images": images, "targets": targets}
    return out
