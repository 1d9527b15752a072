"""Attribution maps on tiny models whose answer is known, and the CLI figure."""

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

from cnnkit.errors import CnnkitError
from cnnkit.viz.attribution import attribute, patched_copy
from tests.viz.test_filters_curves import _not_blank


def _linear_model():
    """Class 1's score is +x[0, 0] - x[3, 3]; class 0's is 0."""
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 2, bias=False))
    with torch.no_grad():
        model[1].weight.zero_()
        model[1].weight[1, 0] = 1.0
        model[1].weight[1, 15] = -1.0
    return model


@pytest.mark.parametrize("method", ["saliency", "integrated-gradients", "occlusion"])
def test_pixel_methods_find_the_two_pixels_with_their_signs(method):
    x = torch.full((1, 1, 4, 4), 0.5)
    result = attribute(_linear_model(), x, method, target=1)
    amap = result["map"]
    assert amap.shape == (4, 4) and result["map_size"] == (4, 4)
    assert amap[0, 0] > 0 and amap[3, 3] < 0  # sign of each pixel's effect on the score
    rest = amap.clone()
    rest[0, 0] = rest[3, 3] = 0
    if method != "occlusion":  # occlusion windows cover neighbours too
        assert rest.abs().max() < 1e-6


def test_gradcam_points_at_the_bright_region():
    model = nn.Sequential(nn.Conv2d(1, 1, 1, bias=False), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(1, 2, bias=False))
    with torch.no_grad():
        model[0].weight.fill_(1.0)
        model[4].weight.copy_(torch.tensor([[-1.0], [1.0]]))
    x = torch.zeros(1, 1, 8, 8)
    x[0, 0, 5, 2] = 3.0
    result = attribute(model, x, "gradcam", target=1, layer="1")
    cam = result["map"]
    assert cam.shape == (8, 8) and result["map_size"] == (8, 8) and (cam >= 0).all()
    assert divmod(int(cam.argmax()), 8) == (5, 2)


def test_patched_copy_splits_reused_and_in_place_relus():
    from cnnkit.registry import create_model

    model = create_model("resnet18-cifar", num_classes=4).eval()
    patched = patched_copy(model)
    relus = [m for m in patched.modules() if isinstance(m, nn.ReLU)]
    assert relus and not any(m.inplace for m in relus)
    assert len(relus) > sum(isinstance(m, nn.ReLU) for m in model.modules())  # each BasicBlock's relu used twice
    x = torch.randn(2, 3, 32, 32)
    assert torch.allclose(patched(x), model(x), atol=1e-5)
    assert any(m.inplace for m in model.modules() if isinstance(m, nn.ReLU))  # the original is untouched


def test_attribution_command(cli, tmp_path):
    img = tmp_path / "x.png"
    Image.fromarray((np.random.default_rng(0).random((16, 16, 3)) * 255).astype(np.uint8)).save(img)
    r = cli("train", "convnet", "-d", "shapes:n=80,size=16", "--epochs", "1", "-o", tmp_path / "c", "--opt", "widths=(8,16)", "-q")
    assert r.exit_code == 0, r.stderr
    for method in ("gradcam", "saliency"):
        r = cli("visualize", "attribution", tmp_path / "c" / "best.pt", img, "--method", method, "--out", tmp_path / f"{method}.png", "--json")
        assert r.exit_code == 0, r.stderr
        assert r.json()["method"] == method and 0 <= r.json()["probability"] <= 1
        _not_blank(tmp_path / f"{method}.png", (600, 250))
    r = cli("visualize", "attribution", tmp_path / "c" / "best.pt", img, "--method", "lime")
    assert r.exit_code == 2 and "saliency" in r.stderr
    r = cli("visualize", "attribution", tmp_path / "c" / "best.pt", img, "--target", "9")
    assert r.exit_code == 2 and "not a class index" in r.stderr


def test_guided_methods_refuse_a_network_without_relus_and_differ_from_saliency_with_them():
    tanh = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(32, 2))
    for method in ("guided-backprop", "deconvolution"):
        with pytest.raises(CnnkitError, match="Tanh"):
            attribute(tanh, torch.randn(1, 1, 4, 4), method, target=1)
    torch.manual_seed(0)
    relu = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(64, 2))
    x = torch.randn(1, 1, 4, 4)
    sal = attribute(relu, x, "saliency", target=1)["map"]
    x.requires_grad_(True)
    # guided backprop = the gradient with negative gradients stopped at the ReLU: computed by hand
    pre = relu[0](x)
    mask = (pre > 0).float()
    g_out = torch.autograd.grad(relu[3](relu[2](relu[1](pre)))[0, 1], pre)[0]  # d logit / d relu input, (1, 4, 4, 4)
    guided_pre = (g_out * mask).clamp_min(0)
    expected = torch.autograd.grad(pre, x, guided_pre)[0][0].sum(0)
    gb = attribute(relu, x.detach(), "guided-backprop", target=1)["map"]
    assert torch.allclose(gb, expected, atol=1e-5)
    assert not torch.allclose(gb, sal, atol=1e-4)


def test_auto_gradcam_layer_is_spatial_for_every_classification_model():
    """The chosen layer's map is larger than 1x1 at the model's default input and at 3x32x32
    (torchvision's resnet18 at 32x32: layer4 is 1x1, so layer3)."""
    from cnnkit.registry import create_for_input, get_spec, list_models
    from cnnkit.viz.target_layer import output_shapes, spatial_layer

    checked = 0
    for name in list_models():
        spec = get_spec(name)
        if spec.task != "classification":
            continue
        for shape in {tuple(spec.input_shape), (3, 32, 32)}:
            try:
                with torch.device("meta"):  # shapes only: no weights initialised, no arithmetic done
                    model = create_for_input(name, shape, num_classes=10).eval()
                    x = torch.randn(1, *shape)
            except CnnkitError:  # this model cannot take this input at all
                continue
            layer, hw = spatial_layer(model, x, spec.gradcam_layer)
            actual = dict(output_shapes(model, x))[layer]
            assert actual[2:] == hw and min(hw) > 1, (name, shape, layer, actual)
            checked += 1
            if name == "resnet18" and shape == (3, 32, 32):
                assert layer == "layer3" and hw == (2, 2)
    assert checked >= 10


def test_occlusion_is_the_drop_in_probability_the_title_quotes():
    model = _linear_model()
    x = torch.full((1, 1, 4, 4), 0.5)
    amap = attribute(model, x, "occlusion", target=1)["map"]
    covered = x.clone()
    covered[..., :2, :2] = 0  # the one 2x2 window that covers pixel (0, 0)
    p = lambda t: float(model(t).softmax(1)[0, 1].detach())
    assert abs(float(amap[0, 0]) - (p(x) - p(covered))) < 1e-6


def test_gradcam_is_drawn_from_zero_and_the_overlay_shares_its_scale():
    from cnnkit.viz.attribution import attribution_figure

    image = torch.zeros(3, 8, 8, dtype=torch.uint8)
    cam = torch.rand(8, 8) * 3
    fig = attribution_figure(image, cam, "t", "Grad-CAM (>= 0)", signed=False)
    (map_im,), (over_im,) = fig.axes[1].images, fig.axes[2].images[1:]
    assert map_im.get_clim() == over_im.get_clim() == (0, float(cam.max()))
    signed = torch.randn(8, 8)
    fig = attribution_figure(image, signed, "t", "gradient", signed=True)
    low, high = fig.axes[1].images[0].get_clim()
    assert low == -high == -float(signed.abs().max())
