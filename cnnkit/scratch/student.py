"""A student's layer (class or forward/backward functions, torch or numpy) behind the one
interface the checker drives:

    set_params({"weight": w, ...}) / set_running(mean, var) / set_mode(train)
    forward(x) -> y,  backward(dy) -> dx,  param_grad("weight"),  running()

All tensors in and out are torch, in PyTorch's layout; conversion happens here.
"""

from __future__ import annotations

import inspect
from typing import Optional

import numpy as np
import torch

from cnnkit.errors import CnnkitError
from cnnkit.scratch.adapt import (
    ARG_ALIASES,
    BN_PARAM_NAMES,
    FORWARD_MODE_ARGS,
    GRAD_DICTS,
    IMPLICIT,
    PARAM_NAMES,
    RUNNING_NAMES,
    CannotAdapt,
    Mode,
    NotExpressible,
    Slot,
    call,
    constructor_kwargs,
    droppable,
    find_slot,
    grad_names,
    is_array,
    layout_for,
    listed,
    positional_names,
    source_of,
    to_backend,
    to_torch,
)


def _shape(t) -> str:
    return "(" + ", ".join(str(s) for s in tuple(t)) + ")"


class ClassLayer:
    def __init__(self, cls, name: str, case, folder, backend: str):
        self.name, self.folder, self.case = name, folder, case
        self.bn = name.startswith("BatchNorm")
        kwargs, self.note = constructor_kwargs(cls, name, case)
        self.layer = call(cls, **kwargs, folder=folder)
        self._forward = getattr(self.layer, "forward", None) or (self.layer if callable(self.layer) else None)
        self._backward = getattr(self.layer, "backward", None)
        # a module with forward only may compute it through a torch.autograd.Function of theirs
        self.autograd = self._forward is not None and self._backward is None and isinstance(self.layer, torch.nn.Module)
        if self._forward is None or not (callable(self._backward) or self.autograd):
            raise CannotAdapt(f"your {name} needs forward(x) and backward(dy) methods")
        self.backend = backend
        for v in list(vars(self.layer).values()) + list(getattr(self.layer, "params", {}).values() if
                                                         isinstance(getattr(self.layer, "params", None), dict) else []):
            if is_array(v):  # the layer's own arrays decide numpy or torch
                self.backend = "numpy" if isinstance(v, np.ndarray) else "torch"
                break
        self.mode = Mode.find(self.layer, self._forward, source_of(cls))
        self.slots: dict[str, Slot] = {}
        self.extra: list = []
        self.fwd_kwargs: dict = {}
        self._raw_shapes: dict[str, Optional[tuple]] = {}  # gradients as the student stored them

    # parameters ---------------------------------------------------------------
    def set_params(self, ref: dict[str, torch.Tensor]) -> None:
        names = BN_PARAM_NAMES if self.bn else PARAM_NAMES
        order = listed(self.layer, "parameters") or listed(self.layer, "getParameters")
        for i, (pname, value) in enumerate(ref.items()):
            slot = find_slot(self.layer, names.get(pname, (pname,)), order[i] if i < len(order) else None)
            if slot is None:
                raise CannotAdapt(f"cannot find your {self.name}'s {pname}: keep it in self.params[{pname!r}] or as "
                                  f"self.{pname} / self.{names[pname][1]} (docs/gradcheck.md)", f"{pname} gradient")
            shape = tuple(to_torch(slot.get()).shape)
            layout = layout_for(shape, tuple(value.shape))
            if layout is None:
                raise CannotAdapt(f"your {slot.label} has shape {_shape(shape)}; PyTorch's {pname} is {_shape(value.shape)} "
                                  "for this configuration", f"{pname} shape", status="fail")
            slot.layout, slot.shape = layout, shape
            slot.put(value, self.backend)
            self.slots[pname] = slot

    def set_running(self, mean, var) -> None:
        for key, value in (("running_mean", mean), ("running_var", var)):
            slot = find_slot(self.layer, RUNNING_NAMES[key])
            if slot is None:
                continue  # reported as missing by running()
            slot.shape = tuple(to_torch(slot.get()).shape)
            slot.layout = layout_for(slot.shape, tuple(value.shape)) or "same"
            slot.put(value, self.backend)
            self.slots[key] = slot
        for attr, value in (("eps", 1e-5),):  # PyTorch's value, if the layer keeps it as an attribute
            if isinstance(getattr(self.layer, attr, None), float):
                setattr(self.layer, attr, value)

    def running(self) -> dict:
        out = {}
        for key in ("running_mean", "running_var"):
            slot = self.slots.get(key) or find_slot(self.layer, RUNNING_NAMES[key])
            out[key] = slot.read(slot.get(), (self.case.kwargs["num_features"],)) if slot else None
        return out

    def set_mode(self, train: bool) -> None:
        if not self.mode.can(train):
            raise NotExpressible(f"your {self.name} has no way to switch to eval mode (train(mode), train()/eval(), "
                                 "a `training` or `mode` attribute, or forward(x, eval=...))")
        self.fwd_kwargs = self.mode.apply(self.layer, train, self.folder)

    # passes --------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.x = to_backend(x, self.backend)
        if self.autograd:
            return self._autograd_forward()
        y = call(self._forward, self.x, **self.fwd_kwargs, folder=self.folder)
        return to_torch(y[0] if isinstance(y, tuple) else y)

    def _autograd_forward(self) -> torch.Tensor:
        """forward with x and the parameters recording gradients; refused unless the graph
        runs through a Function of theirs (else autograd would check PyTorch against itself)."""
        from cnnkit.scratch.autograd_style import NO_BACKWARD, leaves, own_functions

        (self.x,) = leaves([self.x])
        for slot in self.slots.values():
            v = slot.get()
            if isinstance(v, torch.Tensor) and v.is_floating_point() and not v.requires_grad:
                v.requires_grad_(True)
        self.y = call(self._forward, self.x, **self.fwd_kwargs, folder=self.folder)
        if not own_functions(self.y):
            raise CannotAdapt(NO_BACKWARD.format(name=self.name))
        return self.y.detach()

    def backward(self, dy: torch.Tensor) -> torch.Tensor:
        if self.autograd:  # through their Function's backward(ctx, dy)
            from cnnkit.scratch.autograd_style import grads

            params = [self.slots[p].get() for p in self.slots if p not in ("running_mean", "running_var")]
            dx, *self.extra = call(grads, self.y, [self.x, *params], dy, folder=self.folder)
            return dx
        # backward(dy), or backward(input, grad_output) as some course frameworks write it
        two = len([p for p in positional_names(self._backward) if p.default is p.empty]) >= 2
        args = (self.x, to_backend(dy, self.backend)) if two else (to_backend(dy, self.backend),)
        r = call(self._backward, *args, folder=self.folder)
        if isinstance(r, (tuple, list)):  # (dx, dw, db): the extra ones are parameter gradients in order
            self.extra, r = list(r[1:]), r[0]
        return to_torch(r)

    def shape_note(self, pname: str, got) -> str:
        """A gradient whose shape differs from the student's own parameter, said in their terms."""
        raw = self._raw_shapes.get(pname)
        slot = self.slots[pname]
        if raw is None or raw == slot.shape:
            return ""
        return f"your gradient is {_shape(raw)} but your {slot.label} is {_shape(slot.shape)}"

    def param_grad(self, pname: str, torch_shape) -> Optional[torch.Tensor]:
        v = self._find_grad(pname)
        self._raw_shapes[pname] = None if v is None else tuple(to_torch(v).shape)
        return None if v is None else self.slots[pname].read(v, torch_shape)

    def _find_grad(self, pname: str):
        slot = self.slots[pname]
        index = list(self.slots).index(pname)
        keys = [slot.key, pname] + list((BN_PARAM_NAMES if self.bn else PARAM_NAMES)[pname][:3])
        for dname in GRAD_DICTS:
            d = getattr(self.layer, dname, None)
            if isinstance(d, dict):
                for k in keys:
                    if d.get(k) is not None:
                        return d[k]
        for n in grad_names(*dict.fromkeys(keys)):
            v = getattr(self.layer, n, None)
            if is_array(v):
                return v
        grads = listed(self.layer, "gradients") or listed(self.layer, "getGradParameters")
        if index < len(grads) and grads[index] is not None:
            return grads[index]
        if index < len(self.extra) and self.extra[index] is not None:
            return self.extra[index]
        g = getattr(slot.get(), "grad", None)  # a torch tensor whose .grad they filled
        return g if isinstance(g, torch.Tensor) else None

    def where_grads(self, pname) -> str:
        slot = self.slots[pname]
        return (f"looked for self.grads[{pname!r}], self.d{slot.key}, self.grad_{slot.key}, self.dLd{slot.key}, "
                "gradients() and backward's extra return values")


