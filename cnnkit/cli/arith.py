"""`cnnkit shape | solve | layers | conv`: conv arithmetic commands (no torch).

Rich is imported inside the commands that draw tables, so `cnnkit shape` only
pays for Python and Typer at start-up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cnnkit.arith.parse import format_sizes
from cnnkit.cli.options import JsonOpt, print_json

app = typer.Typer()

OpOpt = Annotated[str, typer.Option("--op", help="Layer type: conv | maxpool | avgpool | transpose.")]
SizeOpt = Annotated[str, typer.Option("--in", help="Input size per axis: 512 or 28x32 (H x W).")]
KernelOpt = Annotated[str, typer.Option("--k", help="Kernel size: 3 or 3x5.")]
StrideOpt = Annotated[Optional[str], typer.Option("--s", help="Stride (default 1; pooling: the kernel size).")]
PadOpt = Annotated[str, typer.Option("--p", help="Padding: 1, 1x2 per axis, 1:2 before:after, same, valid.")]
DilOpt = Annotated[str, typer.Option("--d", help="Dilation: 1 or 1x2.")]
CeilOpt = Annotated[bool, typer.Option("--ceil", help="Pooling ceil_mode, computed exactly as PyTorch does.")]
OutPadOpt = Annotated[str, typer.Option("--output-padding", help="Transposed conv output_padding.")]


@app.command()
def shape(
    size: SizeOpt,
    kernel: KernelOpt,
    stride: StrideOpt = None,
    padding: PadOpt = "0",
    dilation: DilOpt = "1",
    op: OpOpt = "conv",
    ceil: CeilOpt = False,
    output_padding: OutPadOpt = "0",
    explain: Annotated[bool, typer.Option("--explain", help="Show the formula with the numbers substituted.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Output size of a conv, pooling or transposed-conv layer, per axis.

    Example: cnnkit shape --in 512 --k 9 --p 1   (prints 506)

    Example: cnnkit shape --in 7 --k 2 --s 2 --op maxpool --ceil --explain
    """
    from cnnkit.api.arith import shape as shape_of

    result = shape_of(size, kernel, stride, padding, dilation, op, ceil, output_padding)
    if json_:
        print_json(result)
        return
    typer.echo(format_sizes(result["output"]))
    if explain:
        names = ["H", "W", "D"] if len(result["axes"]) > 1 else [""]
        for name, axis in zip(names, result["axes"]):
            if name:
                typer.echo(f"{name}:")
            for line in axis["explanation"]:
                typer.echo(f"  {line}")


@app.command()
def solve(
    out: Annotated[int, typer.Option("--out", help="The output size you need (one axis).")],
    size: Annotated[Optional[int], typer.Option("--in", help="Input size; leave out to solve for it.")] = None,
    kernel: Annotated[Optional[int], typer.Option("--k", help="Kernel size, if known.")] = None,
    stride: Annotated[Optional[int], typer.Option("--s", help="Stride, if known.")] = None,
    padding: Annotated[Optional[int], typer.Option("--p", help="Padding (each side), if known.")] = None,
    dilation: Annotated[Optional[int], typer.Option("--d", help="Dilation, if known.")] = None,
    op: OpOpt = "conv",
    ceil: CeilOpt = False,
    output_padding: Annotated[int, typer.Option("--output-padding", help="Transposed conv output_padding.")] = 0,
    max_k: Annotated[int, typer.Option("--max-k", help="Largest kernel to try.")] = 16,
    max_s: Annotated[int, typer.Option("--max-s", help="Largest stride to try.")] = 16,
    max_p: Annotated[int, typer.Option("--max-p", help="Largest padding to try.")] = 16,
    max_d: Annotated[int, typer.Option("--max-d", help="Largest dilation to try.")] = 8,
    json_: JsonOpt = False,
) -> None:
    """Every integer solution for the unknown kernel, stride, padding, dilation (or input size).

    Quantities you give are fixed; the others are searched within the --max-* bounds.
    Without --in, solves for the input size (k needed; s, p, d default to 1, 0, 1).

    Example: cnnkit solve --in 512 --out 504 --p 1 --s 1 --d 1   (k = 11)

    Example: cnnkit solve --out 16 --k 2 --s 2 --op maxpool   (inputs 32 and 33)
    """
    from cnnkit.api.arith import solve as solve_for

    result = solve_for(out, size, kernel, stride, padding, dilation, op, ceil, output_padding, max_k, max_s, max_p, max_d)
    if json_:
        print_json(result)
        return
    sols, unknowns = result["solutions"], result["unknowns"]
    if not sols:
        if not unknowns:
            typer.echo(f"no solution: the given in, k, s, p, d do not give {out} (every value was given, so there "
                       f"is nothing to solve for); leave one out to solve for it, or see `cnnkit shape --explain`")
        else:
            typer.echo(f"no solution for {', '.join(unknowns)} within the bounds (--max-k {max_k}, --max-s {max_s}, "
                       f"--max-p {max_p}, --max-d {max_d}); widen them or check the known values")
        return
    typer.echo(f"{len(sols)} solution(s) for {', '.join(unknowns) or 'nothing (every value was given)'} ({op}):")
    for x in sols:
        typer.echo(f"  in={x['in']} k={x['k']} s={x['s']} p={x['p']} d={x['d']}")
    for n in result["notes"]:
        typer.echo(n)


