"""One colour per segmentation class, for any number of classes, plus a neutral grey
for ignored (void / unlabelled) pixels. The same palette draws `visualize
segmentation`, the report's examples and the mask PNGs `predict` writes, so a class
has one colour everywhere.

Numpy only (no torch): the mask writer and the figures both use it.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Optional

import numpy as np

from cnnkit.errors import CnnkitError

# Class 0 is black (background in most masks); then 18 colours chosen to be told apart
# easily (Trubetskoy's "20 simple, distinct colours", without its grey and white so no
# class can be mistaken for ignored pixels).
_FIXED = ["#000000", "#e6194b", "#3cb44b", "#ffe119", "#4363d8", "#f58231", "#911eb4", "#42d4f4", "#f032e6",
          "#bfef45", "#fabed4", "#469990", "#dcbeff", "#9a6324", "#fffac8", "#800000", "#aaffc3", "#808000",
          "#ffd8b1", "#000075"]
IGNORED = (128, 128, 128)  # mid grey: no class colour is grey (fixed list) or unsaturated (generated ones)
IGNORED_KEY = "ignored"


def _rgb(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]


def _hex(rgb) -> str:
    return "#{:02x}{:02x}{:02x}".format(*(int(v) for v in rgb))


def _generated(n: int, taken: set) -> list[tuple[int, int, int]]:
    """n more colours, all new: hues a golden angle apart (neighbouring indices far apart on
    the colour wheel), cycling through three saturation/brightness levels, never grey."""
    out, i = [], 0
    while len(out) < n:
        hue = (i * 0.618033988749895) % 1.0
        sat, val = ((0.85, 0.95), (0.55, 0.75), (0.9, 0.55))[(i // 7) % 3]
        rgb = tuple(round(c * 255) for c in colorsys.hsv_to_rgb(hue, sat, val))
        if rgb not in taken and rgb != IGNORED:
            taken.add(rgb)
            out.append(rgb)
        i += 1
    return out


@dataclass(frozen=True)
class Palette:
    """colours: (K, 3) uint8, row k the colour of class k; ignored: the colour of pixels
    equal to ignore_index (which is not a class)."""

    colours: np.ndarray
    ignore_index: Optional[int] = None
    ignored: tuple[int, int, int] = IGNORED

    @property
    def num_classes(self) -> int:
        return len(self.colours)

    def colourise(self, mask) -> np.ndarray:
        """(H, W) class indices (numpy or torch) -> (H, W, 3) uint8 colours. Ignored pixels
        are grey; a value that is neither a class nor the ignore index is an error, not a
        colour borrowed from another class."""
        m = np.asarray(mask.cpu() if hasattr(mask, "cpu") else mask).astype(np.int64)
        ignored = (m == self.ignore_index) if self.ignore_index is not None else np.zeros(m.shape, bool)
        bad = ~ignored & ((m < 0) | (m >= self.num_classes))
        if bad.any():
            values = sorted({int(v) for v in np.unique(m[bad])})
            raise CnnkitError(f"mask values {values} are not classes of a {self.num_classes}-class model"
                              + ("" if self.ignore_index is None else f" nor the ignore index {self.ignore_index}"))
        out = self.colours[np.where(ignored, 0, m)]
        out[ignored] = self.ignored
        return out

    def hex(self, class_names: Optional[Sequence[str]] = None) -> dict[str, str]:
        """{class name: "#rrggbb"} in class order, then "ignored": the grey of pixels that are no class."""
        names = list(class_names or [])
        names += [str(k) for k in range(len(names), self.num_classes)]
        out = {names[k]: _hex(c) for k, c in enumerate(self.colours)}
        out[IGNORED_KEY] = _hex(self.ignored)
        return out

    def pil_palette(self) -> list[int]:
        """A flat 768-value palette for a mode-"P" PNG: the file keeps class indices as pixel
        values (readable as a mask) and shows these colours in any image viewer."""
        table = np.zeros((256, 3), np.uint8)
        k = min(self.num_classes, 256)
        table[:k] = self.colours[:k]
        if self.ignore_index is not None and 0 <= self.ignore_index < 256:
            table[self.ignore_index] = self.ignored
        return table.reshape(-1).tolist()


def palette(num_classes: int, ignore_index: Optional[int] = None) -> Palette:
    """The palette of a `num_classes`-class model: num_classes distinct colours (the
    first 20 hand-picked, then generated), and grey for `ignore_index` pixels."""
    if num_classes < 1:
        raise CnnkitError(f"a palette needs at least one class, not {num_classes}")
    fixed = [_rgb(h) for h in _FIXED[:num_classes]]
    colours = fixed + _generated(num_classes - len(fixed), set(fixed))
    return Palette(np.array(colours, dtype=np.uint8).reshape(-1, 3), ignore_index)
