"""`cnnkit summary` numbers against independent oracles: torchinfo (parameters) and
torch.utils.flop_counter (conv/linear FLOPs)."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn as nn
import torchvision
from torch.utils.flop_counter import FlopCounterMode

from cnnkit.arith.spec import analyse
from cnnkit.model_summary import collapse, summarize
from cnnkit.registry import create_model, get_spec, list_models

torchinfo = pytest.importorskip("torchinfo")

# CNN classifiers of torchvision that build offline and run at 64x64 in a moment.
TV_MODELS = ["resnet18", "resnet50", "mobilenet_v2", "mobilenet_v3_small", "squeezenet1_1", "shufflenet_v2_x0_5",
             "densenet121", "efficientnet_b0", "mnasnet0_5", "regnet_x_400mf", "googlenet", "alexnet", "vgg11_bn",
             "resnext50_32x4d", "wide_resnet50_2", "convnext_tiny"]


def conv_linear_flops(model, shape) -> int:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.eval()(torch.zeros(1, *shape))
    counts = counter.get_flop_counts()["Global"]
    # ops print as "aten.convolution", "aten.mm" or "aten.addmm.default": compare the op name itself
    return sum(v for op, v in counts.items() if "conv" in str(op).split(".")[1] or str(op).split(".")[1] in ("mm", "addmm", "bmm"))


@pytest.mark.parametrize("name", TV_MODELS)
def test_torchvision_models_match_torchinfo_and_flop_counter(name):
    kwargs = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
    model = torchvision.models.get_model(name, weights=None, **kwargs)
    shape = (3, 64, 64)
    s = summarize(model, shape)
    # device="cpu": on a GPU machine torchinfo would move the model to CUDA and the CPU oracle below would fail
    info = torchinfo.summary(model, input_size=(1, *shape), verbose=0, device="cpu")
    assert s.total_params == info.total_params
    assert s.trainable_params == info.trainable_params
    assert 2 * s.total_macs == conv_linear_flops(model, shape)


@pytest.mark.parametrize("name", list_models())
def test_registered_models_flops_match_flop_counter(name):
    spec = get_spec(name)
    model = create_model(name)
    assert 2 * summarize(model, spec.input_shape).total_macs == conv_linear_flops(model, spec.input_shape)


def test_shared_modules_counted_once():
    relu = nn.ReLU()
    lin = nn.Linear(4, 4)
    model = nn.Sequential(lin, relu, lin, relu)  # the same Linear twice
    s = summarize(model, (4,))
    assert s.total_params == 20
    assert sum(r.params for r in s.rows) == 20
    assert [r.shared for r in s.rows] == [False, False, True, True]


def test_frozen_parameters_reported():
    s = summarize(create_model("resnet18-cifar", freeze=True), (3, 32, 32))
    assert s.trainable_params == 512 * 10 + 10
    assert s.total_params - s.trainable_params == 11_173_962 - 5130


def _gradient_oracle_model(model: nn.Module) -> nn.Module:
    """A copy whose every derivative is positive, so a zero gradient means "not connected".

    Max pooling routes its gradient to one pixel per window, so it becomes an average pool
    of the same geometry (the window is what the output depends on); positive weights and
    inputs keep every ReLU open and nothing cancels.
    """
    oracle = copy.deepcopy(model).double().eval()
    for name, m in list(oracle.named_modules()):
        if isinstance(m, nn.MaxPool2d):
            assert m.dilation in (1, (1, 1))
            parent = oracle.get_submodule(name.rpartition(".")[0]) if "." in name else oracle
            setattr(parent, name.rpartition(".")[2], nn.AvgPool2d(m.kernel_size, m.stride, m.padding, m.ceil_mode))
    with torch.no_grad():
        for p in oracle.parameters():
            p.fill_(1.0 / p[0].numel() if p.dim() > 1 else 0.5)
    return oracle


def gradient_rf(model: nn.Module, shape, names: list[str]) -> dict[str, tuple[int, ...]]:
    """Per named module: the largest input footprint of any output position, per spatial axis.

    Along axis a, the footprint of index o is the extent of the input pixels reached by the
    gradient of every output unit at that index (union over the other axes and channels:
    the extent along a does not depend on them).
    """
    oracle = _gradient_oracle_model(model)
    outs = {}
    handles = [oracle.get_submodule(n).register_forward_hook(lambda m, i, o, n=n: outs.__setitem__(n, o))
               for n in names]
    x = torch.rand(1, *shape, dtype=torch.float64) + 0.5
    x.requires_grad_(True)
    oracle(x)
    for h in handles:
        h.remove()
    result = {}
    for name, y in outs.items():
        sizes = []
        for a in range(y.dim() - 2):
            n = y.shape[2 + a]
            # one backward per index o, batched: grad_outputs[o] is 1 on the slice y[..., o, ...]
            seeds = torch.zeros(n, *y.shape, dtype=y.dtype)
            for o in range(n):
                seeds[o].select(2 + a, o).fill_(1.0)
            (g,) = torch.autograd.grad(y, x, seeds, retain_graph=True, is_grads_batched=True)
            reach = g.abs().sum(dim=[d for d in range(1, g.dim()) if d != 3 + a])  # (n, input size along a)
            widest = 0
            for row in reach:
                hit = row.nonzero().flatten()
                widest = max(widest, int(hit.max() - hit.min() + 1) if len(hit) else 0)
            sizes.append(widest)
        result[name] = tuple(sizes)
    return result


@pytest.mark.parametrize("name, shape, kwargs", [
    ("convnet", (3, 32, 32), {"widths": (4, 8, 8)}),
    ("lenet5", (1, 28, 28), {}),
    ("resnet18-cifar", (3, 16, 16), {}),  # residual adds: the union over both paths
    ("fcn", (3, 32, 32), {"widths": (4, 8, 8, 8)}),  # transposed convs
    ("unet", (1, 32, 32), {"base_width": 4, "upsampling": "bilinear"}),  # skip concatenation, upsampling
    ("unet", (1, 16, 16), {"base_width": 4, "depth": 2, "upsampling": "transpose"}),
    ("unet", (1, 14, 14), {"base_width": 4, "depth": 2, "upsampling": "nearest"}),  # replicate-padded up to 16
])
def test_receptive_field_is_the_gradient_footprint(name, shape, kwargs):
    model = create_model(name, **kwargs)
    s = summarize(model, shape)
    calls = {}
    for r in s.rows:
        calls[r.name] = calls.get(r.name, 0) + 1
    rows = [r for r in s.rows if r.depth <= 2 and calls[r.name] == 1 and r.output_shape and len(r.output_shape) > 2]
    oracle = gradient_rf(model, shape, [r.name for r in rows])
    assert rows and all(r.receptive_field is not None for r in rows)
    assert {r.name: r.receptive_field for r in rows} == oracle


def test_receptive_field_agrees_with_layers():
    """`cnnkit summary` and `cnnkit layers` give one number for the same net (adaptive pooling, upsampling)."""
    spec = "1x30x30 | conv 2 k3 s2 | maxpool 2 ceil | upsample 2 bilinear | conv 2 k3 p1 | gap 3"
    model = nn.Sequential(nn.Conv2d(1, 2, 3, 2), nn.MaxPool2d(2, ceil_mode=True),
                          nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                          nn.Conv2d(2, 2, 3, padding=1), nn.AdaptiveAvgPool2d(3))
    s = summarize(model, (1, 30, 30))
    layers = analyse(spec)
    assert [r.output_shape[1:] for r in s.rows] == [list(r.output_shape) for r in layers.rows]
    assert [r.receptive_field for r in s.rows] == [tuple(int(v) for v in r.receptive_field) for r in layers.rows]
    assert [r.textbook_rf for r in s.rows] == [r.textbook_rf for r in layers.rows]
    assert gradient_rf(model, (1, 30, 30), [str(len(model) - 1)])[str(len(model) - 1)] == s.rows[-1].receptive_field


def test_receptive_field_capped_at_the_image_and_undefined_after_linear():
    s = summarize(create_model("convnet"), (3, 32, 32))
    rf = {r.name: r.receptive_field for r in s.rows}
    assert rf["features.conv1"] == (5, 5)
    # the textbook formula says 36 for pool3; its widest position reaches 30 real pixels
    assert rf["features.pool3"] == (30, 30)
    assert rf["classifier.fc1"] is None
    textbook = {r.name: r.textbook_rf for r in s.rows}
    assert textbook["features.conv1"] == (5, 5) and textbook["features.pool3"] == (36, 36)  # both, side by side
    assert s.as_dict()["layers"][-1]["textbook_receptive_field"] is None


def test_textbook_rf_follows_the_longest_path_of_a_resnet():
    """ResNet-18 (CIFAR stem): 3 + 4·2 (layer1) + 2+3·4 (layer2) + 4+3·8 (layer3) + 8+3·16 (layer4) = 109,
    the main path, not the 1x1 shortcut; the global pool adds (4-1)·8. On 32x32 the clipped field is the image."""
    s = summarize(create_model("resnet18-cifar"), (3, 32, 32))
    row = {r.name: r for r in s.rows}
    assert row["layer4"].textbook_rf == (109, 109) and row["layer4"].receptive_field == (32, 32)
    assert row["layer1"].textbook_rf == (11, 11) and row["avgpool"].textbook_rf == (133, 133)


def test_depth_collapses_to_top_level_blocks():
    model = create_model("resnet18")
    s = summarize(model, (3, 224, 224))
    names = [r.name for r in collapse(s, 1)]
    assert names == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"]
    top = {r.name: r for r in collapse(s, 1)}
    assert sum(r.macs for r in top.values()) == s.total_macs
    assert top["layer1"].params == sum(p.numel() for p in model.layer1.parameters())
