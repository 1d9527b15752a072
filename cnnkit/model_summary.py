"""Per-layer summary of a torch model from one forward pass (`cnnkit summary`).

Forward hooks on every module record, per call: input and output shape, MACs of
conv / transposed conv / linear layers, and the receptive field while the network
is a chain from the input (after a residual add or a concatenation the input of
a layer is no longer a single layer's output, so the field is left undefined).

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

from cnnkit.arith.geometry import receptive_field_step
from cnnkit.arith.spec import training_memory_bytes

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONVT = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
_POOL = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
# Layers that keep every spatial position's receptive field unchanged.
_POINTWISE = (nn.ReLU, nn.ELU, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Identity,
              nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.Dropout, nn.Dropout2d, nn.GroupNorm)


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
                int(v) if Fraction(v).denominator == 1 else float(v) for v in self.receptive_field],
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


def _rf_after(module: nn.Module, rf):
    """(rf, jump) per axis after `module`, or None where undefined."""
    if rf is None:
        return None
    if isinstance(module, _POINTWISE):
        return rf
    if isinstance(module, (*_CONV, *_CONVT, *_POOL)):
        nd = len(rf)

        def axes(v):
            return tuple(v) if isinstance(v, (tuple, list)) else (v,) * nd

        k, s = axes(module.kernel_size), axes(module.stride or module.kernel_size)
        d = axes(getattr(module, "dilation", 1))
        transposed = isinstance(module, _CONVT)
        return tuple(
            receptive_field_step(r, j, dd * (kk - 1) + 1, ss, transposed)
            for (r, j), kk, ss, dd in zip(rf, k, s, d)
        )
    return None  # flatten, linear, adaptive pooling, upsampling, anything unknown


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
    rf_of: dict[int, tuple] = {}  # id(tensor) -> per-axis (rf, jump); tensors kept alive below
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
        if not row.leaf and y is not None and id(y) in rf_of:
            row.receptive_field = tuple(r for r, _ in rf_of[id(y)])
        if row.leaf and x is not None and y is not None:
            macs = leaf_macs(module, x, y)
            row.macs = macs
            for parent in stack:
                parent.macs += macs
            rf = _rf_after(module, rf_of.get(id(x)))
            if rf is not None:
                rf_of[id(y)] = rf
                keep.append(y)
                row.receptive_field = tuple(r for r, _ in rf)

    handles = []
    for module in names:
        handles.append(module.register_forward_pre_hook(pre_hook))
        handles.append(module.register_forward_hook(post_hook))
    x = torch.zeros(1, *input_shape, device=device)
    rf_of[id(x)] = tuple((Fraction(1), Fraction(1)) for _ in input_shape[1:])
    try:
        with torch.no_grad():
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
