"""folder: and segfolder: datasets built in tmp folders, including broken ones."""

import numpy as np
import pytest
import torch
from PIL import Image

from cnnkit.data.catalog import DataOptions, load_dataset
from cnnkit.data.check import check_dataset
from cnnkit.data.decode import DataError


def _save(path, array, fmt=None):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path, format=fmt)


def _rgb(rng, h=12, w=12):
    return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)


@pytest.fixture
def opts(tmp_path):
    return DataOptions(data_dir=str(tmp_path / "root"))


def test_split_class_folders_load_exactly(tmp_path, opts):
    rng = np.random.default_rng(0)
    saved = {}
    for split, n in (("train", 6), ("test", 2)):
        for cls in ("cat", "dog"):
            for i in range(n):
                arr = _rgb(rng)
                _save(tmp_path / "d" / split / cls / f"{i}.png", arr)
                saved[(split, cls, i)] = arr
    ds = load_dataset(f"folder:{tmp_path / 'd'}", DataOptions(data_dir=opts.data_dir, val_split=0))
    assert ds.class_names == ["cat", "dog"] and len(ds.train) == 12 and len(ds.test) == 4
    # PNG is lossless: the tensor holds exactly the saved pixels, in (C, H, W)
    first = ds.train.files.index(str(tmp_path / "d" / "train" / "dog" / "3.png"))
    assert torch.equal(ds.train.images[first], torch.from_numpy(saved[("train", "dog", 3)]).permute(2, 0, 1))
    assert ds.train.targets[first] == 1
    # the second load comes from the cache and is identical
    again = load_dataset(f"folder:{tmp_path / 'd'}", DataOptions(data_dir=opts.data_dir, val_split=0))
    assert torch.equal(again.train.images, ds.train.images)
    assert list((tmp_path / "root" / "cache").iterdir())


def test_flat_folder_is_split_and_mixed_sizes_and_greys_unified(tmp_path, opts):
    rng = np.random.default_rng(1)
    for cls in ("a", "b", "c"):
        for i in range(10):
            arr = _rgb(rng, 16, 16) if i else rng.integers(0, 256, (20, 24), dtype=np.uint8)  # one grey, odd-sized
            _save(tmp_path / "flat" / cls / f"{i}.jpg", arr)
    ds = load_dataset(f"folder:{tmp_path / 'flat'}", opts)
    assert ds.input_shape == (3, 16, 16)
    assert len(ds.train) + len(ds.val) + len(ds.test) == 30 and len(ds.test) == 6
    assert any("resized 3" in n for n in ds.notes) and any("greyscale" in n for n in ds.notes)


def test_corrupt_image_is_named(tmp_path, opts):
    rng = np.random.default_rng(2)
    for i in range(3):
        _save(tmp_path / "c" / "x" / f"{i}.jpg", _rgb(rng))
        _save(tmp_path / "c" / "y" / f"{i}.jpg", _rgb(rng))
    (tmp_path / "c" / "x" / "bad.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    with pytest.raises(DataError, match="bad.jpg"):
        load_dataset(f"folder:{tmp_path / 'c'}", opts)
    report = check_dataset(f"folder:{tmp_path / 'c'}", opts)
    assert any("bad.jpg" in p["problem"] and p["severity"] == "error" for p in report["problems"])


def _seg(tmp_path, masks, name="seg"):
    rng = np.random.default_rng(3)
    for i, m in enumerate(masks):
        _save(tmp_path / name / "images" / f"{i}.png", rng.integers(0, 256, m.shape[:2], dtype=np.uint8))
        _save(tmp_path / name / "masks" / f"{i}.png", m)
    return f"segfolder:{tmp_path / name}"


def test_binary_0_255_masks_become_two_classes(tmp_path, opts):
    masks = [np.where(np.arange(64).reshape(8, 8) % (i + 2) == 0, 255, 0).astype(np.uint8) for i in range(10)]
    ds = load_dataset(_seg(tmp_path, masks), opts)
    assert ds.task == "segmentation" and ds.class_names == ["class 0", "class 255"]  # no names file: no "background"
    assert ds.input_shape == (1, 8, 8)
    got = torch.cat([ds.train.targets, ds.val.targets, ds.test.targets])
    assert set(got.unique().tolist()) == {0, 1}
    assert int(got.sum()) == sum(int((m == 255).sum()) for m in masks)
    assert any("0/255" in n for n in ds.notes)


def test_ignore_index_is_kept_and_colour_masks_are_mapped(tmp_path, opts):
    base = np.zeros((8, 8), dtype=np.uint8)
    base[:4] = 1
    base[0, 0] = 255
    ds = load_dataset(_seg(tmp_path, [base] * 5), DataOptions(data_dir=opts.data_dir, ignore_index=255, val_split=0))
    assert ds.ignore_index == 255 and ds.num_classes == 2
    assert 255 in ds.train.targets.unique().tolist()
    colour = np.zeros((8, 8, 3), dtype=np.uint8)
    colour[:4] = (200, 0, 0)
    colour[6:] = (0, 0, 200)
    ds = load_dataset(_seg(tmp_path, [colour] * 5, "colour"), DataOptions(data_dir=opts.data_dir, val_split=0))
    assert ds.num_classes == 3
    assert torch.equal(ds.train.targets[0, :, 0], torch.tensor([2, 2, 2, 2, 0, 0, 1, 1], dtype=torch.uint8))


def test_mask_without_image_is_an_error_naming_it(tmp_path, opts):
    spec = _seg(tmp_path, [np.zeros((8, 8), np.uint8)] * 3)
    _save(tmp_path / "seg" / "masks" / "orphan.png", np.zeros((8, 8), np.uint8))
    with pytest.raises(DataError, match="orphan.png"):
        load_dataset(spec, opts)
    report = check_dataset(spec, opts)
    assert report["unpaired_masks"] == [str(tmp_path / "seg" / "masks" / "orphan.png")]


def test_missing_folder(tmp_path, opts):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset(f"segfolder:{tmp_path / 'nothing'}", opts)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="images/ and masks/"):
        load_dataset(f"segfolder:{tmp_path / 'empty'}", opts)