# ----------------------------------------------------------------- function pairs

FUNCTION_NAMES = {
    "Conv2d": ("conv2d_forward", "conv_forward", "conv_forward_naive"),
    "ConvTranspose2d": ("conv_transpose2d_forward", "conv_transpose_forward"),
    "Linear": ("linear_forward", "affine_forward", "fc_forward"),
    "MaxPool2d": ("maxpool2d_forward", "max_pool_forward", "max_pool_forward_naive", "maxpool_forward"),
    "AvgPool2d": ("avgpool2d_forward", "avg_pool_forward", "avg_pool_forward_naive", "avgpool_forward"),
    "ReLU": ("relu_forward",), "LeakyReLU": ("leaky_relu_forward", "leakyrelu_forward"), "ELU": ("elu_forward",),
    "Sigmoid": ("sigmoid_forward",), "Tanh": ("tanh_forward",),
    "BatchNorm2d": ("batchnorm2d_forward", "spatial_batchnorm_forward", "batch_norm2d_forward"),
    "BatchNorm1d": ("batchnorm1d_forward", "batchnorm_forward", "batch_norm_forward"),
    "Flatten": ("flatten_forward",),
}
DICT_KEYS = {"stride": ("stride",), "padding": ("pad", "padding"), "dilation": ("dilation",), "groups": ("groups",),
             "kernel_size": ("pool_height", "pool_width", "kernel_size", "pool_size"), "eps": ("eps",),
             "momentum": ("momentum",), "p": ("p",), "count_include_pad": ("count_include_pad",),
             "negative_slope": ("negative_slope", "alpha"), "alpha": ("alpha",), "output_padding": ("output_padding",)}


