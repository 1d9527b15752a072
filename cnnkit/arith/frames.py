"""What each step of a convolution, pooling or transposed convolution touches.

`cnnkit draw` animates these; they are plain numbers so tests can compare every
frame with PyTorch. Coordinates are (row, col) in the *unpadded* input: padding
cells have a row or column < 0 or >= the input size.

* conv / pooling: one frame per output cell, with the kernel taps that land on real
  input cells (``inputs``) and on padding (``padding``). Ceil-mode pooling windows
  that hang past the padded input are clipped, as PyTorch clips them.
* transposed conv, scatter view: one frame per *input* cell, with the output cells
  its scaled kernel is added to (taps falling in the cropped padding are dropped).
* transposed conv, direct view: the same output as a stride-1 convolution with the
  flipped kernel over the input with s-1 zeros inserted between cells and
  d*(k-1)-p zeros around it (plus output_padding after); one frame per output cell
  with its taps on that zero-inserted grid and the real input cells among them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from cnnkit.arith.geometry import AxisGeometry

Cell = tuple[int, int]


@dataclass
class Frame:
    """One step: the output cell and the input cells it combines (or, scatter: the reverse)."""

    output: Cell  # scatter frames: the input cell that scatters
    inputs: list[Cell]  # real input cells (scatter: output cells written)
    padding: list[Cell] = field(default_factory=list)  # taps on padding (scatter: taps cropped away)
    taps: list[tuple[int, int]] = field(default_factory=list)  # kernel index (i, j) of each entry of inputs
    grid: list[Cell] = field(default_factory=list)  # direct transposed view: taps on the zero-inserted grid

    def as_dict(self) -> dict:
        d = {"output": list(self.output), "inputs": [list(c) for c in self.inputs],
             "padding": [list(c) for c in self.padding]}
        if self.grid:
            d["grid"] = [list(c) for c in self.grid]
        return d


def window_frames(rows: AxisGeometry, cols: AxisGeometry) -> list[Frame]:
    """Conv / pooling: output cell (i, j) reads taps (i*s - p + a*d, j*s - p + b*d)."""
    frames = []
    kr, kc = _clip(rows), _clip(cols)
    for i in range(rows.out):
        for j in range(cols.out):
            inputs, padding, taps = [], [], []
            for a in kr[i]:
                r = i * rows.s - rows.p_before + a * rows.d
                for b in kc[j]:
                    c = j * cols.s - cols.p_before + b * cols.d
                    if 0 <= r < rows.n and 0 <= c < cols.n:
                        inputs.append((r, c))
                        taps.append((a, b))
                    else:
                        padding.append((r, c))
            frames.append(Frame((i, j), inputs, padding, taps))
    return frames


def _clip(g: AxisGeometry) -> list[range]:
    """Kernel indices of each output position that lie inside the padded input.

    Only ceil-mode pooling can place a window past the padded input; PyTorch clips it.
    """
    end = g.n + g.p_after  # padded input spans [-p_before, end)
    return [range(0, min(g.k, (end - 1 - (o * g.s - g.p_before)) // g.d + 1)) for o in range(g.out)]


def scatter_frames(rows: AxisGeometry, cols: AxisGeometry) -> list[Frame]:
    """Transposed conv: input (r, c) adds w[a, b] * x[r, c] to output (r*s - p + a*d, c*s - p + b*d)."""
    frames = []
    for r in range(rows.n):
        for c in range(cols.n):
            outs, cropped, taps = [], [], []
            for a in range(rows.k):
                i = r * rows.s - rows.p_before + a * rows.d
                for b in range(cols.k):
                    j = c * cols.s - cols.p_before + b * cols.d
                    if 0 <= i < rows.out and 0 <= j < cols.out:
                        outs.append((i, j))
                        taps.append((a, b))
                    else:
                        cropped.append((i, j))
            frames.append(Frame((r, c), outs, cropped, taps))
    return frames


def zero_inserted_size(g: AxisGeometry) -> tuple[int, int, int]:
    """(leading zeros, length, trailing zeros) of the direct view's input along one axis."""
    lead = g.d * (g.k - 1) - g.p_before
    trail = lead + g.output_padding
    return lead, (g.n - 1) * g.s + 1, trail


