"""A whole network from a one-line text spec: `cnnkit layers` in library form.

    "3x32x32 | conv 32 k5 p2 | bn | relu | maxpool 2 | flatten | linear 10"

The grammar is parsed in arith/spec_grammar.py (docs/layers.md documents it), each
layer's shape, parameters and MACs computed in arith/layer_rows.py, the memory
estimate in arith/memory.py; here the whole network's report and receptive fields.

For each layer this computes the output shape, the parameter count with its
formula, MACs (multiply-accumulates of conv/linear layers) and FLOPs (= 2 x MACs,
the convention of torch.utils.flop_counter), and the receptive field and
effective stride (jump) per spatial axis.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from math import gcd

from cnnkit.arith import receptive
from cnnkit.arith.layer_rows import LayerRow, frac_list, layer_row
from cnnkit.arith.memory import OPTIMIZER_STATE, training_memory, training_memory_bytes  # noqa: F401 - importable from here
from cnnkit.arith.parse import format_sizes
from cnnkit.arith.spec_grammar import LAYER_NAMES, Layer, Shape, parse_layer, parse_spec  # noqa: F401 - importable from here
from cnnkit.errors import GeometryError, SpecError


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
            row = layer_row(i, layer, current)
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
                      "receptive_field": frac_list(r.receptive_field), "jump": frac_list(r.jump),
                      "start": frac_list(r.start)})
    grids[-1]["region"] = [[u, u] for u in unit]
    for g, boxes in zip(reversed(grids[:-1]), zip(*per_axis)):
        g["region"] = None if None in boxes else [list(b) for b in boxes]
    return {"layer": layer, "unit": list(unit), "grids": grids}
