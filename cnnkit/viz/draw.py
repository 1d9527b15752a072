"""`cnnkit draw`: the arithmetic of one layer as an animation (GIF) or a sheet of steps (PNG/SVG).

Every number comes from `cnnkit.arith.frames.plan` (geometry, taps, values, formula,
PyTorch line); this module only lays out grids and writes files. Frames are drawn
with Pillow: the static grids once, then per frame a copy with the changing cells,
so a 100-frame GIF takes a fraction of a second.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cnnkit.arith.frames import MAX_GRID, Drawing, Frame, scatter_partials, zero_inserted_size
from cnnkit.arith.manual import format_number
from cnnkit.errors import CnnkitError
from cnnkit.viz.draw_canvas import (
    BLUE,
    GREEN,
    GRID,
    INK,
    ORANGE,
    PAD,
    PURPLE,
    SKY,
    VERMILION,
    WHITE,
    YELLOW,
    ZERO,
    PilCanvas,
    SvgCanvas,
    text_width,
    wrap,
)

SUFFIXES = (".gif", ".png", ".svg")
M = 16  # margin, pixels


MARK = "cnnkit draw"  # written into every file we draw, so a later run may replace it


def check_out_path(path: str | Path, suffixes: tuple[str, ...] = SUFFIXES) -> Path:
    """Refuse a suffix we cannot write; overwrite only an earlier drawing of `cnnkit draw`.

    `suffixes`: the formats this drawing can be written as (a still picture has no .gif):
    the bytes written always match the name."""
    path = Path(path)
    if path.suffix.lower() not in suffixes:
        if suffixes == SUFFIXES:
            raise CnnkitError(f"--out {path} must end in .gif (animation), .png or .svg (sheet of every step)")
        raise CnnkitError(f"--out {path} must end in {' or '.join(suffixes)}: this is one still picture")
    if path.is_dir():
        raise CnnkitError(f"--out {path} is a folder; give a file name such as {path / 'conv.gif'}")
    from cnnkit.outputs import FIGURE, check_output

    return check_output(path, FIGURE)  # the write rule: an earlier cnnkit figure may be replaced, nothing else


@dataclass
class View:
    """One kind of step: which frames, which grids on the left and right."""

    name: str  # "window" (conv / pooling), "scatter", "direct" (transposed)
    frames: list[Frame]
    texts: list[str]
    left: tuple[range, range]  # rows, cols of the left grid (unpadded input coordinates, or grid positions)
    right: tuple[range, range]
    left_title: str
    right_title: str


def views(d: Drawing) -> list[View]:
    rows, cols = d.rows, d.cols
    out_grid = (range(rows.out), range(cols.out))
    if d.op != "transpose":
        left = (range(-rows.p_before, rows.n + rows.p_after), range(-cols.p_before, cols.n + cols.p_after))
        pad = f", padding {_pair(rows.p_before, cols.p_before, rows.p_after, cols.p_after)} (grey)" \
            if rows.p_before or rows.p_after or cols.p_before or cols.p_after else ""
        return [View("window", d.frames, d.texts, left, out_grid, f"input {rows.n}x{cols.n}{pad}",
                     f"output {rows.out}x{cols.out}")]
    (lr, nr, tr), (lc, nc, tc) = zero_inserted_size(rows), zero_inserted_size(cols)
    full = (range(-rows.p_before, max(rows.out, (rows.n - 1) * rows.s + rows.effective_kernel - rows.p_before)),
            range(-cols.p_before, max(cols.out, (cols.n - 1) * cols.s + cols.effective_kernel - cols.p_before)))
    scatter = View("scatter", d.scatter, d.scatter_texts, (range(rows.n), range(cols.n)), full,
                   f"input {rows.n}x{cols.n}", f"output {rows.out}x{cols.out}, grey: cropped")
    direct = View("direct", d.frames, d.texts, (range(lr + nr + tr), range(lc + nc + tc)), out_grid,
                  f"{rows.s - 1} zero(s) between, " + _border_text(lr, tr),
                  f"output {rows.out}x{cols.out}")
    return [scatter, direct]


def _border_text(before: int, after: int) -> str:
    """The zero border of the gather view: d(k-1)-p each side, plus output_padding after."""
    if before < 0:
        return f"{-before} cropped (p > d(k-1))"
    return f"border {before}" if after == before else f"border {before}, {after} after"  # short: the label is one line over the grid


def _pair(a, b, a2, b2) -> str:
    if (a, b) == (a2, b2):
        return str(a) if a == b else f"{a}x{b}"
    return f"{a}:{a2}x{b}:{b2}"


class Renderer:
    """Lays out one View at a cell size and draws its static part and each step."""

    def __init__(self, d: Drawing, view: View, cell: int, text_width_px: int | None = None):
        self.d, self.v, self.c = d, view, cell
        self.values = d.image is not None and cell >= 22
        self.vsize = max(9, int(cell * 0.36))
        lw = len(view.left[1]) * cell
        rw = len(view.right[1]) * cell
        self.gap = max(48, cell + 16)
        self.grid_w = lw + self.gap + rw
        self.width = max(self.grid_w, text_width_px or 0)
        self.label_h = 20
        self.grid_h = max(len(view.left[0]), len(view.right[0])) * cell
        self.lx, self.rx = 0, lw + self.gap
        self.gy = 2 * self.label_h  # step label, then panel titles
        self.text_lines = max((len(wrap(t, 12, self.width, mono=True)) for t in view.texts), default=0)
        self.height = self.gy + self.grid_h + 8 + self.text_lines * 16 + 4

    # ---------------------------------------------------------------- cells
    def _xy(self, side: str, r: int, c: int) -> tuple[int, int]:
        rows, cols = self.v.left if side == "L" else self.v.right
        x0 = (self.lx if side == "L" else self.rx) + (c - cols.start) * self.c
        return x0, self.gy + (r - rows.start) * self.c

    def _cell(self, cv, ox, oy, side, r, c, fill, outline=GRID, width=1, text=None, text_fill=INK):
        x, y = self._xy(side, r, c)
        x, y = x + ox, y + oy
        cv.rect(x, y, x + self.c, y + self.c, fill=fill, outline=outline, width=width)
        if text is not None and self.values:
            cv.text(x + self.c / 2, y + self.c / 2, text, size=self._fit(text), fill=text_fill, anchor="mm")

    def _zero_tap(self, cv, ox, oy, side, r, c) -> None:
        """An orange frame inside the cell, so neighbouring cells keep their own borders."""
        x, y = self._xy(side, r, c)
        inset = max(2, self.c // 10)
        cv.rect(ox + x + inset, oy + y + inset, ox + x + self.c - inset, oy + y + self.c - inset,
                outline=ORANGE, width=max(2, self.c // 12))

    def _fit(self, text: str) -> int:
        size = self.vsize
        while size > 7 and text_width(text, size) > self.c - 4:
            size -= 1
        return size

    def _left_kind(self, r: int, c: int) -> tuple[str, str | None]:
        """Fill and value text of a left-grid cell before any highlighting."""
        d = self.d
        if self.v.name == "direct":
            src = [_source_of(q, g) for q, g in ((r, d.rows), (c, d.cols))]
            if None in src:
                inside = all(0 <= q - zero_inserted_size(g)[0] <= (g.n - 1) * g.s for q, g in ((r, d.rows), (c, d.cols)))
                return (ZERO if inside else PAD), "0"
            r, c = src
        elif not (0 <= r < d.rows.n and 0 <= c < d.cols.n):
            return PAD, ("-inf" if d.op == "maxpool" else "0")
        return WHITE, (format_number(d.image[r][c]) if d.image is not None else None)

    def _out_text(self, i: int, j: int, step: int) -> str | None:
        d = self.d
        if d.output is None:
            return None
        if self.v.name == "scatter":
            return format_number(self._partials[step][i][j])
        return format_number(d.output[i][j])

    # ---------------------------------------------------------------- drawing
    def draw_static(self, cv, ox: int, oy: int) -> None:
        v = self.v
        cv.text(ox + self.lx, oy + self.label_h, v.left_title, size=13, anchor="la")
        cv.text(ox + self.rx, oy + self.label_h, v.right_title, size=13, anchor="la")
        for r in v.left[0]:
            for c in v.left[1]:
                fill, text = self._left_kind(r, c)
                self._cell(cv, ox, oy, "L", r, c, fill, text=text)
        for i in v.right[0]:
            for j in v.right[1]:
                inside = 0 <= i < self.d.rows.out and 0 <= j < self.d.cols.out
                self._cell(cv, ox, oy, "R", i, j, WHITE if inside else PAD)
        rows, cols = self.d.rows, self.d.cols
        if v.name == "scatter" and rows.output_padding:
            # Output padding keeps rows / columns at the end that padding would crop.
            x0, y0 = self._xy("R", rows.out - rows.output_padding, 0)
            x1, y1 = self._xy("R", rows.out, cols.out)
            cv.rect(ox + x0, oy + y0, ox + x1, oy + y1, outline=GREEN, width=3)
        if v.name == "scatter" and cols.output_padding:
            x0, y0 = self._xy("R", 0, cols.out - cols.output_padding)
            x1, y1 = self._xy("R", rows.out, cols.out)
            cv.rect(ox + x0, oy + y0, ox + x1, oy + y1, outline=GREEN, width=3)
        arrow_x = ox + self.rx - self.gap / 2
        cv.text(arrow_x, oy + self.gy + self.grid_h / 2, "→", size=24, anchor="mm")

    def draw_step(self, cv, ox: int, oy: int, t: int, total_label: str) -> None:
        v, f = self.v, self.v.frames[t]
        if v.name == "scatter":
            label = f"step {t + 1} of {total_label}: input [{f.output[0]}][{f.output[1]}] adds its value x kernel"
        else:
            label = f"step {t + 1} of {total_label}: output [{f.output[0]}][{f.output[1]}]"
        cv.text(ox, oy, label, size=13, anchor="la")
        if v.name == "scatter":
            self._scatter_step(cv, ox, oy, t, f)
        else:
            self._window_step(cv, ox, oy, t, f)
        if t < len(v.texts):
            for n, line in enumerate(wrap(v.texts[t], 12, self.width, mono=True)):
                cv.text(ox, oy + self.gy + self.grid_h + 8 + 16 * n, line, size=12, anchor="la", mono=True)

    def _window_step(self, cv, ox, oy, t, f: Frame) -> None:
        # Output cells done so far, then the current one.
        ncols = self.d.cols.out
        for k in range(t + 1):
            i, j = divmod(k, ncols)
            cur = k == t
            self._cell(cv, ox, oy, "R", i, j, BLUE if cur else SKY, INK if cur else GRID, 2 if cur else 1,
                       self._out_text(i, j, k), WHITE if cur else INK)
        taps = f.grid if self.v.name == "direct" else f.inputs + f.padding
        real = set(_direct_real(f, self.d)) if self.v.name == "direct" else set(f.inputs)
        for r, c in taps:
            if (r, c) in real:
                self._cell(cv, ox, oy, "L", r, c, ORANGE, INK, 1, self._left_kind(r, c)[1])
        for r, c in taps:
            if (r, c) not in real:  # a tap on padding or an inserted zero: it multiplies a zero
                self._zero_tap(cv, ox, oy, "L", r, c)
        if taps:  # the kernel's footprint: dilation leaves holes inside it
            rs, cs = [r for r, _ in taps], [c for _, c in taps]
            x0, y0 = self._xy("L", min(rs), min(cs))
            x1, y1 = self._xy("L", max(rs) + 1, max(cs) + 1)
            cv.rect(ox + x0, oy + y0, ox + x1, oy + y1, outline=INK, width=2)

    def _scatter_step(self, cv, ox, oy, t, f: Frame) -> None:
        for k in range(t + 1):
            r, c = self.v.frames[k].output
            self._cell(cv, ox, oy, "L", r, c, BLUE if k == t else SKY, INK if k == t else GRID, 2 if k == t else 1,
                       format_number(self.d.image[r][c]) if self.d.image is not None else None,
                       WHITE if k == t else INK)
        for k in range(t):  # output cells reached by earlier inputs
            for i, j in self.v.frames[k].inputs:
                self._cell(cv, ox, oy, "R", i, j, SKY, text=self._out_text(i, j, t))
        for i, j in f.inputs:
            self._cell(cv, ox, oy, "R", i, j, ORANGE, INK, 2, self._out_text(i, j, t))
        for i, j in f.padding:
            if i in self.v.right[0] and j in self.v.right[1]:
                self._zero_tap(cv, ox, oy, "R", i, j)


def _source_of(q: int, g) -> int | None:
    lead = zero_inserted_size(g)[0]
    off = q - lead
    if off < 0 or off % g.s or off // g.s >= g.n:
        return None
    return off // g.s


def _direct_real(f: Frame, d: Drawing) -> list[tuple[int, int]]:
    return [(q, u) for q, u in f.grid if _source_of(q, d.rows) is not None and _source_of(u, d.cols) is not None]


# -------------------------------------------------------------------- whole figures

def _cell_size(d: Drawing, vs: list[View], sheet: bool) -> int:
    biggest = max(max(len(v.left[0]), len(v.left[1]), len(v.right[0]), len(v.right[1])) for v in vs)
    if biggest > MAX_GRID:
        raise CnnkitError(f"a {biggest}-cell grid is too large to draw cell by cell; draw a smaller case "
                          f"(at most {MAX_GRID} cells per axis, e.g. --in 8): the arithmetic is the same")
    budget = 240 if sheet else 420
    return max(12, min(44 if d.image is not None else 36, budget // biggest))


def header_lines(d: Drawing) -> list[str]:
    r, c = d.rows, d.cols
    size = f"{r.n}x{c.n}"
    k = f"{r.k}" if r.k == c.k else f"{r.k}x{c.k}"
    title = {"conv": "convolution (cross-correlation, as nn.Conv2d)", "maxpool": "max pooling",
             "avgpool": "average pooling", "transpose": "transposed convolution"}[d.op]
    return [f"{title}: input {size}, kernel {k} -> output {r.out}x{c.out}"] + d.formula


def render(d: Drawing, path: str | Path, max_frames: int | None = None, fps: float = 2.0) -> dict:
    """Write the GIF or sheet; returns {'path', 'frames_drawn', 'frames_total', 'notes'}."""
    path = check_out_path(path)
    return dict(_render_to(d, path, path.suffix.lower(), max_frames, fps), path=str(path))


def render_bytes(d: Drawing, suffix: str = ".gif", max_frames: int | None = None, fps: float = 2.0) -> tuple[bytes, dict]:
    """The GIF or PNG sheet as bytes, written nowhere (`cnnkit explore` sends it to the page);
    and {'frames_drawn', 'frames_total', 'notes'} as render gives them."""
    import io

    if suffix not in (".gif", ".png"):
        raise CnnkitError(f"render_bytes draws .gif or .png, not {suffix}")
    buf = io.BytesIO()
    info = _render_to(d, buf, suffix, max_frames, fps)
    return buf.getvalue(), info


def _render_to(d: Drawing, path, suffix: str, max_frames: int | None, fps: float) -> dict:
    """render's body: `path` is a Path (written atomically) or a binary buffer."""
    vs = views(d)
    sheet = suffix != ".gif"
    total = sum(len(v.frames) for v in vs)
    limit = max_frames or (48 if sheet else 200)
    notes = []
    if total > limit:
        notes.append(f"showing the first {limit} of {total} steps; raise --max-frames or draw a smaller input")
        keep, trimmed = limit, []
        for n_view, v in enumerate(vs):
            # Transposed: up to half for the scatter view, the rest for the direct view.
            share = keep if n_view == len(vs) - 1 else max(1, limit // len(vs))
            n = max(1, min(len(v.frames), share))
            keep -= n
            trimmed.append(View(v.name, v.frames[:n], v.texts[:n], v.left, v.right, v.left_title, v.right_title))
        vs = trimmed
    cell = _cell_size(d, vs, sheet)
    head = header_lines(d)
    foot = [d.pytorch, "orange: the kernel's taps; orange frame: a tap on padding or an inserted zero",
            "dark blue: this step's cell; black box: the kernel's footprint"]
    if d.op == "transpose" and (d.rows.output_padding or d.cols.output_padding):
        foot.append("green: output padding (rows / columns kept at the end instead of cropped)")
    text_w = int(max(text_width(t, 13, mono=True) for t in head + foot)) + 1
    if d.channels is not None and max(d.channels.in_channels, d.channels.out_channels) > MAX_GRID:
        raise CnnkitError(f"at most {MAX_GRID} channels can be drawn; the grouping is the same with fewer, "
                          "e.g. --in-channels 8 --out-channels 8 --groups 4")
    renderers = [Renderer(d, v, cell) for v in vs]
    for rd in renderers:
        rd._partials = scatter_partials(d) if rd.v.name == "scatter" and d.image is not None else None
    if sheet:
        _write_sheet(renderers, head, foot, text_w, path)
    else:
        _write_gif(renderers, head, foot, text_w, path, fps)
    return {"frames_drawn": sum(len(v.frames) for v in vs), "frames_total": total, "notes": notes}


CH_BOX, CH_PITCH = 26, 22  # channel boxes: width, vertical pitch
GROUP_COLOURS = [GREEN, VERMILION, PURPLE, YELLOW, SKY, ORANGE, BLUE]  # green first: orange and blue mean taps and outputs


def channel_panel_height(d: Drawing) -> int:
    if d.channels is None:
        return 0
    return 24 + max(d.channels.in_channels, d.channels.out_channels) * CH_PITCH + 12


def draw_channels(cv, x: int, y: int, d: Drawing) -> None:
    """Input channels left, output channels right, a line for every (input, output) pair a weight connects."""
    ch = d.channels
    ci = ch.in_channels // ch.groups
    cv.text(x, y, f"channels: groups={ch.groups}, each output channel combines {ci} of the {ch.in_channels} input "
                  f"channels (colours: groups)", size=13, anchor="la")
    top, right = y + 24, x + CH_BOX + 220
    for g, (ins, outs) in enumerate(ch.blocks):
        colour = GROUP_COLOURS[g % len(GROUP_COLOURS)]
        for o in outs:
            for i in ins:
                cv.line(x + CH_BOX, top + i * CH_PITCH + 9, right, top + o * CH_PITCH + 9, fill=colour, width=1)
        for i in ins:
            cv.rect(x, top + i * CH_PITCH, x + CH_BOX, top + i * CH_PITCH + 18, fill=colour, outline=INK)
            cv.text(x + CH_BOX / 2, top + i * CH_PITCH + 9, str(i), size=11, anchor="mm")
        for o in outs:
            cv.rect(right, top + o * CH_PITCH, right + CH_BOX, top + o * CH_PITCH + 18, fill=colour, outline=INK)
            cv.text(right + CH_BOX / 2, top + o * CH_PITCH + 9, str(o), size=11, anchor="mm")
    tx = right + CH_BOX + 24
    k = ch.weight_shape[2:]
    name = "Conv2d" if d.op == "conv" else "ConvTranspose2d"
    lines = [f"input channels 0..{ch.in_channels - 1} (left), output channels 0..{ch.out_channels - 1} (right)",
             f"{name} weight shape ({', '.join(map(str, ch.weight_shape))}): "
             f"{'·'.join(map(str, ch.weight_shape))} + {ch.out_channels} bias = {ch.params} parameters",
             f"each of the {ch.out_channels} output channels: a {k[0]}x{k[1]} kernel on each of its {ci} input channels,"
             " summed"]
    for n, line in enumerate(lines):
        cv.text(tx, top + 18 * n, line, size=12, anchor="la")


def _text_block(cv, x, y, lines, mono=True) -> None:
    for n, line in enumerate(lines):
        cv.text(x, y + 18 * n, line, size=14 if n == 0 and not mono else 13, anchor="la", mono=mono)


def _write_gif(renderers, head, foot, text_w, path: Path, fps: float) -> None:
    from PIL import Image

    width = max(max(rd.width for rd in renderers), text_w, _channels_width(renderers[0].d)) + 2 * M
    body_h = max(rd.height for rd in renderers)
    ch_h = channel_panel_height(renderers[0].d)
    top = M + 18 * len(head) + 10 + ch_h
    height = top + body_h + 10 + 18 * len(foot) + M
    frames = []
    palette = _palette()
    for rd in renderers:
        base = PilCanvas(width, height)
        _text_block(base, M, M, head)
        if ch_h:
            draw_channels(base, M, top - ch_h, rd.d)
        _text_block(base, M, top + body_h + 10, foot)
        rd.draw_static(base, M, top)
        for t in range(len(rd.v.frames)):
            cv = PilCanvas(0, 0, base.image.copy())
            rd.draw_step(cv, M, top, t, str(len(rd.v.frames)))
            # A fixed palette: no per-frame colour search, and identical colours in every frame.
            frames.append(cv.image.quantize(palette=palette, dither=Image.Dither.NONE))
    _atomic(path, lambda f: frames[0].save(f, format="GIF", save_all=True, append_images=frames[1:],
                                             duration=int(1000 / fps), loop=0, optimize=False, comment=MARK))


def _channels_width(d: Drawing) -> int:
    return 0 if d.channels is None else 2 * CH_BOX + 220 + 24 + 620


def _palette():
    from PIL import Image

    colours = [WHITE, INK, GRID, PAD, ZERO, ORANGE, SKY, BLUE, GREEN, YELLOW, VERMILION, PURPLE]
    rgb = [tuple(int(h[i:i + 2], 16) for i in (1, 3, 5)) for h in colours]
    # Greys and light tints so that anti-aliased text edges stay smooth.
    rgb += [(g, g, g) for g in range(0, 256, 16)]
    rgb += [tuple(int(a + (255 - a) * t) for a in c) for c in rgb[5:8] for t in (0.25, 0.5, 0.75)]
    pal = Image.new("P", (1, 1))
    flat = [v for c in rgb for v in c]
    pal.putpalette(flat + flat[:3] * (256 - len(rgb)))
    return pal


def _write_sheet(renderers, head, foot, text_w, path: Path) -> None:
    tiles = [(rd, t) for rd in renderers for t in range(len(rd.v.frames))]
    tw = max(rd.width for rd in renderers) + 24
    th = max(rd.height for rd in renderers) + 16
    per_row = max(1, min(len(tiles), (1400 - 2 * M) // tw))
    n_rows = -(-len(tiles) // per_row)
    width = max(per_row * tw, text_w, _channels_width(renderers[0].d)) + 2 * M
    ch_h = channel_panel_height(renderers[0].d)
    top = M + 18 * len(head) + 10 + ch_h
    height = top + n_rows * th + 18 * len(foot) + M
    svg = isinstance(path, Path) and path.suffix.lower() == ".svg"  # a buffer (render_bytes) gets a PNG
    cv = SvgCanvas(width, height) if svg else PilCanvas(width, height)
    _text_block(cv, M, M, head)
    if ch_h:
        draw_channels(cv, M, top - ch_h, renderers[0].d)
    _text_block(cv, M, top + n_rows * th, foot)
    counts = {id(rd): str(len(rd.v.frames)) for rd in renderers}
    for n, (rd, t) in enumerate(tiles):
        ox, oy = M + (n % per_row) * tw, top + (n // per_row) * th
        rd.draw_static(cv, ox, oy)
        rd.draw_step(cv, ox, oy, t, counts[id(rd)])
    save_canvas(cv, path)


def save_canvas(cv, path: Path) -> None:
    """A finished PilCanvas as PNG or an SvgCanvas as SVG, marked as ours, atomically."""
    if isinstance(cv, SvgCanvas):
        _atomic(path, lambda f: f.write(cv.svg().replace("\n", f"\n<!-- {MARK} -->\n", 1)), binary=False)
    else:
        from PIL.PngImagePlugin import PngInfo

        info = PngInfo()
        info.add_text("Software", MARK)
        _atomic(path, lambda f: cv.image.save(f, format="PNG", optimize=True, pnginfo=info))


def _atomic(path: Path, write, binary: bool = True) -> None:
    """write(f) on a temporary file, then rename (no half-written figure), where the write
    rule allows a figure (cnnkit.outputs). A binary buffer instead of a path (render_bytes)
    is written directly."""
    if not isinstance(path, Path):
        write(path)
        return
    from cnnkit.outputs import FIGURE, write_output

    write_output(path, FIGURE, write, binary=binary)


def draw_layer(op: str, out: str | Path, size: str | None = None, kernel: str | None = None,
               stride: str | None = None, padding: str = "0", dilation: str = "1", ceil_mode: bool = False,
               output_padding: str = "0", image: str | None = None, kernel_values: str | None = None,
               max_frames: int | None = None, fps: float = 2.0, in_channels: int | None = None,
               out_channels: int | None = None, groups: int | None = None) -> dict:
    """`cnnkit draw conv|maxpool|avgpool|transpose`: plan, draw, and the numbers behind it.

    Returns {'path', 'pytorch', 'output_size', 'formula', 'frames' (per output cell:
    'output', 'inputs', 'padding'; transposed also 'grid'), 'scatter' (transposed: per
    input cell 'input', 'outputs', 'cropped'), 'output' (values, with --image), 'notes',
    'frames_drawn', 'frames_total'}.
    """
    from cnnkit.arith.frames import plan

    if max_frames is not None and max_frames < 1:
        raise CnnkitError(f"--max-frames must be >= 1, got {max_frames}")
    if fps <= 0 or fps != fps:
        raise CnnkitError(f"--fps must be a positive number, got {fps}")
    d = plan(op, size, kernel, stride, padding, dilation, ceil_mode, output_padding, image, kernel_values,
             in_channels, out_channels, groups)
    check_out_path(out)
    written = render(d, out, max_frames, fps)
    result = {
        "path": written["path"],
        "pytorch": d.pytorch,
        "output_size": [d.rows.out, d.cols.out],
        "formula": d.formula,
        "frames": [f.as_dict() for f in d.frames],
        "output": None if d.output is None else [[_json_number(v) for v in row] for row in d.output],
        "notes": written["notes"],
        "frames_drawn": written["frames_drawn"],
        "frames_total": written["frames_total"],
    }
    if d.channels is not None:
        result["channels"] = d.channels.as_dict()
    if d.scatter is not None:
        result["scatter"] = [{"input": list(f.output), "outputs": [list(c) for c in f.inputs],
                              "cropped": [list(c) for c in f.padding]} for f in d.scatter]
    return result


def _json_number(v):
    from fractions import Fraction

    return float(v) if isinstance(v, Fraction) else v
