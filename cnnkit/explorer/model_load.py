"""What `cnnkit explore` shows: a checkpoint (file or run directory) or a model built from a
name, a file or a layer spec, as one Checkpoint and its network."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from cnnkit.errors import CnnkitError


def checkpoint_file(ref) -> Optional[Path]:
    """The checkpoint `ref` names (a file, or a run directory's best.pt / last.pt), or None for a model name."""
    path = Path(str(ref))
    if path.is_dir():
        found = next((path / f for f in ("best.pt", "last.pt") if (path / f).is_file()), None)
        if found is None:
            raise CnnkitError(f"{ref} is a folder without best.pt or last.pt; give a checkpoint file or a run directory")
        return found
    return path if path.suffix in (".pt", ".pth") or path.is_file() else None


def load_model(ref, device="cpu", options: Optional[dict] = None, shape=None, classes: Optional[int] = None,
               task: Optional[str] = None):
    """(Checkpoint, model in eval mode, display name, trained?) for anything cnnkit loads:
    a checkpoint file, a run directory (its best.pt), a registered name (as `cnnkit summary`
    takes it, through api.zoo.model_and_shape), your own `my_net.py:Net` or a layer spec
    "3x32x32 | conv 8 k3 | ..." (through models.source.build_model). Models from names are
    untrained, built for `shape` and `classes` when given (those of the data they are shown);
    `task` is the data's (a registered name knows its own)."""
    from cnnkit.engine.checkpoint import Checkpoint
    from cnnkit.engine.inference import load_for_inference
    from cnnkit.models.source import build_model, kind_of, registered_task

    path = checkpoint_file(ref)
    if path is not None:
        if options:
            raise CnnkitError("--opt does not apply to a checkpoint: it stores its own model options")
        ckpt, model, _ = load_for_inference(str(path), str(device))
        return ckpt, model, str(path), True
    kind = kind_of(ref)
    if kind == "registry":
        from cnnkit.api.zoo import model_and_shape

        model, shape, name = model_and_shape(str(ref), shape, classes, options)
    else:
        if kind == "spec" and shape is None:
            from cnnkit.arith.spec import analyse

            shape = tuple(analyse(str(ref)).input_shape)
        if shape is None:
            raise CnnkitError(f"give --dataset D (or a checkpoint) with {ref}: its input size and classes come from the data")
        model = build_model(ref, num_classes=classes, input_shape=tuple(shape), options=options)
        name = str(ref)
    config = model.cnnkit_config
    entry = {"name": config["name"], "kwargs": dict(config["kwargs"]), **({"source": config["source"]} if "source" in config else {})}
    ckpt = Checkpoint(name, {}, stored={"model": entry, "task": registered_task(entry) or task or "classification",
                                        "input_shape": list(shape), "class_names": None, "normalization": None, "config": {}})
    return ckpt, model.to(device).eval(), name, False
