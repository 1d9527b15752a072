"""The data-aware default policy: what `cnnkit train MODEL --dataset D` picks when you
give nothing else, and why. Written once here; `train` prints it at the start of a run
and records it in config.json, `cnnkit data check` shows the same augmentation and
mask warnings.

Precedence: TrainConfig defaults < recipe < this policy < the flags you give. The
recipe holds hyper-parameters that suit a kind of data; the policy fits what depends on
the particular data set:

* augmentation: only the flips that keep the label (named datasets declare theirs;
  folders: no flips for single-channel images, mirror for colour photos, a vertical
  flip only where there is no up and down, i.e. single-channel segmentation);
* the learning rate follows the optimiser (`--optimizer adam` takes Adam's rate);
* the model: a network without normalisation layers does not get the CIFAR speed recipe
  (its lr 0.4 needs batch norm), and one with ReLU-like units trained by SGD gets
  gradient clipping;
* small data sets: a batch size that gives enough steps an epoch, a validation split of
  at least a few images per class (or none, said so), enough epochs for enough steps,
  random crops of large segmentation images;
* segmentation masks: a value that looks like "unlabelled" and strong class imbalance
  are reported with numbers and a fix (data/diagnose.py, which `cnnkit data check` shares).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Optional

import torch
import torch.nn as nn

from cnnkit.data.diagnose import data_notes, flips_for
from cnnkit.engine.device import auto_precision
from cnnkit.engine.recipes import default_recipe, lr_for
from cnnkit.errors import CnnkitError

SMALL_DATA = 10_000  # training images below which batch size follows the data (above: the recipe's, tuned as it is)
# fewer, and an epoch of a small set is a handful of updates; segmentation: each image is many targets
# (the measurements: docs/benchmarks.md, "Figures behind the data-aware defaults")
MIN_STEPS_PER_EPOCH = {"classification": 100, "segmentation": 50}
# segmentation: every image is thousands of targets; classification: smaller batches stalled at the
# recipe's lr (docs/benchmarks.md, "Figures behind the data-aware defaults")
MIN_BATCH = {"classification": 32, "segmentation": 2}
MIN_TOTAL_STEPS = 400  # a run shorter than this rarely converges, whatever the data
MAX_EPOCHS = 100
MIN_VAL_PER_CLASS = 5  # classification: fewer and one image moves validation accuracy by 20 points a class
MAX_VAL_FRACTION = 0.2
MIN_VAL_IMAGES = 4  # segmentation: at the usual 10%; otherwise no validation split
CROP = 256  # segmentation images of 4x this area or more train on random crops of this size
# gradient norm for networks without normalisation layers and with ReLU-like units: a step of
# norm ~10 as the warm-up ends can switch their ReLUs off for good; clipped at 2 every seed
# learns (docs/benchmarks.md, "Why the plain ReLU nets stayed at chance on some seeds")
GRAD_CLIP = 2.0


@dataclass
class Choice:
    setting: str  # a TrainConfig field
    value: Any  # what the run uses
    source: str  # "policy" (chosen from the data), "recipe" (kept), "flag" (you gave it)
    reason: str = ""
    policy_value: Any = None  # under "flag": what the policy would have picked, when different
    hint: str = ""  # under "policy": how to undo the choice, when that is not obvious


# ------------------------------------------------------------------ the model


@dataclass(frozen=True)
class Architecture:
    """What the policy needs to know of the model, read from its modules."""

    name: str
    normalised: bool  # has batch, group, layer or instance normalisation
    relu_like: bool  # has units that do not saturate (ReLU, GELU, SiLU ...): its activations can blow up or die


_NORMS = (nn.modules.batchnorm._NormBase, nn.GroupNorm, nn.LayerNorm, nn.LocalResponseNorm)
_RELU_LIKE = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.PReLU, nn.RReLU, nn.ELU, nn.CELU, nn.SELU, nn.GELU, nn.SiLU, nn.Mish,
              nn.Softplus, nn.Hardswish)


def architecture(name: str, model: nn.Module) -> Architecture:
    modules = list(model.modules())
    return Architecture(name, any(isinstance(m, _NORMS) for m in modules), any(isinstance(m, _RELU_LIKE) for m in modules))


def pick_recipe(task: str, input_shape, train_size: int, arch: Architecture) -> tuple[str, str]:
    """The recipe for this data and model when you name none (recipes.default_recipe), and why.
    train_size counts every training image, before a validation split is held out."""
    name = default_recipe(task, input_shape, train_size, arch.normalised)
    if task == "segmentation":
        return name, "segmentation data"
    if name == "cifar-fast":
        return name, f"CIFAR-sized colour images ({train_size:,} of 3x32x32) and a network with normalisation layers"
    if default_recipe(task, input_shape, train_size, normalised=True) == "cifar-fast":
        return name, (f"CIFAR-sized images, but {arch.name} has no normalisation layers, and cifar-fast's lr 0.4 is for "
                      f"batch-norm networks (tried on CIFAR-10, it sent convnet's loss to NaN in the first epoch)")
    return name, "small images of any kind"


def gradient_clip(arch: Optional[Architecture], optimizer: str = "sgd") -> tuple[Optional[float], str]:
    """A gradient-norm clip for networks that have nothing else to keep their activations in
    range, trained by SGD, whose step grows with the gradient (Adam's and RMSprop's steps are
    bounded by their rate whatever the gradient, so a clip barely changes them)."""
    if arch is None or arch.normalised or not arch.relu_like or optimizer != "sgd":
        return None, ""
    return GRAD_CLIP, (f"{arch.name} has ReLU-like units and no normalisation layers: one large early SGD step can "
                       f"switch its units off for good, and clipping stops it")


# ------------------------------------------------------------------ augmentation


def augmentation(recipe_augment: str, flips: tuple[str, ...]) -> str:
    """The recipe's augmentation with its flips replaced by the ones the data allows."""
    kept = [t.strip() for t in recipe_augment.split(",") if t.strip() and t.strip() not in ("flip", "vflip", "none")]
    items = [*flips, *kept]
    return ",".join(items) if items else "none"


