"""The real data in ../shared/data (skipped when absent, as in a user's fresh clone)."""

import pytest
import torch

from cnnkit.data.catalog import DataOptions, load_dataset
from cnnkit.data.check import check_dataset
from tests.conftest import SHARED_DATA

CIFAR = SHARED_DATA / "cifar10"
MEMBRANE = SHARED_DATA / "membrane"


@pytest.mark.skipif(not CIFAR.is_dir(), reason="../shared/data/cifar10 not present")
def test_cifar10_jpeg_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("cnnkit-data")
    ds = load_dataset(f"folder:{CIFAR}", DataOptions(data_dir=str(root), val_split=0))
    assert len(ds.train) == 50_000 and len(ds.test) == 10_000 and ds.num_classes == 10
    assert ds.class_names[:3] == ["airplane", "automobile", "bird"]
    assert ds.input_shape == (3, 32, 32)
    assert torch.bincount(ds.test.targets).tolist() == [1000] * 10
    # CIFAR-10's well-known channel means (0.491, 0.482, 0.447), within JPEG re-encoding error
    assert ds.normalization["mean"] == pytest.approx([0.491, 0.482, 0.447], abs=0.01)


@pytest.mark.skipif(not MEMBRANE.is_dir(), reason="../shared/data/membrane not present")
def test_membrane_pairs_and_binary_masks(tmp_path):
    ds = load_dataset(f"segfolder:{MEMBRANE}", DataOptions(data_dir=str(tmp_path), val_split=0, test_split=0.2))
    assert len(ds.train) + len(ds.test) == 30
    assert ds.num_classes == 2 and ds.input_shape == (1, 512, 512)
    assert set(ds.train.targets.unique().tolist()) == {0, 1}
    report = check_dataset(f"segfolder:{MEMBRANE}", DataOptions(data_dir=str(tmp_path)))
    assert report["splits"]["train"]["count"] == 30 and not report["unpaired_masks"]
    assert set(report["mask_values"]) == {"0", "255"}
