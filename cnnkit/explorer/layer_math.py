"""One layer's arithmetic for the explore page: `cnnkit draw`'s plan on the layer's real
input size (formula and PyTorch line), its drawing, and words for layers it does not draw."""

from __future__ import annotations

import base64
from typing import Optional

import torch.nn as nn

from cnnkit.errors import CnnkitError

# the layer types whose arithmetic `cnnkit draw` draws, by its op name
DRAW_OPS = {nn.Conv2d: "conv", nn.MaxPool2d: "maxpool", nn.AvgPool2d: "avgpool", nn.ConvTranspose2d: "transpose"}


def layer_kind(module) -> str:
    if isinstance(module, (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d)):
        return "conv"
    if isinstance(module, (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)):
        return "pool"
    if isinstance(module, nn.Linear):
        return "linear"
    if isinstance(module, (nn.BatchNorm2d, nn.GroupNorm, nn.LayerNorm, nn.InstanceNorm2d)):
        return "norm"
    if module is not None and type(module).__module__.startswith("torch.nn.modules.activation"):
        return "activation"
    return "other"


def arithmetic(module, row: dict) -> Optional[dict]:
    """The layer's arithmetic with its own numbers: `cnnkit draw`'s plan on the layer's real
    input size (formula and PyTorch line; `drawing` draws it)."""
    op = DRAW_OPS.get(type(module))
    shape_in, shape_out = row.get("input_shape") or [], row.get("output_shape") or []
    if op is None or len(shape_in) != 4:
        return _other_arithmetic(module, row)
    from cnnkit.arith.frames import plan

    two = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    k, s = two(module.kernel_size), two(module.stride or module.kernel_size)
    d = two(getattr(module, "dilation", 1))
    if isinstance(module.padding, str):
        pad = module.padding  # 'same' / 'valid'
    else:
        pad = "x".join(map(str, two(module.padding)))
    h, w = shape_in[2:]
    ceil = bool(getattr(module, "ceil_mode", False))
    out_pad = "x".join(map(str, two(getattr(module, "output_padding", 0))))
    sizes = lambda a: "x".join(map(str, a))
    channels = {}
    if op in ("conv", "transpose"):
        channels = {"in_channels": module.in_channels, "out_channels": module.out_channels, "groups": module.groups}
    real = plan(op, size=f"{h}x{w}", kernel=sizes(k), stride=sizes(s), padding=pad, dilation=sizes(d), ceil_mode=ceil,
                output_padding=out_pad, steps=False, **channels)
    out = {"op": op, "pytorch": real.pytorch, "formula": real.formula, "input_size": [h, w],
           "output_size": [real.rows.out, real.cols.out], "kernel": list(k), "stride": list(s), "dilation": list(d),
           "padding": [real.rows.p_before, real.cols.p_before], "notes": [], "drawn": True}
    if len(shape_out) == 4 and list(shape_out[2:]) != out["output_size"]:  # never show a formula that disagrees with torch
        out["notes"].append(f"the formula gives {out['output_size']} but the layer outputs {shape_out[2:]}")
    return out  # drawn on request (Explorer.drawing): the formula needs no wait


def drawing(module, arith: dict) -> dict:
    """The layer's arithmetic drawn as `cnnkit draw` draws it (an animated GIF), on a small
    input (three output cells a side: the window visibly slides, and nine frames draw in a
    fraction of a second) with the layer's own kernel, stride, padding and dilation."""
    from cnnkit.arith.frames import plan
    from cnnkit.drawing.layer import render_bytes

    op, (h, w), k, s, d = arith["op"], arith["input_size"], arith["kernel"], arith["stride"], arith["dilation"]
    sizes = lambda a: "x".join(map(str, a))
    same = lambda a: str(a[0]) if a[0] == a[1] else sizes(a)
    pad = module.padding if isinstance(module.padding, str) else same(arith["padding"])
    ceil = bool(getattr(module, "ceil_mode", False))
    two = lambda v: tuple(v) if isinstance(v, (tuple, list)) else (v, v)
    out_pad = sizes(two(getattr(module, "output_padding", 0)))
    small = [min(n, max(3, (kk - 1) * dd + 1 + 2 * ss - 2 * pp)) for n, kk, ss, dd, pp in zip((h, w), k, s, d, arith["padding"])]
    if op == "transpose":
        small = [min(n, 3) for n in (h, w)]
    try:
        drawn = plan(op, size=sizes(small), kernel=sizes(k), stride=sizes(s), padding=pad, dilation=sizes(d), ceil_mode=ceil,
                     output_padding=out_pad)
        gif, info = render_bytes(drawn, ".gif", max_frames=64, fps=2.0)
    except CnnkitError as e:  # e.g. a kernel larger than a drawable grid: the formula still stands
        return {"gif": None, "notes": [f"not drawn: {e}"]}
    command = f"cnnkit draw {op} --in {same(small)} --k {same(k)} --s {same(s)} --p {pad}"
    command += (f" --d {same(d)}" if tuple(d) != (1, 1) else "") + (" --ceil" if ceil else "") + \
        (f" --output-padding {out_pad}" if out_pad != "0x0" else "") + " --out drawing.gif"
    return {"gif": "data:image/gif;base64," + base64.b64encode(gif).decode("ascii"), "input_size": small,
            "output_size": [drawn.rows.out, drawn.cols.out], "notes": info["notes"], "command": command}


def _other_arithmetic(module, row: dict) -> Optional[dict]:
    """In words, for layers `cnnkit draw` does not draw."""
    shape_in, shape_out = row.get("input_shape"), row.get("output_shape")
    if isinstance(module, nn.Linear):
        i, o = module.in_features, module.out_features
        bias = module.bias is not None
        return {"op": "linear", "formula": [
            "y = W x + b" if bias else "y = W x",
            f"W: {o} x {i} = {o * i:,} weights" + (f", b: {o}; params = {o} * {i} + {o} = {o * i + o * bias:,}" if bias else ""),
            f"MACs = {o} * {i} = {o * i:,} per image"], "pytorch": f"nn.Linear({i}, {o}{'' if bias else ', bias=False'})"}
    if isinstance(module, (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d)) and shape_in and shape_out:
        kind = "average" if isinstance(module, nn.AdaptiveAvgPool2d) else "maximum"
        return {"op": "adaptive pool", "formula": [
            f"each of the {shape_out[2]}x{shape_out[3]} outputs is the {kind} of its share of the "
            f"{shape_in[2]}x{shape_in[3]} input (windows sized to fit, no parameters)"], "pytorch": repr(module)}
    if isinstance(module, nn.BatchNorm2d):
        c = module.num_features
        return {"op": "batch norm", "formula": [
            "y = (x - running_mean) / sqrt(running_var + eps) * weight + bias   (per channel, eval mode)",
            f"{c} channels: {2 * c if module.affine else 0} learned parameters, {2 * c} running statistics"], "pytorch": repr(module)}
    if isinstance(module, nn.Flatten) and shape_in and shape_out:
        return {"op": "flatten", "formula": [f"{' x '.join(map(str, shape_in[1:]))} = {shape_out[1]:,} numbers per image, "
                                             "in channel, row, column order"], "pytorch": repr(module)}
    if layer_kind(module) == "activation":
        return {"op": "activation", "formula": [f"{type(module).__name__}, applied to each number on its own: "
                                                "the shape is unchanged, no parameters"], "pytorch": repr(module)}
    return None
