"""Self-describing, atomically written checkpoints that never execute code on load.

A checkpoint is a plain dict saved with torch.save:

    {"format": "cnnkit-checkpoint", "version": 1,
     "model": {"name": "convnet", "kwargs": {...}},      # rebuilds it via the registry
     "task": "classification", "input_shape": [3, 32, 32],
     "class_names": [...] | None, "normalization": {"mean": [...], "std": [...]} | None,
     "state_dict": {...}, **extra}                        # extra: optimizer, epoch, RNG ...

Loading uses ``torch.load(weights_only=True)``: only tensors and plain containers
are unpickled, so a crafted pickle is refused instead of run.
"""

from __future__ import annotations

import pickle
import warnings
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from cnnkit.errors import CnnkitError
from cnnkit.outputs import CHECKPOINT, write_output

FORMAT = "cnnkit-checkpoint"
VERSION = 1


class CheckpointError(CnnkitError):
    pass


def checkpoint_dict(model: nn.Module, input_shape, class_names=None, normalization=None, task: str | None = None,
                    **extra: Any) -> dict:
    """The dict `save_checkpoint` writes; `model` must come from `cnnkit.models.source.build_model`
    (or `create_model`): its `cnnkit_config` says how to rebuild it. `task` is the data's;
    a registered model's own task is used when it is not given."""
    from cnnkit.models.source import registered_task

    config = getattr(model, "cnnkit_config", None)
    if config is None:
        raise CnnkitError("this model was not built by cnnkit (cnnkit.models.source.build_model), so a checkpoint "
                          "could not say how to rebuild it")
    entry = {"name": config["name"], "kwargs": dict(config["kwargs"])}
    if "source" in config:
        entry["source"] = dict(config["source"])
    task = task or registered_task(entry)
    if task is None:
        raise CnnkitError(f"say which task {config['name']} is trained for (classification or segmentation)")
    return {
        "format": FORMAT,
        "version": VERSION,
        "model": entry,
        "task": task,
        "input_shape": list(input_shape),
        "class_names": None if class_names is None else list(class_names),
        "normalization": normalization,
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **extra,
    }


def save_checkpoint(path: str | Path, checkpoint: dict) -> Path:
    """Write atomically: a temporary file in the same folder, then os.replace, so a
    crash mid-write never leaves a truncated checkpoint under the real name. Only where
    the write rule (cnnkit.outputs) allows a checkpoint: never over a file of the user's."""
    path = Path(path)
    try:
        write_output(path, CHECKPOINT, lambda f: torch.save(checkpoint, f), binary=True, fsync=True)
    except RuntimeError as e:  # torch's zip writer reports a failed write (a full disk) as a RuntimeError
        raise CheckpointError(f"cannot write {path}: {str(e).splitlines()[0][:160]}; is the disk full? "
                              "free some space or choose another --out") from None
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Read and validate a checkpoint; every failure is a CheckpointError naming the file."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist; check the path (a run directory holds best.pt and last.pt)")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; give a checkpoint file such as {path / 'best.pt'}")
    try:
        with warnings.catch_warnings():
            # torch warns (e.g. "Detected pickle protocol ...") on foreign files before it fails;
            # the CheckpointError below must be the one line the user sees
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        if "invalid load key" in str(e) or not _looks_like_torch_file(path):
            # bytes that are not a pickle at all, not code hidden in one
            raise CheckpointError(f"{path} is truncated or not a PyTorch file (UnpicklingError); re-save or re-train it") from None
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise CheckpointError(
            f"{path} holds Python objects that loading would have to execute ({first[:160]}); refused: "
            "cnnkit loads checkpoints with weights_only=True. Only load files you trust with other tools"
        ) from None
    except Exception as e:  # torch.load fails in many ways on foreign bytes (KeyError, EOFError, ...)
        raise CheckpointError(f"{path} is truncated or not a PyTorch file ({type(e).__name__}); re-save or re-train it") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is a PyTorch file but not a cnnkit checkpoint (no model name and options to rebuild it); "
            "use a checkpoint written by `cnnkit train`"
        )
    version = ckpt.get("version", 0)
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(f"{path} was written by a newer cnnkit (format version {version}); upgrade cnnkit")
    missing = _missing_entries(ckpt)
    if missing:
        raise CheckpointError(f"{path} is a damaged cnnkit checkpoint: {missing}; use another checkpoint "
                              "(a run directory holds best.pt and last.pt) or re-train")
    return ckpt


def _missing_entries(ckpt: dict) -> str | None:
    """What a checkpoint lacks or holds in the wrong form, or None: loading, evaluating and
    predicting read all of these, so a gap is reported here rather than deep inside them."""
    model = ckpt.get("model")
    if not isinstance(model, dict) or not isinstance(model.get("name"), str) or not isinstance(model.get("kwargs"), dict):
        return "no model name and options"
    if ckpt.get("task") not in ("classification", "segmentation"):
        return "no task"
    shape = ckpt.get("input_shape")
    if not isinstance(shape, (list, tuple)) or len(shape) != 3 or not all(isinstance(v, int) and v > 0 for v in shape):
        return "no input shape"
    if not isinstance(ckpt.get("state_dict"), dict):
        return "no weights (state_dict)"
    if "normalization" not in ckpt:
        return "no normalization entry"
    norm = ckpt["normalization"]
    if norm is not None:
        ok = isinstance(norm, dict) and all(isinstance(norm.get(k), (list, tuple)) and len(norm[k]) == shape[0] for k in ("mean", "std"))
        if not ok or not all(isinstance(v, (int, float)) and v > 0 for v in norm["std"]):
            return "a malformed normalization entry (mean and std, one positive std per channel)"
    names = ckpt.get("class_names")
    if names is not None and not (isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names)):
        return "malformed class names"
    return None


def _looks_like_torch_file(path: Path) -> bool:
    """torch.save writes a zip archive (PK..); its legacy format starts with a pickle protocol byte."""
    with open(path, "rb") as f:
        head = f.read(4)
    return head.startswith(b"PK\x03\x04") or head[:1] == b"\x80"


def model_from_checkpoint(ckpt: dict, run_dir: str | Path | None = None, notes: list | None = None,
                          model: Any = None) -> nn.Module:
    """Rebuild the model its entry describes (a registered name, the kept source of the
    user's file or notebook class, a layer spec; `cnnkit.models.source.rebuild`) and load
    its weights. `model` (a class, builder or instance) overrides the entry; `notes`
    collects one-line remarks such as which copy of a changed model file is used."""
    from cnnkit.models.source import rebuild

    spec = ckpt["model"]
    said: list[str] = []
    model = rebuild(spec, run_dir, said, model)
    if notes is None:  # said on stderr, one line each, under every command and in a notebook
        import sys

        for line in said:
            print(f"note: {line}", file=sys.stderr)
    else:
        notes.extend(said)
    try:
        model.load_state_dict(ckpt["state_dict"])
    except RuntimeError as e:
        raise CheckpointError(f"the weights do not fit {spec['name']} with its stored options: {str(e).splitlines()[0]}") from None
    return model
