"""Figures checked against answers known in advance: maximize's top images on a
class-sorted folder come from the asked class; the segmentation figure's Dice is
evaluate's per-image Dice; bad requests are one error line."""

from __future__ import annotations

import csv
import math
import warnings

import numpy as np
import pytest
from PIL import Image

import cnnkit.visualize as visualize
from tests.conftest import assert_clean_error

COLOURS = {"a_red": (220, 30, 30), "b_green": (30, 200, 30), "c_blue": (30, 30, 220)}


def _colour_folder(root, per_class=40, size=16):
    """train/<class>/ and test/<class>/ of noisy solid colours: the answer is the colour."""
    rng = np.random.default_rng(0)
    for split, n in (("train", per_class), ("test", 6)):
        for name, rgb in COLOURS.items():
            (root / split / name).mkdir(parents=True)
            for i in range(n):
                img = np.clip(np.array(rgb) + rng.normal(0, 25, (size, size, 3)), 0, 255).astype(np.uint8)
                Image.fromarray(img).save(root / split / name / f"{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def colour_run(tmp_path_factory):
    from typer.testing import CliRunner

    from cnnkit.cli.main import app

    root = tmp_path_factory.mktemp("colours")
    data = _colour_folder(root / "data")
    r = CliRunner().invoke(app, ["train", "convnet", "-d", f"folder:{data}", "--epochs", "2", "--val-split", "0", "-b", "16",
                                 "--opt", "widths=(8,16)", "-o", str(root / "run"), "-q"])
    assert r.exit_code == 0, r.stderr
    return root


def test_maximize_top_images_come_from_the_asked_class_of_a_class_sorted_folder(colour_run):
    # a pool of 30 out of 120 sorted images: the first 30 would all be red
    fig = visualize.maximize(colour_run / "run" / "best.pt", class_index=2, steps=4, seeds=2, top=6, pool=30)
    info = fig.cnnkit
    assert info["class_name"] == "c_blue" and len(info["top_images"]) == 6
    for t in info["top_images"]:
        assert t["class_name"] == "c_blue" and t["label"] == 2
        assert "/c_blue/" in t["path"]  # the label shown is the image's own folder
    assert [t["value"] for t in info["top_images"]] == sorted((t["value"] for t in info["top_images"]), reverse=True)
    assert "c_blue" in fig._suptitle.get_text() and info["path"] is None  # nothing written without out=


def test_maximize_starts_differ(colour_run):
    import torch

    from cnnkit.viz.maximize import starts

    x = starts(3, (3, 16, 16), torch.full((1, 3, 1, 1), -2.0), torch.full((1, 3, 1, 1), 2.0), torch.Generator().manual_seed(0))
    flat = x.flatten(1)
    for i in range(3):
        for j in range(i + 1, 3):
            assert (flat[i] - flat[j]).abs().mean() > 0.3  # in a [-2, 2] range: far apart, not one image plus noise


def test_maximize_bad_requests_are_one_error_line(colour_run, cli):
    ckpt = colour_run / "run" / "best.pt"
    assert_clean_error(cli("visualize", "maximize", ckpt, "--class", "12", "--top", "0"), "--class 12", "0..2")
    assert_clean_error(cli("visualize", "maximize", ckpt, "--layer", "features.nope", "--channel", "0"), "features.conv1")


def test_attribution_names_its_layer_and_map_size_and_refuses_folders(colour_run, cli):
    ckpt = colour_run / "run" / "best.pt"
    image = colour_run / "data" / "test" / "c_blue" / "000.png"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Captum's UserWarnings must not leak
        fig = visualize.attribution(ckpt, image, method="gradcam")
    info = fig.cnnkit
    assert info["layer"] == "features" and info["map_size"] == [4, 4] and info["class_name"] == info["predicted"]
    r = cli("visualize", "attribution", ckpt, image, "--method", "gradcam", "--layer", "features.conv2", "--json",
            "-o", colour_run / "g.png")
    assert r.exit_code == 0 and r.stderr == "" and r.json()["layer"] == "features.conv2" and r.json()["map_size"] == [8, 8]
    assert_clean_error(cli("visualize", "attribution", ckpt, colour_run / "data"), "is a folder")
    assert_clean_error(cli("visualize", "attribution", ckpt, image, "--method", "gradcam", "--layer", "nope"), "features.conv1")
    assert_clean_error(cli("visualize", "attribution", ckpt, image, "--layer", "features"), "gradcam only")
    big = colour_run / "photo.png"
    Image.fromarray(np.zeros((30, 50), np.uint8)).save(big)
    r = cli("visualize", "attribution", ckpt, big, "--json", "-o", colour_run / "p.png")
    assert r.exit_code == 0
    notes = " ".join(r.json()["notes"])
    assert "converted the grey image to colour" in notes and "resized 30x50 to the model's 16x16" in notes


def _membrane_like(root, n=12, size=24):
    """images/ and masks/ (0/255) of bright discs on dark noise."""
    rng = np.random.default_rng(1)
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    yy, xx = np.mgrid[:size, :size]
    for i in range(n):
        cy, cx, r = rng.integers(6, size - 6, 2).tolist() + [int(rng.integers(3, 6))]
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
        img = np.clip(40 + 150 * disc + rng.normal(0, 30, (size, size)), 0, 255).astype(np.uint8)
        Image.fromarray(img).save(root / "images" / f"{i}.png")
        Image.fromarray((disc * 255).astype(np.uint8)).save(root / "masks" / f"{i}.png")
    return root


def test_segmentation_dice_equals_evaluates_per_image_dice(tmp_path, cli):
    from cnnkit.engine.evaluate import evaluate_checkpoint

    data = _membrane_like(tmp_path / "seg")
    # trained at 16x16 on 24x24 files: the figure must run at 16x16 as evaluate does
    r = cli("train", "unet", "-d", f"segfolder:{data}", "--image-size", "16", "--epochs", "1", "-b", "4", "--opt", "base_width=4",
            "--opt", "depth=2", "-o", tmp_path / "run", "-q")
    assert r.exit_code == 0, r.stderr
    ckpt = tmp_path / "run" / "best.pt"
    ev = evaluate_checkpoint(ckpt, device="cpu", out_dir=tmp_path / "ev")
    with open(ev["per_image_csv"]) as f:
        rows = list(csv.DictReader(f))
    assert rows
    for row in rows:
        image = row["image"]
        mask = str(data / "masks" / (image.rsplit("/", 1)[-1]))
        info = visualize.segmentation(ckpt, image, mask).cnnkit
        assert info["size"] == [16, 16]
        expected = float(row["dice_macro"]) if row["dice_macro"] else None
        assert (info["dice"] is None) == (expected is None)
        if expected is not None:
            assert math.isclose(info["dice"], expected, abs_tol=1e-5), (image, info["dice"], expected)
    assert list(info["palette"])[-1] == "ignored" and len(set(info["palette"].values())) == len(info["palette"])
    # a 12-valued mask for a 2-class model is refused, naming its values, not binarised
    bad = tmp_path / "bad.png"
    Image.fromarray((np.arange(24 * 24).reshape(24, 24) % 12).astype(np.uint8)).save(bad)
    assert_clean_error(cli("visualize", "segmentation", ckpt, rows[0]["image"], "--mask", bad), "2, 3, 4", "2 classes")
    assert_clean_error(cli("visualize", "maximize", ckpt, "--class", "1"), "classification model")
