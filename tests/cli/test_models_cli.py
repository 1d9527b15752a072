"""`cnnkit models` and `cnnkit summary` through the CLI."""

from __future__ import annotations

import pytest

from cnnkit.registry import list_models
from tests.conftest import assert_clean_error


def test_models_json(cli):
    data = cli("models", "--json").json()
    names = [m["name"] for m in data["models"]]
    assert names == list_models()
    for m in data["models"]:
        assert {"name", "task", "input_shape", "num_classes"} <= set(m)


def test_models_filter(cli):
    data = cli("models", "--task", "segmentation", "--json").json()
    assert [m["name"] for m in data["models"]] == ["fcn", "unet"]
    assert "resnet18-cifar" in cli("models", "resnet*").stdout


def test_summary_json(cli):
    data = cli("summary", "convnet", "--json").json()
    assert data["total_params"] == data["trainable_params"] == 390_410
    assert data["layers"][0] == {**data["layers"][0], "name": "features.conv1", "output_shape": [1, 32, 32, 32], "params": 2432}


def test_summary_adapts_input_size(cli):
    data = cli("summary", "convnet", "--input", "1x64x64", "--json").json()
    assert data["layers"][0]["params"] == (5 * 5 * 1 + 1) * 32
    assert [ly for ly in data["layers"] if ly["name"] == "classifier.fc1"][0]["params"] == (128 * 8 * 8 + 1) * 64


def test_summary_options_and_table(cli):
    r = cli("summary", "unet", "--opt", "depth=2", "--opt", "base_width=8", "--input", "3x40x40", "--classes", "3")
    assert r.exit_code == 0 and "3x40x40" in r.stdout and "params:" in r.stdout


@pytest.mark.parametrize("args, fragment", [
    (["summary", "resnt18"], "did you mean resnet18"),
    (["summary", "convnet", "--input", "3x32"], "C x H x W"),
    (["summary", "convnet", "--input", "3x4x4"], "empty"),
    (["summary", "lenet5", "--input", "1x4x4"], "lenet5"),
    (["summary", "convnet", "--input", "3x32x16"], "square"),
    (["summary", "unet", "--opt", "depht=3"], "no option depht"),
    (["summary", "unet", "--opt", "depth"], "key=value"),
    (["models", "--task", "detection"], "unknown task"),
])
def test_bad_input(cli, args, fragment):
    assert_clean_error(cli(*args), fragment)