def direct_frames(rows: AxisGeometry, cols: AxisGeometry) -> list[Frame]:
    """Transposed conv as a stride-1 conv (flipped kernel) on the zero-inserted, padded input.

    Grid coordinates: position q in [0, lead + length + trail) of the zero-inserted
    axis (negative lead means PyTorch crops instead of padding). A tap on q is a real
    input cell when q - lead is a multiple of s within the input.
    """
    frames = []
    (lr, _, _), (lc, _, _) = zero_inserted_size(rows), zero_inserted_size(cols)
    for i in range(rows.out):
        for j in range(cols.out):
            inputs, grid, taps = [], [], []
            for a in range(rows.k):
                q = i + a * rows.d  # row on the zero-inserted grid
                for b in range(cols.k):
                    u = j + b * cols.d
                    grid.append((q, u))
                    r, c = _source(q - lr, rows), _source(u - lc, cols)
                    if r is not None and c is not None:
                        inputs.append((r, c))
                        # The direct view uses the flipped kernel: tap (a, b) is w[k-1-a, k-1-b].
                        taps.append((rows.k - 1 - a, cols.k - 1 - b))
            frames.append(Frame((i, j), inputs, [], taps, grid))
    return frames


def _source(offset: int, g: AxisGeometry) -> int | None:
    """The input index at this offset of the zero-inserted axis, or None for an inserted zero."""
    if offset < 0 or offset % g.s:
        return None
    r = offset // g.s
    return r if r < g.n else None


def pytorch_line(op: str, rows: AxisGeometry, cols: AxisGeometry, in_channels: int = 1, out_channels: int = 1,
                 groups: int = 1) -> str:
    """The nn module that computes this drawing, e.g. nn.Conv2d(1, 1, kernel_size=3, stride=2, padding=1, dilation=1)."""
    def pair(a, b):
        return str(a) if a == b else f"({a}, {b})"

    k, s, d = pair(rows.k, cols.k), pair(rows.s, cols.s), pair(rows.d, cols.d)
    symmetric = (rows.p_before, cols.p_before) == (rows.p_after, cols.p_after)
    p = pair(rows.p_before, cols.p_before) if symmetric else "0"
    if op == "maxpool":
        ceil = ", ceil_mode=True" if rows.ceil_mode else ""
        return f"nn.MaxPool2d(kernel_size={k}, stride={s}, padding={p}, dilation={d}{ceil})"
    if op == "avgpool":
        ceil = ", ceil_mode=True" if rows.ceil_mode else ""
        return f"nn.AvgPool2d(kernel_size={k}, stride={s}, padding={p}{ceil})"
    name = "Conv2d" if op == "conv" else "ConvTranspose2d"
    extra = f", output_padding={pair(rows.output_padding, cols.output_padding)}" if op == "transpose" else ""
    extra += f", groups={groups}" if groups != 1 else ""
    line = f"nn.{name}({in_channels}, {out_channels}, kernel_size={k}, stride={s}, padding={p}{extra}, dilation={d})"
    if not symmetric:
        # PyTorch has no asymmetric padding argument: pad first (left, right, top, bottom).
        line = f"nn.Sequential(nn.ZeroPad2d(({cols.p_before}, {cols.p_after}, {rows.p_before}, {rows.p_after})), {line})"
    return line


@dataclass
class Drawing:
    """Everything `cnnkit draw` shows, as numbers: geometry, frames, values, formula, code."""

    op: str
    rows: AxisGeometry
    cols: AxisGeometry
    frames: list[Frame]  # one per output cell (transposed: the direct view)
    scatter: list[Frame] | None = None  # transposed: one per input cell
    image: list[list] | None = None  # input values (with --image)
    kernel: list[list] | None = None  # kernel values as applied
    output: list[list] | None = None  # output values
    texts: list[str] = field(default_factory=list)  # per frame: its dot product / window
    scatter_texts: list[str] = field(default_factory=list)
    formula: list[str] = field(default_factory=list)
    pytorch: str = ""
    channels: ChannelView | None = None  # with --in-channels / --out-channels / --groups


@dataclass
class ChannelView:
    """Which input channels each output channel combines: groups split both into g blocks."""

    in_channels: int
    out_channels: int
    groups: int
    weight_shape: tuple[int, ...]
    params: int
    blocks: list[tuple[list[int], list[int]]]  # per group: (input channels, output channels)

    def as_dict(self) -> dict:
        return {"in_channels": self.in_channels, "out_channels": self.out_channels, "groups": self.groups,
                "weight_shape": list(self.weight_shape), "params": self.params,
                "blocks": [{"in_channels": i, "out_channels": o} for i, o in self.blocks]}


