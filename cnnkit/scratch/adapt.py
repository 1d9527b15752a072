"""Calling a student's layer the way it was written.

The checker speaks one convention (float64 torch tensors in PyTorch's layout); students
write many: classes or forward/backward function pairs, torch or numpy, `self.W` or
`self.params["weight"]`, weights stored (in, out) or (1, C, 1, 1), gradients in
`self.dW`, `self.grad_W`, `self.grads["weight"]` or `gradients()`, batch norm switched
by `train(mode)`, `train()` / `eval()`, a `training` / `mode` attribute or
`forward(x, eval=True)`. An adapter finds which, converts on the way in and out, and
says what it found. A configuration the code cannot express (no `dilation` parameter)
raises NotExpressible; a crash in the student's code raises StudentCrash.
"""

from __future__ import annotations

import contextlib
import inspect
import io
import warnings
from typing import Optional

import numpy as np
import torch

from cnnkit.scratch.loader import StudentCrash, crash_site


class NotExpressible(Exception):
    """This configuration cannot be given to the student's layer: listed as not checked."""


class CannotAdapt(Exception):
    """The checker cannot find how to call or read the layer (message says what it looked for)."""

    def __init__(self, message: str, quantity: str = "interface", status: str = "error"):
        super().__init__(message)
        self.quantity, self.status = quantity, status


# PyTorch's constructor argument -> other names students give it
ARG_ALIASES = {
    "in_channels": ("in_channels", "in_channel", "in_ch", "in_chans", "input_channels", "c_in", "cin"),
    "out_channels": ("out_channels", "out_channel", "out_ch", "output_channels", "num_filters", "c_out", "cout"),
    "kernel_size": ("kernel_size", "kernel", "k", "filter_size", "ksize", "pool_size"),
    "stride": ("stride", "s"),
    "padding": ("padding", "pad", "p"),
    "dilation": ("dilation",),
    "groups": ("groups",),
    "bias": ("bias", "use_bias", "has_bias"),
    "output_padding": ("output_padding",),
    "count_include_pad": ("count_include_pad",),
    "in_features": ("in_features", "in_dim", "input_dim", "in_size", "input_size", "n_in", "d_in"),
    "out_features": ("out_features", "out_dim", "output_dim", "out_size", "output_size", "n_out", "d_out"),
    "num_features": ("num_features", "num_channels", "channels", "n_channels", "dim", "C"),
    "negative_slope": ("negative_slope", "slope", "alpha", "leak"),
    "alpha": ("alpha",),
    "p": ("p", "prob", "rate", "drop_prob", "dropout", "drop_rate", "p_drop"),
    "eps": ("eps", "epsilon"),
    "momentum": ("momentum",),
}
# arguments a function-style layer learns from the arrays' shapes instead
IMPLICIT = {"in_channels", "out_channels", "kernel_size", "in_features", "out_features", "num_features"}

PARAM_NAMES = {"weight": ("weight", "W", "w", "weights", "kernel", "filters"),
               "bias": ("bias", "b", "biases", "B")}
BN_PARAM_NAMES = {"weight": ("weight", "gamma", "BW", "scale", "W", "w"), "bias": ("bias", "beta", "Bb", "shift", "b")}
RUNNING_NAMES = {"running_mean": ("running_mean", "running_M", "moving_mean", "run_mean", "mean_running", "running_avg"),
                 "running_var": ("running_var", "running_V", "moving_var", "run_var", "running_variance", "var_running")}
DICTS = ("params", "_params", "parameters", "param", "weights_dict", "state")
GRAD_DICTS = ("grads", "_grads", "gradients", "grad", "dparams", "param_grads")
FORWARD_MODE_ARGS = ("eval", "test", "inference", "train", "training", "is_training", "mode")
MODE_ATTRS = ("training", "is_training", "train_mode", "is_train", "train")


def is_array(v) -> bool:
    return isinstance(v, (np.ndarray, torch.Tensor))


def to_torch(v) -> Optional[torch.Tensor]:
    """A student's array (numpy, torch, Python number) as a torch tensor, dtype kept."""
    if v is None:
        return None
    if isinstance(v, torch.Tensor):
        return v.detach()
    try:
        return torch.from_numpy(np.array(v))
    except (TypeError, ValueError):
        raise CannotAdapt(f"got a {type(v).__name__} where an array or tensor was expected") from None


def to_backend(t: torch.Tensor, backend: str):
    return t.detach().cpu().numpy().copy() if backend == "numpy" else t.detach().clone()


