"""Checkpoints from a student's own training loop: read as weights (never executed), their
network matched against the registry or given by --model, and every command working on them.

The network is cnnkit's convnet exported with state_dict(), as a student's loop would save
it; its predictions through cnnkit must equal the module's own softmax."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
import torchvision
from PIL import Image

from cnnkit.errors import CnnkitError
from cnnkit.registry import create_model
from tests.conftest import assert_clean_error


class _Exec:
    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').close()",))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """The four foreign formats of one convnet (4 classes), an image, and bad files."""
    root = tmp_path_factory.mktemp("foreign")
    torch.manual_seed(0)
    model = create_model("convnet", num_classes=4).eval()
    sd = model.state_dict()
    torch.save(sd, root / "bare.pt")
    torch.save({"epoch": 3, "model_state_dict": sd, "optimizer_state_dict": torch.optim.SGD(model.parameters(), 0.1).state_dict()},
               root / "tutorial.pt")
    torch.save({"state_dict": {f"model.{k}": v for k, v in sd.items()}, "pytorch-lightning_version": "2.4.0", "epoch": 1},
               root / "lightning.pt")
    torch.save({f"module.{k}": v for k, v in sd.items()}, root / "dataparallel.pt")
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(root / "img.png")
    return root, model


FORMATS = ("bare", "tutorial", "lightning", "dataparallel")


def _probabilities(model, path):
    """The module's own softmax on the image scaled to 0..1 (no normalisation), as a student's loop with ToTensor()."""
    x = torch.from_numpy(np.array(Image.open(path).convert("RGB"))).permute(2, 0, 1).float().div(255)[None]
    with torch.no_grad():
        return model(x).softmax(1)[0]


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_predicts_what_the_module_computes(cli, files, fmt):
    root, model = files
    r = cli("predict", root / f"{fmt}.pt", root / "img.png", "--classes", "a,b,c,d", "--json")
    assert r.exit_code == 0, r.stderr
    out = r.json()
    assert any("matches convnet with 4 classes" in n for n in out["notes"])
    assert any("no normalisation recorded" in n for n in out["notes"])
    top = out["predictions"][0]["top"]
    probs = _probabilities(model, root / "img.png")
    assert top[0]["class"] == "abcd"[int(probs.argmax())]
    assert top[0]["probability"] == pytest.approx(float(probs.max()), abs=1e-5)


@pytest.mark.parametrize("fmt", FORMATS)
def test_filters_from_the_weights_alone(cli, files, fmt, tmp_path):
    root, model = files
    r = cli("visualize", "filters", root / f"{fmt}.pt", "--out", tmp_path / "f.png", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["layer"] == "features.conv1" and r.json()["shape"] == list(model.features.conv1.weight.shape)
    r = cli("visualize", "filters", root / f"{fmt}.pt", "--layer", "features.conv2", "--out", tmp_path / "g.png", "--json")
    assert r.json()["shape"] == [64, 32, 5, 5]
    assert_clean_error(cli("visualize", "filters", root / f"{fmt}.pt", "--layer", "nosuch", "--out", tmp_path / "h.png"),
                       "conv layers: features.conv1, features.conv2, features.conv3")
    assert_clean_error(cli("visualize", "filters", root / f"{fmt}.pt", "--layer", "classifier.fc1", "--out", tmp_path / "h.png"),
                       "not a conv layer")
    assert not (tmp_path / "h.png").exists()


def test_a_students_own_network_draws_its_first_conv(cli, tmp_path):
    """Keys no registered model has (the coursework's Net1): filters need no model at all."""
    net = torch.nn.Sequential()
    net.add_module("feature_extractor", torch.nn.Sequential(torch.nn.Conv2d(3, 6, 5), torch.nn.ReLU(), torch.nn.Conv2d(6, 16, 5)))
    net.add_module("classifier", torch.nn.Linear(16, 10))
    torch.save(net.state_dict(), tmp_path / "ckpt.pt")
    r = cli("visualize", "filters", tmp_path / "ckpt.pt", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["layer"] == "feature_extractor.0" and r.json()["shape"] == [6, 3, 5, 5]
    assert (tmp_path / "ckpt-filters-feature_extractor.0.png").is_file()
    # a command that needs the network says how to give it
    assert_clean_error(cli("summary", tmp_path / "ckpt.pt"), "match no model cnnkit knows", "--model")


def test_torchvision_resnet18_is_matched_to_resnet18(cli, tmp_path):
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), tmp_path / "sd.pt")
    r = cli("summary", tmp_path / "sd.pt", "--input", "3x32x32", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["output_shape"] == [10]
    assert r.json()["total_params"] == sum(p.numel() for p in torchvision.models.resnet18(num_classes=10).parameters())
    assert any("matches resnet18 with 10 classes" in n for n in r.json()["notes"])


def test_evaluate_equals_the_same_weights_as_a_cnnkit_checkpoint(cli, files, tmp_path):
    """Foreign weights evaluated with --dataset give the numbers of a cnnkit checkpoint that
    holds the same weights, input size, names and (no) normalisation."""
    from cnnkit.data.catalog import DataOptions, load_dataset
    from cnnkit.engine.checkpoint import checkpoint_dict, save_checkpoint

    root, model = files
    data = "shapes:n=64,size=32"
    ds = load_dataset(data, DataOptions())
    own = save_checkpoint(tmp_path / "own.pt", checkpoint_dict(model, (3, 32, 32), ds.class_names,
                                                                  {"mean": [0.0] * 3, "std": [1.0] * 3}, dataset=data))
    want = cli("evaluate", own, "--out", tmp_path / "a", "--json").json()
    r = cli("evaluate", root / "tutorial.pt", "--dataset", data, "--out", tmp_path / "b", "--json")
    assert r.exit_code == 0, r.stderr
    got = r.json()
    assert got["accuracy"] == want["accuracy"] and got["per_class_accuracy"] == want["per_class_accuracy"]
    assert got["images"] == want["images"] and any("class names from" in n for n in got["notes"])
    assert_clean_error(cli("evaluate", root / "tutorial.pt"), "pass --dataset")
    rng = np.random.default_rng(2)
    for split in ("train", "test"):
        for name in ("cat", "dog", "owl"):
            (tmp_path / "three" / split / name).mkdir(parents=True)
            for i in range(12):
                Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(tmp_path / "three" / split / name / f"{i}.png")
    r = cli("evaluate", root / "tutorial.pt", "--dataset", f"folder:{tmp_path / 'three'}", "--out", tmp_path / "c")
    assert_clean_error(r, "has 3 classes but the weights in", "have 4 outputs")


def test_features_and_attribution_on_a_state_dict(cli, files, tmp_path):
    root, model = files
    r = cli("visualize", "features", root / "bare.pt", root / "img.png", "--out", tmp_path / "fe.png", "--json")
    assert r.exit_code == 0, r.stderr
    assert list(r.json()["layers"]) == ["features.conv1", "features"]
    r = cli("visualize", "attribution", root / "lightning.pt", root / "img.png", "--method", "gradcam",
            "--out", tmp_path / "a.png", "--json")
    assert r.exit_code == 0, r.stderr
    probs = _probabilities(model, root / "img.png")
    assert r.json()["target"] == int(probs.argmax()) and r.json()["probability"] == pytest.approx(float(probs.max()), abs=1e-5)


def test_a_shape_mismatch_names_the_key_and_what_to_pass(cli, files):
    root, _ = files
    r = cli("predict", root / "bare.pt", root / "img.png", "--model", "convnet", "--opt", "widths=(8,16,32)")
    assert_clean_error(r, "size mismatch for features.conv1.weight: checkpoint 32x3x5x5, model 8x3x5x5", "--model")
    r = cli("predict", root / "bare.pt", root / "img.png", "--model", "resnet18")
    assert_clean_error(r, "does not fit resnet18", "missing from the checkpoint", "unexpected key")


def test_model_flag_and_normalisation_flags(cli, files):
    root, model = files
    r = cli("predict", root / "bare.pt", root / "img.png", "--model", "convnet", "--mean", "0.5,0.5,0.5", "--std", "0.5,0.5,0.5",
            "--json")
    assert r.exit_code == 0, r.stderr
    x = torch.from_numpy(np.array(Image.open(root / "img.png"))).permute(2, 0, 1).float().div(255)[None]
    with torch.no_grad():
        probs = model((x - 0.5) / 0.5).softmax(1)[0]
    assert r.json()["predictions"][0]["top"][0]["probability"] == pytest.approx(float(probs.max()), abs=1e-5)
    assert not any("normalisation" in n for n in r.json()["notes"])
    assert_clean_error(cli("predict", root / "bare.pt", root / "img.png", "--std", "0,1,1"), "--std")
    assert_clean_error(cli("predict", root / "bare.pt", root / "img.png", "--classes", "a,b"), "names 2 classes", "4 outputs")


def test_a_pickled_model_is_refused_unless_trusted(cli, files, tmp_path, monkeypatch):
    root, _ = files
    monkeypatch.chdir(tmp_path)
    net = torchvision.models.resnet18(num_classes=3).eval()
    torch.save(net, tmp_path / "whole.pt")
    r = cli("predict", tmp_path / "whole.pt", root / "img.png")
    assert_clean_error(r, "whole pickled model", "torchvision.models.resnet.ResNet", "state_dict()", "--trust-checkpoint")
    r = cli("predict", tmp_path / "whole.pt", root / "img.png", "--trust-checkpoint", "--input", "3x32x32", "--json")
    assert r.exit_code == 0, r.stderr
    assert len(r.json()["predictions"][0]["top"]) == 3
    (tmp_path / "crafted.pt").write_bytes(pickle.dumps(_Exec(), protocol=2))
    for argv in (("predict", "crafted.pt", str(root / "img.png")), ("visualize", "filters", "crafted.pt"), ("summary", "crafted.pt")):
        assert_clean_error(cli(*argv), "refused", "exec)")
        assert not (tmp_path / "PWNED").exists()


def test_checkpoint_content_is_checked(cli, files, tmp_path):
    """NaN weights, NaN normalisation, names that do not number the outputs, a task the weights
    do not have: one error line each, naming the file."""
    from cnnkit.engine.checkpoint import checkpoint_dict, save_checkpoint

    root, model = files
    base = checkpoint_dict(model, (3, 32, 32), ["a", "b", "c", "d"], None)
    cases = {
        "nan": ({"state_dict": {**base["state_dict"], "classifier.fc2.bias": torch.tensor([0.0, float("nan"), 0.0, 0.0])}},
                "non-finite weights: classifier.fc2.bias has 1 NaN"),
        "nannorm": ({"normalization": {"mean": [0.5, float("nan"), 0.5], "std": [0.5] * 3}}, "non-finite normalization"),
        "six": ({"class_names": list("abcdef")}, "names 6 classes (a, b, c, d, e, f) but its model has 4 outputs"),
        "two": ({"class_names": ["a", "b"]}, "names 2 classes"),
        "task": ({"task": "segmentation"}, "says its task is segmentation but its model outputs one score per class"),
    }
    for name, (change, fragment) in cases.items():
        path = save_checkpoint(tmp_path / f"{name}.pt", {**base, **change})
        assert_clean_error(cli("predict", path, root / "img.png", "--json"), f"{name}.pt", fragment)
    r = cli("predict", tmp_path / "six.pt", root / "img.png", "--classes", "w,x,y,z", "--json")
    assert r.exit_code == 0 and r.json()["predictions"][0]["top"][0]["class"] in "wxyz"
    nan_sd = {**model.state_dict(), "features.conv2.weight": torch.full((64, 32, 5, 5), float("inf"))}
    torch.save(nan_sd, tmp_path / "inf.pt")
    assert_clean_error(cli("visualize", "filters", tmp_path / "inf.pt"), "inf.pt", "features.conv2.weight")


def test_python_load_of_a_state_dict(files):
    import cnnkit

    root, model = files
    p = cnnkit.load(root / "dataparallel.pt", classes=["a", "b", "c", "d"], device="cpu")
    assert p.class_names == ["a", "b", "c", "d"] and p.input_shape == (3, 32, 32)
    probs = _probabilities(model, root / "img.png")
    assert p.predict(root / "img.png")["top"][0]["probability"] == pytest.approx(float(probs.max()), abs=1e-5)


def test_a_students_own_class_through_model(cli, tmp_path):
    """The seeds' Net1 trained in its own loop: --model my_net.py:Net1 with its options; the
    classes come from the weights (4 here, the constructor's default is 10)."""
    import importlib.util
    from pathlib import Path

    source = Path(__file__).parents[1] / "models" / "student" / "my_net.py"
    spec = importlib.util.spec_from_file_location("student_net", source)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    torch.manual_seed(1)
    net = mod.Net1(num_classes=4, width=8).eval()
    torch.save({"epoch": 2, "model_state_dict": net.state_dict()}, tmp_path / "ckpt.pt")
    img = tmp_path / "img.png"
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(img)
    r = cli("predict", tmp_path / "ckpt.pt", img, "--model", f"{source}:Net1", "--opt", "width=8", "--json")
    assert r.exit_code == 0, r.stderr
    probs = _probabilities(net, img)
    top = r.json()["predictions"][0]["top"]
    assert len(top) == 4 and top[0]["probability"] == pytest.approx(float(probs.max()), abs=1e-5)
    r = cli("predict", tmp_path / "ckpt.pt", img, "--model", f"{source}:Net1")  # width 32 by default: does not fit
    assert_clean_error(r, "size mismatch for feature_extractor.0.weight: checkpoint 8x3x5x5, model 32x3x5x5")


def test_deconv_and_maximize_on_a_state_dict_say_what_they_assumed(cli, files, tmp_path):
    """Every figure on bare weights says the normalisation it assumed, as features and predict
    do; and a maximize that cannot search training images (none recorded) says so."""
    root, _ = files
    r = cli("visualize", "deconv", root / "bare.pt", root / "img.png", "--layer", "features.act2", "--channel", "0",
            "--out", tmp_path / "d.png", "--json")
    assert r.exit_code == 0, r.stderr
    assert any("no normalisation recorded" in n for n in r.json()["notes"])
    r = cli("visualize", "maximize", root / "bare.pt", "--layer", "features.act2", "--channels", "0-1", "--steps", "2",
            "--out", tmp_path / "m.png", "--json")
    assert r.exit_code == 0, r.stderr
    notes = r.json()["notes"]
    assert any("no normalisation recorded" in n for n in notes) and any("no training images" in n for n in notes)
    assert r.json()["top_images"] == []
    r = cli("visualize", "maximize", root / "bare.pt", "--class", "1", "--steps", "2", "--seeds", "1", "--out", tmp_path / "c.png")
    assert r.exit_code == 0, r.stderr
    assert "no training images" in r.stdout


def test_deconv_and_maximize_search_a_given_dataset(cli, files, tmp_path):
    """--dataset gives bare weights the images to search: the top rows come from it."""
    root, _ = files
    r = cli("visualize", "deconv", root / "bare.pt", "--layer", "features.act2", "--channel", "0", "--top", "2",
            "-d", "shapes:n=40", "--data-dir", tmp_path / "data", "--out", tmp_path / "d.png", "--json")
    assert r.exit_code == 0, r.stderr
    assert [i["path"][:5] for i in r.json()["images"]] == ["test[", "test["]
    r = cli("visualize", "maximize", root / "bare.pt", "--layer", "features.act2", "--channels", "0-1", "--steps", "2",
            "-d", "shapes:n=40", "--data-dir", tmp_path / "data", "--out", tmp_path / "m.png", "--json")
    assert r.exit_code == 0, r.stderr
    tops = r.json()["top_images"]
    assert [t["channel"] for t in tops] == [0, 1] and all(t["class_name"] in ("circle", "square", "triangle", "cross") for t in tops)
    notes = r.json()["notes"]
    assert not any("no training images" in n for n in notes)
    # the dataset also names what the weights lack, as evaluate's --dataset does: not "0..3" and "a guess"
    assert "class names from shapes:n=40" in notes and not any("using 0.." in n for n in notes), notes
    assert any("(shapes:n=40's images)" in n for n in notes if n.startswith("no input size")) or \
        not any(n.startswith("no input size") for n in notes), notes
    assert_clean_error(cli("visualize", "deconv", root / "bare.pt", "--layer", "features.act2", "--channel", "0"),
                       "IMAGE", "--dataset")


def test_a_mean_or_std_of_the_wrong_length_is_one_line_naming_the_channels(cli, files):
    """Two values for a 3-channel network: refused when the network is known (it used to crash in
    normalisation with a tensor-size RuntimeError), from the commands and from Python alike."""
    import cnnkit

    root, _ = files
    for argv in (["evaluate", root / "bare.pt", "-d", "shapes:n=40", "--mean", "0.5,0.5", "--std", "0.2,0.2,0.2"],
                 ["predict", root / "bare.pt", root / "img.png", "--std", "0.2,0.2"]):
        assert_clean_error(cli(*argv), "has 2 values", "3-channel images", "0.5,0.5,0.5")
    with pytest.raises(CnnkitError, match="--mean has 2 values"):
        cnnkit.load(root / "bare.pt", mean=[0.5, 0.5])