def channel_view(op: str, in_channels: int, out_channels: int, groups: int, k: tuple[int, int]) -> ChannelView:
    """Grouped convolution: output channel o reads input channels of group o // (C_out/g) only."""
    from cnnkit.errors import GeometryError, SpecError

    if op not in ("conv", "transpose"):
        raise SpecError("channels and groups belong to convolutions; pooling works on each channel alone")
    for name, v in (("--in-channels", in_channels), ("--out-channels", out_channels), ("--groups", groups)):
        if v < 1:
            raise SpecError(f"{name} must be >= 1, got {v}")
    if in_channels % groups or out_channels % groups:
        raise GeometryError(f"--groups {groups} must divide both --in-channels ({in_channels}) and "
                            f"--out-channels ({out_channels})")
    ci, co = in_channels // groups, out_channels // groups
    blocks = [(list(range(g * ci, (g + 1) * ci)), list(range(g * co, (g + 1) * co))) for g in range(groups)]
    # Conv2d weights are (C_out, C_in/g, kh, kw); ConvTranspose2d's are (C_in, C_out/g, kh, kw).
    shape = (out_channels, ci, *k) if op == "conv" else (in_channels, co, *k)
    params = shape[0] * shape[1] * k[0] * k[1] + out_channels
    return ChannelView(in_channels, out_channels, groups, shape, params, blocks)


MAX_GRID = 64  # cells per axis a drawing shows: beyond this a cell is too small to read


def _agree(flag: str, given: str | None, source: str, h: int, w: int) -> str:
    """The size `source` values have (H x W), refusing a `flag` size that differs."""
    from cnnkit.arith.parse import parse_sizes
    from cnnkit.errors import SpecError

    if given is not None:
        sizes = parse_sizes(given, flag)
        if (sizes * 2 if len(sizes) == 1 else sizes) != (h, w):
            raise SpecError(f"{flag} {given} disagrees with {source}, which is {h}x{w}; give one of them "
                            f"(the size comes from {source})")
    return f"{h}x{w}"


def _check_drawable(rows, cols) -> None:
    """Refuse a grid too large to draw cell by cell, before any frame is planned
    (a 100000-cell axis would mean 10^10 frames)."""
    from cnnkit.errors import SpecError

    biggest = max(g.n + g.p_before + g.p_after if g.op != "transpose" else g.n for g in (rows, cols))
    biggest = max(biggest, rows.out, cols.out)
    if biggest > MAX_GRID:
        raise SpecError(f"a {biggest}-cell grid is too large to draw cell by cell; draw a smaller case "
                        f"(at most {MAX_GRID} cells per axis, e.g. --in 8): the arithmetic is the same")


def plan(op: str, size: str | None = None, kernel: str | None = None, stride: str | None = None,
         padding: str = "0", dilation: str = "1", ceil_mode: bool = False, output_padding: str = "0",
         image: str | None = None, kernel_values: str | None = None, in_channels: int | None = None,
         out_channels: int | None = None, groups: int | None = None, steps: bool = True) -> Drawing:
    """Resolve `cnnkit draw`'s options into a Drawing (raises CnnkitError on bad geometry).

    ``steps=False`` plans the formula and the PyTorch line only, no frames, for a layer of
    any size (`cnnkit explore` shows a real layer's numbers beside a small drawing).

    One size means a square (``--in 5`` is 5x5). With ``image`` (a matrix, as `cnnkit
    conv --image`) the input size comes from it; with ``kernel_values`` (a named or
    inline kernel) so does the kernel size of conv / transpose.
    """
    from cnnkit.arith import manual
    from cnnkit.arith.geometry import explain
    from cnnkit.arith.parse import parse_sizes
    from cnnkit.arith.shape import layer_output
    from cnnkit.errors import SpecError

    values = manual.parse_matrix(image, "image") if image is not None else None
    weights = None
    if kernel_values is not None:
        if op in ("maxpool", "avgpool"):
            raise SpecError("pooling has no kernel values; give the pool size with --k")
        weights = manual.kernel_from(kernel_values)
    # The values fix the sizes; a size given as well must agree, or one of them is a mistake.
    if values is not None:
        size = _agree("--in", size, "--image", len(values), len(values[0]))
    if weights is not None:
        kernel = _agree("--k", kernel, "--kernel", len(weights), len(weights[0]))
    if size is None:
        raise SpecError("give the input size with --in (e.g. --in 5 or --in 5x7) or the values with --image")
    if kernel is None:
        raise SpecError("give the kernel size with --k (e.g. --k 3) or its values with --kernel")
    sizes = [parse_sizes(v, what) for v, what in [(size, "input size"), (kernel, "kernel size")] + (
        [(stride, "stride")] if stride else []) + [(dilation, "dilation"), (output_padding, "output padding")]]
    if max(len(v) for v in sizes) > 2:
        raise SpecError("draw shows 2-D grids: give sizes as one number (square) or H x W, e.g. 5x7")
    axes = layer_output(op, size, kernel, stride, padding, dilation, ceil_mode, output_padding)
    rows, cols = (axes * 2) if len(axes) == 1 else axes
    if steps:
        _check_drawable(rows, cols)
    channels = None
    if (in_channels, out_channels, groups) != (None, None, None):
        if values is not None and (in_channels or 1) > 1:
            raise SpecError("--image gives one input channel; leave out --in-channels, or draw the channels without values")
        g = 1 if groups is None else groups
        channels = channel_view(op, g if in_channels is None else in_channels, g if out_channels is None else out_channels,
                                g, (rows.k, cols.k))
    cin, cout, g = (channels.in_channels, channels.out_channels, channels.groups) if channels else (1, 1, 1)
    drawing = Drawing(op, rows, cols, [], pytorch=pytorch_line(op, rows, cols, cin, cout, g), channels=channels)
    if padding.strip().lower() == "same":
        drawing.pytorch = drawing.pytorch.replace(f"padding={rows.p_before}", "padding='same'", 1) \
            if rows.p_before == rows.p_after and cols.p_before == cols.p_after else drawing.pytorch
    for name, g in (("H", rows), ("W", cols)) if (rows != cols) else (("", rows),):
        drawing.formula += [f"{name}: {line}" if name else line for line in explain(g)]
    if not steps:
        return drawing
    if op == "transpose":
        drawing.frames, drawing.scatter = direct_frames(rows, cols), scatter_frames(rows, cols)
    else:
        drawing.frames = window_frames(rows, cols)
    if values is not None:
        _add_values(drawing, values, weights)
    return drawing


