"""Solve the output-size equation for its unknowns by exhaustive search.

The forward formula is many-to-one (floor division), so an algebraic inverse
misses solutions; instead every candidate within the bounds is pushed through
the *same* forward function `geometry.axis_geometry` that `cnnkit shape` uses,
and kept when it reproduces the wanted output. That makes the solver exactly as
correct as the forward formulas, which are property-tested against PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnkit.arith.geometry import OPS, axis_geometry, check_op_options
from cnnkit.errors import GeometryError, SpecError


@dataclass(frozen=True)
class Bounds:
    """Search limits ('sensible' = what real CNN layers use)."""

    max_k: int = 16
    max_s: int = 16
    max_p: int = 16
    max_d: int = 8
    max_in: int = 100_000

    def __post_init__(self) -> None:
        for name, value, least in [("--max-k", self.max_k, 1), ("--max-s", self.max_s, 1), ("--max-p", self.max_p, 0),
                                   ("--max-d", self.max_d, 1), ("largest input", self.max_in, 1)]:
            if value < least:
                raise SpecError(f"{name} must be >= {least}, got {value}")


# Stride x padding x dilation candidates searched at most; the kernel is not
# enumerated (its range follows from the formula), so --max-k may be huge.
MAX_CANDIDATES = 2_000_000


def check_known(op: str, ceil_mode: bool = False, **values: int | None) -> None:
    """Refuse an unknown op, an option the op does not have (ceil mode on a conv, output
    padding on a pool, dilation on avgpool) and given values PyTorch would refuse, by name,
    before the search: found per candidate they would read as "no solution"."""
    if op not in OPS:
        raise SpecError(f"unknown op {op!r}; choose one of {', '.join(OPS)}")
    try:
        check_op_options(op, values.get("d"), ceil_mode, values.get("output_padding") or 0)
    except GeometryError as e:
        raise SpecError(str(e)) from None
    for name, value in values.items():
        least = 0 if name in ("p", "output_padding") else 1
        if value is not None and value < least:
            flag = "--output-padding" if name == "output_padding" else f"--{name}"
            raise SpecError(f"{flag} must be >= {least}, got {value}")


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
    check_known(op, ceil_mode, k=k, s=s, p=p, d=d, output_padding=output_padding)
    if out < 1 or n < 1:
        raise SpecError("input and output sizes must be >= 1")
    if op == "avgpool":
        d = 1  # AvgPool has no dilation (a given --d other than 1 was refused above)
    ss = [s] if s is not None else range(1, bounds.max_s + 1)
    ds = [d] if d is not None else range(1, bounds.max_d + 1)
    ps = [p] if p is not None else range(0, bounds.max_p + 1)
    if len(ss) * len(ds) * len(ps) > MAX_CANDIDATES:
        raise SpecError(
            f"searching {len(ss)} strides x {len(ps)} paddings x {len(ds)} dilations is too many candidates; "
            "give some of them (--s/--p/--d) or lower --max-s/--max-p/--max-d"
        )
    found = []
    for dd in ds:
        for pp in ps:
            for st in ss:
                for kk in _kernel_candidates(op, n, out, st, pp, dd, output_padding, k, bounds.max_k):
                    # Padding beyond span-1 only adds windows made entirely of zeros.
                    if p is None and pp > dd * (kk - 1):
                        continue
                    if _fits(op, n, kk, st, pp, dd, output_padding, ceil_mode) == out:
                        found.append(Solution(n, kk, st, pp, dd))
    found.sort(key=lambda x: (x.d, x.s, x.p, x.k))
    return found


def _kernel_candidates(op: str, n: int, out: int, s: int, p: int, d: int, output_padding: int,
                       k: int | None, max_k: int) -> range | list[int]:
    """The kernels that can give `out`, a small superset of the solutions.

    Conv/pool: out = floor((n + 2p - d(k-1) - 1 + c)/s) + 1 with c in [0, s-1] (ceil
    mode), so d(k-1) lies in [n + 2p - out*s, n + 2p - 1 - (out-1)*s + (s-1)]; ceil mode
    may drop a last window, so the range starts one stride lower. Transposed: d(k-1) = out - 1 - (n-1)*s + 2p - output_padding exactly. Every
    candidate is still checked by the forward formula.
    """
    if k is not None:
        return [k]
    if op == "transpose":
        span = out - 1 - (n - 1) * s + 2 * p - output_padding
        return [span // d + 1] if span >= 0 and span % d == 0 and span // d + 1 <= max_k else []
    low = n + 2 * p - (out + 1) * s
    high = n + 2 * p - 1 - (out - 1) * s + (s - 1)
    k_low = max(1, -(-low // d) + 1)
    k_high = min(max_k, high // d + 1)
    return range(k_low, k_high + 1)


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
    check_known(op, ceil_mode, k=k, s=s, p=p, d=d, output_padding=output_padding)
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
