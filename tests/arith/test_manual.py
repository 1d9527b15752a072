"""Convolution and pooling by hand against F.conv2d / F.max_pool2d / F.avg_pool2d."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnkit.arith import manual
from cnnkit.errors import GeometryError, SpecError

SEED_001_IMAGE = "1 0 2 3 1; 3 2 0 7 0; 0 6 1 1 4"
SEED_001_ANSWER = [[2, -1, 11, -2, -13], [10, -4, 8, 2, -18], [14, -1, -5, 6, -9]]


def t(m):
    return torch.tensor([[float(v) for v in row] for row in m], dtype=torch.float64)[None, None]


matrices = st.integers(1, 7).flatmap(
    lambda h: st.integers(1, 7).flatmap(
        lambda w: st.lists(st.lists(st.integers(-9, 9), min_size=w, max_size=w), min_size=h, max_size=h)))


@settings(max_examples=300, deadline=None)
@given(matrices, matrices, st.integers(1, 3), st.integers(0, 2), st.integers(1, 2), st.sampled_from(["correlate", "convolve"]))
def test_convolve_matches_torch(image, kernel, stride, padding, dilation, mode):
    try:
        got = manual.convolve(image, kernel, stride, padding, dilation, mode).output
    except GeometryError:
        with pytest.raises(RuntimeError):
            F.conv2d(t(image), t(kernel), stride=stride, padding=padding, dilation=dilation)
        return
    w = t(kernel).flip(-1, -2) if mode == "convolve" else t(kernel)
    expected = F.conv2d(t(image), w, stride=stride, padding=padding, dilation=dilation)[0, 0]
    assert torch.equal(torch.tensor(got, dtype=torch.float64), expected)


@settings(max_examples=300, deadline=None)
@given(matrices, st.integers(1, 4), st.integers(1, 3), st.integers(0, 2), st.booleans(), st.sampled_from(["maxpool", "avgpool"]))
def test_pool_matches_torch(image, k, stride, padding, ceil, op):
    fn = F.max_pool2d if op == "maxpool" else F.avg_pool2d
    try:
        got = manual.pool(image, k, stride, padding, op, ceil).output
    except GeometryError:
        with pytest.raises(RuntimeError):
            y = fn(t(image), k, stride, padding, ceil_mode=ceil)
            if y.numel() == 0:
                raise RuntimeError("empty") from None
        return
    expected = fn(t(image), k, stride, padding, ceil_mode=ceil)[0, 0]
    assert torch.allclose(torch.tensor([[float(v) for v in r] for r in got], dtype=torch.float64), expected)


def test_seed_001_student_computed_cross_correlation():
    # The student wrote '*' (convolution) but their numbers are the cross-correlation,
    # which is what nn.Conv2d computes. True convolution with Sobel-x flips every sign.
    image = manual.parse_matrix(SEED_001_IMAGE)
    corr = manual.convolve(image, manual.kernel_from("sobel-x"), padding=1).output
    conv = manual.convolve(image, manual.kernel_from("sobel-x"), padding=1, mode="convolve").output
    assert corr == SEED_001_ANSWER
    assert conv == [[-v for v in row] for row in SEED_001_ANSWER]


def test_steps_show_every_product():
    res = manual.convolve([[1, 2], [3, 4]], [[1, 0], [0, -1]])
    assert len(res.steps) == 1
    assert manual.step_text(res.steps[0], "conv") == "out[0][0] = 1·1 + 2·0 + 3·0 + 4·(-1) = -3"


def test_named_kernels_and_fractions():
    res = manual.convolve([[9, 9, 9]] * 3, manual.kernel_from("box"))
    assert res.output == [[9]]
    assert manual.format_number(manual.kernel_from("gaussian")[0][0]) == "1/16"


@pytest.mark.parametrize("text", ["", "1 2; 3", "1 x"])
def test_bad_matrices(text):
    with pytest.raises(SpecError):
        manual.parse_matrix(text)


def test_unknown_kernel_name():
    with pytest.raises(SpecError, match="sobel-x"):
        manual.kernel_from("sobel-z")