def _add_values(drawing: Drawing, values: list[list], weights: list[list] | None) -> None:
    """Per-cell values and each frame's worked sum, from arith.manual (as `cnnkit conv --steps`)."""
    from cnnkit.arith import manual
    from cnnkit.errors import SpecError

    rows, cols, op = drawing.rows, drawing.cols, drawing.op
    if (rows.s, rows.p_before, rows.p_after, rows.d) != (cols.s, cols.p_before, cols.p_after, cols.d) \
            or rows.p_before != rows.p_after:
        raise SpecError("with --image, give one stride, padding and dilation for both axes (e.g. --s 2 --p 1)")
    if op in ("conv", "transpose") and weights is None:
        raise SpecError("with --image, give the kernel values too: --kernel sobel-x or --kernel '1 0; 0 -1'")
    drawing.image = values
    if op == "conv":
        result = manual.convolve(values, weights, rows.s, rows.p_before, rows.d)
        drawing.texts = [manual.step_text(st, op) for st in result.steps]
    elif op in ("maxpool", "avgpool"):
        if rows.d != 1 or rows.k != cols.k:
            raise SpecError("with --image, pooling takes one square pool size (--k 2) and no dilation")
        result = manual.pool(values, rows.k, rows.s, rows.p_before, op, rows.ceil_mode)
        drawing.texts = [manual.step_text(st, op) for st in result.steps]
    else:
        result = manual.transpose(values, weights, rows.s, rows.p_before, rows.d, rows.output_padding)
        fmt = manual.format_number
        drawing.scatter_texts = [f"x[{st.row}][{st.col}] = {fmt(st.value)}: adds {fmt(st.value)} x kernel"
                                 for st in result.steps]
        for f in drawing.frames:
            terms = [(values[r][c], weights[a][b]) for (r, c), (a, b) in zip(f.inputs, f.taps)]
            total = manual._clean(sum(x * w for x, w in terms))
            body = " + ".join(f"{fmt(x)}·{manual._paren(w)}" for x, w in terms) or "0 (only inserted zeros)"
            drawing.texts.append(f"out[{f.output[0]}][{f.output[1]}] = {body} = {fmt(total)}")
    drawing.kernel = result.kernel
    drawing.output = result.output


def scatter_partials(drawing: Drawing) -> list[list[list]]:
    """The output after each scatter frame (transposed conv with values): running sums."""
    rows, cols = drawing.rows, drawing.cols
    acc: list[list] = [[0] * cols.out for _ in range(rows.out)]
    partials = []
    for f in drawing.scatter or []:
        x = drawing.image[f.output[0]][f.output[1]]
        for (i, j), (a, b) in zip(f.inputs, f.taps):
            acc[i][j] += x * drawing.kernel[a][b]
        partials.append([row[:] for row in acc])
    return partials
