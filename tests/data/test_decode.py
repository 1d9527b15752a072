"""Image and mask decoding: read correctly or refused with the reason, and a cache that
never serves stale or damaged tensors. Oracles: the arrays the test itself saved."""

import os

import numpy as np
import pytest
import torch
from PIL import Image

from cnnkit.data import cache
from cnnkit.data.catalog import DataOptions, load_dataset
from cnnkit.data.check import check_dataset
from cnnkit.data.decode import DataError, read_images
from tests.data.test_folders import _save, _seg  # the same folder builders as the layout tests


@pytest.fixture
def opts(tmp_path):
    return DataOptions(data_dir=str(tmp_path / "root"), val_split=0)


def test_16bit_png_is_scaled_not_thresholded(tmp_path):
    levels = (np.arange(57, dtype=np.uint16) * 1150).reshape(3, 19)  # 57 grey levels over 0..64400
    _save(tmp_path / "g16.png", levels)
    assert Image.open(tmp_path / "g16.png").mode == "I;16"  # the case PIL's convert("L") clips to 0/255
    got = read_images([tmp_path / "g16.png"])[0]
    expected = np.floor(levels.astype(np.float64) * 255 / 65535 + 0.5).astype(np.uint8)
    assert got.dtype == torch.uint8 and got.shape == (1, 3, 19)
    assert torch.equal(got[0], torch.from_numpy(expected))
    assert len(got.unique()) == 57


def test_16bit_folder_dataset_keeps_its_grey_levels(tmp_path, opts):
    rng = np.random.default_rng(0)
    for split, n in (("train", 4), ("test", 2)):
        for cls in ("a", "b"):
            for i in range(n):
                _save(tmp_path / "d" / split / cls / f"{i}.png", rng.integers(0, 65536, (8, 8), dtype=np.uint16))
    ds = load_dataset(f"folder:{tmp_path / 'd'}", opts)
    assert len(ds.train.images.unique()) > 100  # thresholding would leave 2


def test_float_image_is_refused(tmp_path):
    Image.fromarray(np.random.rand(4, 4).astype(np.float32)).save(tmp_path / "f.tif")
    with pytest.raises(DataError, match="floating-point"):
        read_images([tmp_path / "f.tif"])



def _errors(report):
    return [p for p in report["problems"] if p["severity"] == "error"]


def test_noisy_greyscale_masks_are_refused_with_counts(tmp_path, opts):
    """~40 distinct grey values used to become a 256-class problem."""
    rng = np.random.default_rng(1)
    masks = [(rng.integers(0, 40, (16, 16)) * 6).astype(np.uint8) for _ in range(4)]
    spec = _seg(tmp_path, masks)
    with pytest.raises(DataError, match="40 distinct values"):
        load_dataset(spec, opts)
    errors = _errors(check_dataset(spec, opts))
    assert len(errors) == 1 and "40 distinct values between 0 and 234" in errors[0]["problem"]
    assert "px" in errors[0]["problem"] and "class indices" in errors[0]["fix"]


def test_anti_aliased_binary_masks_are_refused(tmp_path, opts):
    m = np.zeros((32, 32), np.uint8)
    m[:, 16:] = 255
    m[:, 15] = [1, 2, 3, 64, 128, 200, 250, 254] * 4  # a soft edge from resizing
    spec = _seg(tmp_path, [m] * 3)
    with pytest.raises(DataError, match="in-between values"):
        load_dataset(spec, opts)
    assert "threshold" in _errors(check_dataset(spec, opts))[0]["fix"]


def test_clean_label_sets_still_load(tmp_path, opts):
    """The refusals must not catch real labels: 0/255, sparse {0, 128, 255}, dense 0..5."""
    m = np.zeros((8, 8), np.uint8)
    m[:4] = 128
    m[6:] = 255
    ds = load_dataset(_seg(tmp_path, [m] * 3, "three"), opts)
    assert ds.num_classes == 3 and set(ds.train.targets.unique().tolist()) == {0, 1, 2}
    dense = (np.arange(64).reshape(8, 8) % 6).astype(np.uint8)
    ds = load_dataset(_seg(tmp_path, [dense] * 3, "dense"), opts)
    assert ds.num_classes == 6 and torch.equal(ds.train.targets[0], torch.from_numpy(dense))


