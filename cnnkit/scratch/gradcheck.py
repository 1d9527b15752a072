"""The gradient checker: scratch layers (cnnkit's or a student's) against PyTorch
autograd in float64, plus centred finite differences on the scratch code itself.

For each layer and a few configurations it checks, and names:
    forward output, input gradient, <param> gradient (weight, bias), running mean /
    running variance (batch norm), and 'finite differences' (dL/dx of the scratch
    forward, numerically, against the scratch backward).
A check whose finite-difference probe lands next to a kink (ReLU at 0, two tied
maxima in a pooling window) is reported as skipped, not failed.
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from cnnkit.errors import CnnkitError

RTOL = 1e-6  # analytic float64 results agree to ~1e-12; 1e-6 leaves room for reordered sums
FD_TOL = 1e-5
FD_STEP = 1e-6


@dataclass
class Check:
    layer: str
    config: str
    quantity: str
    shape_match: bool
    result_match: bool
    max_rel_error: float
    tolerance: float
    note: str = ""

    def as_dict(self) -> dict:
        return {"layer": self.layer, "config": self.config, "quantity": self.quantity, "shape_match": self.shape_match,
                "result_match": self.result_match, "max_rel_error": self.max_rel_error, "tolerance": self.tolerance, "note": self.note}


def compare(layer, config, quantity, got, expected, tol=RTOL, note="") -> Check:
    if got is None:
        return Check(layer, config, quantity, False, False, float("inf"), tol, "not computed")
    got = torch.as_tensor(got, dtype=torch.float64)
    if tuple(got.shape) != tuple(expected.shape):
        return Check(layer, config, quantity, False, False, float("inf"), tol, f"shape {tuple(got.shape)}, expected {tuple(expected.shape)}")
    if not torch.isfinite(got).all():
        return Check(layer, config, quantity, True, False, float("inf"), tol, "non-finite values")
    err = float((got - expected).abs().max() / (expected.abs().max() + 1e-12)) if got.numel() else 0.0
    return Check(layer, config, quantity, True, err <= tol, err, tol, note)


@dataclass
class Case:
    """One layer in one configuration: how to build it in torch and in scratch."""

    layer: str
    config: str
    kwargs: dict
    input_shape: tuple
    torch_module: Callable[[], nn.Module]
    positive: bool = False  # inputs that must be > 0 (none so far)
    kinks: Optional[Callable[[torch.Tensor], torch.Tensor]] = None  # bool mask of inputs near a kink
    extra: dict = field(default_factory=dict)


def _relu_kink(x):
    return x.abs() < 10 * FD_STEP


def cases() -> list[Case]:
    c = []
    for cfg, kw, shape in (
        ("k3 s1 p1", dict(in_channels=3, out_channels=4, kernel_size=3, padding=1), (2, 3, 7, 7)),
        ("k3 s2 p0 d1", dict(in_channels=2, out_channels=3, kernel_size=3, stride=2), (2, 2, 9, 8)),
        ("k2 s1 p2 d2 groups2", dict(in_channels=4, out_channels=6, kernel_size=2, padding=2, dilation=2, groups=2), (1, 4, 6, 5)),
        ("k5 p2 no bias", dict(in_channels=1, out_channels=2, kernel_size=5, padding=2, bias=False), (2, 1, 6, 6)),
    ):
        c.append(Case("Conv2d", cfg, kw, shape, lambda kw=kw: nn.Conv2d(**kw)))
    for cfg, kw, shape in (
        ("k3 s2 p1 op1", dict(in_channels=3, out_channels=2, kernel_size=3, stride=2, padding=1, output_padding=1), (2, 3, 4, 5)),
        ("k2 s2", dict(in_channels=2, out_channels=3, kernel_size=2, stride=2), (1, 2, 3, 3)),
    ):
        c.append(Case("ConvTranspose2d", cfg, kw, shape, lambda kw=kw: nn.ConvTranspose2d(**kw)))
    c.append(Case("Linear", "8 -> 5", dict(in_features=8, out_features=5), (4, 8), lambda: nn.Linear(8, 5)))
    c.append(Case("Linear", "3 -> 2 no bias", dict(in_features=3, out_features=2, bias=False), (5, 3), lambda: nn.Linear(3, 2, bias=False)))
    for cfg, kw, shape in (("k2", dict(kernel_size=2), (2, 3, 6, 6)), ("k3 s2 p1", dict(kernel_size=3, stride=2, padding=1), (2, 2, 7, 7))):
        c.append(Case("MaxPool2d", cfg, kw, shape, lambda kw=kw: nn.MaxPool2d(**kw), kinks=_pool_ties(kw)))
    for cfg, kw, shape in (
        ("k2", dict(kernel_size=2), (2, 3, 6, 6)),
        ("k3 s2 p1 include pad", dict(kernel_size=3, stride=2, padding=1, count_include_pad=True), (2, 2, 7, 7)),
        ("k3 s2 p1 exclude pad", dict(kernel_size=3, stride=2, padding=1, count_include_pad=False), (2, 2, 7, 7)),
    ):
        c.append(Case("AvgPool2d", cfg, kw, shape, lambda kw=kw: nn.AvgPool2d(**kw)))
    c.append(Case("ReLU", "", {}, (3, 4, 5), nn.ReLU, kinks=_relu_kink))
    c.append(Case("LeakyReLU", "slope 0.1", dict(negative_slope=0.1), (3, 4, 5), lambda: nn.LeakyReLU(0.1), kinks=_relu_kink))
    c.append(Case("ELU", "alpha 1.0", dict(alpha=1.0), (3, 4, 5), lambda: nn.ELU(1.0)))
    c.append(Case("ELU", "alpha 0.5", dict(alpha=0.5), (3, 4, 5), lambda: nn.ELU(0.5)))
    c.append(Case("Sigmoid", "", {}, (3, 7), nn.Sigmoid))
    c.append(Case("Tanh", "", {}, (3, 7), nn.Tanh))
    for mode in ("train", "eval"):
        c.append(Case("BatchNorm2d", mode, dict(num_features=3), (4, 3, 5, 5), lambda: nn.BatchNorm2d(3), extra={"mode": mode}))
        c.append(Case("BatchNorm1d", mode, dict(num_features=6), (8, 6), lambda: nn.BatchNorm1d(6), extra={"mode": mode}))
    c.append(Case("Dropout", "p 0.3", dict(p=0.3), (6, 50), lambda: None))
    c.append(Case("Flatten", "", {}, (2, 3, 4, 5), nn.Flatten))
    return c


def _pool_ties(kw):
    """Inputs in a window whose top two values are within the probe step: the max may flip."""

    def kinks(x):
        n, ch, h, w = x.shape
        k, s, p = kw["kernel_size"], kw.get("stride") or kw["kernel_size"], kw.get("padding", 0)
        cols = F.unfold(F.pad(x.reshape(n * ch, 1, h, w), (p,) * 4, value=-1e9), k, stride=s)  # (NC, k*k, L)
        top2 = cols.topk(2, dim=1).values
        close = (top2[:, 0] - top2[:, 1]).abs() < 10 * FD_STEP  # (NC, L)
        mask = F.fold((close[:, None, :] * torch.ones_like(cols)).to(x.dtype), (h + 2 * p, w + 2 * p), k, stride=s) > 0
        return mask[:, 0, p : p + h, p : p + w].reshape(x.shape)

    return kinks


def _build(cls, case: Case, reference: nn.Module | None):
    """The scratch layer with the torch module's float64 parameters copied in."""
    try:
        layer = cls(**case.kwargs)
    except TypeError as e:
        raise CnnkitError(f"{case.layer}({', '.join(f'{k}={v!r}' for k, v in case.kwargs.items())}) failed: {e}; "
                          "constructors take PyTorch's argument names (docs/gradcheck.md)") from None
    if reference is not None:
        for name, p in reference.named_parameters():
            layer.params[name] = p.detach().clone()
        if isinstance(reference, nn.modules.batchnorm._BatchNorm):
            layer.running_mean = reference.running_mean.clone()
            layer.running_var = reference.running_var.clone()
    return layer


