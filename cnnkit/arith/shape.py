"""Multi-axis output size: `cnnkit shape` in library form.

Takes the command-line notation (``28x28``, ``3x5``, ``1:2x0``, ``same``),
broadcasts scalars over the axes and applies `geometry.axis_geometry` per axis.
"""

from __future__ import annotations

from cnnkit.arith.geometry import AxisGeometry, axis_geometry
from cnnkit.arith.parse import broadcast, parse_padding, parse_sizes


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
    """One AxisGeometry per axis. The axis count is the largest count given."""
    n = parse_sizes(size, "input size")
    k = parse_sizes(kernel, "kernel size")
    s = parse_sizes(stride, "stride") if stride is not None else None
    d = parse_sizes(dilation, "dilation")
    op_pad = parse_sizes(output_padding, "output padding")
    pad = parse_padding(padding)
    given = [n, k, d, op_pad] + ([s] if s else []) + ([pad] if not isinstance(pad, str) else [])
    ndim = max(len(v) for v in given)

    n, k, d, op_pad = (broadcast(v, ndim, w) for v, w in [(n, "input size"), (k, "kernel"), (d, "dilation"), (op_pad, "output padding")])
    s_axes = broadcast(s, ndim, "stride") if s else (None,) * ndim
    p_axes = (pad,) * ndim if isinstance(pad, str) else broadcast(pad, ndim, "padding")
    return [
        axis_geometry(op, n[i], k[i], s_axes[i], p_axes[i], d[i], ceil_mode, op_pad[i])
        for i in range(ndim)
    ]