# ------------------------------------------------------------------ sizes


def validation_split(task: str, class_counts: list[int]) -> tuple[float, str]:
    """A validation fraction for data without a validation folder (counts: images per
    class for classification, [number of images] for segmentation)."""
    n = sum(class_counts)
    if task == "segmentation":
        if round(0.1 * n) >= MIN_VAL_IMAGES:
            return 0.1, f"{n} training images: 10% ({round(0.1 * n)}) for validation"
        return 0.0, (f"no validation split: 10% of {n} images is {round(0.1 * n)}, too few to choose an epoch by; "
                     "all train, and best.pt is the last epoch")
    smallest = min(c for c in class_counts if c) if any(class_counts) else 0
    if round(0.1 * smallest) >= MIN_VAL_PER_CLASS:
        return 0.1, f"10% for validation (at least {round(0.1 * smallest)} images of every class)"
    fraction = math.ceil(100 * MIN_VAL_PER_CLASS / max(smallest, 1)) / 100
    if fraction <= MAX_VAL_FRACTION:
        return fraction, f"{fraction:.0%} for validation: the smallest class has {smallest} images, so {MIN_VAL_PER_CLASS} of each are held out"
    return 0.0, (f"no validation split: the smallest class has {smallest} images, too few to hold out {MIN_VAL_PER_CLASS}; "
                 "all train, and best.pt is the last epoch")


