"""visualize features / segmentation: hooks record copies; figures are written."""

import numpy as np
import torch
from PIL import Image

from cnnkit.registry import create_model
from cnnkit.viz.features import feature_maps, top_channels
from tests.viz.test_filters_curves import _not_blank


def test_feature_maps_equal_a_direct_forward_through_the_subnetwork():
    torch.manual_seed(0)
    model = create_model("convnet", widths=(8, 16), kernel_size=3).eval()
    x = torch.randn(1, 3, 32, 32)
    maps = feature_maps(model, x, ["features.conv1", "features.pool2"])
    assert torch.allclose(maps["features.conv1"], model.features.conv1(x)[0])
    assert torch.allclose(maps["features.pool2"], model.features[:8](x)[0])
    assert top_channels(maps["features.pool2"], 3)[0] == int(maps["features.pool2"].mean(dim=(1, 2)).argmax())


def test_recorded_maps_survive_in_place_relu():
    torch.manual_seed(0)
    model = create_model("resnet18-cifar", num_classes=4).eval()  # torchvision: bn1 is followed by ReLU(inplace=True)
    maps = feature_maps(model, torch.randn(1, 3, 32, 32), ["bn1"])
    assert (maps["bn1"] < 0).any()  # a stored reference would have been clamped to >= 0 by the in-place ReLU


def test_features_and_segmentation_commands(cli, tmp_path):
    img = tmp_path / "x.png"
    Image.fromarray((np.random.default_rng(0).random((16, 16, 3)) * 255).astype(np.uint8)).save(img)
    r = cli("train", "convnet", "-d", "shapes:n=80,size=16", "--epochs", "1", "-o", tmp_path / "c", "--opt", "widths=(8,16)", "-q")
    assert r.exit_code == 0, r.stderr
    r = cli("visualize", "features", tmp_path / "c" / "best.pt", img, "--out", tmp_path / "f.png", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["layers"] == {"features.conv1": [8, 16, 16], "features": [16, 4, 4]}
    _not_blank(tmp_path / "f.png")
    r = cli("train", "unet", "-d", "shapes-seg:n=40,size=16", "--epochs", "1", "-o", tmp_path / "u", "--opt", "base_width=4",
            "--opt", "depth=2", "-q")
    assert r.exit_code == 0, r.stderr
    mask = tmp_path / "m.png"
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(mask)
    r = cli("visualize", "segmentation", tmp_path / "u" / "best.pt", img, "--mask", mask, "--out", tmp_path / "s.png", "--json")
    assert r.exit_code == 0, r.stderr
    assert 0 <= r.json()["pixel_accuracy"] <= 1 and list(r.json()["palette"])[0] == "background" and list(r.json()["palette"])[-1] == "ignored"
    _not_blank(tmp_path / "s.png", (500, 200))
    r = cli("visualize", "segmentation", tmp_path / "c" / "best.pt", img)
    assert r.exit_code == 2 and "segmentation model" in r.stderr
