"""Receptive fields of `cnnkit layers` against the gradient footprint torch computes.

Definition under test: the footprint of an output position is the bounding box of the
input pixels with a non-zero derivative (all weights 1, so nothing cancels); the RF of a
layer is the largest footprint over its positions. Max pooling routes its gradient to
one pixel per window, so the oracle replaces it by a window of ones with the same
geometry (a conv, or an average pool in ceil mode): the window is what the output
depends on.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
import torch
import torch.nn as nn
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from cnnkit.arith.receptive import AxisField
from cnnkit.arith.spec import analyse, layer_windows, parse_spec
from cnnkit.errors import GeometryError


def _ones(m: nn.Module) -> nn.Module:
    for p in m.parameters():
        nn.init.constant_(p, 1.0)
    return m


def build_1d(spec: str) -> nn.Sequential:
    """Conv1d / pooling / Upsample modules for a 1-D spec (test oracle)."""
    _, layers = parse_spec(spec)
    mods = []
    for L in layers:
        k, s = L.kernel[0] if L.kernel else None, L.stride[0] if L.stride else None
        p, d = (L.padding[0][0] if not isinstance(L.padding, str) else 0), L.dilation[0]
        if L.kind == "conv":
            mods.append(_ones(nn.Conv1d(1, 1, k, s or 1, p, d, bias=False)))
        elif L.kind == "convT":
            mods.append(_ones(nn.ConvTranspose1d(1, 1, k, s or 1, p, L.output_padding[0], dilation=d, bias=False)))
        elif L.kind == "maxpool" and not L.ceil_mode:
            mods.append(_ones(nn.Conv1d(1, 1, k, s or k, p, d, bias=False)))
        elif L.kind in ("maxpool", "avgpool"):
            assert d == 1
            mods.append(nn.AvgPool1d(k, s or k, p, ceil_mode=L.ceil_mode))
        elif L.kind == "gap":
            mods.append(nn.AdaptiveAvgPool1d(L.pool_output[0]))
        elif L.kind == "upsample":
            mods.append(nn.Upsample(scale_factor=L.scale, mode="linear" if L.upsample_mode == "bilinear" else "nearest"))
        elif L.kind == "relu":
            mods.append(nn.Identity())  # ReLU would zero gradients of negative pre-activations
        else:
            raise NotImplementedError(L.kind)
    return nn.Sequential(*mods).double()


def torch_footprints(model: nn.Module, n: int) -> list[tuple[int, int] | None]:
    """Per output position: (first, last) input pixel with a non-zero derivative."""
    x = torch.rand(1, 1, n, dtype=torch.float64) + 0.5
    jac = torch.autograd.functional.jacobian(lambda t: model(t)[0, 0], x)[:, 0, 0, :]  # (out, n)
    # Float rounding of 1/f in bilinear upsampling leaves weights of ~1e-16 where the
    # exact weight is 0: those are not a dependency.
    nz = jac.abs() > 1e-9 * jac.abs().max()
    boxes = []
    for row in nz:
        idx = row.nonzero().flatten()
        boxes.append((idx.min().item(), idx.max().item()) if len(idx) else None)
    return boxes


def cnnkit_footprints(spec: str) -> tuple[list[list], list]:
    """Per layer: cnnkit's per-position boxes along the one spatial axis, and the rows."""
    report = analyse(spec)
    field = AxisField.identity(report.input_shape[1])
    per_layer = []
    for row in report.rows:
        ((windows, scale, centre, grow),) = layer_windows(row)
        field = field.through(windows, scale, centre, grow)
        per_layer.append(field.boxes)
    return per_layer, report.rows


def check_spec(spec: str) -> None:
    per_layer, rows = cnnkit_footprints(spec)
    model = build_1d(spec)
    n = analyse(spec).input_shape[1]
    for i, (boxes, row) in enumerate(zip(per_layer, rows)):
        want = torch_footprints(model[: i + 1], n)
        assert boxes == want, (spec, row.layer.text)
        largest = max((b - a + 1 for a, b in filter(None, want)), default=0)
        assert row.receptive_field[0] == largest, (spec, row.layer.text)


@pytest.mark.parametrize("spec", [
    "1x48 | conv 1 k3 | gap 3",  # uneven adaptive windows: 16 + 2 = 18, not 3
    "1x48 | conv 1 k3 | gap 3 | conv 1 k3 p1",  # and later layers inherit it
    "1x20 | conv 1 k3 | upsample 2 bilinear | conv 1 k3",
    "1x20 | conv 1 k3 | upsample 3 bilinear | conv 1 k3",
    "1x20 | conv 1 k3 s2 p1 | upsample 2 | conv 1 k3 d2",
    "1x17 | convT 1 k3 s2 p1 op1 | conv 1 k3 s2",
    "1x17 | convT 1 k2 s3 | conv 1 k3",  # holes: some outputs get no input
    "1x33 | conv 1 k3 s2 | conv 1 k3 d2 | maxpool 2 | conv 1 k5",
    "1x9 | maxpool 3 s2 p1 ceil | avgpool 2 ceil",
    "1x30 | gap 7 | upsample 2 bilinear | gap 4",
])
def test_examples_against_gradient(spec):
    check_spec(spec)


