"""Multi-axis output size: `cnnkit shape` in library form.

Takes the command-line notation (``28x28``, ``3x5``, ``1:2x0``, ``same``),
broadcasts scalars over the axes and applies `geometry.axis_geometry` per axis.
"""

from __future__ import annotations

from cnnkit.arith.geometry import AxisGeometry, axis_geometry
from cnnkit.arith.parse import format_sizes, parse_padding, parse_sizes
from cnnkit.errors import SpecError


def layer_output(
    op: str,
    size: str | int,
    kernel: str | int,
    stride: str | int | None = None,
    padding: str | int = 0,
    dilation: str | int = 1,
    ceil_mode: bool = False,
    output_padding: str | int = 0,
) -> list[AxisGeometry]:
    """One AxisGeometry per axis: as many axes as the input size has.

    Every other value gives one number (used on every axis) or one per input axis;
    any other count is an error that names the flag and the input's axes."""
    n = parse_sizes(size, "input size")
    k = parse_sizes(kernel, "kernel size")
    s = parse_sizes(stride, "stride") if stride is not None else None
    d = parse_sizes(dilation, "dilation")
    op_pad = parse_sizes(output_padding, "output padding")
    pad = parse_padding(padding)
    ndim = len(n)
    where = f"--in {format_sizes(n)} has {ndim} " + ("axis" if ndim == 1 else "axes")

    def per_axis(values, flag, text):
        if len(values) in (1, ndim):
            return values * ndim if len(values) == 1 else values
        raise SpecError(f"{flag} {text} has {len(values)} axes but {where}; give one value or {ndim}")

    k = per_axis(k, "--k", format_sizes(k))
    d = per_axis(d, "--d", format_sizes(d))
    op_pad = per_axis(op_pad, "--output-padding", format_sizes(op_pad))
    s_axes = per_axis(s, "--s", format_sizes(s)) if s else (None,) * ndim
    p_axes = (pad,) * ndim if isinstance(pad, str) else per_axis(pad, "--p", str(padding))
    return [
        axis_geometry(op, n[i], k[i], s_axes[i], p_axes[i], d[i], ceil_mode, op_pad[i])
        for i in range(ndim)
    ]
