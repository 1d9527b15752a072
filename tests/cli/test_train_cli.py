"""cnnkit train / evaluate / predict through the CLI, on tiny built-in data."""

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import assert_clean_error

TINY = ["--opt", "widths=(8,16)", "--opt", "kernel_size=3", "--opt", "batchnorm=True", "--optimizer", "adam", "--lr", "3e-3",
        "-b", "32", "--recipe", "default"]
DATA = "shapes:n=200,size=16"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """One tiny classification run shared by the tests below."""
    from typer.testing import CliRunner

    from cnnkit.cli.main import app

    out = tmp_path_factory.mktemp("cli") / "run"
    r = CliRunner().invoke(app, ["train", "convnet", "-d", DATA, "--epochs", "2", "-o", str(out), "--json", *TINY])
    assert r.exit_code == 0, r.stderr
    return out


def test_train_json_summary(run_dir):
    import json

    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["task"] == "classification" and summary["epochs_run"] == 2
    for key in ("best_val_accuracy", "test_accuracy", "train_seconds", "train_images_per_second"):
        assert isinstance(summary[key], float)


def test_evaluate_json_and_confusion_files(cli, run_dir, tmp_path):
    r = cli("evaluate", run_dir / "best.pt", "--json", "--out", tmp_path, "--device", "cpu")
    assert r.exit_code == 0, r.stderr
    result = r.json()
    assert 0 <= result["accuracy"] <= 1 and len(result["per_class_accuracy"]) == 4
    cm = np.array(result["confusion_matrix"])
    assert cm.sum() == result["images"] == 50
    assert result["accuracy"] == pytest.approx(np.trace(cm) / cm.sum())
    assert (tmp_path / "best-test-confusion.png").exists()
    lines = (tmp_path / "best-test-confusion.csv").read_text().splitlines()
    assert lines[0].split(",")[1:] == ["circle", "square", "triangle", "cross"]


def test_evaluate_val_split_text(cli, run_dir, tmp_path):
    r = cli("evaluate", run_dir / "best.pt", "--split", "val", "--out", tmp_path)
    assert r.exit_code == 0 and "accuracy" in r.stdout and "circle" in r.stdout


def test_predict_top_k(cli, run_dir, tmp_path):
    from cnnkit.data.shapes import make_shapes

    images, labels, _ = make_shapes(2, size=16, seed=5)
    paths = []
    for i, img in enumerate(images):
        p = tmp_path / f"img{i}.png"
        Image.fromarray(img.transpose(1, 2, 0)).save(p)
        paths.append(p)
    r = cli("predict", run_dir / "best.pt", *paths, "--top-k", "3", "--json")
    assert r.exit_code == 0, r.stderr
    preds = r.json()["predictions"]
    assert len(preds) == 2 and len(preds[0]["top"]) == 3
    probs = [t["probability"] for t in preds[0]["top"]]
    assert probs == sorted(probs, reverse=True) and sum(probs) <= 1 + 1e-6


def test_segmentation_train_evaluate_predict(cli, tmp_path):
    out = tmp_path / "seg"
    r = cli("train", "unet", "-d", "shapes-seg:n=60,size=16", "--epochs", "1", "-o", out, "--opt", "base_width=4",
            "--opt", "depth=2", "--json", "-q")
    assert r.exit_code == 0, r.stderr
    assert {"test_dice", "test_iou", "test_pixel_accuracy"} <= set(r.json())
    r = cli("evaluate", out / "best.pt", "--json")
    result = r.json()
    assert {"dice_mean", "dice_std", "dice_min", "iou_mean", "pixel_accuracy"} <= set(result)
    rows = open(result["per_image_csv"]).read().splitlines()
    assert len(rows) == 1 + result["images"]
    img = tmp_path / "x.png"
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(img)
    r = cli("predict", out / "best.pt", img, "--out", tmp_path / "masks", "--json")
    mask = np.asarray(Image.open(r.json()["predictions"][0]["mask"]))
    assert mask.shape == (16, 16) and mask.max() < 5


def test_resume_cli(cli, tmp_path):
    out = tmp_path / "r"
    assert cli("train", "convnet", "-d", DATA, "--epochs", "1", "-o", out, "-q", *TINY).exit_code == 0
    r = cli("train", "--resume", out, "--epochs", "2", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["epochs_run"] == 2


def test_train_errors(cli, tmp_path):
    assert_clean_error(cli("train", "convnett", "-d", DATA), "convnet")
    assert_clean_error(cli("train", "unet", "-d", "shapes"), "segmentation model")
    assert_clean_error(cli("train", "convnet", "-d", "shapes", "--optimizer", "lbfgs", "-o", tmp_path / "x"), "sgd")
    import torch

    if torch.cuda.is_available():  # a GPU machine: a device index that is not there
        assert_clean_error(cli("train", "convnet", "-d", "shapes", "--device", "cuda:99", "-o", tmp_path / "y"), "CUDA device")
    else:
        assert_clean_error(cli("train", "convnet", "-d", "shapes", "--device", "cuda", "-o", tmp_path / "y"), "--device cpu")
    assert_clean_error(cli("train", "--resume", tmp_path / "nothing"), "no such run")
    assert_clean_error(cli("train", "convnet", "-d", "folder:/does/not/exist"), "does not exist")


def test_evaluate_refuses_crafted_and_foreign_files(cli, tmp_path):
    evil = tmp_path / "evil.pt"

    class Boom:
        def __reduce__(self):
            return (print, ("pwned",))

    torch.save({"x": Boom()}, evil)
    assert_clean_error(cli("evaluate", evil), "refused")
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a checkpoint")
    assert_clean_error(cli("evaluate", junk), "truncated or not a PyTorch file")
    assert_clean_error(cli("predict", tmp_path / "missing.pt", "a.png"), "does not exist")