LAYERS_HELP = """A whole network from a one-line spec: shapes, parameters, MACs, receptive field.

Per layer: output shape, parameter count with its formula, MACs and FLOPs, receptive
field and effective stride (jump); totals at the bottom. The receptive field (RF) is
the largest box of input pixels any one output position depends on, per axis (never
more than the image); `cnnkit summary` reports the same number for a model.

Segments are separated by '|'. The first is the input shape (CxHxW, or N flat features).
Layers: conv C [kK sS pP dD gG nobias], convT C [kK sS pP opN dD gG], maxpool K [sS pP dD ceil],
avgpool K [sS pP ceil], gap [HxW], bn|bn1d|bn2d, relu|elu|leakyrelu|gelu|sigmoid|tanh|silu|softmax,
dropout [P], dropout2d [P], flatten, linear N [nobias], upsample F [nearest|bilinear].
Padding P: 2, 1x2, 1:2 (before:after), same, valid. See docs/layers.md.

Example: cnnkit layers "3x32x32 | conv 32 k5 p2 | relu | maxpool 2 | flatten | linear 10"
"""


@app.command(help=LAYERS_HELP)
def layers(
    spec: Annotated[str, typer.Argument(help="The network spec, quoted.")],
    batch: Annotated[Optional[int], typer.Option("--batch", help="Also estimate training memory for this batch size.")] = None,
    optimizer: Annotated[str, typer.Option("--optimizer", help="Optimizer for the memory estimate: sgd, momentum, adam, ...")] = "sgd",
    json_: JsonOpt = False,
) -> None:
    from cnnkit.api.arith import layers as analyse_layers

    result = analyse_layers(spec, batch, optimizer)
    if json_:
        print_json(result)
        return
    _render_layers(result, batch, optimizer)


def _rf_text(values) -> str:
    if values is None:
        return "all"
    texts = [str(v) if isinstance(v, int) else f"{v:.3g}" for v in values]
    return texts[0] if len(set(texts)) == 1 else "x".join(texts)


