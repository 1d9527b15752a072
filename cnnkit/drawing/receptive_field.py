"""`cnnkit draw receptive-field`: one output position's region on every grid of a network.

The numbers come from `cnnkit.arith.spec.unit_regions` (exact footprints per axis);
this module draws one panel per grid: the grid scaled to a fixed box, the region
in orange, the chosen position in blue, and under it the layer's RF, jump and start.
Layers that change nothing spatially (activations, batch norm, dropout) are listed in
the JSON but not drawn.
"""

from __future__ import annotations

from pathlib import Path

from cnnkit.drawing.canvas import BLUE, GRID, INK, ORANGE, WHITE, PilCanvas, SvgCanvas, text_width
from cnnkit.drawing.files import check_out_path, save_canvas

BOX = 180  # pixels for the longest side of each grid
M = 16


def draw_receptive_field(spec: str, out: str | Path, unit: str | None = None, layer: int | None = None) -> dict:
    """Returns {'path', 'pytorch', 'layer', 'unit', 'grids' (see unit_regions)}."""
    from cnnkit.arith.parse import parse_sizes
    from cnnkit.arith.spec import analyse, unit_regions

    path = check_out_path(out, (".png", ".svg"))  # before any work: a wrong name is refused at once
    report = analyse(spec)
    position = parse_sizes(unit, "--unit") if unit else None
    if position is not None and len(position) == 1 and len(report.input_shape) == 3:
        position = position * 2
    info = unit_regions(report, position, layer)
    if len(report.input_shape) != 3:
        from cnnkit.errors import SpecError

        raise SpecError("receptive-field draws 2-D inputs: give the spec's input as C x H x W, e.g. 1x32x32")
    modules = [r.module for r in report.rows[: info["layer"]]]
    pytorch = "nn.Sequential(" + ", ".join(f"nn.{m}" for m in modules) + ")"
    _draw(info, report, path, pytorch, modules)
    return {"path": str(path), "pytorch": pytorch, **info}


def _draw(info: dict, report, path: Path, pytorch: str, modules: list[str]) -> None:
    grids = info["grids"]
    kinds = [None] + [r.layer.kind for r in report.rows[: info["layer"]]]
    shown = [g for g, kind in zip(grids, kinds) if kind is None or g is grids[-1] or _changes(kind)]
    per_row = min(len(shown), 5)
    panel_w, panel_h = BOX + 40, BOX + 110
    n_rows = -(-len(shown) // per_row)
    title = (f"receptive field of position {'x'.join(map(str, info['unit']))} of layer {info['layer']} "
             f"({grids[-1]['layer']}): {'x'.join(_num(v) for v in grids[-1]['receptive_field'])} input pixels")
    legend = ["orange: the region the position depends on (its largest footprint is the RF); blue: the position",
              "jump: input pixels between neighbouring positions; start: centre of position 0 in input pixels"]
    code = [pytorch]
    if text_width(pytorch, 12, mono=True) > per_row * panel_w:  # one module per line rather than a very wide figure
        code = ["nn.Sequential("] + [f"    nn.{m}," for m in modules] + [")"]
    foot = code + legend
    width = max(per_row * panel_w, int(max(text_width(t, 13, mono=True) for t in foot + [title])) + 4) + 2 * M
    height = M + 30 + n_rows * panel_h + 18 * len(foot) + M
    cv = SvgCanvas(width, height) if path.suffix.lower() == ".svg" else PilCanvas(width, height)
    cv.text(M, M, title, size=14, anchor="la")
    for n, g in enumerate(shown):
        _panel(cv, M + (n % per_row) * panel_w, M + 30 + (n // per_row) * panel_h, g, g is grids[-1])
    for n, line in enumerate(foot):
        is_code = n < len(code)
        cv.text(M, M + 30 + n_rows * panel_h + 18 * n, line, size=12 if is_code else 13, anchor="la", mono=is_code)
    save_canvas(cv, path)


def _changes(kind: str) -> bool:
    return kind in ("conv", "convT", "maxpool", "avgpool", "gap", "upsample")


def _num(v) -> str:
    """2 decimals at most, as `cnnkit layers` prints them (jump 22/3 -> 7.33, start 1.5 -> 1.5)."""
    return f"{v:.2f}".rstrip("0").rstrip(".") if isinstance(v, float) else str(v)


def _panel(cv, x: int, y: int, g: dict, last: bool) -> None:
    h, w = g["shape"]
    cell = BOX / max(h, w)
    cv.text(x, y, g["layer"] if len(g["layer"]) < 28 else g["layer"][:26] + "…", size=12, anchor="la")
    gy = y + 20
    cv.rect(x, gy, x + w * cell, gy + h * cell, fill=WHITE, outline=INK)
    if cell >= 5:  # cell borders only where they stay readable
        for r in range(1, h):
            cv.line(x, gy + r * cell, x + w * cell, gy + r * cell, fill=GRID)
        for c in range(1, w):
            cv.line(x + c * cell, gy, x + c * cell, gy + h * cell, fill=GRID)
    region = g.get("region")
    if region:
        (r0, r1), (c0, c1) = region
        cv.rect(x + c0 * cell, gy + r0 * cell, x + (c1 + 1) * cell, gy + (r1 + 1) * cell,
                fill=BLUE if last else ORANGE, outline=INK, width=1)
    ty = gy + BOX + 8
    size = f"{h}x{w}"
    where = (f"rows {region[0][0]}-{region[0][1]}, cols {region[1][0]}-{region[1][1]}" if region
             else "only padding")
    lines = [f"{size}: {where}",
             f"RF {'x'.join(_num(v) for v in g['receptive_field'])}, jump {'x'.join(_num(v) for v in g['jump'])}",
             f"start {'x'.join(_num(v) for v in g['start'])}"]
    for n, line in enumerate(lines):
        cv.text(x, ty + 16 * n, line, size=12, anchor="la")
