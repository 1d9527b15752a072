"""Two tiny canvases with the same four calls: Pillow (PNG / GIF frames) and SVG text.

The drawings of `cnnkit draw` are rectangles, lines and text on a grid, so they are
drawn with Pillow directly (fast enough for a 100-frame GIF in well under a second)
or written as SVG elements, sharing one layout and Pillow's font metrics.
"""

from __future__ import annotations

import importlib.util
from functools import cache
from pathlib import Path
from xml.sax.saxutils import escape

# Okabe-Ito: distinguishable with every common colour-vision deficiency.
ORANGE, SKY, GREEN, BLUE, VERMILION, PURPLE, YELLOW = "#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#F0E442"
INK, GRID, PAD, ZERO, WHITE = "#222222", "#888888", "#D9D9D9", "#EFEFEF", "#FFFFFF"


@cache
def font(size: int, mono: bool = False):
    """DejaVu from matplotlib's data folder (found without importing matplotlib), else Pillow's default."""
    from PIL import ImageFont

    spec = importlib.util.find_spec("matplotlib")
    if spec and spec.submodule_search_locations:
        name = "DejaVuSansMono.ttf" if mono else "DejaVuSans.ttf"
        path = Path(spec.submodule_search_locations[0]) / "mpl-data" / "fonts" / "ttf" / name
        if path.exists():
            return ImageFont.truetype(str(path), size)
    return ImageFont.load_default(size)


def text_width(text: str, size: int, mono: bool = False) -> float:
    return font(size, mono).getlength(text)


def wrap(text: str, size: int, width: float, mono: bool = False) -> list[str]:
    """Break at ' + ' or spaces so that each line fits `width` pixels."""
    words = text.replace(" + ", " +\u00a0").split(" ")
    lines, line = [], ""
    for w in words:
        trial = f"{line} {w}" if line else w
        if line and text_width(trial.replace("\u00a0", " "), size, mono) > width:
            lines.append(line.replace("\u00a0", " "))
            line = w
        else:
            line = trial
    return lines + [line.replace("\u00a0", " ")] if line else lines


class PilCanvas:
    def __init__(self, width: int, height: int, image=None):
        from PIL import Image, ImageDraw

        self.image = image if image is not None else Image.new("RGB", (width, height), WHITE)
        self.draw = ImageDraw.Draw(self.image)

    def rect(self, x0, y0, x1, y1, fill=None, outline=None, width=1):
        self.draw.rectangle((x0, y0, x1, y1), fill=fill, outline=outline, width=width)

    def line(self, x0, y0, x1, y1, fill=INK, width=1):
        self.draw.line((x0, y0, x1, y1), fill=fill, width=width)

    def text(self, x, y, text, size=14, fill=INK, anchor="la", mono=False):
        self.draw.text((x, y), text, fill=fill, font=font(size, mono), anchor=anchor)


class SvgCanvas:
    def __init__(self, width: int, height: int):
        self.width, self.height = width, height
        self.parts = [f'<rect x="0" y="0" width="{width}" height="{height}" fill="{WHITE}"/>']

    def rect(self, x0, y0, x1, y1, fill=None, outline=None, width=1):
        self.parts.append(f'<rect x="{x0}" y="{y0}" width="{x1 - x0}" height="{y1 - y0}" fill="{fill or "none"}"'
                          f' stroke="{outline or "none"}" stroke-width="{width}"/>')

    def line(self, x0, y0, x1, y1, fill=INK, width=1):
        self.parts.append(f'<line x1="{x0}" y1="{y0}" x2="{x1}" y2="{y1}" stroke="{fill}" stroke-width="{width}"/>')

    def text(self, x, y, text, size=14, fill=INK, anchor="la", mono=False):
        # Pillow anchors: first letter horizontal (l/m), second vertical (a = top, m = middle).
        h = {"l": "start", "m": "middle", "r": "end"}[anchor[0]]
        v = {"a": "hanging", "m": "central"}.get(anchor[1], "auto")
        family = "DejaVu Sans Mono, monospace" if mono else "DejaVu Sans, sans-serif"
        self.parts.append(f'<text x="{x}" y="{y}" font-size="{size}" font-family="{family}" fill="{fill}"'
                          f' text-anchor="{h}" dominant-baseline="{v}" xml:space="preserve">{escape(text)}</text>')

    def svg(self) -> str:
        return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" height="{self.height}" '
                f'viewBox="0 0 {self.width} {self.height}">\n' + "\n".join(self.parts) + "\n</svg>\n")
