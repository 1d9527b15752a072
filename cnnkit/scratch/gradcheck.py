"""The gradient checker: scratch layers (cnnkit's or a student's) against PyTorch
autograd in float64, plus centred finite differences on the scratch code itself.

For each layer and configuration (cases.py) it checks, and names:
    forward output, input gradient, <param> gradient (weight, bias), running mean /
    running variance (batch norm), mask (dropout), and 'finite differences' (dL/dx of
    the scratch forward, numerically in float64, against the scratch backward).
The student's code is reached through student.py (classes or function pairs, torch or
numpy); verdicts and their likely causes come from verdict.py. A configuration the code
cannot express is "not checked"; a crash in it is an error naming their file and line.
"""

from __future__ import annotations

import contextlib
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from cnnkit.errors import CnnkitError
from cnnkit.scratch.adapt import CannotAdapt, NotExpressible
from cnnkit.scratch.cases import CE_CASES, FD_STEP, Case, cases
from cnnkit.scratch.loader import StudentCrash, load_impl  # noqa: F401  (load_impl: public)
from cnnkit.scratch.student import backend_of, build, find_layer
from cnnkit.scratch.student_loss import find_loss
from cnnkit.scratch.verdict import FD_TOL, Check, compare, errored, explain_by_config, skipped, summary, unravel

LOSSES = ("SoftmaxCrossEntropy", "MSELoss")


def layer_names() -> list[str]:
    return list(dict.fromkeys([c.layer for c in cases()] + list(LOSSES)))


def _reference(case: Case):
    ref = case.torch_module()
    if ref is None:
        return None
    ref = ref.double()
    if isinstance(ref, nn.modules.batchnorm._BatchNorm):
        with torch.no_grad():  # non-trivial affine parameters and running statistics
            ref.weight.uniform_(0.5, 1.5)
            ref.bias.uniform_(-0.5, 0.5)
            ref.running_mean.uniform_(-0.5, 0.5)
            ref.running_var.uniform_(0.5, 1.5)
    ref.train(case.mode == "train")
    return ref


def _reseed(seed):
    """Dropout draws from the global generators (torch or numpy): the same seed replays its mask."""
    import numpy as np

    torch.manual_seed(seed)
    np.random.seed(seed % 2**32)


def check_layer(kind, obj, case: Case, folder=None, backend="torch", seed: int = 0) -> list[Check]:
    out: list[Check] = []
    stage = {"now": "constructor"}  # which quantity a crash in the student's code is reported on
    name, cfg = case.layer, case.config
    try:
        _check_layer(kind, obj, case, folder, backend, seed, out, stage)
    except NotExpressible as e:
        out.append(skipped(name, cfg, str(e)))
    except StudentCrash as e:
        out.append(errored(name, cfg, stage["now"], e.where))
    except CannotAdapt as e:
        out.append(Check(name, cfg, e.quantity, e.status, False if e.status == "fail" else None,
                         False if e.status == "fail" else None, reason=str(e)))
    except Exception as e:  # the checker met a shape of code it does not know: this configuration only, loudly
        out.append(Check(name, cfg, stage["now"], "error", reason=f"the checker could not run this configuration "
                         f"({type(e).__name__}: {e}); please report it with your file"))
    for c in out:
        c.features = case.features
    return out


