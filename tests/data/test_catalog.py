"""The dataset registry on built-in data: splits, statistics, errors."""

import pytest
import torch

from cnnkit.data.catalog import DataOptions, dataset_names, dataset_task, load_dataset
from cnnkit.data.decode import DataError


def test_shapes_splits_are_disjoint_deterministic_and_stratified():
    ds = load_dataset("shapes:n=400")
    assert ds.task == "classification" and ds.num_classes == 4 and ds.input_shape == (3, 32, 32)
    assert len(ds.train) + len(ds.val) == 400 and len(ds.test) == 100
    assert torch.bincount(ds.val.targets).tolist() == [10, 10, 10, 10]  # 10% of each class
    again = load_dataset("shapes:n=400")
    assert torch.equal(ds.val.images, again.val.images)
    # no validation image is also a training image
    train_keys = {bytes(img.numpy()) for img in ds.train.images}
    assert not any(bytes(img.numpy()) in train_keys for img in ds.val.images)


def test_normalization_comes_from_the_train_split():
    ds = load_dataset("shapes:n=200")
    x = ds.train.images.double() / 255
    assert ds.normalization["mean"] == pytest.approx(x.mean(dim=(0, 2, 3)).tolist(), abs=1e-5)
    assert ds.normalization["std"] == pytest.approx(x.std(dim=(0, 2, 3)).tolist(), abs=1e-3)


def test_shapes_seg_masks_hold_background_and_four_classes():
    ds = load_dataset("shapes-seg:n=200,size=24", DataOptions(val_split=0))
    assert ds.task == "segmentation" and ds.val is None
    assert ds.class_names[0] == "background" and ds.num_classes == 5
    assert ds.train.targets.shape == (200, 24, 24)
    assert set(ds.train.targets.unique().tolist()) == {0, 1, 2, 3, 4}


@pytest.mark.parametrize("spec, fragment", [
    ("cifar", "did you mean 'cifar10'"),
    ("nonsense", "cnnkit data list"),
    ("shapes:n=abc", "n=, size= and seed="),
    ("folder:", "needs a path"),
])
def test_bad_specs_say_what_to_do(spec, fragment):
    with pytest.raises(DataError, match=fragment):
        load_dataset(spec)


def test_named_dataset_offline_names_the_files(tmp_path):
    with pytest.raises(DataError) as e:
        load_dataset("cifar10", DataOptions(data_dir=str(tmp_path), download=False))
    msg = str(e.value)
    assert str(tmp_path / "cifar-10-batches-py" / "data_batch_1") in msg
    assert "cifar-10-python.tar.gz" in msg


def test_task_of_each_name():
    assert dataset_task("shapes-seg") == "segmentation"
    assert dataset_task("oxford-pets") == "segmentation"
    assert dataset_task("folder:x") == "classification"
    assert {"cifar10", "cifar100", "mnist", "fashion-mnist", "svhn", "gtsrb", "oxford-pets"} <= set(dataset_names())