def check_layer(cls, case: Case, seed: int = 0) -> list[Check]:
    torch.manual_seed(seed)
    name, cfg = case.layer, case.config
    ref = case.torch_module()
    if ref is not None:
        ref = ref.double()
        if isinstance(ref, nn.modules.batchnorm._BatchNorm):
            with torch.no_grad():  # non-trivial affine parameters and running statistics
                ref.weight.uniform_(0.5, 1.5)
                ref.bias.uniform_(-0.5, 0.5)
                ref.running_mean.uniform_(-0.5, 0.5)
                ref.running_var.uniform_(0.5, 1.5)
    layer = _build(cls, case, ref)
    train = case.extra.get("mode", "train") == "train"
    if hasattr(layer, "train"):
        layer.train(train)
    if ref is not None:
        ref.train(train)
    x = torch.randn(case.input_shape, dtype=torch.float64)
    if name == "Dropout":
        layer.generator = torch.Generator().manual_seed(seed)
    y = layer.forward(x.clone())
    if name == "Dropout":
        mask = getattr(layer, "mask", None)
        if mask is None:
            return [Check(name, cfg, "mask", False, False, float("inf"), 0, "the layer exposes no `mask`")]
        p = case.kwargs["p"]
        mask = torch.as_tensor(mask, dtype=torch.float64)
        values_ok = bool(((mask == 0) | ((mask - 1 / (1 - p)).abs() < 1e-9)).all())
        rate = float((mask == 0).double().mean())
        out = [Check(name, cfg, "mask", True, values_ok and abs(rate - p) < 0.1, abs(rate - p), 0.1,
                     "mask values must be 0 or 1/(1-p), zero with probability p")]
        xt = x.clone().requires_grad_(True)
        expected = xt * mask
    else:
        xt = x.clone().requires_grad_(True)
        expected = ref(xt)
        out = []
    out.append(compare(name, cfg, "forward output", y, expected.detach()))
    dy = torch.randn(expected.shape, dtype=torch.float64)
    expected.backward(dy)
    try:
        dx = layer.backward(dy.clone() if torch.as_tensor(y).shape == dy.shape else torch.zeros_like(torch.as_tensor(y)))
    except Exception as e:  # name the stage that broke; the forward check above already says why, if it can
        out.append(Check(name, cfg, "input gradient", False, False, float("inf"), RTOL, f"backward raised {type(e).__name__}: {e}"))
        return out
    out.append(compare(name, cfg, "input gradient", dx, xt.grad))
    if ref is not None:
        for pname, p in ref.named_parameters():
            out.append(compare(name, cfg, f"{pname} gradient", getattr(layer, "grads", {}).get(pname), p.grad))
        if isinstance(ref, nn.modules.batchnorm._BatchNorm) and train:
            out.append(compare(name, cfg, "running mean", getattr(layer, "running_mean", None), ref.running_mean))
            out.append(compare(name, cfg, "running variance", getattr(layer, "running_var", None), ref.running_var,
                               note="PyTorch updates it with the unbiased batch variance"))
    try:
        out.append(_finite_differences(cls, case, layer, x, dy, dx, seed))
    except Exception as e:  # e.g. the forward output has the wrong shape to pair with dy
        out.append(Check(name, cfg, "finite differences", False, False, float("inf"), FD_TOL, f"{type(e).__name__}: {e}"))
    return out


