"""A model from a layer spec ("3x32x32 | conv 8 k3 | relu | flatten | linear 4"): the
modules `cnnkit layers` prints for each row, in an nn.Sequential, checked against the
shapes the arithmetic computed (cnnkit.arith.spec is the one translation of the grammar)."""

from __future__ import annotations

import hashlib

import torch.nn as nn

from cnnkit.errors import SpecError


def normal_spec(spec: str) -> str:
    """The spec with single spaces (what config.json records and the name hashes)."""
    return " | ".join(" ".join(seg.split()) for seg in spec.split("|"))


def spec_name(spec: str) -> str:
    """'spec-<8 hex digits>': a short name for run folders and tables."""
    return f"spec-{hashlib.sha256(normal_spec(spec).encode('utf-8')).hexdigest()[:8]}"


def from_spec(spec: str, input_shape) -> nn.Module:
    """The modules `cnnkit layers` prints for each row (its `module` column is the one
    translation of the grammar into PyTorch), in an nn.Sequential, checked row by row
    against the shapes the arithmetic computed."""
    import torch

    from cnnkit.arith.parse import format_sizes
    from cnnkit.arith.spec import analyse

    spec = normal_spec(spec)
    report = analyse(spec)
    if input_shape is not None and tuple(input_shape) != tuple(report.input_shape):
        raise SpecError(f"the spec's input is {format_sizes(report.input_shape)} but the data's images are "
                        f"{format_sizes(tuple(input_shape))}; start the spec with {format_sizes(tuple(input_shape))}")
    layers = []
    for row in report.rows:
        module = module_of(row)
        layers.append(module)
    model = nn.Sequential(*layers)
    # One real forward pass: the built modules must give exactly the shapes `cnnkit layers` printed.
    with torch.no_grad():
        x = torch.zeros(1, *report.input_shape)
        model.eval()
        for i, (row, layer) in enumerate(zip(report.rows, model), start=1):
            x = layer(x)
            if tuple(x.shape[1:]) != tuple(row.output_shape):
                raise SpecError(f"layer {i} ({row.layer.text!r}) gives {format_sizes(tuple(x.shape[1:]))} in PyTorch but "
                                f"{format_sizes(row.output_shape)} by the arithmetic; change its padding")
        model.train()
    model.cnnkit_config = {"name": spec_name(spec), "kwargs": {},
                           "source": {"kind": "spec", "spec": spec}}
    return model


def module_of(row) -> nn.Module:
    """nn.<row.module>: the string `cnnkit layers` prints (e.g. "Conv2d(3, 32, kernel_size=5,
    padding=2)"), evaluated with only torch.nn's classes in scope. It is made by
    cnnkit.arith.spec from parsed numbers, never from the user's text. Padding PyTorch
    cannot put inside the conv (asymmetric) comes first as a zero pad."""
    namespace = {"__builtins__": {}, **{k: getattr(nn, k) for k in dir(nn) if k[:1].isupper()}}
    module = eval(row.module, namespace)  # noqa: S307 - cnnkit's own generated text
    pads = [(g.p_before, g.p_after) for g in row.geoms]
    if row.layer.kind in ("conv", "convT") and row.layer.padding != "same" and any(b != a for b, a in pads):
        flat = tuple(v for b, a in reversed(pads) for v in (b, a))  # last axis first, as F.pad takes them
        return nn.Sequential(nn.ConstantPad2d(flat, 0.0) if len(pads) == 2 else getattr(nn, f"ConstantPad{len(pads)}d")(flat, 0.0), module)
    return module