def batch_size(task: str, n_train: int, recipe_batch: int, world: int = 1) -> tuple[int, str]:
    """The recipe's batch; for small data sets halved until an epoch has MIN_STEPS_PER_EPOCH[task]
    steps (not below MIN_BATCH)."""
    batch = recipe_batch
    while n_train < SMALL_DATA and batch > MIN_BATCH[task] and math.ceil(n_train / batch) < MIN_STEPS_PER_EPOCH[task]:
        batch = max(batch // 2, MIN_BATCH[task])
    batch = max(world, math.ceil(batch / world) * world)  # data-parallel: an equal share per process
    steps = math.ceil(n_train / batch)
    if batch == recipe_batch:
        return batch, f"{n_train} training images: {steps} steps an epoch"
    return batch, f"{n_train} training images: {steps} steps an epoch (the recipe's {recipe_batch} would give {math.ceil(n_train / recipe_batch)})"


def epochs(n_train: int, batch: int, base: int) -> tuple[int, str]:
    """At least `base`, and enough epochs for MIN_TOTAL_STEPS steps (at most MAX_EPOCHS)."""
    steps = math.ceil(n_train / batch)
    wanted = max(base, min(MAX_EPOCHS, math.ceil(MIN_TOTAL_STEPS / steps)))
    if wanted == base:
        return base, f"{base} epochs = {base * steps} steps"
    return wanted, f"{wanted} epochs = {wanted * steps} steps ({base} epochs would be only {base * steps})"


def crop(task: str, input_shape) -> tuple[Optional[list], str]:
    _, h, w = input_shape
    if task != "segmentation" or h * w < 4 * CROP * CROP or min(h, w) < CROP:
        return None, ""
    return [CROP, CROP], f"{h}x{w} images: training on random {CROP}x{CROP} crops is 4x cheaper a step and varies the data; evaluation sees whole images"


# ------------------------------------------------------------------ the policy


def decide(config, recipe_values: dict, ds, given: set[str], world: int = 1, device: Optional[torch.device] = None,
           arch: Optional[Architecture] = None, recipe_reason: str = "") -> dict:
    """Set the data-dependent fields of `config` that you did not give; return the record
    ({'recipe', 'recipe_reason', 'choices', 'notes'}) stored as config.policy. `arch`
    describes the model (None: not known, and nothing is chosen from it); `recipe_reason`
    is pick_recipe's (empty when you named the recipe).

    `ds` is loaded without a validation split unless its data has a val/ folder (the
    split is chosen here; the caller holds it out)."""
    choices: list[Choice] = []

    def choose(setting: str, value, reason: str, hint: str = "") -> None:
        if setting in given:
            mine = getattr(config, setting)
            choices.append(Choice(setting, mine, "flag", reason if mine != value else "", value if mine != value else None))
        else:
            setattr(config, setting, value)
            choices.append(Choice(setting, value, "policy", reason, hint=hint))

    task, shape = ds.task, ds.input_shape
    # validation split first: the rest of the sizes depend on what is left for training
    if ds.val is None:
        counts = [len(ds.train)] if task == "segmentation" else torch.bincount(ds.train.targets.long(), minlength=ds.num_classes).tolist()
        fraction, why = validation_split(task, counts)
        choose("val_split", fraction, why)
        n_train = len(ds.train) - _held_out(task, counts, config.val_split)
    else:
        n_train = len(ds.train)
    size, why = crop(task, shape)
    if size is not None or "crop" in given:
        choose("crop", size, why or "images small enough to train whole")
    base_batch = recipe_values.get("batch_size", config.batch_size) if "batch_size" not in given else config.batch_size
    batch, why = batch_size(task, n_train, base_batch, world)
    choose("batch_size", batch, why)
    n_epochs, why = epochs(n_train, config.batch_size, recipe_values.get("epochs", 10))
    choose("epochs", n_epochs, why)
    if "optimizer" in given and config.optimizer != recipe_values.get("optimizer", "sgd"):
        choose("lr", lr_for(recipe_values, config.optimizer),
               f"{config.optimizer}'s usual rate (the recipe's {recipe_values.get('lr')} is for {recipe_values.get('optimizer', 'sgd')})")
    weight_decay_for_optimizer(config, recipe_values, given, choices)
    if config.switch and config.switch.count(":") == 1:  # EPOCH:NAME without a rate: the new optimiser's own
        at, name = config.switch.split(":")
        config.switch = f"{at}:{name}:{lr_for(recipe_values, name) if name != config.optimizer else config.lr:g}"
        choices.append(Choice("switch", config.switch, "policy", f"{name} from epoch {at} at its usual rate"))
    if device is not None and device.type == "cpu" and config.precision == "auto":
        # "auto" (the flag's default) resolved and recorded, so evaluate / predict on any
        # machine compute as this run did
        config.precision, why = auto_precision(device)
        choices.append(Choice("precision", config.precision, "policy", why))
    clip, why = gradient_clip(arch, config.optimizer)
    if clip is not None or ("grad_clip" in given and arch is not None):
        choose("grad_clip", clip, why, hint="--grad-clip 0 turns it off")
    flips, why = flips_for(config.dataset, task, shape[0])
    choose("augment", augmentation(recipe_values.get("augment", "flip"), flips), why)
    if "flip" not in flips and config.tta:
        choose("tta", False, "mirror test-time augmentation needs mirror images that keep the label")
    if "flip" not in flips and config.alternating_flip and "alternating_flip" not in given:
        choose("alternating_flip", False, "no mirror images here to alternate")
    notes = data_notes(ds)
    if "augment" in given:
        asked = {t.strip() for t in config.augment.split(",")}
        unsafe = sorted((asked & {"flip", "vflip"}) - set(flips))
        if unsafe:
            notes.append(f"--augment {config.augment}: {'/'.join(unsafe)} may change labels here ({why})")
    return {"recipe": config.recipe, "recipe_reason": recipe_reason, "choices": [asdict(c) for c in choices], "notes": notes}


# PyTorch's AdamW default: the decay a practitioner gives Adam when it is decoupled
ADAMW_DECAY = 0.01


def weight_decay_for_optimizer(config, recipe_values: dict, given: set[str], choices: list) -> None:
    """A recipe's weight decay is an L2 term tuned for its own optimiser (SGD's 5e-4).

    * rprop takes no weight decay: the recipe's is dropped, said so; a --weight-decay you
      gave is an error (the run could not honour it).
    * --optimizer adam with the recipe's decay: Adam divides an L2 term by the gradient's
      running scale, so large weights are barely decayed (Loshchilov & Hutter 2019); the
      run uses decoupled decay instead (AdamW, PyTorch's default 0.01). A --weight-decay
      you gave with adam stays L2, as torch.optim.Adam(weight_decay=...) does."""
    names = [config.optimizer] + ([config.switch.split(":")[1]] if config.switch and ":" in config.switch else [])
    if "rprop" in names and config.weight_decay:
        if "weight_decay" in given:
            raise CnnkitError(f"--weight-decay {config.weight_decay:g}: rprop has no weight decay; drop --weight-decay "
                              "or choose another optimiser")
        choices.append(Choice("weight_decay", 0.0, "policy",
                              f"rprop has no weight decay (the recipe {config.recipe}'s {config.weight_decay:g} is left out)"))
        config.weight_decay = 0.0
    elif (config.optimizer in ("adam", "adamw") and "optimizer" in given and config.weight_decay
          and "weight_decay" not in given and recipe_values.get("optimizer", "sgd") not in ("adam", "adamw")):
        old, asked = config.weight_decay, config.optimizer
        config.optimizer, config.weight_decay = "adamw", ADAMW_DECAY
        if asked == "adam":
            choices.append(Choice("optimizer", "adamw", "policy",
                                  f"Adam with decoupled weight decay {ADAMW_DECAY:g} (PyTorch's AdamW default): the recipe "
                                  f"{config.recipe}'s {old:g} is an L2 term for SGD, which Adam would divide by its gradient scale",
                                  hint="--weight-decay 0 for plain Adam"))
        else:
            choices.append(Choice("weight_decay", ADAMW_DECAY, "policy",
                                  f"AdamW's decoupled decay at PyTorch's default (the recipe {config.recipe}'s {old:g} is an "
                                  "L2 term tuned for SGD)"))


def _held_out(task: str, counts: list[int], fraction: float) -> int:
    """How many images splits.holdout takes: rounded per class (stratified) or overall."""
    if fraction <= 0:
        return 0
    return sum(int(round(fraction * n)) for n in counts)


OFF_AT_ZERO = {"grad_clip"}  # settings where 0 means "not at all"


def _value(v, setting: str = "") -> str:
    if setting in OFF_AT_ZERO and v == 0:
        return "off"
    if isinstance(v, list):
        return "x".join(map(str, v))
    return "none" if v is None else f"{v:g}" if isinstance(v, float) else str(v)


def describe(config) -> list[str]:
    """The lines printed at the start of a run, e.g.
    recipe default: SGD lr 0.05 Nesterov momentum 0.9, cosine, weight decay 0.0005
    augment translate=2: grey single-channel images such as digits ... """
    record = config.policy or {}
    opt = config.optimizer.upper() if config.optimizer == "sgd" else config.optimizer.capitalize()
    sgd = f" momentum {config.momentum:g}" + (" Nesterov" if config.nesterov else "") if config.optimizer == "sgd" else ""
    warmup = f" after {config.warmup_epochs:g} warm-up epochs" if config.warmup_epochs else ""
    if config.optimizer == "adamw":
        opt = "AdamW"
    decay = f"{config.weight_decay:g}" + (" decoupled" if config.optimizer == "adamw" and config.weight_decay
                                          else " (L2 in the gradient)" if config.weight_decay else "")
    smoothing = f" with label smoothing {config.label_smoothing:g}" if config.label_smoothing else ""
    lines = [f"recipe {config.recipe}: {opt} lr {config.lr:g}{sgd}, {config.schedule} schedule{warmup}, weight decay "
             f"{decay}, loss {config.loss}{smoothing}"]
    lines += numbers_lines(config)
    if record.get("recipe_reason"):
        lines.append(f"recipe {config.recipe} picked for {record['recipe_reason']}")
    for c in record.get("choices", []):
        name, value = c["setting"].replace("_", " "), _value(c["value"], c["setting"])
        if c["source"] == "flag":
            extra = f"; the data policy would pick {_value(c['policy_value'])}: {c['reason']}" if c["policy_value"] is not None else ""
            lines.append(f"{name} {value} (your flag{extra})")
        else:
            lines.append(f"{name} {value}: {c['reason']}" + (f"; {c['hint']}" if c.get("hint") else ""))
    lines += [f"note: {n}" for n in record.get("notes", [])]
    return lines


TTA_VIEWS = {"mirror": "2 views (the image and its mirror image)",
             "mirror+translate": "6 views (mirror x none, 1 px down-right, 1 px up-left)"}


def numbers_lines(config) -> list[str]:
    """The settings beyond optimiser, schedule and loss that change the numbers a run
    reports, so a student comparing with their own loop sees every difference."""
    lines = []
    level = (config.tta_level or "mirror") if config.tta else "none"
    if level in TTA_VIEWS:
        val = "mirror" if level == "mirror+translate" else level  # the trainer validates on mirror views at most
        lines.append(f"test-time augmentation: test on {TTA_VIEWS[level]}, validation on {TTA_VIEWS[val]}, "
                     "logits averaged; --no-tta scores single images")
    extra = []
    if config.alternating_flip:
        extra.append("alternating flips (each image mirrored every other epoch)")
    if config.class_weights:
        extra.append(f"class weights {config.class_weights}")
    if config.ignore_index is not None:
        extra.append(f"mask value {config.ignore_index} ignored in loss and scores")
    if config.whiten_bias_epochs is not None:
        extra.append(f"whitening bias frozen after {config.whiten_bias_epochs} epochs")
    if config.lookahead:
        extra.append(f"lookahead weight averaging every {config.lookahead_every} steps from epoch {config.lookahead_start:g}")
    if config.bias_lr_scale != 1.0:
        extra.append(f"batch-norm biases at {config.bias_lr_scale:g}x the lr")
    if config.bn_momentum is not None:
        extra.append(f"batch-norm momentum {config.bn_momentum:g}")
    if config.model_dtype not in (None, "fp32"):
        extra.append(f"model weights {config.model_dtype}")
    if config.freeze:
        extra.append(f"{config.freeze} frozen")
    if config.head_lr:
        extra.append(f"head lr {config.head_lr:g}")
    if config.init:
        extra.append(f"init {config.init}")
    if extra:
        lines.append("also: " + ", ".join(extra))
    return lines
