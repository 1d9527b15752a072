"""The solver: every solution reproduces the output (checked with torch), and the
search is complete within its bounds (checked by brute force over torch)."""

from __future__ import annotations

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
