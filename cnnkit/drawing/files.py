"""Writing a drawing: the GIF of every step, the sheet (PNG/SVG) of all steps, the
output-name checks and the mark by which a later `cnnkit draw` may replace its own file."""

from __future__ import annotations

from pathlib import Path

from cnnkit.drawing.canvas import (
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
)
from cnnkit.drawing.channels import channel_panel_height, channels_width, draw_channels
from cnnkit.errors import CnnkitError

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


def _text_block(cv, x, y, lines, mono=True) -> None:
    for n, line in enumerate(lines):
        cv.text(x, y + 18 * n, line, size=14 if n == 0 and not mono else 13, anchor="la", mono=mono)


def write_gif(renderers, head, foot, text_w, path: Path, fps: float) -> None:
    from PIL import Image

    width = max(max(rd.width for rd in renderers), text_w, channels_width(renderers[0].d)) + 2 * M
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


def write_sheet(renderers, head, foot, text_w, path: Path) -> None:
    tiles = [(rd, t) for rd in renderers for t in range(len(rd.v.frames))]
    tw = max(rd.width for rd in renderers) + 24
    th = max(rd.height for rd in renderers) + 16
    per_row = max(1, min(len(tiles), (1400 - 2 * M) // tw))
    n_rows = -(-len(tiles) // per_row)
    width = max(per_row * tw, text_w, channels_width(renderers[0].d)) + 2 * M
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
