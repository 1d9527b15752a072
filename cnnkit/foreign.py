"""Checkpoints cnnkit did not write, read as weights and never executed.

What students' own training loops save, and how each is unwrapped to one state dict:

    torch.save(model.state_dict(), "ckpt.pt")                       # bare state dict (torchvision, timm files too)
    torch.save({"epoch": 3, "model_state_dict": ..., ...}, "ckpt.pt")  # the PyTorch tutorial's format
    {"state_dict": {"model.conv1.weight": ...}, "pytorch-lightning_version": ...}  # Lightning: "model." stripped
    {"module.conv1.weight": ...}                                     # DataParallel / DDP: "module." stripped

Every reader of a weights file uses this module (it sits at the package top level so that
both engine/checkpoint.py, for evaluate / predict / visualize / summary, and
models/weights_file.py, for `train --weights` / `explore --weights`, may import it: models/
does not import engine/). Every file is opened with ``torch.load(weights_only=True)``: tensors and plain containers
only. A whole pickled ``nn.Module`` (``torch.save(model)``) needs its classes' code to be
run, so it is refused unless the caller says it trusts the file (``trust=True``,
``--trust-checkpoint``). Which classes a refused pickle names is read from its opcodes
(pickletools), which never runs anything.
"""

from __future__ import annotations

import pickle
import pickletools
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from cnnkit.errors import CnnkitError


class CheckpointError(CnnkitError):
    pass


# Prefixes wrappers add to every key: DataParallel / DDP ("module."), torch.compile ("_orig_mod.").
WRAPPER_PREFIXES = ("module.", "_orig_mod.")
# Keys under which training loops keep the model's weights in a larger dict, in the order tried.
WEIGHT_KEYS = ("model_state_dict", "state_dict", "model", "net", "network", "weights")


def torch_load(path: Path, map_location="cpu", trust: bool = False, trust_flag: str | None = "--trust-checkpoint") -> Any:
    """torch.load with every failure as one CheckpointError naming the file. weights_only
    unless `trust`; a refused pickle says whether it is a whole model and what to do
    (`trust_flag`: the caller's option that would unpickle it; None where there is none)."""
    try:
        with warnings.catch_warnings():
            # torch warns (e.g. "Detected pickle protocol ...") on foreign files before it fails;
            # the CheckpointError below must be the one line the user sees
            warnings.simplefilter("ignore")
            if trust:
                return torch.load(path, map_location=map_location, weights_only=False)
            import argparse

            # timm's training checkpoints keep their argparse options: a Namespace is attributes only, no code
            with torch.serialization.safe_globals([argparse.Namespace]):
                return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        if trust or "invalid load key" in str(e) or not _looks_like_torch_file(path):
            # bytes that are not a pickle at all, not code hidden in one
            raise CheckpointError(f"{path} is truncated or not a PyTorch file (UnpicklingError); re-save or re-train it") from None
        raise CheckpointError(_refusal(path, str(e), trust_flag)) from None
    except (AttributeError, ModuleNotFoundError, ImportError) as e:  # trusted: the pickled class is not importable here
        raise CheckpointError(f"{path} is a pickled model whose class cannot be found here ({str(e).splitlines()[0][:160]}); "
                              "in your training code save model.state_dict() instead and pass --model my_net.py:Net") from None
    except Exception as e:  # torch.load fails in many ways on foreign bytes (KeyError, EOFError, ...)
        raise CheckpointError(f"{path} is truncated or not a PyTorch file ({type(e).__name__}); re-save or re-train it") from None


def _refusal(path: Path, message: str, trust_flag: str | None = "--trust-checkpoint") -> str:
    """Why a weights_only load refused the file, in words: a pickled model, or code."""
    names = pickled_globals(path)
    modules = [n for n in names if n.startswith("torch.nn.modules.")]
    if modules:
        own = [n for n in names if not n.startswith(("torch.", "collections.", "builtins.set"))]
        what = (own or modules)[0]
        return (f"{path} holds a whole pickled model ({what}, saved with torch.save(model)); loading it would run code "
                "from the file, so it is refused. In your training code save model.state_dict() instead"
                + (f", or pass {trust_flag} if you trust this file and wrote it yourself" if trust_flag else ""))
    shown = ", ".join(n for n in names if not n.startswith(("torch.", "collections.OrderedDict")))[:160]
    first = shown or (message.strip().splitlines() or [""])[0][:160]
    return (f"{path} holds Python objects that loading would have to execute ({first}); refused: "
            "cnnkit reads checkpoints with weights_only=True and runs no code from a file. Save weights with "
            "torch.save(model.state_dict(), path)")


