"""`cnnkit draw conv|maxpool|avgpool|transpose`: the arithmetic of one layer as an
animation (GIF) or a sheet of steps (PNG/SVG).

Every number comes from `cnnkit.arith.frames.plan` (geometry, taps, values, formula,
PyTorch line); this package only lays out grids and writes files. Frames are drawn
with Pillow: the static grids once, then per frame a copy with the changing cells,
so a 100-frame GIF takes a fraction of a second.
"""

from __future__ import annotations

from pathlib import Path

from cnnkit.arith.frames import MAX_GRID, Drawing, scatter_partials
from cnnkit.drawing.canvas import text_width
from cnnkit.drawing.files import check_out_path, write_gif, write_sheet
from cnnkit.drawing.grids import Renderer, View, cell_size, header_lines, views
from cnnkit.errors import CnnkitError


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
    cell = cell_size(d, vs, sheet)
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
        write_sheet(renderers, head, foot, text_w, path)
    else:
        write_gif(renderers, head, foot, text_w, path, fps)
    return {"frames_drawn": sum(len(v.frames) for v in vs), "frames_total": total, "notes": notes}


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