def _colour_seg(tmp_path, palette, n=4, name="street"):
    """n colour masks, each with every colour of `palette` in a horizontal band."""
    masks = []
    for _ in range(n):
        m = np.zeros((8, 8, 3), dtype=np.uint8)
        for k, c in enumerate(palette):
            m[2 * k:2 * k + 2] = c
        masks.append(m)
    return _seg(tmp_path, masks, name), masks


CAMVID = [("Sky", (128, 128, 128)), ("Building", (128, 0, 0)), ("Road", (128, 64, 128)), ("Void", (0, 0, 0))]


@pytest.mark.parametrize("style", ["class_dict.csv", "label_colors.txt"])
def test_camvid_names_file_orders_the_colours_and_void_is_ignored(tmp_path, opts, style):
    spec, masks = _colour_seg(tmp_path, [c for _, c in CAMVID])
    root = tmp_path / "street"
    if style == "class_dict.csv":
        text = "name,r,g,b\n" + "".join(f"{n},{r},{g},{b}\n" for n, (r, g, b) in CAMVID)
    else:
        text = "".join(f"{r} {g} {b}\t{n}\n" for n, (r, g, b) in CAMVID)
    (root / style).write_text(text)
    ds = load_dataset(spec, DataOptions(data_dir=opts.data_dir, val_split=0))
    assert ds.class_names == ["Sky", "Building", "Road"] and ds.ignore_index == 255
    assert any("'Void'" in n and "ignored in the loss and the scores" in n for n in ds.notes)
    t = ds.train.targets[0]
    # rows 0-1 sky (first in the file, though not first in sorted colour order), 2-3 building, 4-5 road, 6-7 void
    assert t[0].unique().tolist() == [0] and t[2].unique().tolist() == [1] and t[4].unique().tolist() == [2]
    assert t[6].unique().tolist() == [255]


def test_a_colour_the_names_file_lacks_is_named(tmp_path, opts):
    spec, _ = _colour_seg(tmp_path, [c for _, c in CAMVID])
    (tmp_path / "street" / "class_dict.csv").write_text("name,r,g,b\nSky,128,128,128\nRoad,128,64,128\n")
    with pytest.raises(DataError, match="128 0 0 .*class_dict.csv does not name"):
        load_dataset(spec, DataOptions(data_dir=opts.data_dir, val_split=0))


def test_classes_txt_names_index_masks_and_its_unlabelled_class_is_ignored(tmp_path, opts):
    base = np.zeros((8, 8), dtype=np.uint8)
    base[2:4], base[4:6], base[6:] = 1, 2, 3
    spec = _seg(tmp_path, [base] * 5, "cells")
    (tmp_path / "cells" / "classes.txt").write_text("cytoplasm\nunlabelled\nnucleus\nmembrane\n")
    ds = load_dataset(spec, DataOptions(data_dir=opts.data_dir, val_split=0))
    assert ds.class_names == ["cytoplasm", "nucleus", "membrane"] and ds.ignore_index == 255
    t = ds.train.targets[0]
    assert [t[r].unique().tolist() for r in (0, 2, 4, 6)] == [[0], [255], [1], [2]]
    # an --ignore-index of your own wins: the names are then kept as classes
    ds = load_dataset(spec, DataOptions(data_dir=opts.data_dir, val_split=0, ignore_index=3))
    assert ds.ignore_index == 3 and "unlabelled" in ds.class_names
