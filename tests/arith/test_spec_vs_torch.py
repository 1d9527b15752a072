"""`cnnkit layers` against the equivalent torch model.

Random specs are drawn by hypothesis, parsed by cnnkit, then built as a real
torch.nn model from the parsed hyper-parameters. Output shapes must equal the
real forward pass, parameter totals sum(p.numel()), and MACs the conv/linear
FLOPs that torch.utils.flop_counter counts (FLOPs = 2 x MACs).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn as nn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

from cnnkit.arith.spec import analyse, parse_spec, training_memory
from cnnkit.errors import CnnkitError, GeometryError, SpecError

ACT = {"relu": nn.ReLU, "elu": nn.ELU, "leakyrelu": nn.LeakyReLU, "gelu": nn.GELU, "sigmoid": nn.Sigmoid,
       "tanh": nn.Tanh, "silu": nn.SiLU, "identity": nn.Identity}


def build_torch(spec: str) -> tuple[nn.Module, tuple[int, ...]]:
    """The torch model a spec describes (test oracle, independent of cnnkit's arithmetic)."""
    shape, layers = parse_spec(spec)
    mods = []
    c = shape[0]
    spatial = len(shape) - 1
    for L in layers:
        if L.kind in ("conv", "convT"):
            pads = L.padding
            if isinstance(pads, tuple) and pads and pads[0][0] != pads[0][1]:
                raise NotImplementedError
            pad = pads if isinstance(pads, str) else tuple(p for p, _ in pads) if len(pads) > 1 else pads[0][0]
            kw = dict(kernel_size=L.kernel if len(L.kernel) > 1 else L.kernel[0], stride=L.stride[0] if L.stride else 1,
                      padding=pad, dilation=L.dilation[0], groups=L.groups, bias=L.bias)
            if L.kind == "conv":
                mods.append(nn.Conv2d(c, L.out_channels, **kw))
            else:
                mods.append(nn.ConvTranspose2d(c, L.out_channels, output_padding=L.output_padding[0], **kw))
            c = L.out_channels
        elif L.kind == "maxpool":
            mods.append(nn.MaxPool2d(L.kernel[0], L.stride[0] if L.stride else None, L.padding[0][0] if L.padding else 0,
                                     ceil_mode=L.ceil_mode))
        elif L.kind == "avgpool":
            mods.append(nn.AvgPool2d(L.kernel[0], L.stride[0] if L.stride else None, L.padding[0][0] if L.padding else 0,
                                     ceil_mode=L.ceil_mode))
        elif L.kind == "gap":
            mods.append(nn.AdaptiveAvgPool2d(L.pool_output[0]))
        elif L.kind in ("bn", "bn2d", "bn1d"):
            mods.append(nn.BatchNorm2d(c) if spatial else nn.BatchNorm1d(c))
        elif L.kind in ACT:
            mods.append(ACT[L.kind]())
        elif L.kind == "dropout":
            mods.append(nn.Dropout(L.p))
        elif L.kind == "flatten":
            mods.append(nn.Flatten())
            spatial = 0
        elif L.kind == "linear":
            mods.append(nn.Linear(c if not mods else _flat_features(shape, mods), L.out_channels, bias=L.bias))
            c = L.out_channels
        elif L.kind == "upsample":
            mods.append(nn.Upsample(scale_factor=L.scale, mode=L.upsample_mode))
        else:
            raise NotImplementedError(L.kind)
    return nn.Sequential(*mods).eval(), shape


def _flat_features(shape, mods) -> int:
    with torch.no_grad():
        return nn.Sequential(*mods).eval()(torch.zeros(1, *shape)).shape[1]


def check_against_torch(spec: str) -> None:
    report = analyse(spec)
    model, shape = build_torch(spec)
    x = torch.zeros(2, *shape)
    # Output shape of every layer, through a real forward pass.
    with torch.no_grad():
        for row, mod in zip(report.rows, model):
            x = mod(x)
            assert tuple(x.shape[1:]) == row.output_shape, (spec, row.layer.text)
    assert report.total_params == sum(p.numel() for p in model.parameters())
    for row, mod in zip(report.rows, model):
        assert row.params == sum(p.numel() for p in mod.parameters()), row.layer.text
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, *shape))
    assert report.total_flops == counter.get_total_flops(), spec


SEED_001 = ("3x32x32 | conv 32 k5 p2 | relu | maxpool 2 | conv 64 k5 p2 | relu | maxpool 2 | "
            "conv 128 k5 p2 | relu | maxpool 2 | flatten | linear 64 | relu | linear 10")
