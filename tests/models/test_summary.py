"""`cnnkit summary` numbers against independent oracles: torchinfo (parameters) and
torch.utils.flop_counter (conv/linear FLOPs)."""

from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torchvision
from torch.utils.flop_counter import FlopCounterMode

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


def test_receptive_field_on_a_chain():
    s = summarize(create_model("convnet"), (3, 32, 32))
    rf = {r.name: r.receptive_field for r in s.rows}
    assert rf["features.conv1"] == (5, 5) and rf["features.pool3"] == (36, 36)
    assert rf["classifier.fc1"] is None


def test_depth_collapses_to_top_level_blocks():
    model = create_model("resnet18")
    s = summarize(model, (3, 224, 224))
    names = [r.name for r in collapse(s, 1)]
    assert names == ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"]
    top = {r.name: r for r in collapse(s, 1)}
    assert sum(r.macs for r in top.values()) == s.total_macs
    assert top["layer1"].params == sum(p.numel() for p in model.layer1.parameters())
