"""The solver: every solution reproduces the output (checked with torch), and the
search is complete within its bounds (checked by brute force over torch)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cnnkit.arith.solve import Bounds, solve_input, solve_params


def torch_out(n, k, s, p, d):
    try:
        return F.conv1d(torch.zeros(1, 1, n), torch.zeros(1, 1, k), stride=s, padding=p, dilation=d).shape[-1]
    except RuntimeError:
        return None


def test_seed_001_kernel_is_11_not_9():
    # Seed 001 task 1d: 512x512 input, padding 1, output 504. The student answered 9
    # (512 + 1 - 504), forgetting that padding is added on both sides.
    sols = solve_params("conv", 512, 504, s=1, p=1, d=1)
    assert [s.k for s in sols] == [11]
    assert torch_out(512, 9, 1, 1, 1) == 506


def test_all_conv_solutions_complete_and_correct():
    bounds = Bounds(max_k=7, max_s=4, max_p=3, max_d=3)
    n, out = 20, 9
    got = {(s.k, s.s, s.p, s.d) for s in solve_params("conv", n, out, bounds=bounds)}
    want = {
        (k, s, p, d)
        for k in range(1, 8) for s in range(1, 5) for p in range(0, 4) for d in range(1, 4)
        if p <= d * (k - 1) and torch_out(n, k, s, p, d) == out
    }
    assert got == want and got


def test_input_sizes_with_stride_are_a_range():
    sols = solve_input("maxpool", 16, k=2, s=2)
    assert [s.n for s in sols] == [32, 33]
    for s in sols:
        assert F.max_pool2d(torch.zeros(1, 1, s.n, s.n), 2, 2).shape[-1] == 16


def test_transpose_inverts_conv():
    # A transposed conv with k4 s2 p1 doubles the size: which inputs give 64?
    sols = solve_input("transpose", 64, k=4, s=2, p=1)
    assert [s.n for s in sols] == [32]


def _brute(op, n, out, bounds, ceil_mode=False, output_padding=0):
    """The plain exhaustive search over every (k, s, p, d), through cnnkit's forward formula."""
    from cnnkit.arith.geometry import axis_geometry
    from cnnkit.errors import GeometryError

    found = set()
    for k in range(1, bounds.max_k + 1):
        for s in range(1, bounds.max_s + 1):
            for d in range(1, (1 if op == "avgpool" else bounds.max_d) + 1):
                for p in range(0, min(bounds.max_p, d * (k - 1)) + 1):
                    try:
                        if axis_geometry(op, n, k, s, p, d, ceil_mode, output_padding).out == out:
                            found.add((k, s, p, d))
                    except GeometryError:
                        pass
    return found


@pytest.mark.parametrize("op, n, out, ceil_mode, output_padding", [
    ("conv", 23, 7, False, 0), ("maxpool", 17, 6, True, 0), ("maxpool", 9, 5, True, 0),
    ("avgpool", 15, 4, True, 0), ("transpose", 7, 15, False, 0), ("transpose", 5, 12, False, 1),
])
def test_kernel_range_shortcut_finds_what_exhaustive_search_finds(op, n, out, ceil_mode, output_padding):
    # The solver computes the kernel range from the formula instead of trying every k;
    # it must find exactly what trying every k finds.
    bounds = Bounds(max_k=9, max_s=5, max_p=4, max_d=3)
    got = {(s.k, s.s, s.p, s.d) for s in solve_params(op, n, out, output_padding=output_padding,
                                                       ceil_mode=ceil_mode, bounds=bounds)}
    assert got == _brute(op, n, out, bounds, ceil_mode, output_padding) and got


def test_huge_kernel_bound_is_fast():
    # Trying every k up to 10^8 took minutes; the kernel range follows from the formula.
    sols = solve_params("conv", 512, 504, s=1, p=1, bounds=Bounds(max_k=100_000_000))
    assert [(s.k, s.d) for s in sols][:1] == [(11, 1)]


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(op="foo"), "choose one of conv"),
    (dict(s=0), "--s must be >= 1"),
    (dict(p=-1), "--p must be >= 0"),
    (dict(d=0), "--d must be >= 1"),
    (dict(k=-3), "--k must be >= 1"),
    (dict(bounds=Bounds(max_s=10_000, max_p=10_000)), "too many candidates"),
])
def test_bad_solver_input_is_refused(kwargs, fragment):
    from cnnkit.errors import CnnkitError

    kwargs = {"op": "conv", **kwargs}
    with pytest.raises(CnnkitError, match=fragment):
        solve_params(kwargs.pop("op"), 32, 16, **kwargs)


def test_bounds_must_be_positive():
    from cnnkit.errors import SpecError

    with pytest.raises(SpecError, match="--max-k must be >= 1"):
        Bounds(max_k=0)
    with pytest.raises(SpecError, match="--max-p must be >= 0"):
        Bounds(max_p=-1)