def _check_layer(kind, obj, case, folder, backend, seed, out, stage) -> None:
    name, cfg = case.layer, case.config
    torch.manual_seed(seed)
    ref = _reference(case)
    layer = build(kind, obj, name, case, folder, backend)
    train = case.mode == "train"
    is_bn = name.startswith("BatchNorm")
    if ref is not None:
        layer.set_params({k: p.detach().clone() for k, p in ref.named_parameters()})
    if is_bn:
        layer.set_running(ref.running_mean.clone(), ref.running_var.clone())
    notes = [layer.note]
    if is_bn or name == "Dropout":
        layer.set_mode(train)
        notes.append(layer.mode.describe())
    x = torch.randn(case.input_shape, dtype=torch.float64)
    x0_mean, x0_var = (ref.running_mean.clone(), ref.running_var.clone()) if is_bn else (None, None)
    if name == "Dropout":
        _reseed(seed)
    stage["now"] = "forward output"
    y = layer.forward(x.clone())
    xt = x.clone().requires_grad_(True)
    if name == "Dropout":
        mask, check = _dropout_mask(case, x, y)
        out.append(check)
        expected = xt * mask
    else:
        expected = ref(xt)
    ctx = _context(case, x, expected)
    dy = torch.randn(expected.shape, dtype=torch.float64)
    alts = _unbiased_bn(ref, x, dy) if is_bn and train else {}  # quantity -> the N-1 slip's value

    def ctx_for(quantity):
        return {**ctx, "alternatives": alts.get(quantity, [])}

    fwd = compare(name, cfg, "forward output", y, expected.detach(), ctx=ctx_for("forward output"),
                  missing="your forward returned None (a missing `return`?)")
    fwd.reason = "; ".join(p for p in (fwd.reason, *notes) if p)
    out.append(fwd)
    expected.backward(dy)
    if not fwd.shape_match:
        out.append(skipped(name, cfg, "the forward output has the wrong shape, so dy cannot be fed back", "input gradient"))
        return
    stage["now"] = "input gradient"
    dx = layer.backward(dy.clone())
    out.append(compare(name, cfg, "input gradient", dx, xt.grad, ctx=ctx_for("input gradient"),
                       missing="your backward returned None (a missing `return dx`?)"))
    if ref is not None:
        for pname, p in ref.named_parameters():
            got = layer.param_grad(pname, tuple(p.shape))
            c = compare(name, cfg, f"{pname} gradient", got, p.grad, ctx=ctx_for(f"{pname} gradient"),
                        missing=f"no {pname} gradient found ({layer.where_grads(pname)})")
            c.reason = layer.shape_note(pname, got) or c.reason  # in the student's own layout, when it differs
            out.append(c)
    if is_bn and train:
        running = layer.running()
        for key, what in (("running_mean", "running mean"), ("running_var", "running variance")):
            alts = _running_alternatives(key, x, x0_mean if key == "running_mean" else x0_var, case)
            out.append(compare(name, cfg, what, running[key], getattr(ref, key), ctx={"alternatives": alts},
                               missing=f"no {key} found (self.running_mean / self.running_var, or bn_param)"))
    stage["now"] = "finite differences"
    scale_ctx = {key: ctx.get(key) for key in ("N", "M", "stride", "kernel")}  # the factors a scaled backward names
    fd = _finite_differences(layer, case, x, dy, dx, y, seed, scale_ctx)
    if fd.status == "fail" and not fd.cause and fwd.cause:
        # the forward is wrong in a named way: that, not the rounding, is what to fix first
        fd.cause = FORWARD_FIRST
    elif fd.status == "fail" and not fd.cause and 1e-9 < (fwd.max_rel_error or 0) < 1e-4:
        # a forward right to 1e-8 but not 1e-15 computes in float32 somewhere: a 1e-6 step drowns in its rounding
        # (float32 rounds at ~1e-7; an error of 1e-2 is a wrong formula, not precision)
        fd.reason = "; ".join(r for r in fd.reason.split("; ") if r and "disagrees" not in r)
        fd.cause = (f"your forward is accurate only to about {fwd.max_rel_error:.0e} (float32 somewhere inside?); "
                    "finite differences with a 1e-6 step need float64 throughout")
    out.append(fd)
    for c in out:  # a gradient of a wrongly named forward: the forward is the thing to fix
        if c is not fwd and c.status == "fail" and not c.cause and fwd.cause and c.quantity.endswith("gradient"):
            c.cause = FORWARD_FIRST


FORWARD_FIRST = "your forward output already differs from PyTorch's (see its likely cause); fix that first"


def _context(case, x, expected) -> dict:
    """What the verdict needs to name a cause: batch size, values per channel, stride, border."""
    k = case.kwargs
    ctx = {"N": x.shape[0], "stride": k.get("stride") if case.layer.startswith("Conv") else None,
           "border": k.get("padding") or None}
    if case.layer.startswith("BatchNorm"):
        ctx["M"] = x.numel() // x.shape[1]
    if case.layer.endswith("Pool2d"):
        ctx["kernel"] = k["kernel_size"]
    hints = []
    if case.torch_cls is not None and x.dim() == 4:
        for key, plain, text in (("stride", 1, "output has the size for stride 1: your forward ignores the stride"),
                                 ("padding", 0, "output has the size without padding: your forward ignores the padding"),
                                 ("dilation", 1, "output has the size without dilation: your forward ignores dilation")):
            if k.get(key, plain) != plain and not (key == "stride" and k.get("stride") == k.get("kernel_size") and
                                                   case.layer.endswith("Pool2d")):
                try:
                    with torch.no_grad():
                        hints.append((text, case.torch_module(**{key: plain}).double()(x).shape))
                except (RuntimeError, ValueError):
                    pass
    ctx["shape_hints"] = hints
    return ctx


