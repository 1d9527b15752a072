"""Convolution and pooling by hand, with every step kept for display.

Plain Python lists of numbers (no numpy, no torch): the inputs are the small
matrices of a homework question, and the point is the worked steps.

Deep-learning "convolution" layers compute a cross-correlation (the kernel is
not flipped); the textbook convolution flips the kernel in both axes first.
``mode`` picks which one, and the default is what nn.Conv2d computes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from cnnkit.arith.geometry import conv_out, pool_out, transpose_out
from cnnkit.errors import GeometryError, SpecError

Matrix = list[list[float]]

NAMED_KERNELS: dict[str, Matrix] = {
    "sobel-x": [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]],
    "sobel-y": [[-1, -2, -1], [0, 0, 0], [1, 2, 1]],
    "laplace": [[0, 1, 0], [1, -4, 1], [0, 1, 0]],
    "box": [[Fraction(1, 9)] * 3 for _ in range(3)],
    "gaussian": [[Fraction(v, 16) for v in row] for row in ([1, 2, 1], [2, 4, 2], [1, 2, 1])],
    "identity": [[0, 0, 0], [0, 1, 0], [0, 0, 0]],
    "sharpen": [[0, -1, 0], [-1, 5, -1], [0, -1, 0]],
}


@dataclass
class Step:
    """One output cell: where the window sat and what was combined."""

    row: int
    col: int
    top: int  # window origin in the padded input
    left: int
    pairs: list[tuple[float, float]]  # (input value, kernel value); kernel None for pooling
    value: float


@dataclass
class ManualResult:
    output: Matrix
    steps: list[Step]
    padded: Matrix
    kernel: Matrix | None  # the kernel as applied (flipped for mode='convolve')


def _number(text: str) -> float:
    try:
        if "/" in text:
            return Fraction(text)
        v = float(text)
    except (ValueError, ZeroDivisionError):
        raise SpecError(f"{text!r} is not a number") from None
    if not math.isfinite(v):
        raise SpecError(f"{text!r} is not a finite number; write the matrix with ordinary numbers")
    return int(v) if v.is_integer() and "." not in text and "e" not in text.lower() else v


def parse_matrix(text: str, what: str = "matrix") -> Matrix:
    """'1 0 2; 3 2 0' (rows by ';' or newline, values by spaces or commas)."""
    rows = [r for r in text.replace("\n", ";").split(";") if r.strip()]
    try:
        matrix = [[_number(v) for v in r.replace(",", " ").split()] for r in rows]
    except SpecError as e:  # say where: the --image text, a matrix file, a kernel
        raise SpecError(f"{what}: {e}") from None
    if not matrix or not matrix[0]:
        raise SpecError(f"{what} is empty; write rows separated by ';', e.g. '1 0 2; 3 2 0'")
    if any(len(r) != len(matrix[0]) for r in matrix):
        raise SpecError(f"{what} rows have different lengths: {[len(r) for r in matrix]}")
    return matrix


def kernel_from(text: str) -> Matrix:
    """A named kernel (sobel-x, laplace, ...) or an inline matrix."""
    key = text.strip().lower()
    if key in NAMED_KERNELS:
        return [row[:] for row in NAMED_KERNELS[key]]
    if not any(ch.isdigit() for ch in key):
        raise SpecError(f"unknown kernel {text!r}; use one of {', '.join(NAMED_KERNELS)} or an inline matrix")
    return parse_matrix(text, "kernel")


def transpose(image: Matrix, kernel: Matrix, stride: int = 1, padding: int = 0, dilation: int = 1,
              output_padding: int = 0) -> ManualResult:
    """Transposed convolution (what nn.ConvTranspose2d computes), by scattering.

    Every input cell adds ``x[r][c] * kernel`` into the output at (r*s - p + a*d,
    c*s - p + b*d); taps landing in the cropped border (padding p) are dropped. One
    Step per *input* cell: ``pairs`` are (input value, kernel value) per tap, ``top``,
    ``left`` its first tap's output position.
    """
    kh, kw = len(kernel), len(kernel[0])
    oh = transpose_out(len(image), kh, stride, padding, dilation, output_padding)
    ow = transpose_out(len(image[0]), kw, stride, padding, dilation, output_padding)
    output: Matrix = [[0] * ow for _ in range(oh)]
    steps = []
    for r, row in enumerate(image):
        for c, x in enumerate(row):
            top, left = r * stride - padding, c * stride - padding
            for a in range(kh):
                for b in range(kw):
                    i, j = top + a * dilation, left + b * dilation
                    if 0 <= i < oh and 0 <= j < ow:
                        output[i][j] += x * kernel[a][b]
            steps.append(Step(r, c, top, left, [(x, w) for krow in kernel for w in krow], x))
    return ManualResult([[_clean(v) for v in row] for row in output], steps, image, kernel)


def pad_matrix(m: Matrix, p: int, value: float = 0) -> Matrix:
    width = len(m[0]) + 2 * p
    return [[value] * width for _ in range(p)] + [[value] * p + row + [value] * p for row in m] + [[value] * width for _ in range(p)]


def flip(kernel: Matrix) -> Matrix:
    return [row[::-1] for row in kernel[::-1]]


def _clean(v):
    """Show 3 rather than 3.0 or Fraction(3, 1)."""
    if isinstance(v, Fraction):
        return int(v) if v.denominator == 1 else v
    if isinstance(v, float) and v.is_integer():
        return int(v)
    return v


def convolve(
    image: Matrix,
    kernel: Matrix,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    mode: str = "correlate",
) -> ManualResult:
    """2-D cross-correlation (mode='correlate', what nn.Conv2d computes) or
    convolution (mode='convolve', kernel flipped) with zero padding."""
    if mode not in ("correlate", "convolve"):
        raise SpecError(f"mode must be 'correlate' or 'convolve', got {mode!r}")
    if padding < 0:
        raise GeometryError("padding must be >= 0")
    applied = flip(kernel) if mode == "convolve" else kernel
    kh, kw = len(applied), len(applied[0])
    oh = conv_out(len(image), kh, stride, padding, padding, dilation)
    ow = conv_out(len(image[0]), kw, stride, padding, padding, dilation)
    padded = pad_matrix(image, padding)
    output, steps = [], []
    for r in range(oh):
        out_row = []
        for c in range(ow):
            top, left = r * stride, c * stride
            pairs = [
                (padded[top + i * dilation][left + j * dilation], applied[i][j])
                for i in range(kh)
                for j in range(kw)
            ]
            value = _clean(sum(x * w for x, w in pairs))
            out_row.append(value)
            steps.append(Step(r, c, top, left, pairs, value))
        output.append(out_row)
    return ManualResult(output, steps, padded, applied)


def pool(image: Matrix, kernel: int, stride: int | None = None, padding: int = 0, op: str = "maxpool",
         ceil_mode: bool = False) -> ManualResult:
    """Max or average pooling by hand, with PyTorch's padding and ceil-mode rules.

    Max pooling pads with -inf (padding never wins); average pooling pads with 0
    and divides by the full window (count_include_pad=True, PyTorch's default),
    except that windows hanging past the padded input in ceil mode are clipped.
    """
    if op not in ("maxpool", "avgpool"):
        raise SpecError(f"pooling op must be maxpool or avgpool, got {op!r}")
    stride = kernel if stride is None else stride
    oh = pool_out(len(image), kernel, stride, padding, 1, ceil_mode)
    ow = pool_out(len(image[0]), kernel, stride, padding, 1, ceil_mode)
    fill = float("-inf") if op == "maxpool" else 0
    padded = pad_matrix(image, padding, fill)
    ph, pw = len(padded), len(padded[0])
    output, steps = [], []
    for r in range(oh):
        out_row = []
        for c in range(ow):
            top, left = r * stride, c * stride
            values = [padded[i][j] for i in range(top, min(top + kernel, ph)) for j in range(left, min(left + kernel, pw))]
            if op == "maxpool":
                value = _clean(max(values))
            else:
                # PyTorch divides by the window clipped to the padded input.
                hh = min(top + kernel, ph) - top
                ww = min(left + kernel, pw) - left
                value = _clean(Fraction(sum(Fraction(v) for v in values), hh * ww))
            out_row.append(value)
            steps.append(Step(r, c, top, left, [(v, None) for v in values], value))
        output.append(out_row)
    return ManualResult(output, steps, padded, None)


def format_number(v) -> str:
    v = _clean(v)
    if isinstance(v, Fraction):
        return f"{v.numerator}/{v.denominator}"
    if isinstance(v, float):
        return "-inf" if v == float("-inf") else f"{v:.6g}"
    return str(v)


def step_text(step: Step, op: str) -> str:
    """'out[0][1] = 1·(-1) + 0·0 + ... = -4' for display."""
    if op == "maxpool":
        return f"out[{step.row}][{step.col}] = max({', '.join(format_number(x) for x, _ in step.pairs)}) = {format_number(step.value)}"
    if op == "avgpool":
        return f"out[{step.row}][{step.col}] = mean({', '.join(format_number(x) for x, _ in step.pairs)}) = {format_number(step.value)}"
    terms = " + ".join(f"{format_number(x)}·{_paren(w)}" for x, w in step.pairs)
    return f"out[{step.row}][{step.col}] = {terms} = {format_number(step.value)}"


def _paren(w) -> str:
    t = format_number(w)
    return f"({t})" if t.startswith("-") or "/" in t else t
