"""The numbers of one layer of a spec: output shape, parameters with their formula, MACs,
and the equivalent torch.nn module as text (what `cnnkit layers` prints in a row).
Receptive fields are added by arith/spec.analyse, which sees the whole network."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

from cnnkit.arith.geometry import AxisGeometry, axis_geometry
from cnnkit.arith.parse import broadcast, format_sizes
from cnnkit.arith.spec_grammar import ACTIVATIONS, Layer, Shape
from cnnkit.errors import GeometryError, SpecError


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
            "receptive_field": frac_list(self.receptive_field),
            "textbook_receptive_field": frac_list(self.textbook_rf if self.receptive_field is not None else None),
            "effective_stride": frac_list(self.jump),
            "rf_start": frac_list(self.start),
            "notes": self.notes,
        }


def _py(values) -> str:
    """A size argument as PyTorch code: 2 when every axis agrees, else (2, 3)."""
    values = list(values)
    return str(values[0]) if len(set(values)) == 1 else "(" + ", ".join(str(v) for v in values) + ")"


def frac_list(values):
    if values is None:
        return None
    return [int(v) if v.denominator == 1 else float(v) for v in values]


def _need_spatial(layer: Layer, shape: Shape) -> None:
    if len(shape) < 2:
        raise GeometryError(
            f"{layer.kind} needs a C x H x W input but gets {shape[0]} flat features; "
            "move it before 'flatten'"
        )


def layer_row(i: int, layer: Layer, shape: Shape) -> LayerRow:
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