SEED_002 = "3x28x28 | conv 64 k5 | conv 32 k5 | maxpool 2 | conv 32 k3 | maxpool 2 | flatten | linear 43"
SEED_003 = ("3x32x32 | conv 64 k3 p1 | bn | conv 128 k3 p1 | bn | maxpool 2 | conv 256 k3 p1 | bn | conv 512 k3 p1 | bn"
            " | maxpool 2 | dropout | flatten | linear 2048 | bn1d | relu | linear 1024 | bn1d | relu | linear 512 | bn1d"
            " | relu | linear 100")


@pytest.mark.parametrize("spec", [
    SEED_001, SEED_002, SEED_003,
    "3x64x48 | conv 16 k3x5 s2 p1x2 | elu | maxpool 3 s2 p1 ceil | conv 32 k3 d2 g4 nobias | gap | flatten | linear 7",
    "1x17x17 | conv 8 k3 psame | avgpool 3 s2 ceil | convT 4 k3 s2 p1 op1 | upsample 2 bilinear | conv 2 k1",
    "64 | linear 32 | bn | relu | dropout 0.2 | linear 10",
])
def test_examples_against_torch(spec):
    check_against_torch(spec)


def test_seed_001_parameter_count_matches_students_sum():
    # Seed 001, task 5: 2432 + 51264 + 204928 + 131136 + 650 = 390410.
    report = analyse(SEED_001)
    params = [r.params for r in report.rows if r.params]
    assert params == [2432, 51264, 204928, 131136, 650]
    assert report.total_params == 390410


def test_seed_002_features_into_last_layer():
    # Seed 002, 1.1.2: the feature map before the classifier is 32x4x4 = 512.
    report = analyse(SEED_002)
    assert report.rows[-3].output_shape == (32, 4, 4)
    assert report.rows[-1].input_shape == (512,)


def test_seed_003_totals_match_torchsummary_table():
    # Seed 003 prints torchsummary's table: 71,345,252 parameters in all.
    report = analyse(SEED_003)
    assert report.total_params == 71_345_252
    assert [r.params for r in report.rows if r.params][:4] == [1792, 128, 73856, 256]


