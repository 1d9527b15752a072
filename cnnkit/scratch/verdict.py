"""Verdicts a student can act on: one Check per (layer, configuration, quantity), with the
worst element (index, yours, expected) and, where the error has a recognisable shape, the
likely cause (transposed, sign flipped, all zeros, scaled by N or N-1, only at the border,
only with stride > 1, float32 precision, overflow).

Everything here works on float64 torch tensors already in PyTorch's layout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Optional

import torch

RTOL = 1e-6  # analytic float64 results agree to ~1e-12; 1e-6 leaves room for reordered sums
FD_TOL = 1e-5


@dataclass
class Check:
    layer: str
    config: str
    quantity: str
    status: str  # pass | fail | error | skipped
    shape_match: Optional[bool] = None
    result_match: Optional[bool] = None
    max_rel_error: Optional[float] = None
    tolerance: Optional[float] = None
    reason: str = ""
    worst: Optional[dict] = None  # {"index": [...], "yours": float, "expected": float}
    cause: str = ""
    features: dict = field(default_factory=dict, repr=False)  # config traits for cross-config diagnosis

    def as_dict(self) -> dict:
        """JSON-safe: inf / nan become null (they are not JSON)."""
        return {"layer": self.layer, "config": self.config, "quantity": self.quantity, "status": self.status,
                "shape_match": self.shape_match, "result_match": self.result_match,
                "max_rel_error": _finite(self.max_rel_error), "tolerance": self.tolerance,
                "reason": self.full_reason(),
                "worst": self.worst and {**self.worst, "yours": _finite(self.worst["yours"]),
                                         "expected": _finite(self.worst["expected"])}}

    def full_reason(self) -> str:
        parts = [p for p in (self.reason, f"likely cause: {self.cause}" if self.cause else "") if p]
        return "; ".join(parts)


def _num(v) -> str:
    return "non-finite" if v is None else f"{v:.6g}"


def _finite(v):
    return v if isinstance(v, (int, float)) and math.isfinite(v) else None


def skipped(layer, config, reason, quantity="all checks") -> Check:
    return Check(layer, config, quantity, "skipped", reason=f"not checked: {reason}")


def errored(layer, config, quantity, where) -> Check:
    return Check(layer, config, quantity, "error", reason=where)


def compare(layer, config, quantity, got, expected, tol=RTOL, ctx: dict | None = None, missing="") -> Check:
    """got (student's, already in PyTorch's layout, or None) against expected (float64)."""
    ctx = ctx or {}
    if got is None:
        return Check(layer, config, quantity, "fail", False, False, None, tol,
                     missing or "not found", cause="missing: your code never computed it")
    dtype = got.dtype
    got = got.detach().to(torch.float64)
    expected = expected.detach().to(torch.float64)
    if tuple(got.shape) != tuple(expected.shape):
        return Check(layer, config, quantity, "fail", False, False, None, tol,
                     f"shape {_shape(got)}, expected {_shape(expected)}", cause=_shape_cause(got, expected, ctx))
    if got.numel() == 0:
        return Check(layer, config, quantity, "pass", True, True, 0.0, tol)
    if not torch.isfinite(got).all():
        bad = (~torch.isfinite(got)).nonzero()[0].tolist()
        return Check(layer, config, quantity, "fail", True, False, None, tol, f"non-finite value {float(got[tuple(bad)])} at {bad}",
                     worst=_worst_at(bad, got, expected),
                     cause="overflow: exp() of a large value; subtract the row maximum before exp (log-sum-exp)")
    diff = (got - expected).abs()
    scale = float(expected.abs().max())
    err = float(diff.max()) / (scale + 1e-12)
    index = unravel(int(diff.argmax()), diff.shape)
    worst = _worst_at([int(i) for i in index], got, expected)
    if err <= tol:
        return Check(layer, config, quantity, "pass", True, True, err, tol, worst=worst)
    cause = diagnose(got, expected, dtype, err, ctx)
    return Check(layer, config, quantity, "fail", True, False, err, tol, worst=worst, cause=cause)


def unravel(flat: int, shape) -> list[int]:
    """Flat index -> [i, j, ...] (torch.unravel_index would import sympy: a second of start-up)."""
    out = []
    for size in reversed(tuple(shape)):
        out.append(flat % size)
        flat //= size
    return out[::-1]


def _worst_at(index, got, expected) -> dict:
    t = tuple(index)
    return {"index": list(index), "yours": float(got[t]), "expected": float(expected[t])}


def _shape(t) -> str:
    return str(tuple(t.shape))  # (4,) and () as Python writes them


def _close(a, b, tol=1e-6) -> bool:
    return a.shape == b.shape and float((a - b).abs().max()) <= tol * (float(b.abs().max()) + 1e-12)


def _shape_cause(got, expected, ctx) -> str:
    if got.dim() == 2 and tuple(got.shape[::-1]) == tuple(expected.shape):
        return "transposed: rows and columns swapped" + ("" if _close(got.T, expected) else " (and the values differ too)")
    if got.numel() == expected.numel() and _close(got.reshape(expected.shape), expected):
        return f"right values in the wrong shape: reshape to {_shape(expected)}"
    for text, shape in ctx.get("shape_hints", []):
        if tuple(got.shape) == tuple(shape):
            return text
    return ""


def diagnose(got, expected, dtype, err, ctx) -> str:
    """The likely cause of a mismatch of equal shapes, or '' when no pattern fits."""
    if float(expected.abs().max()) > 0 and float(got.abs().max()) == 0:
        return "missing/zero: all zeros, so backward never wrote it (or reset it after computing it)"
    if _close(got, -expected):
        return "sign flipped: yours is exactly minus the expected value"
    if got.dim() == 2 and got.shape[0] == got.shape[1] and _close(got.T, expected):
        return "transposed"
    for text, alt in ctx.get("alternatives", []):
        if alt is not None and _close(got, alt.to(torch.float64)):
            return text
    scale = _scale_factor(got, expected) if got.numel() > 1 else None  # two scalars are always proportional
    if scale is not None:
        return _name_scale(scale, ctx)
    if dtype in (torch.float32, torch.float16, torch.bfloat16) and err < 1e-2:
        return ("float32 precision: your result is float32 (e.g. torch.zeros(...) or np.zeros(..., dtype=np.float32) "
                "without x's dtype); create buffers with x's dtype so the check runs in float64")
    border = ctx.get("border")
    if border and got.dim() == 4:
        wrong = (got - expected).abs() > RTOL * (float(expected.abs().max()) + 1e-12)
        inner = wrong[..., border:-border, border:-border] if min(got.shape[-2:]) > 2 * border else wrong[..., :0, :0]
        if wrong.any() and not inner.any():
            return "wrong only at the border: check the padding (pad x in forward, crop the padding off dx in backward)"
    return ""


def _scale_factor(got, expected) -> Optional[float]:
    """c when got = c * expected (least squares, with a small residual), else None."""
    denom = float((expected * expected).sum())
    if denom == 0:
        return None
    c = float((got * expected).sum()) / denom
    if c == 0 or abs(c - 1) < 1e-9:
        return None
    return c if _close(got, c * expected, 1e-6) else None


def _name_scale(c: float, ctx: dict) -> str:
    named = []
    n = ctx.get("N")
    if n:
        named += [(n, f"scaled by N = {n} (the batch size): divide by N, or sum over the batch only once"),
                  (1 / n, f"divided by N = {n} once too often (or a mean where PyTorch sums)")]
    m = ctx.get("M")  # elements per channel (batch norm) or per mean
    if m and m > 1:
        named += [((m - 1) / m, f"uses N-1 where PyTorch uses N (M = {m} values per channel)"),
                  (m / (m - 1), f"uses N where PyTorch uses N-1 (M = {m} values per channel)"),
                  (m, f"scaled by M = {m}, the number of values averaged"), (1 / m, f"divided by M = {m} once too often")]
    s = ctx.get("stride")
    if s and s > 1:
        named += [(s, f"off by the stride: scaled by stride = {s}"), (1 / s, f"off by the stride: divided by stride = {s}")]
    k = ctx.get("kernel")  # pooling: a window has k*k cells
    if k and k > 1:
        named += [(k, f"scaled by the kernel size k = {k}: an average over a k x k window divides by k*k = {k * k}, not k"),
                  (1 / k, f"divided by the kernel size k = {k} once too often"),
                  (k * k, f"scaled by k*k = {k * k}, the cells per window: backward must divide each dy by k*k"),
                  (1 / (k * k), f"divided by k*k = {k * k} once too often")]
    named += [(2.0, "twice the expected value (counted twice?)"), (0.5, "half the expected value (a missing factor 2?)")]
    for value, text in named:
        if abs(c - value) <= 1e-6 * abs(value):
            return text
    return f"scaled: yours is {c:.6g} times the expected value everywhere"


# Config traits a failing check can be pinned on: it fails exactly in the configurations
# with the trait and passes in those without.
FEATURE_CAUSES = {
    "stride": "off by the stride: right with stride 1, wrong with stride > 1; in backward, dy[i, j] belongs to "
              "input window starting at (i*stride, j*stride)",
    "padding": "right without padding, wrong with it: pad x in forward and crop the padding off dx in backward",
    "dilation": "right without dilation, wrong with it: kernel taps are `dilation` pixels apart",
    "groups": "right with groups=1, wrong with groups > 1: each group of output channels sees only its input channels",
    "no bias": "right with a bias, wrong with bias=False",
    "exclude pad": "count_include_pad=False divides each window by its number of real (unpadded) cells",
    "eval": "right in train mode, wrong in eval mode: eval normalises with running_mean / running_var",
    "output_padding": "right without output_padding, wrong with it: output_padding adds rows/columns at the end",
}


def explain_by_config(checks: list[Check]) -> None:
    """Give failures without a cause one from the configurations: a trait all failing configs
    of (layer, quantity) share and no passing one has."""
    groups: dict[tuple, list[Check]] = {}
    for c in checks:
        if c.status in ("pass", "fail"):
            groups.setdefault((c.layer, c.quantity), []).append(c)
    for group in groups.values():
        fails = [c for c in group if c.status == "fail"]
        passes = [c for c in group if c.status == "pass"]
        if not fails or not passes:
            continue
        for trait, text in FEATURE_CAUSES.items():
            if all(c.features.get(trait) for c in fails) and not any(c.features.get(trait) for c in passes):
                for c in fails:
                    if not c.cause:
                        c.cause = text
                break


def summary(checks: list[Check]) -> dict:
    counts = {s: sum(c.status == s for c in checks) for s in ("pass", "fail", "error", "skipped")}
    scored = counts["pass"] + counts["fail"] + counts["error"]
    return {"passed": counts["pass"], "failed": counts["fail"], "errors": counts["error"], "not_checked": counts["skipped"],
            "score": f"{counts['pass']}/{scored}" if scored else "0/0"}


def render_line(c: dict) -> str:
    """One line per check, as `cnnkit gradcheck` prints it."""
    where = f"{c['layer']}{' [' + c['config'] + ']' if c['config'] else ''} {c['quantity']}"
    if c["status"] == "skipped":
        return f"SKIP  {where}: {c['reason']}"
    if c["status"] == "error":
        return f"ERROR {where}: {c['reason']}"
    shape = "Shape Match" if c["shape_match"] else "Shape Mismatch"
    value = "Result Match" if c["result_match"] else "Result Mismatch"
    err = "" if c["max_rel_error"] is None else f"  max rel err {c['max_rel_error']:.2e} (tol {c['tolerance']:.0e})"
    line = f"{'PASS ' if c['status'] == 'pass' else 'FAIL '} {where}: {shape}, {value}{err}"
    w = c.get("worst")
    if c["status"] == "fail" and w and c["shape_match"]:
        line += f"; worst at [{', '.join(map(str, w['index']))}]: yours {_num(w['yours'])}, expected {_num(w['expected'])}"
    if c["reason"]:
        line += f"; {c['reason']}"
    return line