UNBIASED_NORM = ("uses the unbiased variance (N-1) where PyTorch normalises with N: "
                 "np.var(x) or torch.var(x, unbiased=False), not ddof=1 / torch.var's default")


def _unbiased_bn(ref, x, dy) -> dict:
    """{quantity: [(cause, value)]}: batch norm's outputs and gradients had the batch been
    normalised with the unbiased variance (N-1), a common slip (torch.var's default,
    np.var(ddof=1)). x, dy as fed to the student; ref the float64 PyTorch module."""
    dims = (0, 2, 3) if x.dim() == 4 else (0,)
    shape = (1, -1, 1, 1) if x.dim() == 4 else (1, -1)
    xt = x.clone().requires_grad_(True)
    w = ref.weight.detach().clone().requires_grad_(True)
    b = ref.bias.detach().clone().requires_grad_(True)
    var = xt.var(dims, unbiased=True)  # (C,)
    y = (xt - xt.mean(dims).view(shape)) / torch.sqrt(var.view(shape) + ref.eps) * w.view(shape) + b.view(shape)
    y.backward(dy)
    return {q: [(UNBIASED_NORM, v.detach())] for q, v in
            (("forward output", y), ("input gradient", xt.grad), ("weight gradient", w.grad))}


def _running_alternatives(key, x, before, case) -> list:
    """Running statistics as common slips compute them, each with its cause."""
    dims = (0, 2, 3) if x.dim() == 4 else (0,)
    m = case.kwargs["momentum"]
    mean = x.mean(dims)
    if key == "running_mean":
        batch = {"": mean}
    else:
        batch = {"": x.var(dims, unbiased=True), "biased": x.var(dims, unbiased=False)}
    alts = []
    for kind, b in batch.items():
        what = ("uses the biased batch variance (divide by M); PyTorch's running variance uses the unbiased one "
                "(divide by M-1)") if kind else ""
        if kind:
            alts.append((what, (1 - m) * before + m * b))
        alts.append((("momentum the other way round: PyTorch keeps (1 - momentum) of the old value, "
                      "running = (1 - momentum) * running + momentum * batch") + (f"; and it {what}" if kind else ""),
                     m * before + (1 - m) * b))
    alts.append(("never updated: in train mode forward must update the running statistics", before))
    alts.append(("replaced by the batch statistic: blend it in with momentum", batch.get("", mean)))
    return alts


def _dropout_mask(case, x, y):
    """The mask the student's forward applied, y / x (x is never 0), checked for values and rate."""
    p = case.kwargs["p"]
    name, cfg = case.layer, case.config
    y = torch.as_tensor(y, dtype=torch.float64)
    if y.shape != x.shape:
        return torch.ones_like(x), Check(name, cfg, "mask", "fail", False, False, reason=f"output shape {tuple(y.shape)}")
    mask = y / x
    drop = float((mask.abs() < 1e-9).double().mean())
    kept = mask[mask.abs() >= 1e-9]
    # 1e-6: a mask built in float32 (bool / float) is still the right mask
    scale_ok = bool(((kept - 1 / (1 - p)).abs() < 1e-6).all())
    rate_ok = abs(drop - p) < 0.1
    cause = ""
    if not scale_ok and bool(((kept - 1).abs() < 1e-6).all()):
        cause = "kept values are not scaled by 1/(1-p): inverted dropout multiplies them by 1/(1-p)"
    elif not scale_ok and bool(((kept - 1 / p).abs() < 1e-6).all()):
        cause = "scaled by 1/p: p is the probability of dropping, so scale by 1/(1-p)"
    elif not rate_ok and abs(drop - (1 - p)) < 0.1:
        cause = f"drops a fraction {drop:.2f}, about 1 - p: in PyTorch p is the probability of dropping, not keeping"
    ok = scale_ok and rate_ok
    rel = ((mask - 1 / (1 - p)).abs() * (mask.abs() >= 1e-9)) * (1 - p)  # relative error of each kept value
    worst = unravel(int(rel.argmax()), mask.shape)
    check = Check(name, cfg, "mask", "pass" if ok else "fail", True, ok, float(rel.max()), 1e-6,
                  reason=f"dropped {drop:.2f} of values (p = {p}); kept values must be x / (1 - p)", cause=cause,
                  worst={"index": worst, "yours": float(mask[tuple(worst)]), "expected": 1 / (1 - p)})
    return mask, check


