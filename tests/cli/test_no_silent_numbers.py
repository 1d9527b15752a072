"""Numbers that would not be true are refused or shown as absent (null / "no images"),
and `data check` applies the very rules `train` refuses data by.

One tiny classification run is trained once for the module (seconds)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from cnnkit.cli.main import app
from tests.conftest import CliResult, assert_clean_error, working_in

TINY = ["--epochs", "1", "--batch-size", "16", "--opt", "widths=(4,8)", "-q"]


def _images(folder: Path, n: int, size=(8, 8), seed=0, mode=None):
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        if mode == "F":
            Image.fromarray(rng.random(size).astype(np.float32), mode="F").save(folder / f"{i}.tiff")
        else:
            Image.fromarray(rng.integers(0, 256, (*size, 3), dtype=np.uint8)).save(folder / f"{i}.png")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("numbers")
    with working_in(root):
        for c in ("a", "b"):
            _images(Path(f"onetest/train/{c}"), 8, seed=ord(c))
        _images(Path("onetest/test/a"), 3, seed=1)
        Path("onetest/test/b").mkdir(parents=True)  # b has no test images
        for c in ("a", "b"):
            _images(Path(f"emptytest/train/{c}"), 6, seed=ord(c))
        Path("emptytest/test").mkdir()
        for c in ("a", "c"):
            _images(Path(f"other/train/{c}"), 10, seed=ord(c))
        for c in ("a", "b"):
            _images(Path(f"floats/train/{c}"), 3, mode="F")
        for d in ("seg/images", "seg/masks"):
            Path(d).mkdir(parents=True)
        rng = np.random.default_rng(0)
        for i in range(3):
            Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(f"seg/images/{i}.png")
            Image.fromarray(rng.integers(0, 3, (16, 16)).astype(np.uint8)).save(f"seg/masks/{i}.png")
        Path("seg/classes.txt").write_text("background\ncell\n")  # the masks use 3 classes
        r = CliRunner().invoke(app, ["train", "convnet", "-d", "folder:onetest", *TINY, "--out", "runs/one"])
        assert r.exit_code == 0, r.stderr
        yield root


def run(*args) -> CliResult:
    return CliResult(CliRunner().invoke(app, [str(a) for a in args]))


def test_a_class_without_test_images_has_no_accuracy_not_zero(world, monkeypatch):
    monkeypatch.chdir(world)
    summary = json.loads(Path("runs/one/summary.json").read_text(), parse_constant=_refuse)
    assert summary["test_per_class_accuracy"]["b"] is None
    assert summary["test_per_class_accuracy"]["a"] is not None
    r = run("evaluate", "runs/one/best.pt", "--json", "--out", "out/e1")
    out = json.loads(r.stdout, parse_constant=_refuse)
    assert out["per_class_accuracy"][1] is None and out["confusion_matrix"][1] == [0, 0]
    # the accuracy is over the 3 images there are, the same as correct / images
    assert out["accuracy"] == pytest.approx(out["confusion_matrix"][0][0] / 3)
    r = run("evaluate", "runs/one/best.pt", "--out", "out/e2")
    assert r.exit_code == 0 and "no images" in r.stdout and "[test]" in r.stdout


def test_an_empty_test_folder_is_refused_by_train_and_data_check_alike(world, monkeypatch):
    monkeypatch.chdir(world)
    r = run("train", "convnet", "-d", "folder:emptytest", *TINY, "--out", "out/empty")
    assert_clean_error(r, "test/ holds no images")
    assert not Path("out/empty").exists()
    r = run("data", "check", "folder:emptytest", "--json")
    problems = [p["problem"] for p in json.loads(r.stdout)["problems"] if p["severity"] == "error"]
    assert any("test/ holds no images" in p for p in problems), problems


@pytest.mark.parametrize("argv", [["train", "convnet", "-d", "shapes:n=48,size=16", *TINY, "--out", "out/ii"],
                                  ["data", "check", "shapes:n=48,size=16"]], ids=["train", "data-check"])
def test_ignore_index_on_classification_is_refused_with_why(world, monkeypatch, argv):
    monkeypatch.chdir(world)
    assert_clean_error(run(*argv, "--ignore-index", "1"), "--ignore-index is for segmentation", "never be learnt")


def test_evaluate_on_other_class_names_is_refused(world, monkeypatch):
    monkeypatch.chdir(world)
    r = run("evaluate", "runs/one/best.pt", "--dataset", "folder:other", "--split", "train", "--out", "out/o")
    assert_clean_error(r, "only the model has b", "only the dataset has c")


def test_the_same_names_in_another_order_are_matched_by_name():
    from cnnkit.data.splits import Split
    from cnnkit.engine.evaluate import match_classes_by_name

    split = Split(torch.zeros(3, 1, 2, 2, dtype=torch.uint8), torch.tensor([0, 1, 2]))  # labels in the data's order
    data, names, notes = match_classes_by_name("m.pt", "folder:x", ["cat", "dog", "owl"], ["owl", "cat", "dog"], split)
    assert names == ["cat", "dog", "owl"] and data.targets.tolist() == [2, 0, 1] and notes
    assert split.targets.tolist() == [0, 1, 2]  # the loaded split is left alone


@pytest.mark.parametrize("spec, fragment", [("folder:floats", "floating-point image"),
                                            ("segfolder:seg", "names 2 classes but the masks use 3")])
def test_data_check_finds_what_train_refuses(world, monkeypatch, spec, fragment):
    monkeypatch.chdir(world)
    model = "convnet" if spec.startswith("folder") else "unet"
    assert_clean_error(run("train", model, "-d", spec, *TINY, "--out", "out/t"), fragment)
    r = run("data", "check", spec, "--json")
    problems = [p["problem"] for p in json.loads(r.stdout)["problems"] if p["severity"] == "error"]
    assert any(fragment in p for p in problems), problems


def test_crop_a_fixed_size_classifier_cannot_take_is_refused_before_training(world, monkeypatch):
    monkeypatch.chdir(world)
    r = run("train", "convnet", "-d", "shapes:n=48,size=16", *TINY, "--crop", "8x8", "--out", "out/crop")
    assert_clean_error(r, "--crop 8x8", "cannot take 8x8 crops")
    assert not Path("out/crop").exists()


def test_an_image_size_that_cannot_fit_in_memory_is_refused_at_once(world, monkeypatch):
    monkeypatch.chdir(world)
    r = run("train", "unet", "-d", "segfolder:seg", "--image-size", "100000", *TINY[:-3], "--out", "out/big")
    assert_clean_error(r, "--image-size 100000x100000", "gib")


def _refuse(name):
    raise ValueError(f"not JSON: {name}")


@pytest.mark.parametrize("content, fragment", [
    ("epoch,train_loss\n1,abc\n", "line 2: train_loss is 'abc'"),
    ("epoch,train_loss\n1,0.5,9\n", "line 2 has 3 values for 2 columns"),
    ("nonsense\n1\n", "header"),
], ids=["word", "extra-cell", "header"])
def test_a_damaged_metrics_csv_is_one_error_in_curves_and_report(world, monkeypatch, content, fragment):
    import shutil

    monkeypatch.chdir(world)
    shutil.rmtree("runs/damaged", ignore_errors=True)
    shutil.copytree("runs/one", "runs/damaged")
    Path("runs/damaged/metrics.csv").write_text(content)
    assert_clean_error(run("visualize", "curves", "runs/damaged", "--out", "out/c.png"), "metrics.csv is damaged", fragment)
    assert_clean_error(run("report", "runs/damaged", "--out", "out/r.html"), "metrics.csv is damaged", fragment)


def test_an_all_nan_metrics_csv_draws_without_a_warning_line(world):
    import csv
    import shutil

    shutil.rmtree(world / "runs/nan", ignore_errors=True)
    shutil.copytree(world / "runs/one", world / "runs/nan")
    f = world / "runs/nan/metrics.csv"
    rows = list(csv.DictReader(f.open()))
    with f.open("w", newline="") as out:
        w = csv.DictWriter(out, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows([{k: (v if k == "epoch" else "nan") for k, v in r.items()} for r in rows])
    env = dict(os.environ, PYTHONWARNINGS="default")
    r = subprocess.run([sys.executable, "-m", "cnnkit", "visualize", "curves", "runs/nan", "--out", "out/nan.png"],
                       cwd=world, capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 0 and r.stderr.strip() == "", r.stderr
    assert (world / "out/nan.png").read_bytes()[:4] == b"\x89PNG"


def test_a_damaged_summary_value_is_named_as_damaged(world, monkeypatch):
    import shutil

    monkeypatch.chdir(world)
    shutil.rmtree("runs/badvalue", ignore_errors=True)
    shutil.copytree("runs/one", "runs/badvalue")
    s = json.loads(Path("runs/badvalue/summary.json").read_text())
    s["test_accuracy"] = "abc"
    Path("runs/badvalue/summary.json").write_text(json.dumps(s))
    assert_clean_error(run("compare", "runs/badvalue"), "'test_accuracy' in its summary.json is 'abc', not a number")


@pytest.mark.parametrize("depth", ["0", "-1"])
def test_summary_depth_below_one_is_refused(cli, depth):
    assert_clean_error(cli("summary", "convnet", "--depth", depth), "--depth")


def test_summary_with_too_many_classes_names_the_memory_not_opt(cli):
    r = cli("summary", "convnet", "--classes", str(10**12))
    assert_clean_error(r, "num_classes=1,000,000,000,000", "more memory")
    assert "--opt values (" not in r.stderr


def test_summary_on_an_input_too_large_to_run_says_memory(cli):
    r = cli("summary", "resnet18", "--input", "3x1000000x1000000")  # one activation of terabytes, on any machine
    assert_clean_error(r, "needs more memory", "smaller --input")


def test_activations_that_cannot_fit_are_refused_before_training(world, monkeypatch):
    """The estimate (2 bytes x batch x every layer output, counted on the meta device) is
    held against the device's memory; here a device of 1 MiB stands for a too-small one."""
    from cnnkit.engine import plan

    monkeypatch.chdir(world)
    monkeypatch.setattr(plan, "_device_memory", lambda device: 2**20)
    r = run("train", "unet", "-d", "shapes-seg:n=32,size=32", "--epochs", "1", "--batch-size", "8", "-q", "--out", "out/act")
    assert_clean_error(r, "activations for backward", "batch size 8", "--batch-size")
    assert not Path("out/act").exists()
