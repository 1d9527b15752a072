"""The grammar of a layer spec: "3x32x32 | conv 32 k5 p2 | bn | relu | maxpool 2 | flatten | linear 10".

The first segment is the input shape (C x H x W, any number of spatial axes, or
a single number for flat features). Each following segment is one layer: a name,
then positional numbers and ``key<value>`` options (``k5``, ``s2``, ``p1:2``,
``d2``, ``g4``, ``op1``). docs/layers.md documents the grammar. Parsing gives Layers
(hyper-parameters only); arith/layer_rows.py computes their numbers.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from cnnkit.arith.parse import parse_padding, parse_sizes
from cnnkit.errors import SpecError

Shape = tuple[int, ...]  # (C, *spatial) or (F,) for flat features

ACTIVATIONS = {
    "relu": "ReLU()",
    "elu": "ELU()",
    "leakyrelu": "LeakyReLU()",
    "leaky_relu": "LeakyReLU()",
    "gelu": "GELU()",
    "sigmoid": "Sigmoid()",
    "tanh": "Tanh()",
    "silu": "SiLU()",
    "softmax": "Softmax(dim=1)",
    "identity": "Identity()",
}
ALIASES = {
    "convt": "convT",
    "deconv": "convT",
    "convtranspose": "convT",
    "conv2d": "conv",
    "fc": "linear",
    "dense": "linear",
    "batchnorm": "bn",
    "batchnorm2d": "bn2d",
    "batchnorm1d": "bn1d",
    "maxpool2d": "maxpool",
    "avgpool2d": "avgpool",
    "adaptiveavgpool": "gap",
    "globalavgpool": "gap",
}
LAYER_NAMES = sorted(
    {"conv", "convT", "maxpool", "avgpool", "gap", "bn", "bn1d", "bn2d", "dropout", "dropout2d", "flatten", "linear", "upsample"}
    | set(ACTIVATIONS)
)


@dataclass
class Layer:
    """One parsed spec segment: its kind and hyper-parameters, nothing computed."""

    kind: str
    text: str
    out_channels: int | None = None
    kernel: tuple[int, ...] | None = None
    stride: tuple[int, ...] | None = None
    padding: str | tuple[tuple[int, int], ...] = ((0, 0),)  # "same" | "valid" | (before, after) per axis
    dilation: tuple[int, ...] = (1,)
    groups: int = 1
    bias: bool = True
    ceil_mode: bool = False
    output_padding: tuple[int, ...] = (0,)
    p: float = 0.5  # dropout probability
    scale: int = 2  # upsample factor
    upsample_mode: str = "nearest"
    pool_output: tuple[int, ...] = (1,)  # adaptive pooling output size


_OPTION = re.compile(r"^(k|s|p|d|g|op)=?(.+)$")
_SETTING = {"k": "kernel size", "s": "stride", "p": "padding", "d": "dilation", "g": "groups", "op": "output padding",
            "nobias": "bias switch", "ceil": "ceil mode", "mode": "upsampling mode"}
# The options each layer has (as in PyTorch); any other is an error.
_TAKES = {"conv": {"k", "s", "p", "d", "g", "nobias"}, "convT": {"k", "s", "p", "d", "g", "op", "nobias"},
          "maxpool": {"k", "s", "p", "d", "ceil"}, "avgpool": {"k", "s", "p", "ceil"}, "linear": {"nobias"},
          "upsample": {"mode"}}


def parse_spec(spec: str) -> tuple[Shape, list[Layer]]:
    """Split the spec on '|' and parse the input shape and every layer."""
    segments = [seg.strip() for seg in spec.split("|")]
    if not segments or not segments[0]:
        raise SpecError("empty spec; start with an input shape, e.g. '3x32x32 | conv 32 k3 | relu'")
    shape = parse_sizes(segments[0], "input shape")
    if any(v < 1 for v in shape):
        raise SpecError(f"input shape {segments[0]!r} must be positive, e.g. 3x32x32")
    layers = []
    for i, seg in enumerate(segments[1:], start=1):
        if not seg:
            raise SpecError(f"layer {i} is empty (two '|' in a row?)")
        layers.append(parse_layer(seg))
    return shape, layers


def parse_layer(text: str) -> Layer:
    words = text.split()
    name = words[0].lower()
    name = ALIASES.get(name, name)
    if name == "convt":
        name = "convT"
    if name not in LAYER_NAMES:
        raise SpecError(f"unknown layer {words[0]!r} in {text!r}; known layers: {', '.join(LAYER_NAMES)}")
    layer = Layer(kind=name, text=text)
    positional: list[str] = []
    given: dict[str, str] = {}  # setting -> the word that set it: a second one is an error, never "last wins"

    def once(key: str, word: str) -> None:
        if key not in _TAKES.get(name, ()):  # an option the layer does not have is never silently dropped
            raise SpecError(f"{name} has no {_SETTING[key]} ({word!r} in {text!r}); see `cnnkit layers --help`")
        if key in given:
            raise SpecError(f"{given[key]!r} and {word!r} both set the {_SETTING[key]} in {text!r}; give it once")
        given[key] = word

    for w in words[1:]:
        lw = w.lower()
        if lw == "nobias":
            once("nobias", w)
            layer.bias = False
        elif lw in ("ceil", "ceil_mode"):
            once("ceil", w)
            layer.ceil_mode = True
        elif lw in ("nearest", "bilinear"):
            once("mode", w)
            layer.upsample_mode = lw
        elif lw in ("psame", "pvalid", "p=same", "p=valid"):
            once("p", w)
            layer.padding = lw.removeprefix("p").removeprefix("=")
        elif (m := _OPTION.match(lw)) and not lw.replace(".", "").isdigit():
            key, value = m.groups()
            once(key, w)
            _set_option(layer, key, value, text)
        else:
            positional.append(w)
    if name in ("maxpool", "avgpool") and positional and "k" in given:
        raise SpecError(f"{positional[0]!r} and {given['k']!r} both set the pool size in {text!r}; give it once")
    _set_positional(layer, positional, text)
    _check_values(layer, text)
    return layer


def _check_values(layer: Layer, text: str) -> None:
    """Refuse zero or negative sizes here, before any arithmetic runs on them."""
    positive = [("output channels" if layer.kind != "linear" else "output features", (layer.out_channels,)),
                ("kernel size", layer.kernel), ("stride", layer.stride), ("dilation", layer.dilation),
                ("groups", (layer.groups,)), ("output size", layer.pool_output), ("scale factor", (layer.scale,))]
    for what, values in positive:
        bad = [v for v in values or () if v is not None and v < 1]
        if bad:
            raise SpecError(f"{what} in {text!r} must be >= 1, got {bad[0]}")
    pads = [] if isinstance(layer.padding, str) else [v for pair in layer.padding for v in pair]
    for what, values in [("padding", pads), ("output padding", layer.output_padding)]:
        bad = [v for v in values if v < 0]
        if bad:
            raise SpecError(f"{what} in {text!r} must be >= 0, got {bad[0]}")


def _set_option(layer: Layer, key: str, value: str, text: str) -> None:
    if key == "k":
        layer.kernel = parse_sizes(value, f"kernel in {text!r}")
    elif key == "s":
        layer.stride = parse_sizes(value, f"stride in {text!r}")
    elif key == "p":
        layer.padding = parse_padding(value)
    elif key == "d":
        layer.dilation = parse_sizes(value, f"dilation in {text!r}")
    elif key == "g":
        (layer.groups,) = parse_sizes(value, f"groups in {text!r}")
    elif key == "op":
        layer.output_padding = parse_sizes(value, f"output padding in {text!r}")


def _set_positional(layer: Layer, positional: list[str], text: str) -> None:
    kind = layer.kind
    takes = {
        "conv": 1, "convT": 1, "linear": 1, "maxpool": 1, "avgpool": 1, "gap": 1,
        "dropout": 1, "dropout2d": 1, "upsample": 1,
    }.get(kind, 0)
    if len(positional) > takes:
        raise SpecError(f"unexpected {' '.join(positional[takes:])!r} in {text!r}; see `cnnkit layers --help`")
    value = positional[0] if positional else None
    if kind in ("conv", "convT", "linear"):
        if value is None:
            what = "output features" if kind == "linear" else "output channels"
            raise SpecError(f"{text!r} needs its number of {what}, e.g. '{kind} 64'")
        (layer.out_channels,) = parse_sizes(value, f"channels in {text!r}")
        if layer.kernel is None and kind != "linear":
            layer.kernel = (3,)
    elif kind in ("maxpool", "avgpool"):
        layer.kernel = parse_sizes(value, f"pool size in {text!r}") if value else (layer.kernel or (2,))
    elif kind == "gap":
        layer.pool_output = parse_sizes(value, f"output size in {text!r}") if value else (1,)
    elif kind in ("dropout", "dropout2d"):
        if value is not None:
            try:
                layer.p = float(value)
            except ValueError:
                raise SpecError(f"dropout probability in {text!r} must be a number in [0, 1)") from None
            if not 0 <= layer.p < 1:
                raise SpecError(f"dropout probability in {text!r} must be in [0, 1)")
    elif kind == "upsample":
        (layer.scale,) = parse_sizes(value or "2", f"scale factor in {text!r}")