def _finite_differences(layer, case, x, dy, dx, y, seed, ctx=None) -> Check:
    """(L(x + h e_i) - L(x - h e_i)) / 2h with L = <forward(x), dy>, in float64, for 12 elements i."""
    name, cfg = case.layer, case.config
    if dx is None or tuple(dx.shape) != tuple(x.shape):
        return skipped(name, cfg, "no input gradient of x's shape to compare with", "finite differences")
    if y.dtype != torch.float64:
        return skipped(name, cfg, f"your forward returns {str(y.dtype).replace('torch.', '')}; finite differences need "
                       "float64 (create buffers with x's dtype)", "finite differences")
    gen = torch.Generator().manual_seed(seed + 1)
    flat = torch.randperm(x.numel(), generator=gen)[:12]
    near = case.kinks(x).reshape(-1) if case.kinks else torch.zeros(x.numel(), dtype=torch.bool)
    probe = [int(i) for i in flat if not near[i]]
    running = layer.running() if case.layer.startswith("BatchNorm") else {}
    numeric, analytic = [], []
    for i in probe:
        vals = []
        for sign in (1, -1):
            xp = x.clone().reshape(-1)
            xp[i] += sign * FD_STEP
            if name == "Dropout":
                _reseed(seed)  # the same mask again
            vals.append(float((layer.forward(xp.reshape(x.shape)).to(torch.float64) * dy).sum()))
            if running.get("running_mean") is not None and running.get("running_var") is not None:
                layer.set_running(running["running_mean"], running["running_var"])  # undo this probe's update
        numeric.append((vals[0] - vals[1]) / (2 * FD_STEP))
        analytic.append(float(dx.reshape(-1)[i]))
    skipped_n = len(flat) - len(probe)
    if not probe:
        return skipped(name, cfg, "every probe landed next to a kink", "finite differences")
    c = compare(name, cfg, "finite differences", torch.tensor(analytic, dtype=torch.float64),
                torch.tensor(numeric, dtype=torch.float64), FD_TOL, ctx=ctx)
    c.reason = "; ".join(p for p in (c.reason, f"{skipped_n} probe(s) next to a kink skipped" if skipped_n else "",
                                     "your backward disagrees with your own forward" if c.status == "fail" else "") if p)
    if c.worst:
        c.worst["index"] = unravel(probe[c.worst["index"][0]], x.shape)  # the probed element of x
    return c


# ----------------------------------------------------------------- losses


def check_loss(loss, name: str, seed: int = 0) -> list[Check]:
    torch.manual_seed(seed)
    out = []
    if name == "SoftmaxCrossEntropy":
        for case in CE_CASES:
            logits = torch.randn(case.shape, dtype=torch.float64) * case.scale + case.offset
            target = torch.randint(0, case.shape[1], case.target_shape)
            if case.ignore_index is not None:
                target.view(-1)[0] = case.ignore_index
            lt = logits.clone().requires_grad_(True)
            ref = F.cross_entropy(lt, target, ignore_index=-100 if case.ignore_index is None else case.ignore_index)
            ref.backward()
            out += _loss_checks(loss, name, case.config, logits, target, case.ignore_index, ref, lt.grad, case.optional,
                                limit=case.limit)
    else:
        pred, target = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
        pt = pred.clone().requires_grad_(True)
        ref = F.mse_loss(pt, target)
        ref.backward()
        out += _loss_checks(loss, name, "", pred, target, None, ref, pt.grad)
    return out


UNDERFLOW_NOTE = ("note: at logit gaps past ~745 exp(z - max) underflows to 0 in float64, so log(softmax) gives "
                  "log(0) = -inf (or the clamp's value); right for every realistic logit, and log-softmax "
                  "z - logsumexp(z) = z - max(z) - log(sum(exp(z - max(z)))) has no such limit")
UNDERFLOW_CAUSE = ("log of a probability that underflowed to 0 (or was clamped): exp(z - max) is 0 at a logit gap "
                   "past ~745; compute log-softmax directly, z - max(z) - log(sum(exp(z - max(z))))")
OVERFLOW_CAUSE = "overflow: exp() of a large logit is inf (inf/inf = nan); subtract the row maximum before exp"


