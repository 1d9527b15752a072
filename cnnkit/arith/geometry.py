"""Output-size arithmetic for one spatial axis, exactly as PyTorch computes it.

Every function here works on plain ints for a single axis; `shape.py` applies
them per axis. The formulas and the validity checks mirror ATen:

* Conv:       out = floor((n + p_b + p_a - d*(k-1) - 1) / s) + 1
* Pooling:    the same, but with ``ceil_mode`` PyTorch adds ``s - 1`` before the
              division *and then drops the last window if it would start inside
              the right padding* (``(out-1)*s >= n + p_b``). That second rule is
              why "just use ceil" gives wrong answers.
* Transposed: out = (n-1)*s - p_b - p_a + d*(k-1) + output_padding + 1

No torch import here: `cnnkit shape` has to start fast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cnnkit.errors import GeometryError

OPS = ("conv", "maxpool", "avgpool", "transpose")


@dataclass(frozen=True)
class AxisGeometry:
    """One axis of one layer: the inputs, the output and how it was reached."""

    op: str
    n: int  # input size along this axis
    k: int  # kernel size
    s: int  # stride
    p_before: int  # zero padding before (top / left)
    p_after: int  # zero padding after (bottom / right)
    d: int = 1  # dilation
    ceil_mode: bool = False
    output_padding: int = 0
    out: int = 0
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def effective_kernel(self) -> int:
        """Span of a dilated kernel: d*(k-1)+1 input pixels."""
        return self.d * (self.k - 1) + 1


def same_padding(k: int, d: int = 1) -> tuple[int, int]:
    """PyTorch's ``padding='same'``: total d*(k-1), the odd pixel goes after."""
    total = d * (k - 1)
    return total // 2, total - total // 2


def _check_positive(name: str, value: int, minimum: int = 1) -> None:
    if value < minimum:
        raise GeometryError(f"{name} must be >= {minimum}, got {value}")


def conv_out(n: int, k: int, s: int = 1, p_before: int = 0, p_after: int | None = None, d: int = 1) -> int:
    """Output size of Conv1d/2d/3d along one axis; raises when PyTorch would."""
    p_after = p_before if p_after is None else p_after
    _check_inputs(n, k, s, p_before, p_after, d)
    padded = n + p_before + p_after
    span = d * (k - 1) + 1
    if padded < span:
        raise GeometryError(
            f"kernel spans {span} pixels (k={k}, d={d}) but the padded input is only {padded} "
            f"(n={n} + padding {p_before}+{p_after}); use a smaller kernel or dilation, or more padding"
        )
    return (padded - span) // s + 1