def call(fn, *args, folder=None, **kwargs):
    """fn(*args) with a crash turned into StudentCrash naming their file and line."""
    try:
        # overflow in their exp() is a verdict, shown on its check: no warning lines around the output
        # and their prints would break --json: both are swallowed
        with warnings.catch_warnings(), np.errstate(all="ignore"), contextlib.redirect_stdout(io.StringIO()), \
                contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            return fn(*args, **kwargs)
    except Exception as e:  # their code broke: a verdict, not a checker failure
        raise StudentCrash(crash_site(e, folder)) from e


def positional_names(fn) -> list[inspect.Parameter]:
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return []
    return [p for p in params if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def source_of(obj) -> str:
    try:
        return inspect.getsource(obj)
    except (OSError, TypeError):
        return ""


def droppable(case, key) -> bool:
    """True when the config's value for `key` is what PyTorch does without it."""
    value = case.kwargs[key]
    if key == "stride" and "kernel_size" in case.kwargs and case.layer.endswith("Pool2d"):
        return value == case.kwargs["kernel_size"]
    defaults = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True, "output_padding": 0,
                "count_include_pad": True, "eps": 1e-5, "momentum": 0.1, "negative_slope": 0.01, "alpha": 1.0, "p": 0.5}
    return key in defaults and value == defaults[key]


def torch_order(case) -> list[str]:
    """The case's arguments in the order PyTorch's constructor takes them."""
    try:
        names = list(inspect.signature(case.torch_cls).parameters) if case.torch_cls else []
    except (TypeError, ValueError):
        names = []
    return [n for n in names if n in case.kwargs] + [k for k in case.kwargs if k not in names]


def constructor_kwargs(cls, name: str, case) -> tuple[dict, str]:
    """The case's PyTorch arguments under the names the student's __init__ accepts, and a note
    naming any matched by position alone (`def __init__(self, n_in, n_out)`)."""
    params = positional_names(cls.__init__ if inspect.isclass(cls) else cls)
    try:
        var_kw = any(p.kind == p.VAR_KEYWORD for p in inspect.signature(cls).parameters.values())
    except (TypeError, ValueError):
        var_kw = False
    names = [p.name for p in params]
    known = {a for k in case.kwargs for a in ARG_ALIASES.get(k, (k,))}
    by_name = {k for k in case.kwargs if any(a in names for a in ARG_ALIASES.get(k, (k,)))}
    # a required parameter with an unknown name takes PyTorch's argument in the same position, if that one
    # is unclaimed (optional ones are never guessed: `weight_init_fn=None` must not receive `dilation`)
    order = torch_order(case)
    by_position = {order[i]: p.name for i, p in enumerate(params)
                   if i < len(order) and p.name not in known and order[i] not in by_name
                   and p.kind != p.KEYWORD_ONLY and p.default is p.empty}
    out = {}
    for key, value in case.kwargs.items():
        match = next((a for a in ARG_ALIASES.get(key, (key,)) if a in names and a not in out), None) or by_position.get(key)
        if match is None and key == "p" and "keep_prob" in names:
            out["keep_prob"] = 1 - value  # the other convention: probability of keeping
        elif match is not None:
            out[match] = value
        elif var_kw:
            out[key] = value
        elif not droppable(case, key):
            raise NotExpressible(f"your {name} has no {key} parameter")
    needed = [p.name for p in params if p.default is p.empty and p.name not in out]
    if needed:
        raise CannotAdapt(f"cannot build your {name}: __init__ needs {', '.join(needed)}, which the checker cannot "
                          f"match; use PyTorch's argument names ({', '.join(order)})")
    used = {k: v for k, v in by_position.items() if v in out}
    note = ("arguments matched by position: " + ", ".join(f"{v} = {k}" for k, v in used.items())) if used else ""
    return out, note


# ----------------------------------------------------------------- where a parameter lives


class Slot:
    """One array of the student's layer: where it is (attribute or dict key) and how its
    layout maps to PyTorch's ('same', 'reshape' for (1, C) or (1, C, 1, 1), 'transposed'
    for a Linear weight stored (in, out))."""

    def __init__(self, owner, key, is_dict: bool, label: str, layout="same", shape=()):
        self.owner, self.key, self.is_dict, self.label, self.layout, self.shape = owner, key, is_dict, label, layout, shape

    def get(self):
        return self.owner.get(self.key) if self.is_dict else getattr(self.owner, self.key, None)

    def put(self, t: torch.Tensor, backend: str) -> None:
        t = t.reshape(self.shape) if self.layout == "reshape" else t.T if self.layout == "transposed" else t
        value = to_backend(t, backend)
        if self.is_dict:
            self.owner[self.key] = value
            return
        try:
            setattr(self.owner, self.key, value)
        except TypeError:  # an nn.Module parameter slot takes only an nn.Parameter
            setattr(self.owner, self.key, torch.nn.Parameter(value, requires_grad=False))

    def read(self, v, torch_shape) -> Optional[torch.Tensor]:
        """The student's value (or a gradient stored like it) in PyTorch's layout."""
        t = to_torch(v)
        if t is None or self.layout == "same":
            return t
        if self.layout == "transposed" and t.dim() == 2:
            return t.T  # always: a gradient (out, in) for a weight stored (in, out) must show as transposed
        return t.reshape(torch_shape) if tuple(t.shape) == tuple(self.shape) else t