def _render_layers(report: dict, batch, optimizer) -> None:
    from rich.table import Table

    from cnnkit.cli.console import stdout_console

    table = Table(title=f"input {format_sizes(report['input_shape'])}", title_justify="left")
    for name, justify in [("#", "right"), ("layer", "left"), ("output", "left"), ("params", "right"),
                          ("formula", "left"), ("MACs", "right"), ("RF in image", "right"), ("RF textbook", "right"),
                          ("jump", "right")]:
        table.add_column(name, justify=justify, no_wrap=name in ("output", "params", "MACs"))
    for r in report["layers"]:
        table.add_row(str(r["index"]), r["layer"], format_sizes(r["output_shape"]), f"{r['params']:,}",
                      r["params_formula"] if r["params"] else "", f"{r['macs']:,}" if r["macs"] else "",
                      _rf_text(r["receptive_field"]), _rf_text(r.get("textbook_receptive_field", r["receptive_field"])),
                      _rf_text(r["effective_stride"]))
    console = stdout_console()
    console.print(table)
    console.print(f"total params: {report['total_params']:,}")
    console.print(f"total MACs:   {report['total_macs']:,} (multiply-accumulates per image, conv/linear layers)")
    console.print(f"total FLOPs:  {report['total_flops']:,} (= 2 x MACs)")
    console.print("RF in image: receptive field, the largest footprint of any position on this input (pixels; padding "
                  "and the image border clip it); RF textbook: RF += (k-1)·d·jump, never clipped, as lecture notes compute "
                  "it; jump: effective stride; 'all': every input pixel")
    for r in report["layers"]:
        for n in r["notes"]:
            console.print(f"layer {r['index']}: {n}")
    memory = report.get("training_memory_bytes")
    if memory:
        mib = {k: v / 2**20 for k, v in memory.items()}
        console.print(
            f"training memory (batch {batch}, {optimizer}, fp32, estimate): {mib['total']:.1f} MiB = "
            f"activations {mib['activations']:.1f} + params {mib['params']:.1f} + grads {mib['grads']:.1f} "
            f"+ optimizer state {mib['optimizer_state']:.1f}"
        )


@app.command()
def conv(
    image: Annotated[Optional[str], typer.Option("--image", help="Matrix rows separated by ';', e.g. '1 0 2; 3 2 0'.")] = None,
    image_file: Annotated[Optional[Path], typer.Option("--image-file", help="Read the matrix from a text file (one row per line).")] = None,
    kernel: Annotated[Optional[str], typer.Option("--kernel", help="sobel-x (default), sobel-y, laplace, box, gaussian, identity, sharpen, or '1 0; 0 -1' (--op conv only).")] = None,
    padding: Annotated[int, typer.Option("--p", help="Zero padding on every side.")] = 0,
    stride: Annotated[Optional[int], typer.Option("--s", help="Stride (default 1; pooling: the pool size).")] = None,
    dilation: Annotated[int, typer.Option("--d", help="Dilation (convolution only).")] = 1,
    mode: Annotated[Optional[str], typer.Option("--mode", help="correlate (default, what nn.Conv2d computes) or convolve (kernel flipped); --op conv only.")] = None,
    op: Annotated[str, typer.Option("--op", help="conv, maxpool or avgpool.")] = "conv",
    size: Annotated[Optional[int], typer.Option("--size", help="Pool size for --op maxpool/avgpool (default 2), e.g. --op maxpool --size 3.")] = None,
    ceil: CeilOpt = False,
    steps: Annotated[bool, typer.Option("--steps", help="Print every dot product / window.")] = False,
    json_: JsonOpt = False,
) -> None:
    """Convolution or pooling of a small matrix by hand, with every step.

    Default is cross-correlation (no kernel flip), which is what deep-learning conv
    layers compute; --mode convolve flips the kernel (the textbook definition).

    Example: cnnkit conv --image "1 0 2 3 1; 3 2 0 7 0; 0 6 1 1 4" --kernel sobel-x --p 1 --steps
    """
    from cnnkit.api.arith import conv as by_hand
    from cnnkit.api.arith import worked

    args = (image, kernel, padding, stride, dilation, mode, op, size, ceil)
    if json_:
        print_json(by_hand(*args, steps=steps, image_file=image_file))
        return
    from cnnkit.arith.manual import format_number as fmt
    from cnnkit.arith.manual import step_text
    from cnnkit.cli.console import stdout_console

    result = worked(*args, image_file=image_file)
    console = stdout_console()
    if op == "conv" and mode == "convolve":
        console.print("convolve: the kernel is flipped in both axes before sliding it")
    if result.kernel is not None:
        console.print(_matrix_table("kernel as applied", result.kernel, fmt))
    if padding:
        console.print(_matrix_table(f"input with padding {padding}", result.padded, fmt))
    console.print(_matrix_table("output", result.output, fmt))
    if steps:
        for x in result.steps:
            console.print(step_text(x, op), highlight=False, soft_wrap=True)


def _matrix_table(title, matrix, fmt):
    from rich.table import Table

    table = Table(title=title, show_header=False, title_justify="left")
    for _ in matrix[0]:
        table.add_column(justify="right")
    for row in matrix:
        table.add_row(*(fmt(v) for v in row))
    return table