def pool_out(
    n: int,
    k: int,
    s: int | None = None,
    p: int = 0,
    d: int = 1,
    ceil_mode: bool = False,
) -> int:
    """Output size of MaxPool/AvgPool along one axis (AvgPool: d=1).

    Mirrors ATen's ``pooling_output_shape`` and ``pool2d_shape_check``.
    """
    s = k if s is None else s
    _check_inputs(n, k, s, p, p, d)
    span = d * (k - 1) + 1
    # ATen checks pad <= k/2 on the plain kernel size (and on the dilated span,
    # which is implied), so dilation does not buy extra padding.
    if p > k // 2:
        raise GeometryError(
            f"pooling padding {p} is more than half the kernel size {k}; "
            f"PyTorch rejects this: use padding <= {k // 2}"
        )
    out = (n + 2 * p - span + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= n + p:
        # The last window would start in the right padding: PyTorch drops it.
        out -= 1
    if out < 1:
        raise GeometryError(
            f"pooling window spans {span} pixels but the input is only {n} (+{p} padding each side); "
            "the output would be empty: use a smaller kernel or pad the input"
        )
    return out


def transpose_out(
    n: int,
    k: int,
    s: int = 1,
    p: int = 0,
    d: int = 1,
    output_padding: int = 0,
) -> int:
    """Output size of ConvTranspose along one axis; raises when PyTorch would."""
    _check_inputs(n, k, s, p, p, d)
    if output_padding < 0:
        raise GeometryError(f"output_padding must be >= 0, got {output_padding}")
    if output_padding >= max(s, d):
        raise GeometryError(
            f"output_padding {output_padding} must be smaller than stride ({s}) or dilation ({d}); "
            f"use output_padding < {max(s, d)}"
        )
    out = (n - 1) * s - 2 * p + d * (k - 1) + output_padding + 1
    if out < 1:
        raise GeometryError(
            f"transposed convolution output would be {out} pixels: padding {p} removes more than "
            "the layer produces; use less padding"
        )
    return out


def _check_inputs(n: int, k: int, s: int, p_before: int, p_after: int, d: int) -> None:
    _check_positive("input size", n)
    _check_positive("kernel size", k)
    _check_positive("stride", s)
    _check_positive("dilation", d)
    _check_positive("padding", min(p_before, p_after), 0)


def check_op_options(op: str, d: int | None = 1, ceil_mode: bool = False, output_padding: int = 0) -> None:
    """Refuse an option the op does not have in PyTorch (whatever the sizes are).

    One place for these rules: `shape` and `solve` must agree, and a solver that met them
    per candidate would turn "this option does not exist" into "no solution"."""
    if op not in OPS:
        raise GeometryError(f"unknown op {op!r}; choose one of {', '.join(OPS)}")
    if op == "avgpool" and d not in (None, 1):
        raise GeometryError("AvgPool has no dilation in PyTorch; drop --d or use maxpool")
    if ceil_mode and op not in ("maxpool", "avgpool"):
        raise GeometryError("ceil mode only exists for pooling (--op maxpool or avgpool)")
    if output_padding and op != "transpose":
        raise GeometryError("output_padding only exists for transposed convolution (--op transpose)")


def axis_geometry(
    op: str,
    n: int,
    k: int,
    s: int | None = None,
    p: int | tuple[int, int] | str = 0,
    d: int = 1,
    ceil_mode: bool = False,
    output_padding: int = 0,
) -> AxisGeometry:
    """Compute one axis of one layer, resolving 'same'/'valid' and stride defaults.

    ``p`` is an int (both sides), a ``(before, after)`` pair, or 'same'/'valid'.
    """
    if op not in OPS:
        raise GeometryError(f"unknown op {op!r}; choose one of {', '.join(OPS)}")
    if s is None:
        s = k if op in ("maxpool", "avgpool") else 1
    check_op_options(op, d, ceil_mode, output_padding)

    notes: list[str] = []
    if p == "valid":
        p_before = p_after = 0
    elif p == "same":
        if op != "conv":
            raise GeometryError(f"padding 'same' exists only for conv in PyTorch, not {op}")
        if s != 1:
            raise GeometryError("padding 'same' is not supported for strided convolutions in PyTorch; use stride 1 or explicit padding")
        p_before, p_after = same_padding(k, d)
        if p_before != p_after:
            notes.append(
                f"'same' with an even kernel span pads asymmetrically: {p_before} before, {p_after} after"
            )
    elif isinstance(p, tuple):
        p_before, p_after = p
    else:
        p_before = p_after = int(p)

    if op != "conv" and p_before != p_after:
        raise GeometryError(
            f"PyTorch's {op} pads both sides equally; pad asymmetrically with nn.ZeroPad2d before it"
        )

    if op == "conv":
        out = conv_out(n, k, s, p_before, p_after, d)
    elif op in ("maxpool", "avgpool"):
        out = pool_out(n, k, s, p_before, d, ceil_mode)
    else:
        out = transpose_out(n, k, s, p_before, d, output_padding)

    return AxisGeometry(op, n, k, s, p_before, p_after, d, ceil_mode, output_padding, out, tuple(notes))


def explain(g: AxisGeometry) -> list[str]:
    """The formula, the same formula with numbers substituted, and what was lost.

    Returns lines of text; the CLI prints them under ``--explain``.
    """
    lines: list[str] = []
    pb, pa = g.p_before, g.p_after
    span = g.effective_kernel
    if g.op == "transpose":
        lines.append("out = (n - 1)*s - 2p + d*(k - 1) + output_padding + 1")
        lines.append(
            f"    = ({g.n} - 1)*{g.s} - 2*{pb} + {g.d}*({g.k} - 1) + {g.output_padding} + 1 = {g.out}"
        )
        return lines + list(g.notes)

    pad_text = f"{pb} + {pa}" if pb != pa else f"2*{pb}"
    numerator = g.n + pb + pa - span
    if g.op != "conv" and g.ceil_mode:
        lines.append("out = floor((n + 2p - d*(k - 1) - 1 + (s - 1)) / s) + 1   [ceil_mode]")
        raw = (numerator + g.s - 1) // g.s + 1
        lines.append(
            f"    = floor(({g.n} + {pad_text} - {g.d}*({g.k} - 1) - 1 + {g.s - 1}) / {g.s}) + 1 = {raw}"
        )
        if raw != g.out:
            lines.append(
                f"the last window would start at {(raw - 1) * g.s} >= n + p = {g.n + pb}, i.e. entirely in "
                f"the padding, so PyTorch drops it: out = {g.out} (plain ceil would give {raw})"
            )
        covered = (g.out - 1) * g.s + span
        if covered > g.n + pb + pa:
            lines.append(
                f"the last window hangs {covered - (g.n + pb + pa)} pixel(s) past the padded input; "
                "PyTorch pools only the part inside"
            )
        return lines + list(g.notes)

    lines.append("out = floor((n + p_before + p_after - d*(k - 1) - 1) / s) + 1")
    lines.append(
        f"    = floor(({g.n} + {pad_text} - {g.d}*({g.k} - 1) - 1) / {g.s}) + 1"
        f" = floor({numerator} / {g.s}) + 1 = {g.out}"
    )
    lost = numerator % g.s
    if lost:
        lost_input = max(0, lost - pa)
        where = (
            f"{lost_input} real input pixel(s) and {lost - lost_input} padding pixel(s)"
            if lost_input
            else f"{lost} padding pixel(s) only"
        )
        lines.append(
            f"floor division drops a remainder of {lost}: the last {lost} pixel(s) of the padded input "
            f"({where}) are never covered by a window"
        )
    return lines + list(g.notes)