def test_issue_example_in_2d():
    # 1x48x48 | conv k3 | gap 3x3: the gradient of one output touches 18x18 input pixels.
    spec = "1x48x48 | conv 1 k3 | gap 3x3"
    report = analyse(spec)
    assert [int(v) for v in report.rows[-1].receptive_field] == [18, 18]
    model = nn.Sequential(_ones(nn.Conv2d(1, 1, 3, bias=False)), nn.AdaptiveAvgPool2d(3)).double()
    x = torch.ones(1, 1, 48, 48, dtype=torch.float64, requires_grad=True)
    model(x)[0, 0, 1, 1].backward()
    rows = (x.grad[0, 0].abs().sum(1) > 0).nonzero()
    assert rows.max().item() - rows.min().item() + 1 == 18


def test_bilinear_rf_is_a_whole_number():
    report = analyse("3x32x32 | conv 8 k3 s2 | upsample 2 bilinear")
    assert all(v.denominator == 1 for v in report.rows[-1].receptive_field)


layer_text = st.sampled_from([
    "conv 1 k{k} s{s} p{p} d{d}", "conv 1 k{k} s{s} p{p}", "maxpool {k} s{s} p{hp} d{d}", "maxpool {k} s{s} p{hp} ceil",
    "avgpool {k} s{s} p{hp} ceil", "gap {m}", "upsample {f}", "upsample {f} bilinear",
    "convT 1 k{k} s{s} p{p} op{op}", "relu",
])


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(
    st.integers(4, 40),
    st.lists(st.tuples(layer_text, st.integers(1, 5), st.integers(1, 3), st.integers(0, 2), st.integers(1, 3),
                       st.integers(1, 6), st.integers(2, 3), st.integers(0, 2)), min_size=1, max_size=5),
)
def test_random_specs_against_gradient(n, layers):
    parts = [f"1x{n}"]
    for text, k, s, p, d, m, f, op in layers:
        parts.append(text.format(k=k, s=s, p=min(p, d * (k - 1)), hp=min(p, k // 2), d=d, m=m, f=f,
                                 op=min(op, max(s, d) - 1)))
    spec = " | ".join(parts)
    try:
        report = analyse(spec)
    except GeometryError:
        assume(False)
    assume(report.rows[-1].output_shape[1] <= 200)
    check_spec(spec)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(
    st.integers(8, 60),
    st.lists(st.tuples(st.sampled_from(["conv 1 k{k} s{s} d{d}", "maxpool {k} s{s}", "avgpool {k}", "gap {m}"]),
                       st.integers(1, 4), st.integers(1, 3), st.integers(1, 2), st.integers(2, 5)), min_size=1, max_size=4),
)
def test_start_and_jump_are_footprint_centres_without_padding(n, layers):
    # Without padding nothing is clipped: position 0's footprint is centred on `start`,
    # and for uniform layers neighbouring footprints are `jump` apart. Uneven adaptive
    # windows make the jump an average (n/m) from there on, so checking stops after them.
    spec = " | ".join([f"1x{n}"] + [t.format(k=k, s=s, d=d, m=m) for t, k, s, d, m in layers])
    try:
        report = analyse(spec)
    except GeometryError:
        assume(False)
    per_layer, rows = cnnkit_footprints(spec)
    for boxes, row in zip(per_layer, rows):
        (a, b) = boxes[0]
        assert row.start[0] == Fraction(a + b, 2), (spec, row.layer.text)
        if row.layer.kind == "gap":
            break
        if len(boxes) > 1:
            assert row.jump[0] == Fraction(boxes[1][0] + boxes[1][1] - a - b, 2), (spec, row.layer.text)
    assert report.rows[-1].receptive_field[0] >= 1


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(
    st.integers(6, 30),
    st.lists(st.tuples(st.sampled_from(["conv 1 k{k} s{s} d{d} p{p}", "maxpool {k} s{s}", "avgpool {k} s{s} p{hp}"]),
                       st.integers(1, 5), st.integers(1, 3), st.integers(1, 2), st.integers(0, 2)), min_size=1, max_size=5),
)
def test_textbook_rf_is_the_field_on_an_input_too_large_to_clip(n, layers):
    """RF += (k-1)·d·jump unclipped equals the exact footprint where no window reaches the border:
    the same layers on an input much larger than the field."""
    texts = [t.format(k=k, s=s, d=d, p=min(p, d * (k - 1)), hp=min(p, k // 2)) for t, k, s, d, p in layers]
    try:
        small = analyse(" | ".join([f"1x{n}", *texts]))
    except GeometryError:
        assume(False)
    large = analyse(" | ".join(["1x3000", *texts]))
    for a, b in zip(small.rows, large.rows):
        assert a.textbook_rf == b.receptive_field, (texts, a.layer.text)
        assert a.receptive_field[0] <= a.textbook_rf[0]
        assert a.as_dict()["textbook_receptive_field"] == [int(b.receptive_field[0])]
