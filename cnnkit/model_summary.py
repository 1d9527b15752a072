"""Per-layer summary of a torch model from one forward pass (`cnnkit summary`).

Forward hooks on every module record, per call: input and output shape, MACs of
conv / transposed conv / linear layers, and the receptive field.

Receptive field: the same definition as `cnnkit layers` (cnnkit/arith/receptive.py):
the largest exact footprint on the input image of any position of a layer's output,
per spatial axis, so capped at the image. Each leaf call's windows come from the
module and the hooked shapes; residual adds and skip concatenations are followed by
a torch function mode (_FieldMode), the union over the paths -- the set of pixels
the gradient of one output unit reaches. After flatten/linear, group norm or anything
unknown the field is left undefined (None) rather than guessed.

Counting rules (docs/models.md):
* parameters are counted once per Parameter object, so a module used twice (a
  shared ReLU, a tied weight) is not counted twice; its second row shows 0;
* MACs per image; FLOPs = 2 x MACs, the torch.utils.flop_counter convention; a
  transposed conv is counted on its input grid, as flop_counter does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode

from cnnkit.arith import receptive
from cnnkit.arith.spec import training_memory_bytes

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONVT = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_POOL = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
_ADAPTIVE = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d,
             nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)
# Layers that keep every spatial position's receptive field unchanged.
# (Batch norm in eval mode, as summarize runs; group/instance norm mix every position and stay unknown.)
_POINTWISE = (nn.ReLU, nn.ReLU6, nn.ELU, nn.LeakyReLU, nn.PReLU, nn.GELU, nn.SiLU, nn.Mish, nn.Hardswish,
              nn.Hardsigmoid, nn.Sigmoid, nn.Tanh, nn.Identity, nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d,
              nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)


@dataclass
class SummaryRow:
    name: str
    type: str
    depth: int
    input_shape: list[int] | None
    output_shape: list[int] | None
    params: int = 0  # counted at the first call of the module only
    trainable: int = 0
    macs: int = 0  # this module and everything it called
    receptive_field: tuple | None = None
    textbook_rf: tuple | None = None  # RF += (k-1)·d·jump along the widest path, unclipped
    leaf: bool = True
    shared: bool = False  # a repeated call of a module already listed

    @property
    def flops(self) -> int:
        return 2 * self.macs

    def as_dict(self) -> dict:
        return {
            "name": self.name, "type": self.type, "depth": self.depth,
            "input_shape": self.input_shape, "output_shape": self.output_shape,
            "params": self.params, "trainable_params": self.trainable, "frozen_params": self.params - self.trainable,
            "macs": self.macs, "flops": self.flops,
            "receptive_field": None if self.receptive_field is None else [
                int(v) for v in self.receptive_field],
            "textbook_receptive_field": None if self.textbook_rf is None else [_num(v) for v in self.textbook_rf],
            "shared": self.shared,
        }


@dataclass
class ModelSummary:
    input_shape: list[int]
    output_shape: list[int]
    rows: list[SummaryRow]
    total_params: int
    trainable_params: int
    size_bytes: int  # parameters and buffers
    activation_elements: int  # per sample, every leaf output
    notes: list[str] = field(default_factory=list)

    @property
    def total_macs(self) -> int:
        return sum(r.macs for r in self.rows if r.leaf)

    def memory(self, batch: int, optimizer: str = "sgd") -> dict:
        return training_memory_bytes(self.activation_elements, self.trainable_params, batch, optimizer)

    def as_dict(self) -> dict:
        return {
            "input_shape": self.input_shape, "output_shape": self.output_shape,
            "total_params": self.total_params, "trainable_params": self.trainable_params,
            "frozen_params": self.total_params - self.trainable_params,
            "total_macs": self.total_macs, "total_flops": 2 * self.total_macs,
            "size_mb": self.size_bytes / 2**20,
            "layers": [r.as_dict() for r in self.rows], "notes": self.notes,
        }


def _num(v: Fraction):
    """A whole number as an int, else a float (a transposed conv can make it fractional)."""
    return int(v) if v.denominator == 1 else float(v)


def _shape(x) -> list[int] | None:
    if isinstance(x, torch.Tensor):
        return list(x.shape)
    if isinstance(x, (tuple, list)) and x and isinstance(x[0], torch.Tensor):
        return list(x[0].shape)
    return None


def _first_tensor(x):
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, (tuple, list)) and x and isinstance(x[0], torch.Tensor):
        return x[0]
    return None


def leaf_macs(module: nn.Module, x: torch.Tensor, y: torch.Tensor) -> int:
    """Multiply-accumulates of one call, per image."""
    n = x.shape[0] if x.dim() > 1 else 1
    if isinstance(module, _CONV):
        return y.numel() // n * (module.in_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, _CONVT):
        return x.numel() // n * (module.out_channels // module.groups) * math.prod(module.kernel_size)
    if isinstance(module, nn.Linear):
        return y.numel() // n * module.in_features
    return 0


def _module_windows(module: nn.Module, x: torch.Tensor, y: torch.Tensor):
    """Per spatial axis (windows, jump scale, centre of position 0) of one leaf call, as
    arith/spec.py's layer_windows gives them for `cnnkit layers`; None where unknown.

    x: (N, C, *in_sizes), y: (N, C', *out_sizes); the sizes come from the hooked call, so
    ceil mode, output padding and padding='same' need no special case.
    """
    if isinstance(module, _POINTWISE):
        return [(receptive.identity_windows(n), Fraction(1), Fraction(0), Fraction(0)) for n in x.shape[2:]]
    if x.dim() < 3 or y.dim() != x.dim():
        return None  # no spatial axes (linear, flatten)
    n_in, n_out = x.shape[2:], y.shape[2:]
    nd = len(n_in)

    def axes(v):
        return tuple(v) if isinstance(v, (tuple, list)) else (v,) * nd

    if isinstance(module, (*_CONV, *_CONVT, *_POOL)):
        if getattr(module, "padding_mode", "zeros") != "zeros":
            return None  # reflect/circular padding reads pixels from elsewhere in the image
        k, s = axes(module.kernel_size), axes(module.stride or module.kernel_size)
        d = axes(getattr(module, "dilation", 1))
        if module.padding == "same":  # torch puts the odd pixel of d*(k-1) after
            p = tuple(dd * (kk - 1) // 2 for kk, dd in zip(k, d))
        else:
            p = axes(module.padding if module.padding != "valid" else 0)
        out = []
        for n, m, kk, ss, pp, dd in zip(n_in, n_out, k, s, p, d):
            if isinstance(module, _CONVT):
                out.append((receptive.transpose_windows(n, m, kk, ss, pp, dd), Fraction(1, ss),
                            receptive.transpose_centre(kk, ss, pp, dd), receptive.transpose_growth(kk, ss, dd)))
            else:
                out.append((receptive.conv_windows(n, m, kk, ss, pp, dd), Fraction(ss), receptive.conv_centre(kk, dd, pp),
                            receptive.conv_growth(kk, dd)))
        return out
    if isinstance(module, _ADAPTIVE):
        return [(receptive.adaptive_windows(n, m), Fraction(n, m), receptive.adaptive_centre(n, m), receptive.adaptive_growth(n, m))
                for n, m in zip(n_in, n_out)]
    if isinstance(module, nn.Upsample) and module.mode in ("nearest", "bilinear", "linear") \
            and not module.align_corners and all(m % n == 0 for n, m in zip(n_in, n_out)):
        mode = "nearest" if module.mode == "nearest" else "bilinear"
        return [(receptive.upsample_windows(n, m // n, mode), Fraction(n, m), receptive.upsample_centre(m // n),
                 receptive.upsample_growth(m // n, mode)) for n, m in zip(n_in, n_out)]
    return None  # anything unknown: left undefined rather than guessed


def _union(fields: list[list[receptive.AxisField]], sizes) -> list[receptive.AxisField] | None:
    """Footprints of an elementwise op (residual add, channel concat) of tensors with these fields.

    A position depends on the union of what each operand's position depends on; an operand
    broadcast along an axis (size 1, e.g. a squeeze-excitation scale) gives its one box everywhere.
    """
    out = []
    for a, n in enumerate(sizes):
        boxes = []
        for o in range(n):
            seen = [f[a].boxes[0 if len(f[a].boxes) == 1 else o] for f in fields]
            seen = [b for b in seen if b is not None]
            boxes.append((min(b[0] for b in seen), max(b[1] for b in seen)) if seen else None)
        ref = next((f[a] for f in fields if len(f[a].boxes) == n), fields[0][a])
        out.append(receptive.AxisField(boxes, ref.jump, ref.start, max(f[a].textbook for f in fields)))
    return out


def _pad_fields(fields, sizes, pad, mode: str = "constant", value=None):
    """Footprints after F.pad (U-Net/FCN pad odd sizes up): pad = (left, right, top, bottom, ...),
    last axis first. A replicated/reflected border pixel depends on the edge pixel it copies."""
    if mode not in ("constant", "replicate", "reflect") or len(pad) > 2 * len(sizes):
        return None
    out = list(fields)
    for i in range(len(pad) // 2):
        a = len(sizes) - 1 - i  # pad pairs go from the last axis backwards
        n, before, after = sizes[a], pad[2 * i], pad[2 * i + 1]
        windows = []
        for o in range(n + before + after):
            src = o - before
            if mode == "replicate":
                src = min(max(src, 0), n - 1)
            elif mode == "reflect":
                src = -src if src < 0 else (2 * (n - 1) - src if src >= n else src)
            windows.append((src, src, 1) if 0 <= src < n else None)
        out[a] = fields[a].through(windows, Fraction(1), Fraction(-before))
    return out


# Functions that combine tensors position by position (residual adds, gating, skip concatenation).
_ELEMENTWISE = {
    torch.add, torch.sub, torch.mul, torch.cat, torch.relu, torch.sigmoid, torch.tanh,
    torch.Tensor.add, torch.Tensor.add_, torch.Tensor.__add__, torch.Tensor.__radd__, torch.Tensor.__iadd__,
    torch.Tensor.sub, torch.Tensor.__sub__, torch.Tensor.mul, torch.Tensor.mul_, torch.Tensor.__mul__,
    torch.Tensor.__rmul__, torch.Tensor.__imul__, torch.Tensor.relu, torch.Tensor.relu_, torch.Tensor.sigmoid,
    F.relu, F.gelu, F.silu,
}


class _FieldMode(TorchFunctionMode):
    """Carries footprints through the torch functions a forward calls outside of modules."""

    def __init__(self, field_of: dict, keep: list):
        super().__init__()
        self.field_of, self.keep = field_of, keep

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        y = func(*args, **kwargs)
        if func is F.pad and isinstance(y, torch.Tensor) and id(args[0]) in self.field_of:
            fields = _pad_fields(self.field_of[id(args[0])], args[0].shape[2:], *args[1:], **kwargs)
            if fields is not None:
                self.field_of[id(y)] = fields
                self.keep.append(y)
            return y
        if func in _ELEMENTWISE and isinstance(y, torch.Tensor) and y.dim() >= 3:
            if func is torch.cat and (kwargs.get("dim", args[1] if len(args) > 1 else 0) not in (1, 1 - y.dim())):
                return y  # concatenating along a spatial axis: not a position-by-position op
            flat = list(args[0]) if func is torch.cat else [*args, *kwargs.values()]
            tensors = [t for t in flat if isinstance(t, torch.Tensor) and t.dim() == y.dim()]
            fields = [self.field_of.get(id(t)) for t in tensors]
            if tensors and all(f is not None for f in fields):
                self.field_of[id(y)] = _union(fields, y.shape[2:])
            else:
                self.field_of.pop(id(y), None)  # an in-place op on a tensor mixed with something unknown
            self.keep.append(y)
        return y


def summarize(model: nn.Module, input_shape: tuple[int, ...], device: str | torch.device = "cpu") -> ModelSummary:
    """Run one forward pass on zeros of (1, *input_shape) and collect every module call."""
    model = model.to(device)
    was_training = model.training
    model.eval()  # batch norm on a single sample, no dropout
    names = {m: n for n, m in model.named_modules() if n}
    rows: list[SummaryRow] = []
    stack: list[SummaryRow] = []
    seen_params: set[int] = set()
    seen_modules: set[nn.Module] = set()
    # id(tensor) -> one AxisField per spatial axis: every position's footprint on the input
    # (tensors are kept alive below so that an id is never reused for another tensor)
    field_of: dict[int, list[receptive.AxisField]] = {}
    keep: list[torch.Tensor] = []

    def pre_hook(module, inputs):
        name = names[module]
        leaf = not any(True for _ in module.children())
        row = SummaryRow(name, type(module).__name__, name.count(".") + 1, _shape(inputs), None, leaf=leaf,
                         shared=module in seen_modules)
        if module not in seen_modules:
            seen_modules.add(module)
            if leaf:  # a tied weight shared by two leaves is counted at the first only
                own = [p for p in module.parameters(recurse=False) if id(p) not in seen_params]
                seen_params.update(id(p) for p in own)
            else:  # a container reports everything inside it
                own = list(module.parameters())
            row.params = sum(p.numel() for p in own)
            row.trainable = sum(p.numel() for p in own if p.requires_grad)
        rows.append(row)
        stack.append(row)

    def post_hook(module, inputs, output):
        row = stack.pop()
        row.output_shape = _shape(output)
        x, y = _first_tensor(inputs), _first_tensor(output)
        if row.leaf and x is not None and y is not None:
            macs = leaf_macs(module, x, y)
            row.macs = macs
            for parent in stack:
                parent.macs += macs
            fields, windows = field_of.get(id(x)), _module_windows(module, x, y)
            if fields is not None and windows is not None:
                field_of[id(y)] = [f.through(*w) for f, w in zip(fields, windows)]
            keep.append(y)
        if y is not None and y.dim() >= 3 and id(y) in field_of:
            row.receptive_field = tuple(f.size for f in field_of[id(y)])
            row.textbook_rf = tuple(f.textbook for f in field_of[id(y)])

    handles = []
    for module in names:
        handles.append(module.register_forward_pre_hook(pre_hook))
        handles.append(module.register_forward_hook(post_hook))
    x = torch.zeros(1, *input_shape, device=device)
    if len(input_shape) > 1:
        field_of[id(x)] = [receptive.AxisField.identity(n) for n in input_shape[1:]]
    try:
        with torch.no_grad(), _FieldMode(field_of, keep):
            y = model(x)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)

    params = {id(p): p for p in model.parameters()}.values()
    total = sum(p.numel() for p in params)
    trainable = sum(p.numel() for p in params if p.requires_grad)
    size = sum(p.numel() * p.element_size() for p in params) + sum(b.numel() * b.element_size() for b in model.buffers())
    activations = math.prod(input_shape) + sum(
        math.prod(r.output_shape[1:]) for r in rows if r.leaf and r.output_shape)
    notes = []
    if any(r.shared for r in rows):
        notes.append("modules called more than once are listed per call; their parameters are counted once")
    return ModelSummary(list(input_shape), _shape(y)[1:], rows, total, trainable, size, activations, notes)


def collapse(summary: ModelSummary, depth: int) -> list[SummaryRow]:
    """The rows seen with nesting collapsed at `depth`, in call order.

    A module at `depth` stands for everything inside it (its MACs include its
    children's); shallower leaves stay; deeper modules show only where nothing
    at `depth` on their path was called (children of a ModuleList, which has no
    forward of its own).
    """
    shown: list[SummaryRow] = []
    for r in summary.rows:
        if any(r.name.startswith(s.name + ".") for s in shown):
            continue
        if r.depth == depth or (r.depth < depth and r.leaf) or r.depth > depth:
            shown.append(r)
    return shown
