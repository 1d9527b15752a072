"""A whole network from a one-line text spec: `cnnkit layers` in library form.

    "3x32x32 | conv 32 k5 p2 | bn | relu | maxpool 2 | flatten | linear 10"

The first segment is the input shape (C x H x W, any number of spatial axes, or
a single number for flat features). Each following segment is one layer: a name,
then positional numbers and ``key<value>`` options (``k5``, ``s2``, ``p1:2``,
``d2``, ``g4``, ``op1``). docs/layers.md documents the grammar.

For each layer this computes the output shape, the parameter count with its
formula, MACs (multiply-accumulates of conv/linear layers) and FLOPs (= 2 x MACs,
the convention of torch.utils.flop_counter), and the receptive field and
effective stride (jump) per spatial axis.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from math import gcd

from cnnkit.arith import receptive
from cnnkit.arith.geometry import AxisGeometry, axis_geometry
from cnnkit.arith.parse import broadcast, format_sizes, parse_padding, parse_sizes
from cnnkit.errors import GeometryError, SpecError

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


@dataclass
class LayerRow:
    """One row of the `cnnkit layers` table."""

    index: int
    layer: Layer
    module: str  # the equivalent torch.nn module, for orientation
    input_shape: Shape
    output_shape: Shape
    params: int
    params_formula: str
    macs: int
    receptive_field: tuple[Fraction, ...] | None  # None: every input pixel (after flatten/linear)
    jump: tuple[Fraction, ...] | None
    notes: list[str] = field(default_factory=list)
    geoms: tuple[AxisGeometry, ...] = ()  # conv/pool/convT: the resolved geometry per axis
    start: tuple[Fraction, ...] | None = None  # centre of output position 0, in input pixels
    # RF += (k-1)·d·jump unclipped (receptive_field is what fits in this input)
    textbook_rf: tuple[Fraction, ...] | None = None

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def as_dict(self) -> dict:
        return {
            "index": self.index,
            "layer": self.layer.text,
            "module": self.module,
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "params": self.params,
            "params_formula": self.params_formula,
            "macs": self.macs,
            "flops": self.flops,
            "receptive_field": _frac_list(self.receptive_field),
            "textbook_receptive_field": _frac_list(self.textbook_rf if self.receptive_field is not None else None),
            "effective_stride": _frac_list(self.jump),
            "rf_start": _frac_list(self.start),
            "notes": self.notes,
        }


@dataclass
class NetworkReport:
    input_shape: Shape
    rows: list[LayerRow]

    @property
    def output_shape(self) -> Shape:
        return self.rows[-1].output_shape if self.rows else self.input_shape

    @property
    def total_params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def total_macs(self) -> int:
        return sum(r.macs for r in self.rows)

    @property
    def total_flops(self) -> int:
        return 2 * self.total_macs

    def activation_elements(self) -> int:
        """Elements of every layer output for one sample (what backward keeps)."""
        return sum(math.prod(r.output_shape) for r in self.rows) + math.prod(self.input_shape)

    def as_dict(self) -> dict:
        return {
            "input_shape": list(self.input_shape),
            "output_shape": list(self.output_shape),
            "layers": [r.as_dict() for r in self.rows],
            "total_params": self.total_params,
            "total_macs": self.total_macs,
            "total_flops": self.total_flops,
        }


def _py(values) -> str:
    """A size argument as PyTorch code: 2 when every axis agrees, else (2, 3)."""
    values = list(values)
    return str(values[0]) if len(set(values)) == 1 else "(" + ", ".join(str(v) for v in values) + ")"


def _frac_list(values):
    if values is None:
        return None
    return [int(v) if v.denominator == 1 else float(v) for v in values]


# ----------------------------------------------------------------------------- parsing

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


# ----------------------------------------------------------------------------- arithmetic


# Tracing every position's footprint costs time and memory per pixel; past this many
# positions on some axis of some layer, the receptive field comes from the closed-form
# recurrence instead (same numbers away from the image border), and a note says so.
EXACT_TRACE_LIMIT = 1 << 16


def analyse(spec: str) -> NetworkReport:
    """Parse a spec and compute every layer's row.

    Shapes, parameters and MACs are closed-form. The receptive field is traced exactly
    (every position's footprint) while every axis has at most EXACT_TRACE_LIMIT positions;
    beyond that, the textbook recurrence RF += (k-1)·d·jump is used (see _recurrence)."""
    shape, layers = parse_spec(spec)
    rows: list[LayerRow] = []
    current = shape
    for i, layer in enumerate(layers, start=1):
        try:
            row = _layer_row(i, layer, current)
        except GeometryError as e:
            raise GeometryError(f"layer {i} ({layer.text!r}) on input {format_sizes(current)}: {e}") from None
        rows.append(row)
        current = row.output_shape
    largest = max((n for r in rows for n in (*r.input_shape[1:], *r.output_shape[1:])), default=0)
    largest = max(largest, *shape[1:], 0)
    if largest <= EXACT_TRACE_LIMIT:
        _trace(shape, rows)
    else:
        uneven = _recurrence(shape, rows)
        if rows:
            rows[0].notes.append(
                f"receptive fields from the recurrence RF += (k-1)·d·jump (an axis has {largest:,} positions, too many "
                f"to trace each one; above {EXACT_TRACE_LIMIT:,} cnnkit uses the formula): exact away from the image "
                "border for conv and pooling, capped at the image size")
        if uneven is not None:
            rows[uneven - 1].notes.append(
                "receptive field from here on is approximate: this layer's outputs are not evenly spaced over the "
                "input (transposed conv, upsampling or an uneven adaptive pool), which the recurrence assumes; "
                f"trace it exactly on an input of at most {EXACT_TRACE_LIMIT:,} per axis")
    return NetworkReport(shape, rows)


def _trace(shape: Shape, rows: list[LayerRow]) -> None:
    """Exact receptive fields: one footprint per position and spatial axis."""
    fields = [receptive.AxisField.identity(n) for n in shape[1:]] or None
    for row in rows:
        windows = layer_windows(row)
        if fields is not None and windows is not None:
            fields = [f.through(*w) for f, w in zip(fields, windows)]
            row.receptive_field = tuple(Fraction(f.size) for f in fields)
            row.textbook_rf = tuple(f.textbook for f in fields)
            row.jump = tuple(f.jump for f in fields)
            row.start = tuple(f.start for f in fields)
        else:
            fields = None  # flatten / linear: every input pixel


def _recurrence(shape: Shape, rows: list[LayerRow]) -> int | None:
    """Closed-form receptive fields, per axis: (rf, jump, start) through each layer.

    conv/pool: rf += (k-1)·d·jump, jump *= s. Transposed conv: the inputs reaching one
    output are (k-1)//(s/g)·(s/g) taps apart at most (g = gcd(s, d)), i.e. that·d/s input
    positions. Adaptive pool n -> m: windows of up to ceil(n/m)+1 inputs, jump *= n/m.
    Bilinear upsampling mixes two neighbours. rf never exceeds the input size.
    Returns the index of the first layer after which this is not exact (None: exact
    away from the border), the tests compare it with the exact trace."""
    n_in = shape[1:]
    uneven = None  # index of the first layer where the recurrence stops being exact
    state = [(Fraction(1), Fraction(1), Fraction(0)) for _ in n_in] or None  # (rf, jump, start)
    textbook = [Fraction(1) for _ in n_in]
    for row in rows:
        if state is None or len(row.input_shape) < 2 or len(row.output_shape) < 2:
            state = None
            continue
        new = []
        for a, (rf, jump, start) in enumerate(state):
            n, m = row.input_shape[1 + a], row.output_shape[1 + a]
            if row.geoms:
                g = row.geoms[a]
                if g.op == "transpose":
                    uneven = uneven or row.index
                    period = g.s // gcd(g.s, g.d)
                    span = Fraction((g.k - 1) // period * period * g.d, g.s)
                    rf, start, jump = rf + span * jump, start + receptive.transpose_centre(g.k, g.s, g.p_before, g.d) * jump, jump / g.s
                else:
                    rf, start, jump = rf + (g.k - 1) * g.d * jump, start + receptive.conv_centre(g.k, g.d, g.p_before) * jump, jump * g.s
            elif row.layer.kind == "gap":
                if n % m:
                    uneven = uneven or row.index
                widest = -(-n // m) + (0 if n % m == 0 else 1)
                rf, start, jump = rf + (widest - 1) * jump, start + receptive.adaptive_centre(n, m) * jump, jump * Fraction(n, m)
            elif row.layer.kind == "upsample":
                f = row.layer.scale
                uneven = uneven or (row.index if f > 1 else None)
                extra = jump if row.layer.upsample_mode == "bilinear" and f > 1 else 0
                rf, start, jump = rf + extra, start + receptive.upsample_centre(f) * jump, jump / f
            textbook[a] += rf - state[a][0]  # the growth before clipping at the image
            new.append((min(rf, Fraction(n_in[a])), jump, start))
        state = new
        row.textbook_rf = tuple(textbook)
        row.receptive_field = tuple(x[0] for x in state)
        row.jump = tuple(x[1] for x in state)
        row.start = tuple(x[2] for x in state)
    return uneven


def layer_windows(row: LayerRow) -> list[tuple[list, Fraction, Fraction, Fraction]] | None:
    """Per spatial axis: (windows, jump scale, centre of position 0, textbook growth) of one
    layer (the arguments of AxisField.through).

    None for layers that mix every position (flatten, linear).
    """
    kind, layer = row.layer.kind, row.layer
    if len(row.input_shape) < 2 or len(row.output_shape) < 2:
        return None
    n_in, n_out = row.input_shape[1:], row.output_shape[1:]
    if row.geoms:
        out = []
        for g in row.geoms:
            if g.op == "transpose":
                w = receptive.transpose_windows(g.n, g.out, g.k, g.s, g.p_before, g.d)
                out.append((w, Fraction(1, g.s), receptive.transpose_centre(g.k, g.s, g.p_before, g.d),
                            receptive.transpose_growth(g.k, g.s, g.d)))
            else:
                w = receptive.conv_windows(g.n, g.out, g.k, g.s, g.p_before, g.d)
                out.append((w, Fraction(g.s), receptive.conv_centre(g.k, g.d, g.p_before), receptive.conv_growth(g.k, g.d)))
        return out
    if kind == "gap":
        return [(receptive.adaptive_windows(n, m), Fraction(n, m), receptive.adaptive_centre(n, m), receptive.adaptive_growth(n, m))
                for n, m in zip(n_in, n_out)]
    if kind == "upsample":
        f = layer.scale
        return [(receptive.upsample_windows(n, f, layer.upsample_mode), Fraction(1, f), receptive.upsample_centre(f),
                 receptive.upsample_growth(f, layer.upsample_mode)) for n in n_in]
    return [(receptive.identity_windows(n), Fraction(1), Fraction(0), Fraction(0)) for n in n_in]


def _need_spatial(layer: Layer, shape: Shape) -> None:
    if len(shape) < 2:
        raise GeometryError(
            f"{layer.kind} needs a C x H x W input but gets {shape[0]} flat features; "
            "move it before 'flatten'"
        )


def _layer_row(i: int, layer: Layer, shape: Shape) -> LayerRow:
    """Shapes, parameters and MACs of one layer (`analyse` adds the receptive field)."""
    kind = layer.kind
    c = shape[0]
    if kind in ("conv", "convT", "maxpool", "avgpool"):
        _need_spatial(layer, shape)
        return _windowed_row(i, layer, shape)
    if kind == "linear":
        if len(shape) != 1:
            raise GeometryError(
                f"linear needs flat features but the input is {format_sizes(shape)} "
                f"(= {math.prod(shape)} values); add 'flatten' before it"
            )
        out = layer.out_channels
        params = (c + int(layer.bias)) * out
        formula = f"({c} + 1)·{out} = {params}" if layer.bias else f"{c}·{out} = {params}"
        return LayerRow(i, layer, f"Linear({c}, {out}{'' if layer.bias else ', bias=False'})", shape, (out,),
                        params, formula, c * out, None, None)
    if kind == "flatten":
        return LayerRow(i, layer, "Flatten()", shape, (math.prod(shape),), 0, "0", 0, None, None)
    if kind in ("bn", "bn1d", "bn2d"):
        if kind == "bn2d" and len(shape) != 3:
            raise GeometryError("bn2d needs a C x H x W input; use bn1d for flat features")
        if kind == "bn1d" and len(shape) > 2:
            raise GeometryError("bn1d needs flat features (or C x L); use bn2d for C x H x W")
        dims = {1: "1d", 2: "1d", 3: "2d", 4: "3d"}[len(shape)]
        # Only the affine γ and β are parameters; running mean/var are buffers.
        params = 2 * c
        return LayerRow(i, layer, f"BatchNorm{dims}({c})", shape, shape, params, f"2·{c} (γ, β) = {params}", 0, None, None)
    if kind in ACTIVATIONS:
        return LayerRow(i, layer, ACTIVATIONS[kind], shape, shape, 0, "0", 0, None, None)
    if kind in ("dropout", "dropout2d"):
        if kind == "dropout2d":
            _need_spatial(layer, shape)
        module = f"{'Dropout2d' if kind == 'dropout2d' else 'Dropout'}(p={layer.p:g})"
        return LayerRow(i, layer, module, shape, shape, 0, "0", 0, None, None)
    if kind == "gap":
        _need_spatial(layer, shape)
        size = broadcast(layer.pool_output, len(shape) - 1, "output size")
        out = (c, *size)
        return LayerRow(i, layer, f"AdaptiveAvgPool{len(size)}d({_py(size)})", shape, out, 0, "0", 0,
                        None, None)
    if kind == "upsample":
        _need_spatial(layer, shape)
        f = layer.scale
        out = (c, *(v * f for v in shape[1:]))
        return LayerRow(i, layer, f"Upsample(scale_factor={f}, mode='{layer.upsample_mode}')", shape, out,
                        0, "0", 0, None, None)
    raise SpecError(f"unknown layer {kind!r}")  # unreachable: parse_layer checks names


def _windowed_row(i: int, layer: Layer, shape: Shape) -> LayerRow:
    """conv / convT / maxpool / avgpool: per-axis geometry plus params and MACs."""
    kind = layer.kind
    c_in, spatial = shape[0], shape[1:]
    nd = len(spatial)
    k = broadcast(layer.kernel, nd, "kernel")
    s = broadcast(layer.stride, nd, "stride") if layer.stride else (None,) * nd
    d = broadcast(layer.dilation, nd, "dilation")
    op_pad = broadcast(layer.output_padding, nd, "output padding")
    pad = layer.padding
    p_axes = (pad,) * nd if isinstance(pad, str) else broadcast(pad, nd, "padding")
    op = {"conv": "conv", "convT": "transpose", "maxpool": "maxpool", "avgpool": "avgpool"}[kind]
    geoms = [axis_geometry(op, spatial[a], k[a], s[a], p_axes[a], d[a], layer.ceil_mode, op_pad[a]) for a in range(nd)]
    out_spatial = tuple(g.out for g in geoms)
    notes = [n for g in geoms for n in g.notes]
    strides = tuple(g.s for g in geoms)
    ks = _py(k) if len(set(k)) > 1 else str(k[0])

    new_rf = new_jump = None  # filled in by analyse()

    if kind in ("maxpool", "avgpool"):
        name = "MaxPool" if kind == "maxpool" else "AvgPool"
        extra = "" if strides == tuple(k) else f", stride={_py(strides)}"
        if any(g.p_before for g in geoms):
            extra += f", padding={_py([g.p_before for g in geoms])}"
        if any(v != 1 for v in d):
            extra += f", dilation={_py(d)}"
        extra += ", ceil_mode=True" if layer.ceil_mode else ""
        module = f"{name}{nd}d({ks}{extra})"
        return LayerRow(i, layer, module, shape, (c_in, *out_spatial), 0, "0", 0, new_rf, new_jump, notes,
                        tuple(geoms))

    c_out, g_ = layer.out_channels, layer.groups
    if c_in % g_ or c_out % g_:
        raise GeometryError(f"groups={g_} must divide both input channels ({c_in}) and output channels ({c_out})")
    kprod = math.prod(k)
    kdots = "·".join(str(v) for v in k)
    b = int(layer.bias)
    if kind == "conv":
        params = (kprod * (c_in // g_) + b) * c_out
        cin_text = f"{c_in}/{g_}" if g_ > 1 else f"{c_in}"
        formula = f"({kdots}·{cin_text}{' + 1' if b else ''})·{c_out} = {params}"
        macs = math.prod(out_spatial) * c_out * (c_in // g_) * kprod
        module = f"Conv{nd}d({c_in}, {c_out}, kernel_size={ks}"
    else:
        params = c_in * (c_out // g_) * kprod + b * c_out
        cout_text = f"({c_out}/{g_})" if g_ > 1 else f"{c_out}"
        formula = f"{c_in}·{cout_text}·{kdots}{f' + {c_out}' if b else ''} = {params}"
        # Counted on the input grid, as torch.utils.flop_counter does.
        macs = math.prod(spatial) * c_in * (c_out // g_) * kprod
        module = f"ConvTranspose{nd}d({c_in}, {c_out}, kernel_size={ks}"
    if any(v != 1 for v in strides):
        module += f", stride={_py(strides)}"
    pads = [(g.p_before, g.p_after) for g in geoms]
    if layer.padding == "same":
        module += ", padding='same'"
    elif any(pb or pa for pb, pa in pads):
        if all(pb == pa for pb, pa in pads):
            module += f", padding={_py([pb for pb, _ in pads])}"
        else:
            module += ", padding=0"
            notes.append("asymmetric padding: pad with nn.ZeroPad2d / F.pad before this conv")
    if any(v != 1 for v in d):
        module += f", dilation={_py(d)}"
    if kind == "convT" and any(op_pad):
        module += f", output_padding={_py(op_pad)}"
    if g_ > 1:
        module += f", groups={g_}"
    module += ")" if b else ", bias=False)"
    return LayerRow(i, layer, module, shape, (c_out, *out_spatial), params, formula, macs, new_rf, new_jump, notes,
                    tuple(geoms))


# ----------------------------------------------------------------------------- memory

OPTIMIZER_STATE = {"sgd": 0, "momentum": 1, "rmsprop": 1, "adagrad": 1, "adam": 2, "adamw": 2}


def training_memory_bytes(activation_elements: int, params: int, batch: int, optimizer: str = "sgd",
                          bytes_per_value: int = 4) -> dict:
    """Rough training-memory estimate in bytes.

    activations: every layer output kept for backward, per sample, times the batch
    (an upper bound: in-place ReLUs share storage); params, grads: one copy each;
    optimizer state: 0 (SGD), 1 (momentum/RMSprop/Adagrad) or 2 (Adam) copies.
    """
    if optimizer not in OPTIMIZER_STATE:
        raise SpecError(f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZER_STATE)}")
    if batch < 1:
        raise SpecError("batch size must be >= 1")
    p = params * bytes_per_value
    parts = {
        "activations": activation_elements * batch * bytes_per_value,
        "params": p,
        "grads": p,
        "optimizer_state": p * OPTIMIZER_STATE[optimizer],
    }
    parts["total"] = sum(parts.values())
    return parts


def training_memory(report: NetworkReport, batch: int, optimizer: str = "sgd") -> dict:
    """`training_memory_bytes` for a parsed spec."""
    return training_memory_bytes(report.activation_elements(), report.total_params, batch, optimizer)


# ----------------------------------------------------------------------------- one unit's region


def unit_regions(report: NetworkReport, unit: tuple[int, ...] | None = None, layer: int | None = None) -> dict:
    """The region one output position of a layer depends on, on every grid before it.

    layer: 1-based row index (default: the last layer with a spatial output); unit: its
    position (default: the centre). Returns {'layer', 'unit', 'grids': [...]} where
    grids[0] is the network input and grids[i] the output of layer i; each has
    'layer' (text), 'shape' (spatial), 'region' ([first, last] per axis, None where the
    position reads only padding), 'receptive_field', 'jump', 'start'.
    """
    spatial = [r.index for r in report.rows if len(r.output_shape) > 1 and r.receptive_field is not None]
    if len(report.input_shape) < 2 or not spatial:
        raise SpecError("the spec has no spatial layer to draw; start it with C x H x W, e.g. '1x32x32 | conv 8 k3'")
    layer = spatial[-1] if layer is None else layer
    if layer not in spatial:
        raise SpecError(f"--layer must be one of the spatial layers {spatial[0]}..{spatial[-1]}, got {layer}")
    rows = report.rows[:layer]
    largest = max(n for r in (report.input_shape, *(x.output_shape for x in rows)) for n in r[1:])
    if largest > EXACT_TRACE_LIMIT:  # the region is traced through every position's window
        raise SpecError(f"an axis of {largest:,} positions is too large to trace a region through; draw the same "
                        f"network on an input of at most {EXACT_TRACE_LIMIT:,} per axis (the receptive field is the same "
                        "away from the border)")
    size = rows[-1].output_shape[1:]
    unit = tuple(n // 2 for n in size) if unit is None else unit
    if len(unit) != len(size) or any(not 0 <= u < n for u, n in zip(unit, size)):
        raise SpecError(f"--unit {'x'.join(map(str, unit))} is outside layer {layer}'s output "
                        f"{format_sizes(size)}; positions count from 0")
    per_axis = []
    for a in range(len(size)):
        windows = [layer_windows(r)[a][0] for r in rows]
        per_axis.append(receptive.back_project(windows, unit[a], unit[a]))  # last layer's input first
    grids = [{"layer": format_sizes(report.input_shape), "shape": list(report.input_shape[1:]), "receptive_field": [1] * len(size),
              "jump": [1] * len(size), "start": [0] * len(size)}]
    for r in rows:
        grids.append({"layer": r.layer.text, "shape": list(r.output_shape[1:]),
                      "receptive_field": _frac_list(r.receptive_field), "jump": _frac_list(r.jump),
                      "start": _frac_list(r.start)})
    grids[-1]["region"] = [[u, u] for u in unit]
    for g, boxes in zip(reversed(grids[:-1]), zip(*per_axis)):
        g["region"] = None if None in boxes else [list(b) for b in boxes]
    return {"layer": layer, "unit": list(unit), "grids": grids}