def backward_name(forward_name: str) -> str:
    return forward_name.replace("forward", "backward")


class FunctionLayer:
    """forward(x, w, b, conv_param) -> (out, cache); backward(dout, cache) -> dx or (dx, dw, db)."""

    def __init__(self, fwd, bwd, name: str, case, folder, backend: str):
        self.name, self.case, self.folder, self.backend = name, case, folder, backend
        self.fwd, self.bwd, self.bn = fwd, bwd, name.startswith("BatchNorm")
        source = source_of(fwd)
        params = positional_names(fwd)
        if not params:
            raise CannotAdapt(f"your {fwd.__name__} takes no input")
        names = BN_PARAM_NAMES if self.bn else PARAM_NAMES
        self.param_args: list[tuple[str, str]] = []  # (argument name, PyTorch parameter name)
        self.kwargs, self.dict_arg, self.mode_arg = {}, None, None
        expressed = set()
        for p in params[1:]:
            pname = next((k for k, v in names.items() if p.name in v), None)
            canon = next((k for k, v in ARG_ALIASES.items() if p.name in v and k in case.kwargs), None)
            if pname:
                self.param_args.append((p.name, pname))
            elif p.name in FORWARD_MODE_ARGS:
                self.mode_arg = Mode("forward", p.name, "eval" if "'eval'" in source or '"eval"' in source else "test")
            elif canon:
                self.kwargs[p.name] = case.kwargs[canon]
                expressed.add(canon)
            elif p.name.endswith(("param", "params", "config", "cfg")):
                self.dict_arg = p.name
            elif p.default is p.empty:
                raise CannotAdapt(f"cannot call your {fwd.__name__}: it needs {p.name}, which the checker cannot match "
                                  "(docs/gradcheck.md lists the names)")
        for key in case.kwargs:
            if key in expressed or key in IMPLICIT or droppable(case, key):
                continue
            if key == "bias":
                raise NotExpressible(f"your {fwd.__name__} always takes a bias")
            # every conv_param / pool_param has a stride (and a conv's a pad); rarer settings count as
            # given only if the function's source names the key
            basic = key == "stride" or (key == "padding" and name.startswith("Conv"))
            in_dict = self.dict_arg and basic or self.dict_arg and any(f"'{k}'" in source or f'"{k}"' in source for k in DICT_KEYS.get(key, (key,)))
            if not in_dict:
                raise NotExpressible(f"your {fwd.__name__} takes no {key}")
        if name.endswith("Pool2d") and not self.dict_arg and "kernel_size" not in expressed:
            raise CannotAdapt(f"cannot tell your {fwd.__name__} the window size: give it a pool_param dict or kernel_size")
        self.config = {}
        for key, value in case.kwargs.items():
            for k in DICT_KEYS.get(key, ()):
                self.config[k] = value
        self.note = ""
        self.ref: dict[str, torch.Tensor] = {}
        self.layout: dict[str, str] = {}
        self.grads: dict[str, torch.Tensor] = {}
        self.cache = None
        self.train = True

    def set_params(self, ref: dict[str, torch.Tensor]) -> None:
        missing = [p for p in ref if p not in {pn for _, pn in self.param_args}]
        if missing:
            raise CannotAdapt(f"your {self.fwd.__name__} takes no {missing[0]} argument (name it w / weight or b / bias)",
                              f"{missing[0]} gradient")
        self.ref = dict(ref)
        self.layout = {p: "same" for p in ref}

    def set_running(self, mean, var) -> None:
        if self.dict_arg:
            self.config["running_mean"] = to_backend(mean, self.backend)
            self.config["running_var"] = to_backend(var, self.backend)

    def running(self) -> dict:
        return {k: to_torch(self.config.get(k)) for k in ("running_mean", "running_var")}

    def set_mode(self, train: bool) -> None:
        if not train and not (self.mode_arg or self.dict_arg):
            raise NotExpressible(f"your {self.fwd.__name__} has no mode argument (bn_param['mode'] or mode=...)")
        self.train = train
        self.config["mode"] = "train" if train else "test"

    @property
    def mode(self) -> Mode:
        return self.mode_arg or (Mode("dict", self.dict_arg) if self.dict_arg else Mode("none"))

    def _call_forward(self, x, layout):
        args = [to_backend(x, self.backend)]
        for _, pname in self.param_args:
            if pname in self.ref:
                t = self.ref[pname]
                args.append(to_backend(t.T if layout.get(pname) == "transposed" else t, self.backend))
            else:
                args.append(None)
        kwargs = dict(self.kwargs)
        if self.mode_arg:
            kwargs[self.mode_arg.name] = self.mode_arg._value(self.train)
        if self.dict_arg:
            kwargs[self.dict_arg] = self.config
        return call(self.fwd, *args, folder=self.folder, **kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight = self.ref.get("weight")
        try:
            out = self._call_forward(x, self.layout)
        except Exception:
            if weight is None or weight.dim() != 2 or weight.shape[0] == weight.shape[1]:
                raise
            # a Linear weight written as (in, out) (x @ w), not PyTorch's (out, in)
            layout = dict(self.layout, weight="transposed")
            out = self._call_forward(x, layout)
            self.layout = layout
        if not (isinstance(out, tuple) and len(out) == 2):
            raise CannotAdapt(f"your {self.fwd.__name__} should return (out, cache) for {self.bwd.__name__}(dout, cache)",
                              "forward output")
        y, self.cache = out
        return to_torch(y)

    def backward(self, dy: torch.Tensor) -> torch.Tensor:
        r = call(self.bwd, to_backend(dy, self.backend), self.cache, folder=self.folder)
        rest = []
        if isinstance(r, (tuple, list)):
            r, rest = r[0], list(r[1:])
        self.grads = {}
        for (_, pname), g in zip(self.param_args, rest):
            t = to_torch(g)
            if t is not None and self.layout.get(pname) == "transposed" and t.dim() == 2:
                t = t.T
            self.grads[pname] = t
        return to_torch(r)

    def param_grad(self, pname: str, torch_shape) -> Optional[torch.Tensor]:
        return self.grads.get(pname)

    def shape_note(self, pname: str, got) -> str:
        return ""

    def where_grads(self, pname) -> str:
        return f"{self.bwd.__name__} should return (dx, {', '.join('d' + a for a, _ in self.param_args)})"


def find_layer(module, name: str, mapping: dict[str, str]):
    """(kind, object(s)) for layer `name` in the student's module, or None.
    kind: 'class' (a class, or a factory) or 'functions' ((forward, backward))."""
    wanted = mapping.get(name)
    candidates = [wanted] if wanted else [name] + list(FUNCTION_NAMES.get(name, ())) + [f"{name}Function"]
    for cand in candidates:
        obj = getattr(module, cand, None)
        if obj is None or (module.__name__.startswith("cnnkit_student_") and _library(obj)):
            continue
        if inspect.isclass(obj):
            return "class", obj
        if callable(obj) and "forward" in cand:
            bwd = getattr(module, backward_name(cand), None)
            if not callable(bwd):
                raise CannotAdapt(f"found {cand} but no {backward_name(cand)} next to it")
            return "functions", (obj, bwd)
        if callable(obj):
            return "class", obj
    if wanted:
        raise CnnkitError(f"--map {name}={wanted}: your file defines no {wanted}; check the spelling (names are case-sensitive)")
    return None


def _library(obj) -> bool:
    """torch.nn.ReLU imported into a student's file is not their layer."""
    return getattr(obj, "__module__", "").split(".")[0] in ("torch", "numpy", "cnnkit", "scipy", "builtins")


def backend_of(module) -> str:
    """numpy when the file imports numpy and not torch."""
    names = {getattr(v, "__name__", "") for v in vars(module).values() if inspect.ismodule(v)}
    return "numpy" if "numpy" in names and not any(n == "torch" or n.startswith("torch.") for n in names) else "torch"


def build(kind, obj, name, case, folder, backend):
    from cnnkit.scratch.autograd_style import Applied, AppliedBackward, is_function

    if kind == "class" and is_function(obj):  # a bare torch.autograd.Function: driven as a function pair
        return FunctionLayer(Applied(obj), AppliedBackward(obj), name, case, folder, "torch")
    if kind == "class":
        return ClassLayer(obj, name, case, folder, backend)
    return FunctionLayer(obj[0], obj[1], name, case, folder, backend)
