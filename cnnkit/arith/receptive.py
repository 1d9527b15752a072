"""Receptive fields as exact footprints, one spatial axis at a time.

Every layer `cnnkit layers` knows is separable per axis, so a layer is described
along one axis by its *windows*: for each output position ``o``, the input
positions it reads, as an arithmetic progression ``(first, last, step)`` already
clipped to the real (unpadded) input, or ``None`` when it reads only padding.

* conv / pooling: taps ``o*s - p_before + j*d`` for ``j < k``, clipped (step ``d``).
* transposed conv: the inputs ``i`` with ``i*s - p + j*d == o`` for some ``j < k``.
* adaptive average pooling: ``[floor(o*n/m), ceil((o+1)*n/m))``, as ATen splits it;
  windows differ by one pixel when ``m`` does not divide ``n``.
* nearest upsampling: ``floor(o/f)``; bilinear (align_corners=False): the two inputs
  around ``(o + 0.5)/f - 0.5`` (clamped at 0), only one where the weight of the other is 0.

Composing windows gives, for every output position of every layer, the bounding box
of the network-input pixels it depends on -- the set a gradient reaches. The
receptive field (RF) of a layer is the *largest* such box over its positions (the
worst case: edge positions see less because of padding, adaptive pools have uneven
windows, bilinear upsampling mixes one or two inputs). The jump (effective stride)
and start (centre of position 0 in input pixels) follow the usual recurrences.

No torch import here (`cnnkit layers` starts fast); tests compare every footprint
with the gradient torch computes.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from math import floor, gcd

Window = tuple[int, int, int] | None  # (first, last, step) in input positions; None: padding only


def conv_windows(n: int, out: int, k: int, s: int, p_before: int, d: int) -> list[Window]:
    """Conv and pooling (also ceil mode: windows are clipped to the real input)."""
    windows: list[Window] = []
    for o in range(out):
        start = o * s - p_before
        j0 = 0 if start >= 0 else (-start + d - 1) // d  # first tap at or after input 0
        j1 = min(k - 1, (n - 1 - start) // d)  # last tap before input n
        windows.append((start + j0 * d, start + j1 * d, d) if j0 <= j1 else None)
    return windows


def transpose_windows(n: int, out: int, k: int, s: int, p: int, d: int) -> list[Window]:
    """Transposed conv: input i adds kernel tap j into output i*s - p + j*d."""
    windows: list[Window] = []
    step = d // gcd(s, d)  # inputs reaching one output differ by multiples of d/gcd(s, d)
    for o in range(out):
        hits = [(o + p - j * d) // s for j in range(k) if (o + p - j * d) % s == 0 and 0 <= (o + p - j * d) // s < n]
        windows.append((min(hits), max(hits), step) if hits else None)
    return windows


def adaptive_windows(n: int, out: int) -> list[Window]:
    """AdaptiveAvgPool: ATen's start_index / end_index."""
    return [((o * n) // out, -((-(o + 1) * n) // out) - 1, 1) for o in range(out)]


def upsample_windows(n: int, f: int, mode: str) -> list[Window]:
    """Upsample by an integer factor f (nearest, or bilinear with align_corners=False)."""
    if mode == "nearest":
        return [(o // f, o // f, 1) for o in range(n * f)]
    windows: list[Window] = []
    for o in range(n * f):
        src = max(Fraction(2 * o + 1 - f, 2 * f), Fraction(0))  # (o + 0.5)/f - 0.5, clamped at 0
        i0 = floor(src)
        i1 = min(i0 + 1, n - 1)
        windows.append((i0, i1 if src > i0 else i0, 1))
    return windows


def identity_windows(n: int) -> list[Window]:
    return [(o, o, 1) for o in range(n)]


@dataclass
class AxisField:
    """Footprints of every position of the current layer, in network-input pixels.

    boxes[o] = (first, last) input pixel that output position o depends on, or None.
    jump: input pixels between neighbouring positions; start: centre of position 0
    (both Fractions: upsampling and uneven adaptive pools make them fractional).
    """

    boxes: list[tuple[int, int] | None]
    jump: Fraction = Fraction(1)
    start: Fraction = Fraction(0)
    # The textbook receptive field, RF += (k-1)·d·jump, never clipped: what a unit would see
    # on an input large enough (and padded enough) that no window reaches past its border.
    textbook: Fraction = Fraction(1)

    @classmethod
    def identity(cls, n: int) -> AxisField:
        return cls([(i, i) for i in range(n)])

    @property
    def size(self) -> int:
        """The receptive field: the largest footprint of any position."""
        return max((b - a + 1 for a, b in filter(None, self.boxes)), default=0)

    def through(self, windows: list[Window], scale: Fraction, centre: Fraction, grow: Fraction = Fraction(0)) -> AxisField:
        """The field after a layer with these windows.

        scale: jump multiplier (stride, 1/stride, 1/f or n/m); centre: where output
        position 0 sits, in positions of this layer; grow: how many more of this layer's
        input positions one output reads than one input does, unclipped ((k-1)·d for a
        conv; see textbook_growth), for the textbook receptive field.
        """
        boxes: list[tuple[int, int] | None] = []
        for w in windows:
            seen = [self.boxes[i] for i in range(w[0], w[1] + 1, w[2])] if w else []
            seen = [b for b in seen if b is not None]
            boxes.append((min(a for a, _ in seen), max(b for _, b in seen)) if seen else None)
        return AxisField(boxes, self.jump * scale, self.start + centre * self.jump, self.textbook + grow * self.jump)


def back_project(windows_per_layer: list[list[Window]], first: int, last: int) -> list[tuple[int, int] | None]:
    """From an output range [first, last] of the last layer back to every layer's input.

    Returns the box on the grid *feeding* each layer, last layer first (so the final
    entry is on the network input). Used to draw one unit's region layer by layer.
    """
    regions: list[tuple[int, int] | None] = []
    box: tuple[int, int] | None = (first, last)
    for windows in reversed(windows_per_layer):
        if box is None:
            regions.append(None)
            continue
        ws = [windows[o] for o in range(box[0], box[1] + 1) if windows[o] is not None]
        box = (min(w[0] for w in ws), max(w[1] for w in ws)) if ws else None
        regions.append(box)
    return regions


def conv_centre(k: int, d: int, p_before: int) -> Fraction:
    """Centre of output 0 of a conv/pool, in input positions."""
    return Fraction(d * (k - 1), 2) - p_before


def transpose_centre(k: int, s: int, p: int, d: int) -> Fraction:
    """Output 0 of a transposed conv sits at (p - d*(k-1)/2)/s input positions."""
    return (p - Fraction(d * (k - 1), 2)) / s


def upsample_centre(f: int) -> Fraction:
    """Output 0 of an upsample by f is centred at (0.5/f - 0.5) input positions."""
    return Fraction(1, 2 * f) - Fraction(1, 2)


def adaptive_centre(n: int, out: int) -> Fraction:
    """Adaptive pool output 0 averages [0, ceil(n/out)); its centre."""
    return Fraction(-(-n // out) - 1, 2)


def conv_growth(k: int, d: int) -> Fraction:
    """Conv and pooling: k taps d apart span (k-1)·d more inputs than one tap."""
    return Fraction((k - 1) * d)


def transpose_growth(k: int, s: int, d: int) -> Fraction:
    """Transposed conv: the inputs reaching one output are at most (k-1)//(s/g)·(s/g)·d/s
    positions apart (g = gcd(s, d))."""
    period = s // gcd(s, d)
    return Fraction((k - 1) // period * period * d, s)


def adaptive_growth(n: int, m: int) -> Fraction:
    """Adaptive pool n -> m: windows of up to ceil(n/m) (+1 when m does not divide n) inputs."""
    return Fraction(-(-n // m) + (0 if n % m == 0 else 1) - 1)


def upsample_growth(f: int, mode: str) -> Fraction:
    """Bilinear upsampling mixes two neighbours; nearest copies one."""
    return Fraction(1 if mode == "bilinear" and f > 1 else 0)
