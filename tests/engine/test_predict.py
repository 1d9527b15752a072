"""`predict` goes through the checkpoint's evaluation pipeline: on the test images it
reproduces `evaluate`'s confusion matrix (classification, with mirror TTA) and per-image
Dice (segmentation trained at another --image-size); masks never land beside the images
or over an existing file."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch
from PIL import Image

from cnnkit.data.catalog import load_dataset
from cnnkit.engine.checkpoint import load_checkpoint
from cnnkit.engine.evaluate import evaluate_checkpoint
from cnnkit.engine.inference import predict_images
from cnnkit.engine.metrics import SegmentationMeter
from cnnkit.engine.plan import make_config
from cnnkit.engine.run import run_training
from tests.conftest import assert_clean_error


def _save(array: np.ndarray, path) -> str:
    Image.fromarray(array).save(path)  # PNG: lossless, so the file holds exactly these uint8 values
    return str(path)


@pytest.fixture(scope="module", params=["mirror", "mirror+translate"])  # the six views too, not just the mirror
def cls_run(tmp_path_factory, request):
    tmp = tmp_path_factory.mktemp("cls")
    config, ds = make_config("convnet", "shapes:n=240,size=16", {
        "epochs": 1, "out": str(tmp / "run"), "tta": True, "tta_level": request.param, "device": "cpu", "data_dir": str(tmp / "cache"),
        "model_options": {"widths": (8, 16), "kernel_size": 3, "batchnorm": True, "hidden": 16}})
    run_training(config, ds)
    return tmp / "run", ds


def test_classification_predictions_equal_evaluate_with_tta(cls_run, tmp_path):
    run, ds = cls_run
    paths = [_save(img.permute(1, 2, 0).numpy(), tmp_path / f"{i:03d}.png") for i, img in enumerate(ds.test.images)]
    result = predict_images(run / "best.pt", paths, top_k=1, device="cpu")
    assert result["tta"] is True and result["tta_level"] == load_checkpoint(run / "best.pt")["config"]["tta_level"]
    predicted = torch.tensor([p["top"][0]["index"] for p in result["predictions"]])
    confusion = torch.zeros(ds.num_classes, ds.num_classes, dtype=torch.int64)
    confusion.index_put_((ds.test.targets, predicted), torch.ones(len(predicted), dtype=torch.int64), accumulate=True)
    ev = evaluate_checkpoint(run / "best.pt", split="test", device="cpu", out_dir=str(tmp_path / "ev"))
    assert confusion.tolist() == ev["confusion_matrix"]  # image by image the same decisions, summed
    no_tta = evaluate_checkpoint(run / "best.pt", split="test", device="cpu", out_dir=str(tmp_path / "ev"), tta=False)
    assert ev["tta"] and not no_tta["tta"]


def test_top_k_must_be_positive(cli, cls_run, tmp_path):
    run, ds = cls_run
    img = _save(ds.test.images[0].permute(1, 2, 0).numpy(), tmp_path / "a.png")
    assert_clean_error(cli("predict", run / "best.pt", img, "--top-k", "-3"), "--top-k")
    assert_clean_error(cli("predict", run / "best.pt", img, "--top-k", "0"), "--top-k")


@pytest.fixture(scope="module")
def seg_data(tmp_path_factory):
    """A segfolder of 40x40 scenes (train/ and test/), trained at --image-size 32."""
    from cnnkit.data.shapes import make_shapes

    root = tmp_path_factory.mktemp("seg") / "scenes"
    images, _, masks = make_shapes(48, size=40, seed=3)
    for split, idx in (("train", range(36)), ("test", range(36, 48))):
        for sub in ("images", "masks"):
            (root / split / sub).mkdir(parents=True)
        for i in idx:
            _save(images[i].transpose(1, 2, 0), root / split / "images" / f"{i:02d}.png")
            _save(masks[i], root / split / "masks" / f"{i:02d}.png")
    tmp = root.parent
    config, ds = make_config("unet", f"segfolder:{root}", {
        "epochs": 2, "out": str(tmp / "run"), "image_size": [32, 32], "device": "cpu", "data_dir": str(tmp / "cache"),
        "tta": True, "model_options": {"base_width": 8, "depth": 2}})
    run_training(config, ds)
    return root, tmp / "run"


def test_segmentation_masks_equal_evaluate_at_the_training_size(seg_data, tmp_path):
    root, run = seg_data
    files = sorted((root / "test" / "images").iterdir())
    before = sorted(p.name for p in (root / "test" / "images").iterdir())
    result = predict_images(run / "best.pt", [str(p) for p in files], device="cpu")
    assert sorted(p.name for p in (root / "test" / "images").iterdir()) == before  # nothing written beside the images
    ev = evaluate_checkpoint(run / "best.pt", split="test", device="cpu", out_dir=str(tmp_path / "ev"))
    with open(ev["per_image_csv"]) as f:
        dice_by_file = {row["image"].split("/")[-1]: row["dice_macro"] for row in csv.DictReader(f)}
    from cnnkit.engine.checkpoint import load_checkpoint

    ckpt = load_checkpoint(run / "best.pt")
    from cnnkit.engine.checkpoint import read_checkpoint

    ds = load_dataset(f"segfolder:{root}", read_checkpoint(run / "best.pt").data_options())  # the test masks at 32x32, as evaluate reads them
    for p, truth, name in zip(result["predictions"], ds.test.targets, ds.test.files):
        assert p["size"] == [40, 40] and p["model_size"] == [32, 32]
        assert p["mask"].startswith(str(run / "predictions"))
        full = torch.from_numpy(np.asarray(Image.open(p["mask"])).astype(np.int64))  # palette PNG: values are classes
        assert full.shape == (40, 40)
        from cnnkit.data.decode import resize_mask

        pred = resize_mask(full, (32, 32))  # back to the size the model saw
        meter = SegmentationMeter(len(ckpt["class_names"]), None)
        meter.update(torch.nn.functional.one_hot(pred, len(ckpt["class_names"])).permute(2, 0, 1)[None].float(), truth[None].long())
        dice = meter.per_image()["dice"][0].nanmean().item()
        expected = float(dice_by_file[name.split("/")[-1]])
        assert math.isclose(dice, expected, abs_tol=1e-5), (name, dice, expected)


def test_masks_never_replace_an_existing_file(seg_data, tmp_path):
    root, run = seg_data
    img = str(sorted((root / "test" / "images").iterdir())[0])
    out = tmp_path / "masks"
    out.mkdir()
    (out / f"{img.split('/')[-1][:-4]}_mask.png").write_bytes(b"someone else's file")
    first = predict_images(run / "best.pt", [img, img], device="cpu", out_dir=str(out))["predictions"]
    names = [p["mask"] for p in first]
    assert len(set(names)) == 2 and all(n.endswith(("_mask-2.png", "_mask-3.png")) for n in names)
    assert (out / f"{img.split('/')[-1][:-4]}_mask.png").read_bytes() == b"someone else's file"
    assert np.array_equal(np.asarray(Image.open(names[0])), np.asarray(Image.open(names[1])))


def test_a_checkpoint_without_normalisation_is_read_alike_by_evaluate_and_predict(cls_run, tmp_path):
    """No normalisation recorded (a checkpoint written by your own loop): evaluate, predict and the
    figures all use checkpoint.normalization_of's 0.5 / 0.5 (what the training loader applies
    without statistics), never the evaluation data's own statistics, and say so."""
    from cnnkit.data.augment import normalize
    from cnnkit.engine.checkpoint import NO_NORMALIZATION_NOTE, normalization_of

    run, ds = cls_run
    ckpt = torch.load(run / "best.pt", weights_only=True)
    ckpt["normalization"] = None
    torch.save(ckpt, tmp_path / "plain.pt")
    assert normalization_of(ckpt) == {"mean": [0.5] * 3, "std": [0.5] * 3}
    paths = [_save(img.permute(1, 2, 0).numpy(), tmp_path / f"{i:03d}.png") for i, img in enumerate(ds.test.images)]
    result = predict_images(tmp_path / "plain.pt", paths, top_k=1, device="cpu")
    predicted = torch.tensor([p["top"][0]["index"] for p in result["predictions"]])
    confusion = torch.zeros(ds.num_classes, ds.num_classes, dtype=torch.int64)
    confusion.index_put_((ds.test.targets, predicted), torch.ones(len(predicted), dtype=torch.int64), accumulate=True)
    ev = evaluate_checkpoint(tmp_path / "plain.pt", split="test", device="cpu", out_dir=str(tmp_path / "ev"))
    assert confusion.tolist() == ev["confusion_matrix"]  # image by image the same decisions
    assert NO_NORMALIZATION_NOTE in ev["notes"] and NO_NORMALIZATION_NOTE in result["notes"]
    # the test can fail: the data's own statistics (what evaluate used before) decide otherwise on some image
    from cnnkit.engine.inference import load_for_inference

    _, model, _ = load_for_inference(tmp_path / "plain.pt", "cpu")
    norm = ds.normalization
    with torch.no_grad():
        other = model(normalize(ds.test.images, torch.tensor(norm["mean"]), torch.tensor(norm["std"]))).argmax(1)
        plain = model(normalize(ds.test.images, torch.tensor([0.5] * 3), torch.tensor([0.5] * 3))).argmax(1)
    assert not torch.equal(other, plain)
