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

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn as nn

from cnnkit.errors import CnnkitError
from cnnkit.foreign import CheckpointError, check_finite, torch_load, unwrap
from cnnkit.outputs import CHECKPOINT, write_output

FORMAT = "cnnkit-checkpoint"
VERSION = 1


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
    path = _checkpoint_file(path)
    ckpt = torch_load(path, map_location)
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(
            f"{path} is a PyTorch file but not a cnnkit checkpoint (no model name and options to rebuild it); "
            "use a checkpoint written by `cnnkit train`"
        )
    return _validated(ckpt, path)


def _checkpoint_file(path: str | Path) -> Path:
    """The path, once it is known to be a file (not missing, not a run folder)."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"checkpoint {path} does not exist; check the path (a run directory holds best.pt and last.pt)")
    if path.is_dir():
        raise CheckpointError(f"{path} is a folder; give a checkpoint file such as {path / 'best.pt'}")
    return path


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
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for k in ("mean", "std") for v in norm[k]):
            return f"a non-finite normalization (mean {list(norm['mean'])}, std {list(norm['std'])}); every input would become NaN"
    names = ckpt.get("class_names")
    if names is not None and not (isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names)):
        return "malformed class names"
    return None


def model_from_checkpoint(ckpt: dict, run_dir: str | Path | None = None, notes: list | None = None,
                          model: Any = None) -> nn.Module:
    """Rebuild the model its entry describes (a registered name, the kept source of the
    user's file or notebook class, a layer spec; `cnnkit.models.source.rebuild`) and load
    its weights. `model` (a class, builder or instance) overrides the entry; `notes`
    collects one-line remarks such as which copy of a changed model file is used.
    Weights that do not fit are named key by key (rebuild.load_weights)."""
    from cnnkit.engine.rebuild import load_weights
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
    load_weights(model, ckpt["state_dict"], f"the weights do not fit {spec['name']} with its stored options",
                 "use another checkpoint (a run directory holds best.pt and last.pt) or re-train")
    return model


# Said once when a cnnkit checkpoint records no normalisation (rebuild.load adds it to the notes).
NO_NORMALIZATION_NOTE = ("no normalisation recorded: using mean 0.5, std 0.5 per channel, what cnnkit's training applies "
                         "to images when it has no statistics")


def normalization_of(ckpt: dict) -> dict:
    """The mean / std every reader preprocesses a checkpoint's images with (evaluate, predict,
    every figure, explore, report): the stored one, else data.augment.default_normalization,
    the 0.5 / 0.5 the training loader applied when it had none. Never the evaluation
    dataset's statistics: those are not what the network saw in training."""
    from cnnkit.data.augment import default_normalization

    return ckpt.get("normalization") or default_normalization((ckpt.get("input_shape") or (3,))[0])


