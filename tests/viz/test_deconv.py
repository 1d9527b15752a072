"""Deconvnet (Zeiler & Fergus) and guided backprop of one unit: against hand-written
backward rules, zero outside the unit's receptive field (derived by hand), and the command."""

import torch
import torch.nn as nn

from cnnkit.viz.deconv import mask_box, project, receptive_mask, strongest


def tiny():
    torch.manual_seed(0)
    # RF of a unit (i, j) of layer "3" (6x6 map): conv k3 p1 -> pool 2 -> conv k3 p1: input rows 2i-3 .. 2i+4
    return nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 5, 3, padding=1), nn.ReLU()).eval()


def by_hand(model, x, layer, unit, rule):
    """The unit's gradient w.r.t. x with every ReLU's backward replaced by `rule`."""
    net = __import__("copy").deepcopy(model)
    for m in net.modules():
        if isinstance(m, nn.ReLU):
            m.register_full_backward_hook(lambda mod, gin, gout: (rule(gin[0], gout[0]),))
    store = {}
    dict(net.named_modules())[layer].register_forward_hook(lambda _m, _i, y: store.__setitem__("y", y))
    x = x.clone().requires_grad_(True)
    net(x)
    store["y"][(0, *unit)].backward()
    return x.grad[0]


def test_receptive_mask_is_the_hand_derived_window():
    model = tiny()
    assert mask_box(receptive_mask(model, (3, 12, 12), "3", 2, (2, 3))) == [1, 3, 8, 10]  # rows 1..8, columns 3..10
    assert mask_box(receptive_mask(model, (3, 12, 12), "3", 0, (0, 0))) == [0, 0, 4, 4]  # clipped at the border
    assert receptive_mask(model, (3, 12, 12), "3", 2, (2, 3)).sum() == 8 * 8


def test_projections_equal_the_backward_rules_and_vanish_outside_the_receptive_field():
    model = tiny()
    x = torch.randn(1, 3, 12, 12)
    value, where = strongest(model, x, "4", 1)
    with torch.no_grad():
        fmap = model[:5](x)[0, 1]
    assert float(value[0]) == float(fmap.max()) and fmap[tuple(where[0].tolist())] == fmap.max()
    unit = (1, *where[0].tolist())
    maps = project(model, x, "4", 1, where[0].tolist())
    deconv = by_hand(model, x, "4", unit, lambda gin, gout: gout.clamp(min=0))  # ReLU of the signal going down
    guided = by_hand(model, x, "4", unit, lambda gin, gout: gin.clamp(min=0))  # and the forward mask too
    assert torch.allclose(maps["deconvolution"], deconv, atol=1e-6)
    assert torch.allclose(maps["guided-backprop"], guided, atol=1e-6)
    inside = receptive_mask(model, (3, 12, 12), "4", 1, where[0].tolist())
    for m in maps.values():
        assert m.abs().sum(0)[~inside].max() == 0 and m.abs().sum() > 0


def test_deconv_command_on_the_top_test_images(cli, tmp_path):
    from PIL import Image

    from tests.conftest import assert_clean_error

    r = cli("train", "convnet", "-d", "shapes:n=80,size=16", "--epochs", "1", "-o", tmp_path / "c", "--opt", "widths=(8,16)",
            "-q", "--data-dir", tmp_path / "data")
    assert r.exit_code == 0, r.stderr
    ckpt = tmp_path / "c" / "best.pt"
    r = cli("visualize", "deconv", ckpt, "--layer", "features.act2", "--channel", "3", "--top", "3", "--data-dir",
            tmp_path / "data", "--out", tmp_path / "d.png", "--json")
    assert r.exit_code == 0, r.stderr
    info = r.json()
    values = [i["value"] for i in info["images"]]
    assert len(values) == 3 and values == sorted(values, reverse=True) and info["split"] == "test"
    # built-in data has no files: each image is named by the split it came from (the figure's row titles)
    assert all(i["path"].startswith("test[") for i in info["images"]), info["images"]
    for row in info["images"]:
        top, left, bottom, right = row["receptive_field"]
        assert 0 <= top <= bottom < 16 and 0 <= left <= right < 16
    assert Image.open(tmp_path / "d.png").size[1] > 3 * 200  # one row per image
    img = tmp_path / "one.png"
    Image.new("RGB", (16, 16), (200, 30, 30)).save(img)
    r = cli("visualize", "deconv", ckpt, img, "--layer", "features.act2", "--channel", "0", "--out", tmp_path / "e.png", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["images"][0]["path"] == str(img) and r.json()["split"] is None
    assert_clean_error(cli("visualize", "deconv", ckpt, "--layer", "features.act2", "--channel", "99"), "out of range", "0..15")
    assert_clean_error(cli("visualize", "deconv", ckpt, "--channel", "1"), "--layer")
    assert_clean_error(cli("visualize", "deconv", ckpt, "--layer", "features.nope", "--channel", "1"), "features.act2")


def test_deconvnet_ignores_the_forward_relu_mask_and_guided_backprop_keeps_it():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Conv2d(3, 6, 3, padding=1), nn.ReLU(), nn.Conv2d(6, 4, 3, padding=1), nn.ReLU()).eval()
    x = torch.randn(1, 3, 8, 8)
    _, where = strongest(model, x, "3", 2)
    maps = project(model, x, "3", 2, where[0].tolist())
    deconv = by_hand(model, x, "3", (2, *where[0].tolist()), lambda gin, gout: gout.clamp(min=0))
    assert torch.allclose(maps["deconvolution"], deconv, atol=1e-6)
    assert not torch.allclose(maps["deconvolution"], maps["guided-backprop"])  # where conv 1 was negative they differ