def _loss_checks(loss, name, cfg, pred, target, ignore, ref, grad, optional=False, limit=False) -> list[Check]:
    try:
        value, dx = loss(pred.clone(), target.clone(), ignore)
    except NotExpressible as e:
        return [skipped(name, cfg, str(e))]
    except StudentCrash as e:
        if optional:
            return [skipped(name, cfg, f"your loss does not take {tuple(pred.shape)} logits ({e.where})")]
        return [errored(name, cfg, "loss", e.where)]
    except CannotAdapt as e:
        return [Check(name, cfg, e.quantity, e.status, reason=str(e))]
    rows = pred.numel() // pred.shape[1] if pred.dim() > 1 else pred.shape[0]
    ctx = {"N": rows, "shape_hints": [("one loss per sample: return their mean", (pred.shape[0],))]}
    note = "targets passed one-hot" if loss.one_hot else ""
    if value is not None and value.numel() == 1:
        value = value.reshape(())
    lc = compare(name, cfg, "loss", value, ref.detach(), ctx=ctx, missing="your loss returned None (a missing `return`?)")
    if lc.status == "fail" and value is not None and value.numel() == 1:
        v, r = float(value), float(ref.detach())
        # +inf (log 0) or too small (clamped): an underflow, not an overflow; nan: inf/inf, an overflow
        underflow = v == math.inf or (math.isfinite(v) and v < r and limit)
        if underflow and limit:
            lc.status, lc.cause, lc.reason = "pass", "", UNDERFLOW_NOTE
        elif underflow:
            lc.cause = UNDERFLOW_CAUSE
        elif math.isnan(v):
            lc.cause = OVERFLOW_CAUSE
    lc.reason = "; ".join(p for p in (lc.reason, note) if p)
    gc = compare(name, cfg, "input gradient", dx, grad, ctx=ctx,
                 missing="no gradient: return (loss, dx), or give the file a backward function (docs/gradcheck.md)")
    return [lc, gc]


# ----------------------------------------------------------------- the run


def parse_map(items: list[str] | None) -> dict[str, str]:
    """['Conv2d=MyConv'] -> {'Conv2d': 'MyConv'}, checked against the known layer names."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key or not value:
            raise CnnkitError(f"--map {item!r} must look like Layer=YourName, e.g. --map Conv2d=MyConv")
        if key not in layer_names():
            raise CnnkitError(f"--map {item!r}: unknown layer {key!r}; choose from {', '.join(layer_names())}")
        out[key] = value
    return out


@contextlib.contextmanager
def one_thread():
    """Every tensor here has at most a few hundred elements: intra-op threads only add
    synchronisation, and on a busy machine their spinning makes a run many times slower
    (docs/benchmarks.md, "cnnkit gradcheck"). The caller's setting is restored."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def run_checks(impl=None, layers: list[str] | None = None, seed: int = 0, mapping: dict[str, str] | None = None) -> dict:
    """{'checks': [...], 'passed': bool, 'missing': [...], 'found': {...}, 'summary': {...}}
    for the reference layers or the student's module `impl`."""
    with one_thread():
        return _run_checks(impl, layers, seed, mapping)


def _run_checks(impl, layers, seed, mapping) -> dict:
    import cnnkit.scratch as reference

    source = impl or reference
    mapping = mapping or {}
    folder = getattr(source, "__cnnkit_folder__", None)
    backend = backend_of(source)
    wanted = layers or layer_names()
    unknown = [n for n in wanted if n not in layer_names()]
    if unknown:
        raise CnnkitError(f"unknown layer {unknown[0]!r}; choose from {', '.join(layer_names())}")
    checks: list[Check] = []
    missing, found = [], {}
    for name in wanted:
        try:
            if name in LOSSES:
                loss = find_loss(source, name, mapping)
                if loss is None:
                    missing.append(name)
                    continue
                loss.backend = backend
                found[name] = loss.how
                checks += check_loss(loss, name, seed)
                continue
            hit = find_layer(source, name, mapping)
        except CannotAdapt as e:
            checks.append(Check(name, "", e.quantity, "error", reason=str(e)))
            continue
        if hit is None:
            missing.append(name)
            continue
        kind, obj = hit
        found[name] = f"class {obj.__name__}" if kind == "class" else f"functions {obj[0].__name__} / {obj[1].__name__}"
        for case in (c for c in cases() if c.layer == name):
            checks += check_layer(kind, obj, case, folder, backend, seed)
    if layers and missing:
        raise CnnkitError(f"{', '.join(missing)} not found in the implementation file; name it as docs/gradcheck.md "
                          "lists, or pass --map Layer=YourName")
    if not found and not checks:
        raise CnnkitError("found none of the layers gradcheck knows in the implementation file; name your classes or "
                          "functions as docs/gradcheck.md lists (Conv2d, conv_forward, ...), or pass --map Layer=YourName")
    explain_by_config(checks)
    s = summary(checks)
    return {"checks": [c.as_dict() for c in checks], "passed": s["failed"] + s["errors"] == 0,
            "missing": missing, "found": found, "summary": s}