layer_text = st.sampled_from([
    "conv {c} k{k} s{s} p{p}", "conv {c} k{k} d{d} psame", "conv {c} k{k} s{s} p{p} nobias",
    "maxpool {k} s{s} p{hp}", "maxpool {k} s{s} p{hp} ceil", "avgpool {k} s{s} p{hp} ceil", "avgpool {k}",
    "bn", "relu", "elu", "tanh", "dropout 0.1", "convT {c} k{k} s{s} p{p} op{op}", "upsample 2", "gap",
])


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(
    st.integers(1, 4), st.integers(4, 40), st.integers(4, 40),
    st.lists(st.tuples(layer_text, st.integers(1, 8), st.integers(1, 5), st.integers(1, 3), st.integers(0, 3),
                       st.integers(1, 2), st.integers(0, 2)), min_size=1, max_size=6),
    st.booleans(), st.integers(1, 12),
)
def test_random_specs_against_torch(c, h, w, layers, head, classes):
    parts = [f"{c}x{h}x{w}"]
    for text, ch, k, s, p, d, op in layers:
        if "psame" in text:
            s = 1
        parts.append(text.format(c=ch, k=k, s=s, p=p, hp=min(p, k // 2), d=d, op=min(op, s - 1)))
    if head:
        parts += ["flatten", f"linear {classes}"]
    spec = " | ".join(parts)
    try:
        analyse(spec)
    except GeometryError:
        # cnnkit refuses it: torch must raise, or some layer must give an empty output (a
        # transposed conv of 0 pixels returns an empty tensor, and a linear head after it
        # still gives its bias, so only the layer itself shows it)
        with pytest.raises(RuntimeError), torch.no_grad():
            model, shape = build_torch(spec)
            x = torch.zeros(1, *shape)
            for layer in model:
                x = layer(x)
                if x.numel() == 0:
                    raise RuntimeError("empty") from None
        return
    check_against_torch(spec)


def test_receptive_field_of_two_3x3_convs_is_5():
    report = analyse("1x32x32 | conv 1 k3 | conv 1 k3 | maxpool 2 | conv 1 k3")
    assert [r.receptive_field[0] for r in report.rows] == [3, 5, 6, 10]
    assert [r.jump[0] for r in report.rows] == [1, 1, 2, 2]


def test_receptive_field_against_gradient():
    """The RF is the set of input pixels with non-zero gradient for the centre output."""
    # avgpool, not maxpool: max pooling routes the gradient to one pixel per window.
    spec = "1x33x33 | conv 1 k3 s2 | conv 1 k3 d2 | avgpool 2 | conv 1 k5"
    report = analyse(spec)
    model, shape = build_torch(spec)
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.constant_(m.weight, 1.0)
    x = torch.ones(1, *shape, requires_grad=True)
    y = model(x)
    y[0, 0, y.shape[2] // 2, y.shape[3] // 2].backward()
    rows = (x.grad[0, 0].abs().sum(1) > 0).nonzero()
    assert rows.max().item() - rows.min().item() + 1 == report.rows[-1].receptive_field[0]


def test_memory_estimate_adds_up():
    report = analyse(SEED_001)
    mem = training_memory(report, batch=64, optimizer="adam")
    p = 390410 * 4
    assert mem["params"] == mem["grads"] == p and mem["optimizer_state"] == 2 * p
    assert mem["activations"] == report.activation_elements() * 64 * 4
    assert mem["total"] == sum(v for k, v in mem.items() if k != "total")
    assert report.activation_elements() > math.prod((3, 32, 32))


@pytest.mark.parametrize("spec, fragment", [
    ("", "empty spec"),
    ("3x32x32 | conv", "output channels"),
    ("3x32x32 | frobnicate 3", "unknown layer"),
    ("3x32x32 | linear 10", "add 'flatten'"),
    ("3x32x32 | flatten | conv 8", "before 'flatten'"),
    ("3x8x8 | conv 8 k9", "kernel spans 9"),
    ("3x8x8 | conv 8 g2", "groups"),
    ("3x8x8 | maxpool 2 p2", "padding"),
    ("3x8x8 | conv 8 k3 s2 psame", "strided"),
    ("3x8x8 | dropout 1.5", "[0, 1)"),
    ("axb | relu", "whole number"),
    ("3x8x8 | | relu", "empty"),
])
def test_bad_specs_are_clear_errors(spec, fragment):
    with pytest.raises(CnnkitError) as err:
        analyse(spec)
    assert fragment.lower() in str(err.value).lower()
    assert isinstance(err.value, (SpecError, GeometryError))


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(
    st.integers(1, 3), st.integers(6, 30), st.integers(6, 30),
    st.lists(st.tuples(st.sampled_from([
        "conv {c} k{k} s{s} p{p} d{d}", "conv {c} k{k}x{k2} s{s}x1 p{p}x0", "conv {c} k{k} psame", "convT {c} k{k} s{s} p{p} op{op}",
        "maxpool {k} s{s} p{hp} d{d}", "maxpool {k} p{hp} ceil", "avgpool {k} s{s} p{hp} ceil", "gap {m}x{m2}",
        "upsample 2 bilinear", "upsample 3", "bn", "relu", "dropout2d 0.2"]),
        st.integers(1, 6), st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(0, 2), st.integers(1, 2),
        st.integers(1, 4), st.integers(1, 4)), min_size=1, max_size=5),
)
def test_module_column_is_pytorch_code_that_gives_the_shapes(c, h, w, layers):
    """The `module` of every row, run as PyTorch code, produces the row's output shape."""
    parts = [f"{c}x{h}x{w}"]
    for text, ch, k, k2, s, p, d, m, m2 in layers:
        parts.append(text.format(c=ch, k=k, k2=k2, s=s, p=p, hp=min(p, k // 2), d=d, op=min(p, max(s, d) - 1), m=m, m2=m2))
    spec = " | ".join(parts)
    try:
        report = analyse(spec)
    except GeometryError:
        return
    x = torch.zeros(1, *report.input_shape)
    with torch.no_grad():
        for row in report.rows:
            module = eval(f"nn.{row.module}", {"nn": nn})
            x = module.eval()(x)
            assert tuple(x.shape[1:]) == row.output_shape, (spec, row.module)


def test_a_transposed_conv_of_zero_pixels_is_refused_though_torch_returns_an_empty_tensor():
    spec = "1x3x3 | convT 1 k4 s1 p3 op0 | flatten | linear 1"
    with pytest.raises(GeometryError, match="0 pixels"):
        analyse(spec)
    model, shape = build_torch(spec)
    with torch.no_grad():
        assert model[0](torch.zeros(1, *shape)).shape == (1, 1, 0, 0)  # torch: no error, nothing out
