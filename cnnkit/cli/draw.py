"""`cnnkit draw ...`: pictures of the arithmetic (GIF animation, or a PNG/SVG sheet of every step).

Each command parses, makes one call into cnnkit.api.draw (the same function as Python's), and prints the
path with the matching PyTorch line (or the --json dict).
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from cnnkit.cli.arith import CeilOpt, DilOpt, OutPadOpt, PadOpt, StrideOpt
from cnnkit.cli.options import JsonOpt, print_written

app = typer.Typer(name="draw", no_args_is_help=True,
                  help="Draw the arithmetic of a layer step by step, or a receptive field through a network.")

SizeOpt = Annotated[Optional[str], typer.Option("--in", help="Input size: 5 (square) or 5x7 (H x W).")]
KOpt = Annotated[Optional[str], typer.Option("--k", help="Kernel size: 3 or 3x5 (not needed with --kernel).")]
OutOpt = Annotated[str, typer.Option("--out", "-o", help="conv.gif (animation), or .png / .svg (every step on one sheet).")]
ImageOpt = Annotated[Optional[str], typer.Option("--image", help="Input values, rows separated by ';' (as cnnkit conv).")]
KernelValuesOpt = Annotated[Optional[str], typer.Option(
    "--kernel", help="Kernel values: sobel-x, sobel-y, laplace, box, gaussian, identity, sharpen, or '1 0; 0 -1'.")]
MaxFramesOpt = Annotated[Optional[int], typer.Option("--max-frames", help="Most steps to draw (default 200 for a GIF, 48 for a sheet).")]
InChOpt = Annotated[Optional[int], typer.Option("--in-channels", help="Input channels, for the channel view (with --groups).")]
OutChOpt = Annotated[Optional[int], typer.Option("--out-channels", help="Output channels, for the channel view.")]
GroupsOpt = Annotated[Optional[int], typer.Option("--groups", help="Grouped convolution: which input channels each output channel sees.")]
FpsOpt = Annotated[float, typer.Option("--fps", help="GIF steps per second.")]

EXAMPLES = {
    "conv": "cnnkit draw conv --in 5 --k 3 --s 2 --p 1 --out conv.gif\n\n"
            "Example: cnnkit draw conv --image \"1 0 2 3 1; 3 2 0 7 0; 0 6 1 1 4\" --kernel sobel-x --p 1 --out sobel.png",
    "maxpool": "cnnkit draw maxpool --in 5 --k 2 --s 2 --p 1 --ceil --out pool.png",
    "avgpool": "cnnkit draw avgpool --image \"1 2 3 4; 5 6 7 8; 9 10 11 12; 13 14 15 16\" --k 2 --out avg.png",
    "transpose": "cnnkit draw transpose --in 3 --k 3 --s 2 --p 1 --output-padding 1 --out up.gif",
}
CHANNEL_EXAMPLE = {
    "conv": "\n\nExample: cnnkit draw conv --in 5 --k 3 --in-channels 4 --out-channels 6 --groups 2 --out groups.png",
    "transpose": "\n\nExample: cnnkit draw transpose --in 3 --k 2 --s 2 --in-channels 4 --out-channels 4 --groups 4 --out t.png",
}
TITLES = {
    "conv": "Convolution (cross-correlation, as nn.Conv2d), one output cell per step.",
    "maxpool": "Max pooling, one window per step (PyTorch's padding and ceil-mode rules).",
    "avgpool": "Average pooling, one window per step (PyTorch's padding and ceil-mode rules).",
    "transpose": "Transposed convolution, both ways: each input cell scattering a scaled kernel, then the same "
                 "output as a convolution over the zero-inserted, padded input.",
}


def _layer_command(op: str):
    def command(
        size: SizeOpt = None,
        kernel: KOpt = None,
        stride: StrideOpt = None,
        padding: PadOpt = "0",
        dilation: DilOpt = "1",
        ceil: CeilOpt = False,
        output_padding: OutPadOpt = "0",
        image: ImageOpt = None,
        kernel_values: KernelValuesOpt = None,
        out: OutOpt = f"{op}.gif",
        max_frames: MaxFramesOpt = None,
        fps: FpsOpt = 2.0,
        in_channels: InChOpt = None,
        out_channels: OutChOpt = None,
        groups: GroupsOpt = None,
        json_: JsonOpt = False,
    ) -> None:
        from cnnkit.api.draw import draw_layer

        result = draw_layer(op, out, size, kernel, stride, padding, dilation, ceil, output_padding, image,
                            kernel_values, max_frames, fps, in_channels, out_channels, groups)
        _done(result, json_)

    command.__doc__ = (f"{TITLES[op]}\n\nEach step shows the input grid (padding grey), the kernel's footprint, the "
                       f"output cell it produces, the size formula with the numbers, and with --image its sum.\n\n"
                       f"Example: {EXAMPLES[op]}{CHANNEL_EXAMPLE.get(op, '')}")
    return command


for _op in ("conv", "maxpool", "avgpool", "transpose"):
    app.command(_op)(_layer_command(_op))


@app.command("receptive-field")
def receptive_field(
    spec: Annotated[str, typer.Argument(help="A network spec as for cnnkit layers, quoted.")],
    unit: Annotated[Optional[str], typer.Option("--unit", help="Output position ROWxCOL (default: the centre).")] = None,
    layer: Annotated[Optional[int], typer.Option("--layer", help="Layer number to start from (default: the last spatial layer).")] = None,
    out: Annotated[str, typer.Option("--out", "-o", help="PNG or SVG file (one picture, every layer's grid).")] = "receptive-field.png",
    json_: JsonOpt = False,
) -> None:
    """The input region one output position sees, through every layer, with each layer's jump and start.

    Exact through padding, pooling (ceil mode too), dilation, transposed convolution,
    adaptive and global pooling, and nearest / bilinear upsampling.

    Example: cnnkit draw receptive-field "1x32x32 | conv 8 k3 | maxpool 2 | conv 8 k3 d2" --out rf.png
    """
    from cnnkit.api.draw import draw_receptive_field

    _done(draw_receptive_field(spec, out, unit, layer), json_)


def _done(result: dict, json_: bool) -> None:
    print_written(result, json_, "pytorch")
