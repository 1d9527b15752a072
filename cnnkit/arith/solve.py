"""Solve the output-size equation for its unknowns by exhaustive search.

The forward formula is many-to-one (floor division), so an algebraic inverse
misses solutions; instead every candidate within the bounds is pushed through
the *same* forward function `geometry.axis_geometry` that `cnnkit shape` uses,
and kept when it reproduces the wanted output. That makes the solver exactly as
correct as the forward formulas, which are property-tested against PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnkit.arith.geometry import axis_geometry
from cnnkit.errors import GeometryError, SpecError


@dataclass(frozen=True)
class Bounds:
    """Search limits ('sensible' = what real CNN layers use)."""

    max_k: int = 16
    max_s: int = 16
    max_p: int = 16
    max_d: int = 8
    max_in: int = 100_000


@dataclass(frozen=True)
class Solution:
    n: int
    k: int
    s: int
    p: int
    d: int

    def as_dict(self) -> dict[str, int]:
        return {"in": self.n, "k": self.k, "s": self.s, "p": self.p, "d": self.d}


def _fits(op: str, n: int, k: int, s: int, p: int, d: int, output_padding: int, ceil_mode: bool) -> int | None:
    try:
        return axis_geometry(op, n, k, s, p, d, ceil_mode, output_padding).out
    except GeometryError:
        return None


def solve_params(
    op: str,
    n: int,
    out: int,
    k: int | None = None,
    s: int | None = None,
    p: int | None = None,
    d: int | None = None,
    output_padding: int = 0,
    ceil_mode: bool = False,
    bounds: Bounds = Bounds(),
) -> list[Solution]:
    """Every (k, s, p, d) within bounds with op(n) == out; given values stay fixed.

    Sorted simplest first: no dilation, unit stride, least padding, then kernel.
    """
    if out < 1 or n < 1:
        raise SpecError("input and output sizes must be >= 1")
    if op == "avgpool":
        d = 1  # AvgPool has no dilation
    ks = [k] if k is not None else range(1, bounds.max_k + 1)
    ss = [s] if s is not None else range(1, bounds.max_s + 1)
    ds = [d] if d is not None else range(1, bounds.max_d + 1)
    found = []
    for dd in ds:
        for kk in ks:
            span = dd * (kk - 1) + 1
            # Padding beyond span-1 only adds windows made entirely of zeros.
            ps = [p] if p is not None else range(0, min(bounds.max_p, span - 1) + 1)
            for pp in ps:
                for st in ss:
                    if _fits(op, n, kk, st, pp, dd, output_padding, ceil_mode) == out:
                        found.append(Solution(n, kk, st, pp, dd))
    found.sort(key=lambda x: (x.d, x.s, x.p, x.k))
    return found


def solve_input(
    op: str,
    out: int,
    k: int,
    s: int | None = None,
    p: int = 0,
    d: int = 1,
    output_padding: int = 0,
    ceil_mode: bool = False,
    bounds: Bounds = Bounds(),
) -> list[Solution]:
    """Every input size n giving `out`. With stride > 1 several n map to one out."""
    if out < 1:
        raise SpecError("output size must be >= 1")
    s = (k if op in ("maxpool", "avgpool") else 1) if s is None else s
    # out grows monotonically with n (conv, pool) so the hits form one run;
    # scan up to the first n past it. For transpose out grows by s per n.
    hits = []
    upper = min(bounds.max_in, (out + 2) * s + d * k + 2 * p + 2)
    for n in range(1, upper + 1):
        if _fits(op, n, k, s, p, d, output_padding, ceil_mode) == out:
            hits.append(Solution(n, k, s, p, d))
    return hits