def layout_for(student_shape: tuple, torch_shape: tuple) -> Optional[str]:
    if student_shape == torch_shape:
        return "same"
    if len(student_shape) == 2 and student_shape[::-1] == torch_shape:
        return "transposed"
    if [s for s in student_shape if s != 1] == [s for s in torch_shape if s != 1]:
        return "reshape"
    return None


def find_slot(obj, names, listed=None) -> Optional[Slot]:
    """The first array found under one of `names`: in a params dict, as an attribute, or
    (by identity) among what `parameters()` returned."""
    for dname in DICTS:
        d = getattr(obj, dname, None)
        if isinstance(d, dict):
            for n in names:
                if is_array(d.get(n)):
                    return Slot(d, n, True, f"self.{dname}[{n!r}]")
    for n in names:
        if is_array(getattr(obj, n, None)):
            return Slot(obj, n, False, f"self.{n}")
    if listed is not None and is_array(listed):
        for n, v in vars(obj).items():
            if v is listed:
                return Slot(obj, n, False, f"self.{n}")
    return None


def grad_names(*keys) -> list[str]:
    out = []
    for k in keys:
        out += [f"d{k}", f"grad_{k}", f"{k}_grad", f"dLd{k}", f"dL_d{k}", f"d_{k}", f"grad{k}", f"d{k.lower()}"]
    return list(dict.fromkeys(out))


def listed(obj, method: str) -> list:
    """What parameters() / gradients() returns, if the layer has such a method."""
    fn = getattr(obj, method, None)
    if not callable(fn):
        return []
    try:
        out = fn()
    except Exception:  # a base-class stub: nothing listed
        return []
    return list(out) if isinstance(out, (list, tuple)) else []


# ----------------------------------------------------------------- train / eval


class Mode:
    """How to put the layer in train or eval mode, and how to say it."""

    def __init__(self, kind: str, name: str = "", eval_word: str = "test"):
        self.kind, self.name, self.eval_word = kind, name, eval_word

    @classmethod
    def find(cls, layer, forward, source: str) -> Mode:
        eval_word = "eval" if ("'eval'" in source or '"eval"' in source) else "test"
        for p in positional_names(forward)[1:]:
            if p.name in FORWARD_MODE_ARGS:
                return cls("forward", p.name, eval_word)
        train = getattr(layer, "train", None)
        ev_name = next((n for n in ("eval", "evaluate") if callable(getattr(layer, n, None))), None)
        ev = ev_name and getattr(layer, ev_name)
        if callable(train) and positional_names(train):
            return cls("train(mode)")
        if callable(train) and callable(ev):
            return cls("train()/eval()", ev_name)
        for attr in MODE_ATTRS:
            if isinstance(getattr(layer, attr, None), bool):
                return cls("attribute", attr)
        if isinstance(getattr(layer, "mode", None), str):
            return cls("mode", "mode", eval_word)
        if callable(ev):
            return cls("eval()", ev_name)
        return cls("none")

    def can(self, train: bool) -> bool:
        return self.kind != "none" or train

    def apply(self, layer, train: bool, folder) -> dict:
        """Switch the layer; returns extra keyword arguments for forward()."""
        if self.kind == "forward":
            return {self.name: self._value(train)}
        if self.kind == "train(mode)":
            call(layer.train, train, folder=folder)
        elif self.kind == "train()/eval()" or (self.kind == "eval()" and not train):
            call(layer.train if train else getattr(layer, self.name), folder=folder)
        elif self.kind == "attribute":
            setattr(layer, self.name, train)
        elif self.kind == "mode":
            layer.mode = self._value(train)
        return {}

    def _value(self, train: bool):
        if self.name in ("eval", "test", "inference"):
            return not train
        if self.name == "mode":
            return "train" if train else self.eval_word
        return train

    def describe(self) -> str:
        return {"forward": f"mode passed as forward(x, {self.name}=...)", "train(mode)": "mode set with train(True/False)",
                "train()/eval()": f"mode set with train() / {self.name}()",
                "attribute": f"mode set with the `{self.name}` attribute",
                "mode": f"mode set with mode = 'train' / '{self.eval_word}'", "eval()": f"mode set with {self.name}()",
                "dict": f"mode set with {self.name}['mode'] = 'train' / 'test'",
                "none": "no train/eval switch found: assumed training"}[self.kind]
