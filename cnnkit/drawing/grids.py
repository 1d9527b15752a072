"""The grids of one layer's drawing: which cells each kind of step shows (a View) and the
Renderer that lays them out at a cell size and draws the static part and each step.
Every number comes from the Drawing that `cnnkit.arith.frames.plan` made."""

from __future__ import annotations

from dataclasses import dataclass

from cnnkit.arith.frames import MAX_GRID, Drawing, Frame, zero_inserted_size
from cnnkit.arith.manual import format_number
from cnnkit.drawing.canvas import (
    BLUE,
    GREEN,
    GRID,
    INK,
    ORANGE,
    PAD,
    SKY,
    WHITE,
    ZERO,
    text_width,
    wrap,
)
from cnnkit.errors import CnnkitError


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

def cell_size(d: Drawing, vs: list[View], sheet: bool) -> int:
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
