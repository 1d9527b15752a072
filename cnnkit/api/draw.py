"""Drawings of the arithmetic from Python: `cnnkit draw ...` as functions.

    cnnkit.draw_layer("conv", "conv.gif", size="5", kernel="3", stride="2", padding="1")
    cnnkit.draw_receptive_field("1x32x32 | conv 8 k3 | maxpool 2", "rf.png")

Each writes the file (GIF, or a PNG/SVG sheet) and returns the command's `--json`
object: the path, the PyTorch line, the numbers behind every step. Pure Python and
Pillow (cnnkit.drawing, numbers from cnnkit.arith): no torch.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union


def draw_layer(op: str, out: Union[str, Path], size: Optional[str] = None, kernel: Optional[str] = None,
               stride: Optional[str] = None, padding: str = "0", dilation: str = "1", ceil: bool = False,
               output_padding: str = "0", image: Optional[str] = None, kernel_values: Optional[str] = None,
               max_frames: Optional[int] = None, fps: float = 2.0, in_channels: Optional[int] = None,
               out_channels: Optional[int] = None, groups: Optional[int] = None) -> dict:
    """One layer's steps (`cnnkit draw conv|maxpool|avgpool|transpose`), written to `out`.

    The arguments are the command's options in its notation (size "5" or "5x7", padding
    "1", "1:2" or "same", image "1 0 2; 3 2 0", kernel_values "sobel-x" or rows).
    Returns {'path', 'pytorch', 'output_size', 'formula', 'frames', 'output', 'notes',
    'frames_drawn', 'frames_total'} (plus 'channels' / 'scatter' where they apply)."""
    from cnnkit.api.plain import plain
    from cnnkit.drawing.layer import draw_layer as draw

    return plain(draw(op, out, size, kernel, stride, padding, dilation, ceil, output_padding, image,
                      kernel_values, max_frames, fps, in_channels, out_channels, groups))


def draw_receptive_field(spec: str, out: Union[str, Path] = "receptive-field.png", unit: Optional[str] = None,
                         layer: Optional[int] = None) -> dict:
    """The input region one output position sees through every layer of `spec` (a layer
    spec as for `cnnkit layers`), written to `out` (PNG or SVG): `cnnkit draw receptive-field`.
    `unit`: "ROWxCOL" (default: the centre); `layer`: 1-based (default: the last spatial one)."""
    from cnnkit.api.plain import plain
    from cnnkit.drawing.receptive_field import draw_receptive_field as draw

    return plain(draw(spec, out, unit, layer))