def _finite_differences(cls, case, layer, x, dy, dx, seed) -> Check:
    """(L(x + h e_i) - L(x - h e_i)) / 2h with L = <forward(x), dy>, for a few elements i."""
    name, cfg = case.layer, case.config
    if dx is None or tuple(torch.as_tensor(dx).shape) != tuple(x.shape):
        return Check(name, cfg, "finite differences", False, False, float("inf"), FD_TOL, "no usable input gradient")
    gen = torch.Generator().manual_seed(seed + 1)
    flat = torch.randperm(x.numel(), generator=gen)[:12]
    near = case.kinks(x).reshape(-1) if case.kinks else torch.zeros(x.numel(), dtype=torch.bool)
    probe = [int(i) for i in flat if not near[i]]
    skipped = len(flat) - len(probe)
    state = {}
    if hasattr(layer, "running_mean"):
        state = {"running_mean": layer.running_mean, "running_var": layer.running_var}
    numeric, analytic = [], []
    for i in probe:
        vals = []
        for sign in (1, -1):
            xp = x.clone().reshape(-1)
            xp[i] += sign * FD_STEP
            if name == "Dropout":
                layer.generator = torch.Generator().manual_seed(seed)  # the same mask again
            vals.append(float((torch.as_tensor(layer.forward(xp.reshape(x.shape))) * dy).sum()))
            for k, v in state.items():
                setattr(layer, k, v)
        numeric.append((vals[0] - vals[1]) / (2 * FD_STEP))
        analytic.append(float(torch.as_tensor(dx).reshape(-1)[i]))
    note = f"{skipped} probe(s) next to a kink skipped" if skipped else ""
    if not probe:
        return Check(name, cfg, "finite differences", True, True, 0.0, FD_TOL, note or "nothing to probe")
    return compare(name, cfg, "finite differences", torch.tensor(analytic), torch.tensor(numeric), FD_TOL, note)