def test_many_colour_masks_are_refused(tmp_path, opts):
    rng = np.random.default_rng(2)
    masks = [rng.integers(0, 256, (12, 12, 3), dtype=np.uint8) for _ in range(3)]  # a photo saved as a mask
    spec = _seg(tmp_path, masks)
    with pytest.raises(DataError, match="distinct colours"):
        load_dataset(spec, opts)
    assert any("distinct colours" in e["problem"] for e in _errors(check_dataset(spec, opts)))


def test_one_class_data_is_refused(tmp_path, opts):
    rng = np.random.default_rng(4)
    for i in range(5):
        _save(tmp_path / "one" / "cat" / f"{i}.png", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    (tmp_path / "one" / "dog").mkdir()  # a second class folder without images is still one class
    with pytest.raises(DataError, match="one class only"):
        load_dataset(f"folder:{tmp_path / 'one'}", opts)
    assert any("one class only" in e["problem"] for e in _errors(check_dataset(f"folder:{tmp_path / 'one'}", opts)))


def _two_class_folder(root, rng):
    for cls in ("a", "b"):
        for i in range(3):
            _save(root / "train" / cls / f"{i}.png", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
            _save(root / "test" / cls / f"{i}.png", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))


def test_cache_sees_content_replaced_with_the_same_size_and_mtime(tmp_path, opts):
    rng = np.random.default_rng(5)
    root = tmp_path / "d"
    _two_class_folder(root, rng)
    spec = f"folder:{root}"
    first = load_dataset(spec, opts)
    target = root / "train" / "a" / "1.png"
    st = target.stat()
    new = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    _save(tmp_path / "new.png", new)
    while (tmp_path / "new.png").stat().st_size != st.st_size:  # same size, as `cp -p` of a same-size image
        new = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        _save(tmp_path / "new.png", new)
    target.write_bytes((tmp_path / "new.png").read_bytes())
    os.utime(target, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the old modification time
    second = load_dataset(spec, opts)
    i = second.train.files.index(str(target))
    assert torch.equal(second.train.images[i], torch.from_numpy(new).permute(2, 0, 1))
    assert not torch.equal(first.train.images[i], second.train.images[i])


def test_cache_hit_on_touch_and_rebuild_on_damage(tmp_path, opts, monkeypatch):
    rng = np.random.default_rng(6)
    root = tmp_path / "d"
    _two_class_folder(root, rng)
    spec = f"folder:{root}"
    truth = load_dataset(spec, opts)  # builds the cache
    builds = []
    real = cache.cached

    def counting(root_, label, key, build):
        return real(root_, label, key, lambda: builds.append(1) or build())

    monkeypatch.setattr("cnnkit.data.catalog.cached", counting)
    os.utime(root / "train" / "a" / "0.png")  # touched, content unchanged: still a hit
    assert torch.equal(load_dataset(spec, opts).train.images, truth.train.images) and builds == []
    # damage the cache file in place, same size: flip bytes inside the stored pixels
    (cache_file,) = (tmp_path / "root" / "cache").glob("*.pt")
    data = bytearray(cache_file.read_bytes())
    at = data.find(truth.train.images[0].numpy().tobytes()[:16])
    assert at > 0
    data[at : at + 16] = bytes(255 - b for b in data[at : at + 16])
    cache_file.write_bytes(bytes(data))
    again = load_dataset(spec, opts)
    assert builds == [1]  # rebuilt, not served
    assert torch.equal(again.train.images, truth.train.images)


def test_data_check_names_colour_masks_with_counts_and_their_classes(tmp_path, opts):
    colour = np.zeros((8, 8, 3), dtype=np.uint8)
    colour[:4] = (200, 0, 0)  # 32 px per mask
    colour[6:] = (0, 0, 200)  # 16 px per mask
    spec = _seg(tmp_path, [colour] * 3)
    report = check_dataset(spec, opts)
    assert report["mask_colours"] == {"#000000": 48, "#0000c8": 48, "#c80000": 96}
    info = [p["problem"] for p in report["problems"] if "without a palette" in p["problem"]]
    assert info and "#000000 -> 0, #0000c8 -> 1, #c80000 -> 2" in info[0]
    ds = load_dataset(spec, opts)  # the order data check announces is the order loading uses
    assert torch.equal(ds.train.targets[0, :, 0], torch.tensor([2, 2, 2, 2, 0, 0, 1, 1], dtype=torch.uint8))
