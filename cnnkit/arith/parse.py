"""Parsing of the per-axis size notation used on the command line.

``512`` is one axis; ``28x28`` or ``28x32`` is H x W; ``3x32x32`` is C x H x W.
Padding may also be ``before:after`` per axis (``1:2x0``) or ``same``/``valid``.
"""

from __future__ import annotations

from cnnkit.errors import SpecError

Padding = tuple[int, int]


# Sizes, kernels and strides past 15 digits are typos (or an attack); Python's own limit
# on int() (4,300 digits) would read as "not a whole number" and echo every digit.
MAX_DIGITS = 15


def shorten(text: str, keep: int = 24) -> str:
    """`text` for an error line: long input is cut (with its length), never echoed whole."""
    return text if len(text) <= keep else f"{text[:keep]}... ({len(text):,} characters)"


def parse_int(text: str, what: str) -> int:
    t = str(text).strip()
    digits = t.lstrip("+-")
    if digits.isdigit() and len(digits) > MAX_DIGITS:
        raise SpecError(f"{what} has {len(digits):,} digits; cnnkit takes whole numbers of at most {MAX_DIGITS} digits")
    try:
        return int(t)
    except ValueError:
        raise SpecError(f"{what} must be a whole number, got {shorten(t)!r}") from None


def parse_sizes(text: str | int, what: str = "size") -> tuple[int, ...]:
    """'28x32' -> (28, 32); '512' -> (512,)."""
    if isinstance(text, int):
        return (text,)
    parts = str(text).strip().lower().replace("×", "x").split("x")
    if not all(p.strip() for p in parts):
        raise SpecError(f"{what} {shorten(str(text))!r} is malformed; write e.g. 32 or 28x28")
    return tuple(parse_int(p.strip(), what) for p in parts)


def parse_padding(text: str | int) -> str | tuple[Padding, ...]:
    """'same' | 'valid' | '1' | '1x2' | '1:2' | '1:2x0:1' -> per-axis (before, after)."""
    if isinstance(text, int):
        return ((text, text),)
    t = str(text).strip().lower()
    if t in ("same", "valid"):
        return t
    axes = []
    for part in t.replace("×", "x").split("x"):
        if ":" in part:
            before, _, after = part.partition(":")
            axes.append((parse_int(before, "padding"), parse_int(after, "padding")))
        else:
            v = parse_int(part, "padding")
            axes.append((v, v))
    return tuple(axes)


def broadcast(values: tuple, ndim: int, what: str) -> tuple:
    """Repeat a one-axis value over ndim axes; refuse mismatched axis counts."""
    if len(values) == ndim:
        return values
    if len(values) == 1:
        return values * ndim
    raise SpecError(f"{what} has {len(values)} axes but the input has {ndim}; give one value or {ndim}")


def format_sizes(values: tuple[int, ...] | list[int]) -> str:
    return "x".join(str(v) for v in values)