# ----------------------------------------------------------------- losses


def check_loss(cls, name: str, seed: int = 0) -> list[Check]:
    torch.manual_seed(seed)
    out = []
    if name == "SoftmaxCrossEntropy":
        configs = [("classes", (8, 5), (8,), None, 1.0), ("pixels + ignore 255", (2, 4, 3, 3), (2, 3, 3), 255, 1.0),
                   ("large logits", (6, 4), (6,), None, 1000.0)]
        for cfg, shape, tshape, ignore, scale in configs:
            logits = torch.randn(shape, dtype=torch.float64) * scale
            target = torch.randint(0, shape[1], tshape)
            if ignore is not None:
                target[0, 0] = ignore
            loss_fn = cls(ignore_index=ignore) if ignore is not None else cls()
            got = loss_fn.forward(logits.clone(), target)
            lt = logits.clone().requires_grad_(True)
            ref = F.cross_entropy(lt, target, ignore_index=-100 if ignore is None else ignore)
            ref.backward()
            out.append(compare(name, cfg, "loss", torch.as_tensor(got).reshape(()), ref.detach()))
            out.append(compare(name, cfg, "input gradient", loss_fn.backward(), lt.grad))
    else:  # MSELoss
        pred, target = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
        loss_fn = cls()
        got = loss_fn.forward(pred.clone(), target)
        pt = pred.clone().requires_grad_(True)
        ref = F.mse_loss(pt, target)
        ref.backward()
        out.append(compare(name, "", "loss", torch.as_tensor(got).reshape(()), ref.detach()))
        out.append(compare(name, "", "input gradient", loss_fn.backward(), pt.grad))
    return out


LOSSES = ("SoftmaxCrossEntropy", "MSELoss")


def layer_names() -> list[str]:
    return list(dict.fromkeys([c.layer for c in cases()] + list(LOSSES)))


def load_impl(path: str | Path):
    """Import a student's file. This runs the file's code, like any Python import."""
    path = Path(path)
    if not path.is_file():
        raise CnnkitError(f"--impl {path} does not exist; give a .py file defining classes such as Conv2d and Linear")
    spec = importlib.util.spec_from_file_location(f"cnnkit_student_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as e:
        raise CnnkitError(f"importing {path} failed: {type(e).__name__}: {e}") from None
    return module


def run_checks(impl=None, layers: list[str] | None = None, seed: int = 0) -> dict:
    """{'checks': [...], 'passed': bool, 'missing': [...]} for the reference or `impl` module."""
    import cnnkit.scratch as reference

    source = impl or reference
    wanted = layers or layer_names()
    unknown = [n for n in wanted if n not in layer_names()]
    if unknown:
        raise CnnkitError(f"unknown layer {unknown[0]!r}; choose from {', '.join(layer_names())}")
    checks, missing = [], []
    for name in wanted:
        cls = getattr(source, name, None)
        if cls is None:
            missing.append(name)
            continue
        if name in LOSSES:
            checks += check_loss(cls, name, seed)
        else:
            for case in (c for c in cases() if c.layer == name):
                try:
                    checks += check_layer(cls, case, seed)
                except CnnkitError:
                    raise
                except Exception as e:  # a student's layer crashed: that is a failed check, not a cnnkit bug
                    checks.append(Check(name, case.config, "runs", False, False, float("inf"), RTOL, f"{type(e).__name__}: {e}"))
    if layers and missing:
        raise CnnkitError(f"{', '.join(missing)} not defined in the implementation file")
    return {"checks": [c.as_dict() for c in checks], "passed": all(c.shape_match and c.result_match for c in checks) and bool(checks),
            "missing": missing}