def pickled_globals(path: Path) -> list[str]:
    """The `module.name` globals a pickle refers to, read from its opcodes without unpickling
    (torch's zip format keeps the pickle in */data.pkl; its legacy format is a bare pickle)."""
    try:
        if zipfile.is_zipfile(path):
            with zipfile.ZipFile(path) as z:
                name = next((n for n in z.namelist() if n.endswith("data.pkl")), None)
                data = z.read(name) if name else b""
        else:
            data = Path(path).read_bytes()
        found, strings = [], []
        for op, arg, _ in pickletools.genops(data):
            if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE", "BINUNICODE8"):
                strings.append(arg)
            elif op.name == "GLOBAL":
                found.append(str(arg).replace(" ", "."))
            elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                found.append(f"{strings[-2]}.{strings[-1]}")
        return list(dict.fromkeys(found))
    except Exception:  # a damaged pickle: the caller falls back to torch's message
        return []


def _looks_like_torch_file(path: Path) -> bool:
    """torch.save writes a zip archive (PK..); its legacy format starts with a pickle protocol byte."""
    with open(path, "rb") as f:
        head = f.read(4)
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def is_state_dict(obj: Any) -> bool:
    return isinstance(obj, dict) and bool(obj) and all(isinstance(k, str) for k in obj) and \
        all(isinstance(v, torch.Tensor) for v in obj.values())


def unwrap(obj: Any, path: Path) -> tuple[dict, str, list[str], dict]:
    """A loaded foreign object -> (state dict, format in words, notes, extra entries such as
    'epoch' or timm's 'arch'). Prefixes that wrappers add are stripped, and said."""
    notes: list[str] = []
    extra: dict = {}
    if isinstance(obj, torch.nn.Module):  # trusted pickled model
        return {k: v.detach() for k, v in obj.state_dict().items()}, f"a pickled {type(obj).__name__} model", notes, extra
    if is_state_dict(obj):
        sd, fmt = obj, "a state dict"
    elif isinstance(obj, dict):
        key = next((k for k in WEIGHT_KEYS if is_state_dict(obj.get(k))), None)
        if key is None:
            keys = ", ".join(map(str, list(obj)[:8])) + (" ..." if len(obj) > 8 else "")
            raise CheckpointError(f"{path} is a PyTorch file but holds neither a cnnkit checkpoint nor a state dict of weights "
                                  f"(its keys: {keys}); in your training code save model.state_dict()")
        sd = obj[key]
        lightning = any("lightning" in str(k) for k in obj)
        fmt = ("a Lightning checkpoint" if lightning else "a cnnkit checkpoint" if obj.get("format") == "cnnkit-checkpoint"
               else f"a checkpoint with '{key}'")
        extra = {k: v for k, v in obj.items() if k in ("epoch", "arch", "global_step") and isinstance(v, (int, str))}
        if lightning:  # a LightningModule keeps its network as an attribute, usually self.model: "model.conv1.weight"
            prefix = common_prefix(sd)
            if prefix:
                sd = {k[len(prefix):]: v for k, v in sd.items()}
                notes.append(f"removed the '{prefix}' prefix Lightning puts before every key (the LightningModule's attribute)")
    else:
        raise CheckpointError(f"{path} is a PyTorch file holding a {type(obj).__name__}, not weights; "
                              "in your training code save model.state_dict()")
    for prefix in WRAPPER_PREFIXES:
        if all(k.startswith(prefix) for k in sd):
            sd = {k[len(prefix):]: v for k, v in sd.items()}
            why = "DataParallel / DistributedDataParallel" if prefix == "module." else "torch.compile"
            notes.append(f"removed the '{prefix}' prefix {why} puts before every key")
    return dict(sd), fmt, notes, extra


def common_prefix(sd: dict) -> str:
    """'model.' when every key starts with the same first name and at least one has more after it."""
    firsts = {k.split(".", 1)[0] for k in sd}
    if len(firsts) == 1 and all("." in k for k in sd):
        return firsts.pop() + "."
    return ""


def first_non_finite(sd: dict) -> str | None:
    """The name of the first floating tensor holding NaN or infinity, or None."""
    for k, v in sd.items():
        if v.is_floating_point() and v.numel() and not bool(torch.isfinite(v).all()):
            return k
    return None


def check_finite(sd: dict, path) -> None:
    bad = first_non_finite(sd)
    if bad is not None:
        t = sd[bad]
        n = int((~torch.isfinite(t)).sum())
        raise CheckpointError(f"{path} holds non-finite weights: {bad} has {n} NaN or infinite value{'s' if n != 1 else ''} "
                              f"of {t.numel()}; predictions would be NaN. Use an earlier checkpoint or re-train "
                              "(a diverged run: lower the learning rate)")


def conv_weight_names(sd: dict) -> list[str]:
    """Layer names (key without '.weight') of every 4-D weight, in the file's order: the conv
    layers. The first is the input conv of a network saved by state_dict()."""
    return [k[: -len(".weight")] for k, v in sd.items() if k.endswith(".weight") and v.ndim == 4]


def shape_text(shape) -> str:
    return "x".join(map(str, shape)) or "scalar"
