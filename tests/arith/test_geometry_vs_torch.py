"""Every output-size formula against what PyTorch's layers really produce.

Hypothesis draws thousands of random layer geometries per operator; for each,
cnnkit's answer must equal the shape PyTorch computes, and cnnkit must refuse
exactly the configurations PyTorch refuses (or that give an empty output).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cnnkit.arith.geometry import axis_geometry
from cnnkit.errors import GeometryError

SETTINGS = settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
ax_size = st.integers(1, 24)
ax_kernel = st.integers(1, 7)
ax_stride = st.integers(1, 4)
ax_pad = st.integers(0, 4)
ax_dil = st.integers(1, 3)


def torch_shape(fn) -> tuple[int, ...] | None:
    """Output spatial shape, or None when PyTorch refuses or yields an empty tensor."""
    try:
        with torch.no_grad():
            y = fn()
    except RuntimeError:
        return None
    return None if y.numel() == 0 else tuple(y.shape[2:])


def cnnkit_shape(op, sizes, ks, ss, ps, ds, ceil=False, ops=(0, 0)) -> tuple[int, ...] | None:
    try:
        return tuple(axis_geometry(op, n, k, s, p, d, ceil, o).out for n, k, s, p, d, o in zip(sizes, ks, ss, ps, ds, ops))
    except GeometryError:
        return None


two = lambda strat: st.tuples(strat, strat)  # noqa: E731  (H, W) drawn independently


@SETTINGS
@given(two(ax_size), two(ax_kernel), two(ax_stride), two(ax_pad), two(ax_dil))
def test_conv2d(sizes, ks, ss, ps, ds):
    x = torch.zeros(1, 1, *sizes)
    w = torch.zeros(1, 1, *ks)
    expected = torch_shape(lambda: F.conv2d(x, w, stride=ss, padding=ps, dilation=ds))
    assert cnnkit_shape("conv", sizes, ks, ss, ps, ds) == expected


@SETTINGS
@given(two(ax_size), two(ax_kernel), two(ax_stride), two(st.tuples(ax_pad, ax_pad)), two(ax_dil))
def test_conv2d_asymmetric_padding(sizes, ks, ss, pads, ds):
    x = torch.zeros(1, 1, *sizes)
    w = torch.zeros(1, 1, *ks)
    (pt, pb), (pl, pr) = pads
    expected = torch_shape(lambda: F.conv2d(F.pad(x, (pl, pr, pt, pb)), w, stride=ss, dilation=ds))
    assert cnnkit_shape("conv", sizes, ks, ss, pads, ds) == expected


@pytest.mark.filterwarnings("ignore:Using padding=.same. with even kernel")  # torch notes a padded copy; the shape is what we test
@settings(max_examples=500, deadline=None)
@given(two(ax_size), two(ax_kernel), two(ax_dil))
def test_conv2d_same_padding(sizes, ks, ds):
    x = torch.zeros(1, 1, *sizes)
    w = torch.zeros(1, 1, *ks)
    expected = torch_shape(lambda: F.conv2d(x, w, padding="same", dilation=ds))
    assert cnnkit_shape("conv", sizes, ks, (1, 1), ("same", "same"), ds) == expected == sizes


def test_same_padding_rejects_stride():
    with pytest.raises(ValueError):
        torch.nn.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(GeometryError, match="strided"):
        axis_geometry("conv", 10, 3, 2, "same")


@SETTINGS
@given(two(ax_size), two(ax_kernel), two(st.one_of(st.none(), ax_stride)), two(ax_pad), two(ax_dil), st.booleans())
def test_maxpool2d(sizes, ks, ss, ps, ds, ceil):
    x = torch.zeros(1, 1, *sizes)
    stride = None if None in ss else ss
    expected = torch_shape(lambda: F.max_pool2d(x, ks, stride=stride, padding=ps, dilation=ds, ceil_mode=ceil))
    ss = ss if stride else (None, None)
    assert cnnkit_shape("maxpool", sizes, ks, ss, ps, ds, ceil) == expected


@SETTINGS
@given(two(ax_size), two(ax_kernel), two(ax_stride), two(ax_pad), st.booleans())
def test_avgpool2d(sizes, ks, ss, ps, ceil):
    x = torch.zeros(1, 1, *sizes)
    expected = torch_shape(lambda: F.avg_pool2d(x, ks, stride=ss, padding=ps, ceil_mode=ceil))
    assert cnnkit_shape("avgpool", sizes, ks, ss, ps, (1, 1), ceil) == expected


@SETTINGS
@given(two(ax_size), two(ax_kernel), two(ax_stride), two(ax_pad), two(ax_dil), two(st.integers(0, 3)))
def test_conv_transpose2d(sizes, ks, ss, ps, ds, ops):
    x = torch.zeros(1, 1, *sizes)
    w = torch.zeros(1, 1, *ks)
    expected = torch_shape(
        lambda: F.conv_transpose2d(x, w, stride=ss, padding=ps, output_padding=ops, dilation=ds)
    )
    assert cnnkit_shape("transpose", sizes, ks, ss, ps, ds, False, ops) == expected


def test_ceil_mode_is_not_plain_ceil():
    # 5 pixels, pool 2 stride 2, padding 1: ceil((5+2-2)/2)+1 = 4, but the 4th window
    # would start in the padding, so PyTorch gives 3.
    assert F.max_pool2d(torch.zeros(1, 1, 5, 5), 2, 2, 1, ceil_mode=True).shape[-1] == 3
    assert axis_geometry("maxpool", 5, 2, 2, 1, ceil_mode=True).out == 3


def test_readme_example():
    assert axis_geometry("conv", 512, 9, 1, 1).out == 506