@dataclass
class Checkpoint:
    """Any checkpoint file as one typed object (what every reader uses): a cnnkit checkpoint,
    or weights saved by another training loop once `rebuild.resolve` has found their model.

    `stored` is the cnnkit dict (the module docstring's keys); for a foreign file it is empty
    until resolved, then filled with what was matched or given (model, task, input shape,
    class names, normalisation). `source` says what the file was ("cnnkit", "a state dict",
    "a Lightning checkpoint", ...); `notes` what was done to read it (prefixes stripped)."""

    path: str
    state_dict: dict
    source: str = "cnnkit"
    stored: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    module: Any = None  # a trusted pickled nn.Module (--trust-checkpoint)
    extra: dict = field(default_factory=dict)  # a foreign file's epoch, timm's arch, ...

    @property
    def foreign(self) -> bool:
        return self.source != "cnnkit"

    @property
    def model_name(self) -> str | None:
        return (self.stored.get("model") or {}).get("name")

    @property
    def task(self) -> str | None:
        return self.stored.get("task")

    @property
    def class_names(self) -> list | None:
        names = self.stored.get("class_names")
        return None if names is None else list(names)

    @class_names.setter
    def class_names(self, names: list | None) -> None:
        # `cnnkit explore` on an untrained model: named by its data's classes
        self.stored["class_names"] = None if names is None else list(names)

    def names_for(self, k: int) -> list:
        """One name per output of a K-class model: the recorded names, else "0".."K-1"
        (weights that record none)."""
        return self.class_names or [str(i) for i in range(k)]

    @property
    def input_shape(self) -> tuple | None:
        shape = self.stored.get("input_shape")
        return None if shape is None else tuple(shape)

    @property
    def normalization(self) -> dict | None:
        """As stored: None when the run recorded none."""
        return self.stored.get("normalization")

    @normalization.setter
    def normalization(self, norm: dict | None) -> None:
        # `cnnkit explore` on an untrained model: its data's statistics
        self.stored["normalization"] = norm

    @property
    def normalization_or_default(self) -> dict:
        """What preprocessing uses (normalization_of)."""
        return normalization_of(self.stored)

    @property
    def config(self) -> dict:
        return self.stored.get("config") or {}

    @property
    def ignore_index(self):
        return self.stored.get("ignore_index", self.config.get("ignore_index"))

    @property
    def dataset(self) -> str | None:
        return self.stored.get("dataset")

    @dataset.setter
    def dataset(self, spec: str | None) -> None:
        # --dataset on a figure: the data to search for top images instead of the recorded one
        self.stored["dataset"] = spec

    @property
    def model_record(self) -> dict:
        """{"name", "kwargs", "source"}: what rebuilds the network (models/source.rebuild)."""
        return self.stored.get("model") or {}

    def title(self) -> str:
        """The network's name in a figure's title: a foreign file also names the file."""
        name = self.model_name or "model"
        return f"{Path(self.path).name} ({name})" if self.foreign else name

    @property
    def num_classes(self) -> int:
        return len(self.class_names or [])

    @property
    def tta_level(self):
        """The run's test-time augmentation (engine/tta.py's tta_of): what evaluate, predict and the
        figures apply, as the run's own test did."""
        from cnnkit.engine.tta import tta_of

        return tta_of(self.config)

    @property
    def precision(self) -> str | None:
        return self.config.get("precision")

    def data_options(self, data_dir=None, same_data: bool = True):
        """How to load data for this checkpoint (data.catalog.DataOptions): its run's splits
        (on its own dataset, `same_data`) and its input size (classification, or segmentation
        trained at a fixed --image-size); evaluate, predict, the figures and explore load so."""
        from cnnkit.data.catalog import DataOptions

        config = self.config
        c, h, w = self.input_shape
        return DataOptions(data_dir=data_dir or config.get("data_dir"),
                           val_split=config.get("val_split", 0.1) if same_data else 0.1,
                           test_split=config.get("test_split", 0.2) if same_data else 0.2,
                           image_size=(h, w) if self.task == "classification" or config.get("image_size") else None,
                           ignore_index=self.ignore_index)

    # the training state a resumed run continues from (last.pt)
    @property
    def epoch(self) -> int:
        return int(self.stored.get("epoch", 0))

    @property
    def history(self) -> list:
        return list(self.stored.get("history") or [])

    @property
    def best(self):
        return self.stored.get("best")

    @property
    def bad_epochs(self) -> int:
        return int(self.stored.get("bad_epochs", 0))

    @property
    def trainer_state(self) -> dict | None:
        return self.stored.get("trainer")

    @property
    def phase(self) -> int:
        return int(self.stored.get("phase") or 0)

    def as_dict(self) -> dict:
        """The cnnkit dict the inference code reads (evaluate, predict, the figures)."""
        return {**self.stored, "state_dict": self.state_dict}


def read_checkpoint(path: str | Path, trust: bool = False) -> Checkpoint:
    """Any checkpoint file, read without running code (unless `trust`): a cnnkit checkpoint
    (validated as load_checkpoint does), or the weights of another training loop's file
    (foreign.unwrap). Non-finite weights are refused here, naming the first such tensor."""
    path = _checkpoint_file(path)
    obj = torch_load(path, "cpu", trust)
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        ckpt = _validated(obj, path)
        return Checkpoint(str(path), ckpt["state_dict"], stored={k: v for k, v in ckpt.items() if k != "state_dict"})
    sd, source, notes, extra = unwrap(obj, path)
    check_finite(sd, path)
    return Checkpoint(str(path), sd, source, notes=notes, module=obj if isinstance(obj, nn.Module) else None, extra=extra)


def _validated(ckpt: dict, path: Path) -> dict:
    """load_checkpoint's checks on a dict already read."""
    version = ckpt.get("version", 0)
    if not isinstance(version, int) or version > VERSION:
        raise CheckpointError(f"{path} was written by a newer cnnkit (format version {version}); upgrade cnnkit")
    missing = _missing_entries(ckpt)
    if missing:
        raise CheckpointError(f"{path} is a damaged cnnkit checkpoint: {missing}; use another checkpoint "
                              "(a run directory holds best.pt and last.pt) or re-train")
    check_finite(ckpt["state_dict"], path)
    return ckpt
