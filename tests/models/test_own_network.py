"""Your own network through every command: a student's Net1 file (class and builder), a
layer spec, a class and a model object from Python train on `shapes` for one epoch, and
evaluate (equal to the run's summary.json), predict, summary and every visualize figure
work on the run later, without flags, also after the model file was deleted."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch.nn as nn
from PIL import Image

import cnnkit
from tests.conftest import assert_clean_error

STUDENT = Path(__file__).parent / "student" / "my_net.py"
DATA = "shapes:n=120"
SPEC = "3x32x32 | conv 4 k3 p1 | relu | maxpool 2 | conv 8 k3 p1 | relu | maxpool 2 | flatten | linear 4"


class Tiny(nn.Module):
    """A network defined in Python (as in a notebook)."""

    def __init__(self, num_classes=10, in_channels=3, width=4):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.head(self.features(x).mean((2, 3)))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("own")
    shutil.copy(STUDENT, root / "my_net.py")
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / "img.png")
    return root


FORMS = {
    "file-class": (lambda root: f"{root}/my_net.py:Net1", {"width": 4}),
    "file-builder": (lambda root: f"{root}/my_net.py:make_net", None),
    "spec": (lambda root: SPEC, None),
    "python-class": (lambda root: Tiny, {"width": 6}),
    "python-instance": (lambda root: Tiny(num_classes=4), None),
}


@pytest.fixture(scope="module")
def runs(world):
    out = {}
    for name, (ref, options) in FORMS.items():
        out[name] = cnnkit.train(ref(world), dataset=DATA, epochs=1, batch_size=32, out=str(world / name),
                                 progress=False, model_options=options, precision="fp32")
    return out


@pytest.mark.parametrize("form", list(FORMS))
def test_every_form_trains_evaluates_and_predicts(runs, world, form):
    run = runs[form]
    assert run.summary["model_source"]["kind"] == {"file-class": "file", "file-builder": "file", "spec": "spec"}.get(form, "python")
    assert "code" not in run.summary["model_source"]
    assert cnnkit.evaluate(run.best)["accuracy"] == run.summary["test_accuracy"]
    top = cnnkit.predict(run.best, [world / "img.png"])["predictions"][0]["top"]
    assert {t["class"] for t in top} == {"circle", "square", "triangle", "cross"}
    predictor = cnnkit.load(run.best)
    assert predictor.predict(world / "img.png")["top"][0]["class"] == top[0]["class"]
    # the run directory keeps a readable copy of the code where there is one
    has_code = form != "spec"
    assert (run.dir / "model-source.py").exists() == has_code


def test_summary_of_every_form(world):
    for name, (ref, options) in FORMS.items():
        s = cnnkit.summary(ref(world), input="3x32x32", options=None if name == "python-instance" else options)
        assert s["output_shape"][-1] == (10 if name in ("file-class", "file-builder", "python-class") else 4), name
        assert s["total_params"] > 0


def test_run_from_a_file_is_self_contained(runs, world, tmp_path, cli):
    run = runs["file-class"]
    assert (run.dir / "model-source.py").read_text() == STUDENT.read_text()
    entry = json.loads((run.dir / "summary.json").read_text())["model_source"]
    assert entry["object"] == "Net1" and len(entry["sha256"]) == 64
    moved = tmp_path / "elsewhere"
    shutil.copytree(run.dir, moved)
    (world / "my_net.py").write_text(STUDENT.read_text() + "\n# edited after training\n")
    r = cli("evaluate", moved / "best.pt", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["accuracy"] == run.summary["test_accuracy"]
    assert r.stderr.count("note: using the copy of my_net.py kept with the run") == 1
    (world / "my_net.py").unlink()
    r = cli("evaluate", moved / "best.pt", "--json")
    assert r.exit_code == 0 and r.json()["accuracy"] == run.summary["test_accuracy"] and r.stderr == ""
    shutil.copy(STUDENT, world / "my_net.py")


def test_every_figure_on_a_students_network(runs, world):
    best = runs["file-class"].best
    f = cnnkit.visualize.filters(best)
    assert f.cnnkit["layer"] == "feature_extractor.0" and f.cnnkit["shape"] == [4, 3, 5, 5]
    f = cnnkit.visualize.features(best, world / "img.png")
    assert list(f.cnnkit["layers"])[0] == "feature_extractor.0"
    f = cnnkit.visualize.attribution(best, world / "img.png", method="gradcam")
    assert f.cnnkit["layer"].startswith("feature_extractor") and f.cnnkit["map_size"] == [8, 8]
    f = cnnkit.visualize.attribution(best, world / "img.png", method="gradcam", layer="feature_extractor.3")  # the first max-pool
    assert f.cnnkit["map_size"] == [16, 16]
    f = cnnkit.visualize.maximize(best, layer="feature_extractor.0", channel=1, seeds=1, steps=4, top=2)
    assert len(f.cnnkit["top_images"]) == 2
    assert cnnkit.visualize.curves(runs["file-class"].dir).cnnkit["metric"] == "accuracy"
    with pytest.raises(cnnkit.CnnkitError, match="feature_extractor.0, feature_extractor.1"):
        cnnkit.visualize.attribution(best, world / "img.png", method="gradcam", layer="conv1")
    # a spec network has no registry entry either: its first conv is layer 0
    assert cnnkit.visualize.filters(runs["spec"].best).cnnkit["layer"] == "0"


def test_segmentation_spec_and_its_figure(world):
    spec = "3x16x16 | conv 8 k3 p1 | relu | conv 5 k1"  # shapes-seg: background + 4 shapes
    run = cnnkit.train(spec, dataset="shapes-seg:n=32,size=16", epochs=1, batch_size=16, out=str(world / "seg"),
                       progress=False, precision="fp32")
    assert cnnkit.evaluate(run.best)["dice"] == run.summary["test_dice"]
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(world / "seg.png")
    f = cnnkit.visualize.segmentation(run.best, world / "seg.png")
    assert f.cnnkit["size"] == [16, 16]


def test_cli_train_on_a_file_and_report(world, cli, tmp_path):
    r = cli("train", f"{world}/my_net.py:Net1", "-d", DATA, "-e", "1", "-b", "32", "--opt", "width=4", "--precision", "fp32",
            "-q", "--json", "--out", tmp_path / "run")
    assert r.exit_code == 0, r.stderr
    summary = r.json()
    assert summary["model"].endswith("my_net.py:Net1") and summary["model_source"]["kind"] == "file"
    r = cli("report", tmp_path / "run", "--json")
    assert r.exit_code == 0, r.stderr


def test_a_model_object_cannot_make_several_trials(world):
    with pytest.raises(cnnkit.CnnkitError, match="pass the class or the function"):
        cnnkit.train(Tiny(num_classes=4), dataset=DATA, epochs=1, trials=2, out=str(world / "trials"), progress=False)


def test_cnnkit_load_takes_the_class_for_uncapturable_code(runs):
    pred = cnnkit.load(runs["python-class"].best, model=Tiny)
    assert pred.model.head.in_features == 6


def test_wrong_output_size_is_one_line(world, cli, tmp_path):
    path = tmp_path / "net10.py"
    path.write_text("import torch.nn as nn\n\n\ndef make():\n    return nn.Sequential(nn.Flatten(), nn.Linear(3 * 32 * 32, 10))\n")
    r = cli("train", f"{path}:make", "-d", DATA, "-e", "1", "--out", tmp_path / "r")
    assert_clean_error(r, "net10.py:4", "10 outputs", "4 classes", "give its constructor a num_classes argument")
    assert not (tmp_path / "r").exists()


def test_resume_continues_with_the_kept_copy_after_the_file_is_gone(tmp_path):
    path = tmp_path / "net.py"
    shutil.copy(STUDENT, path)
    run = cnnkit.train(f"{path}:Net1", dataset=DATA, epochs=1, batch_size=32, out=str(tmp_path / "r"), progress=False,
                       model_options={"width": 4}, precision="fp32")
    path.unlink()
    more = cnnkit.train(resume=run.dir, epochs=2, progress=False)
    assert more.summary["epochs_run"] == 2 and more.summary["model_source"]["object"] == "Net1"
    assert cnnkit.evaluate(more.best)["accuracy"] == more.summary["test_accuracy"]


def test_sweep_varies_an_argument_of_your_class(world, cli, tmp_path):
    r = cli("sweep", f"{world}/my_net.py:Net1", "-d", DATA, "--epochs", "1", "--batch-size", "32", "--vary", "width=4,6",
            "--out", tmp_path / "sw", "--json")
    assert r.exit_code == 0, r.stderr
    for width in (4, 6):
        best = tmp_path / "sw" / f"width-{width}" / "trial-1" / "best.pt"
        assert cnnkit.load(best).model.feature_extractor[0].out_channels == width
    r = cli("sweep", f"{world}/my_net.py:Net1", "-d", DATA, "--vary", "depth=1,2", "--out", tmp_path / "sw2")
    assert_clean_error(r, "depth", "model options: width")
