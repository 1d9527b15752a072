"""`cnnkit train` as a library call: data -> model -> loop -> run directory.

    summary = train(TrainConfig(model="convnet", dataset="shapes", epochs=3), progress=print_event)

Per epoch: train, validate, append metrics.csv, redraw curves.png, write last.pt
(everything a resume needs) and, when validation improved, best.pt. At the end the
test split is evaluated once, on best.pt, and summary.json is written. The test
split never influences a choice.
"""

from __future__ import annotations

import copy
import datetime
import math
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Optional

import torch
import torch.nn as nn

from cnnkit import outputs
from cnnkit.data.augment import Augment
from cnnkit.data.catalog import DataOptions, dataset_task, load_dataset
from cnnkit.data.loader import BatchLoader
from cnnkit.engine import distributed, policy, tblog
from cnnkit.engine.checkpoint import checkpoint_dict, load_checkpoint, save_checkpoint
from cnnkit.engine.config import NOT_DEFINING, TrainConfig
from cnnkit.engine.device import environment, resolve_device, resolve_model_dtype, resolve_precision, set_deterministic
from cnnkit.engine.losses import build_loss, class_weights_from
from cnnkit.engine.metrics import headline
from cnnkit.engine.optim import build_optimizer, build_schedule, parse_switch
from cnnkit.engine.recipes import recipe
from cnnkit.engine.rundir import RunDir, differences
from cnnkit.engine.trainer import Trainer, seed_everything
from cnnkit.engine.tta import tta_of
from cnnkit.errors import CnnkitError, RunFailure

Progress = Callable[..., None]  # progress(event: str, **info)


class Interrupted(RunFailure):
    exit_code = 130


def _quiet(event: str, **info) -> None:
    pass


def make_config(model, dataset: str, overrides: dict, loaded: Optional[dict] = None) -> tuple[TrainConfig, object]:
    """Resolve the recipe (which may depend on the data) and load the dataset: the whole plan
    of a run, before anything trains. `model` is any form `cnnkit.models.source.build_model`
    takes (a registered name, PATH.py:NAME, a layer spec, a Python class / builder / instance).

    `loaded` ({data options: dataset}) lets a sweep plan every variant on one loaded copy
    of the data; each variant still gets its own validation hold-out (a shallow copy)."""
    from cnnkit.models.source import kind_of, model_label
    from cnnkit.registry import get_spec

    ref, model = model, model_label(model)
    task = dataset_task(dataset)
    if kind_of(ref) == "registry":
        spec = get_spec(model)
        if spec.task != task:
            raise CnnkitError(f"{model} is a {spec.task} model but {dataset} is a {task} dataset; "
                              f"pick a {task} model (cnnkit models --task {task})")
    if task == "classification" and overrides.get("ignore_index") is not None:
        from cnnkit.data.catalog import ignore_index_refusal

        raise CnnkitError(ignore_index_refusal(dataset))
    given = {k for k, v in overrides.items() if v is not None}
    # defaults + flags: the data options; no validation split yet (the policy sizes it to the data)
    probe = TrainConfig.build(model, {}, dict(overrides, dataset=dataset, **({} if "val_split" in given else {"val_split": 0.0})))
    probe.validate()
    d, device = distributed.init(resolve_device(probe.device))
    key = (dataset, repr(data_options(probe)))
    if loaded is not None and key in loaded:
        ds = loaded[key]
    else:
        with distributed.main_first(d):  # a download or cache write happens once
            ds = load_dataset(dataset, data_options(probe))
        if loaded is not None:
            loaded[key] = ds
    arch = policy.architecture(_short(model), _probe_model(ref, ds, overrides.get("model_options"), dataset))
    name, why = overrides.get("recipe"), ""
    if not name:  # the CIFAR-like threshold counts every training image, before validation is held out
        name, why = policy.pick_recipe(ds.task, ds.input_shape, len(ds.train) + len(ds.val or []), arch)
    values = recipe(name)
    config = TrainConfig.build(model, values, dict(overrides, dataset=dataset, recipe=name))
    if kind_of(ref) == "python":
        config.model_object = ref
    config.policy = policy.decide(config, values, ds, given, d.world, device, arch, why)
    if config.weights:  # checked against the model now, before anything trains
        config.policy["notes"] += _check_weights(config, ds)
    if ds.val is None and config.val_split > 0 and "val_split" not in given:
        held = (key, config.val_split)
        if loaded is not None and held in loaded:
            ds = loaded[held]
        else:
            ds = _hold_out_validation(copy.copy(ds), config.val_split)
            if loaded is not None:
                loaded[held] = ds
    config.validate()
    if config.crop:
        _check_crop_fits(config.model_object if config.model_object is not None else ref, ds, config.crop,
                         overrides.get("model_options"), dataset)
    _check_activations_fit(ref, ds, config, device, overrides.get("model_options"), dataset)
    return config, ds


def _check_activations_fit(ref, ds, config: TrainConfig, device, options: Optional[dict], dataset: str) -> None:
    """Refuse a run whose activations alone cannot fit in the device's memory, before any
    is allocated (a --image-size of 100000 would otherwise fail inside the first step).

    Backward keeps every layer's output: at least 2 bytes (bf16) x batch x the elements of
    every leaf module's output, counted by one forward on the meta device (no memory).
    A lower bound, so only a run that can never fit is refused."""
    from cnnkit.models.source import display_name, kind_of

    if kind_of(ref) != "registry":  # the user's own network was run once for real already (_probe_model)
        return
    model = display_name(ref)
    c = ds.input_shape[0]
    h, w = config.crop or ds.input_shape[1:]
    probe = _probe_model(ref, ds, options, dataset)
    elements = [0]

    def count(module, inputs, output):
        if isinstance(output, torch.Tensor) and not list(module.children()):
            elements[0] += output[0].numel()

    hooks = [m.register_forward_hook(count) for m in probe.modules()]
    try:
        with torch.device("meta"), torch.no_grad():
            probe.eval()(torch.empty(2, c, h, w))  # eval: batch norm on a 1x1 map needs no batch of two
    except (RuntimeError, ValueError):
        return  # a geometry the model refuses is reported where it is built, with its own message
    finally:
        for hk in hooks:
            hk.remove()
    batch = min(config.batch_size, len(ds.train))  # a batch never holds more images than there are
    needed = 2 * batch * elements[0]
    total = _device_memory(device)
    if total and needed > total:
        where = "GPU" if torch.device(device).type == "cuda" else "machine"
        raise CnnkitError(f"training {model} on {h}x{w} images with batch size {batch} keeps at least "
                          f"{needed / 2**30:,.1f} GiB of activations for backward, more than this {where}'s "
                          f"{total / 2**30:,.0f} GiB; use a smaller --batch-size, --image-size, or --crop")


def _device_memory(device) -> Optional[int]:
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    try:
        import os

        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _check_crop_fits(ref, ds, crop, options: Optional[dict], dataset: str) -> None:
    """Training sees crops, evaluation whole images: the model must take both sizes. A
    model with a fixed-size classifier (flatten then Linear) takes only the size it was
    built for; found here (a registered model on the meta device: no memory), not as a
    shape error mid-epoch."""
    from cnnkit.models.source import display_name, kind_of

    c, h, w = ds.input_shape
    probe = _probe_model(ref, ds, options, dataset)
    meta = kind_of(ref) == "registry"
    try:
        with torch.device("meta" if meta else "cpu"), torch.no_grad():
            probe.eval()(torch.zeros(2, c, *crop))
    except RuntimeError:
        raise CnnkitError(
            f"--crop {crop[0]}x{crop[1]}: {display_name(ref)} built for {h}x{w} images cannot take {crop[0]}x{crop[1]} crops "
            f"(its classifier has a fixed input size) while evaluation sees whole {h}x{w} images; drop --crop, "
            f"resize instead with --image-size, or use a model with global pooling") from None
    finally:
        probe.train()


def _probe_model(ref, ds, options: Optional[dict], dataset: str) -> nn.Module:
    """The model as it will be built, for the policy to read its layers. A registered model
    is built on the meta device (no memory, no weights loaded): a geometry error shows here
    as it would when training. The user's own network (a file, a spec, a Python object) is
    built for real and run once on a zero batch, so a forward that crashes or returns the
    wrong shape for the task is one line naming its file and line before anything is written."""
    from cnnkit.models.source import build_model, check_output, kind_of

    options = {k: v for k, v in (options or {}).items() if k != "pretrained"}
    if kind_of(ref) == "registry":
        with torch.device("meta"):
            return build_model(ref, num_classes=ds.num_classes, input_shape=tuple(ds.input_shape), options=options)
    model = build_model(ref, num_classes=ds.num_classes, input_shape=tuple(ds.input_shape), options=options)
    check_output(model, tuple(ds.input_shape), ds.task, ds.num_classes, dataset)
    return model


def _short(model: str) -> str:
    from cnnkit.models.source import display_name

    return display_name(model)


def _check_weights(config: TrainConfig, ds) -> list[str]:
    """--weights FILE against the model as it will be built (meta device: shapes only);
    the lines saying which layers stay random."""
    from cnnkit.models.weights_file import match, read_weights

    if config.pretrained:
        raise CnnkitError("--weights FILE and --pretrained both choose the starting weights; give one")
    ref = config.model_object if config.model_object is not None else config.model
    probe = _probe_model(ref, ds, config.model_options, config.dataset)
    state, read = read_weights(config.weights)
    loaded, notes = match(probe, state, config.weights)
    return [f"weights from {config.weights}: {len(loaded)} tensors checked against {config.model}"] + read + notes


def _hold_out_validation(ds, fraction: float):
    """The validation split load_dataset(val_split=fraction) would make (same split seed,
    same stratification), and the normalisation from what is left for training."""
    from cnnkit.data.splits import channel_stats, holdout

    ds.train, ds.val = holdout(ds.train, fraction, DataOptions().split_seed, stratify=ds.task != "segmentation")
    ds.normalization = channel_stats(ds.train.sample(2000) if getattr(ds.train, "streaming", False) else ds.train.images)
    return ds


def data_options(config: TrainConfig) -> DataOptions:
    return DataOptions(data_dir=config.data_dir, val_split=config.val_split, test_split=config.test_split,
                       image_size=tuple(config.image_size) if config.image_size else None, ignore_index=config.ignore_index)


def default_out(config: TrainConfig) -> Path:
    data = config.dataset.split(":")[-1].rstrip("/").split("/")[-1] or "data"
    return Path("runs") / f"{_short(config.model)}-{data}-{datetime.datetime.now():%Y%m%d-%H%M%S}"


def _param_groups(model: nn.Module, config: TrainConfig) -> list[dict]:
    """Backbone and head as separate groups when the head gets its own lr or the
    backbone is frozen. The head is the top-level child holding the last parameters."""
    named = [(n, p) for n, p in model.named_parameters()]
    head_prefix = named[-1][0].split(".")[0] + "."
    head = [p for n, p in named if n.startswith(head_prefix)]
    backbone = [p for n, p in named if not n.startswith(head_prefix)]
    if config.freeze == "backbone":
        for p in backbone:
            p.requires_grad_(False)
        backbone = []
    head = [p for p in head if p.requires_grad]
    backbone = [p for p in backbone if p.requires_grad]
    if not head and not backbone:
        raise CnnkitError("every parameter is frozen; nothing would train")
    scale = config.head_lr / config.lr if config.head_lr else 1.0
    groups = [{"params": backbone, "lr_scale": 1.0}, {"params": head, "lr_scale": scale}]
    if config.bias_lr_scale != 1.0:
        # batch-norm shifts first, at bias_lr_scale x their group's lr and the same weight decay
        # per step (lr x decay unchanged: airbench's bias scaler)
        from cnnkit.engine.speedpath import batchnorm_biases

        shifts = batchnorm_biases(model)
        biases = [{"params": [p for p in g["params"] if id(p) in shifts], "lr_scale": g["lr_scale"] * config.bias_lr_scale,
                   "wd_scale": 1.0 / config.bias_lr_scale} for g in groups]
        groups = biases + [{"params": [p for p in g["params"] if id(p) not in shifts], "lr_scale": g["lr_scale"]} for g in groups]
    return [g for g in groups if g["params"]]


def build_model(config: TrainConfig, input_shape, num_classes: int, entry: Optional[dict] = None,
                run_dir: Optional[Path] = None, load_weights: bool = True) -> nn.Module:
    """The run's model (cnnkit.models.source.build_model), or with `entry` (a resumed run's
    last.pt) the network that checkpoint was trained as: a model file's kept source, not
    the file as it is now."""
    from cnnkit.models import source
    from cnnkit.models.init import init_weights
    from cnnkit.registry import get_spec

    options = dict(config.model_options)
    ref = config.model_object if config.model_object is not None else config.model
    registered = source.kind_of(ref) == "registry"
    if config.pretrained:
        if not registered or "pretrained" not in get_spec(config.model).options():
            raise CnnkitError(f"{_short(config.model)} has no pretrained weights; only models with a 'pretrained' option do (e.g. resnet18)")
        options["pretrained"] = True
    if entry is not None and not registered:
        model = source.rebuild(entry, run_dir)
    else:
        model = source.build_model(ref, num_classes=num_classes, input_shape=tuple(input_shape), options=options)
    if config.init:
        init_weights(model, config.init)
    if config.weights and load_weights:  # after --init: the file's weights win where they fit
        from cnnkit.models.weights_file import load_into

        load_into(model, config.weights)
    return model


def _setup(config: TrainConfig, ds, device, d: distributed.Dist, resume: bool = False, entry: Optional[dict] = None,
           run_dir: Optional[Path] = None):
    """Model, trainer with optimiser/schedule for the phase of `start_epoch`, loaders.
    A resumed run loads its own weights from last.pt, not the --weights file again, and
    rebuilds its network from last.pt's entry (a model file's kept source)."""
    precision = resolve_precision(config.precision, device)
    channels_last = config.channels_last if config.channels_last is not None else device.type == "cuda"
    model = build_model(config, ds.input_shape, ds.num_classes, entry, run_dir, load_weights=not resume)
    _data_init(model, ds)
    if config.bn_momentum is not None:
        from cnnkit.engine.speedpath import set_bn_momentum

        set_bn_momentum(model, config.bn_momentum)
    model_dtype = resolve_model_dtype(config.model_dtype, device)
    if config.sync_bn and d.active:
        if device.type != "cuda":
            raise CnnkitError("--sync-bn needs CUDA (PyTorch's SyncBatchNorm); on CPU each process keeps its own batch statistics")
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # same state_dict keys: checkpoints load into plain BN
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    from cnnkit.engine import speedpath

    speedpath.to_model_dtype(model, model_dtype)
    hooks = _speed_hooks(config, model, d)
    weights = None
    if config.class_weights:
        if config.class_weights == "balanced":
            weights = class_weights_from(ds.train.targets, ds.num_classes, ds.ignore_index)
        else:
            try:
                weights = torch.tensor([float(v) for v in config.class_weights.split(",")])
            except ValueError:
                raise CnnkitError("--class-weights takes 'balanced' or numbers, e.g. 1,2.5,1") from None
            if len(weights) != ds.num_classes:
                raise CnnkitError(f"--class-weights has {len(weights)} values but the data has {ds.num_classes} classes")
        weights = weights.to(device)
    loss_fn = build_loss(ds.task, config.loss, ds.num_classes, config.label_smoothing, weights, ds.ignore_index)
    compiled = torch.compile(model) if config.compile else None
    train_forward = None
    if d.active:
        ddp = distributed.wrap_model(model, device, d)
        train_forward = torch.compile(ddp) if config.compile else ddp
    trainer = Trainer(model, loss_fn, ds.task, ds.num_classes, device, precision, ds.ignore_index, config.grad_clip, compiled,
                      tta_of(config), d, train_forward, hooks, model_dtype, _loss_scale(config, model_dtype))
    crop = tuple(config.crop) if config.crop else None
    augment = Augment.parse(config.augment, crop)
    common = {"device": device, "normalization": ds.normalization, "dtype": model_dtype or torch.float32,
              "channels_last": channels_last, "rank": d.rank, "world": d.world}
    train_loader = BatchLoader(ds.train, config.batch_size, augment=augment, shuffle=True, seed=config.seed,
                               drop_last=_drop_last(len(ds.train), config), alternating_flip=config.alternating_flip, **common)
    val_loader = BatchLoader(ds.val, config.eval_batch_size, **common) if ds.val is not None else None
    test_loader = BatchLoader(ds.test, config.eval_batch_size, **common) if ds.test is not None else None
    return model, trainer, train_loader, val_loader, test_loader


def _speed_hooks(config: TrainConfig, model: nn.Module, d: distributed.Dist) -> list:
    """The trainer hooks the config asks for: whitening-bias freeze, lookahead."""
    from cnnkit.engine.speedpath import FreezeAfter, Lookahead, whitening_biases

    hooks = []
    if config.whiten_bias_epochs is not None:
        if d.active:
            raise CnnkitError("--whiten-bias-epochs cannot be used with --nproc (data-parallel training needs a fixed set "
                              "of trained parameters); leave it out or train in one process")
        hooks.append(FreezeAfter(whitening_biases(model, config.model), config.whiten_bias_epochs))
    if config.lookahead:
        hooks.append(Lookahead(model, config.lookahead_every, config.lookahead_start))
    return hooks


def _loss_scale(config: TrainConfig, model_dtype) -> float:
    """fp16 weights train on the gradient of the summed loss (see Trainer.loss_scale); SGD only,
    because only for SGD is dividing its lr by the same factor exactly the same update."""
    if model_dtype != torch.float16:
        return 1.0
    names = {config.optimizer} | ({config.switch.split(":")[1]} if config.switch and ":" in config.switch else set())
    if names != {"sgd"}:
        raise CnnkitError("--model-dtype fp16 trains with SGD only (as airbench does); use --model-dtype bf16 or fp32 "
                          "for other optimisers")
    return float(config.batch_size)


def _drop_last(n: int, config: TrainConfig) -> bool:
    """Keep the partial last batch, so every training image is seen every epoch, unless it
    would hold one image (batch norm cannot train on a single sample) or the model is
    compiled (a second batch shape means a second compilation)."""
    return n > config.batch_size and (n % config.batch_size == 1 or config.compile)


def _data_init(model: nn.Module, ds, count: int = 5000) -> None:
    """Models with a data-dependent initialisation (a whitening first layer) get it from
    `count` training images spread evenly over the split (folder data is sorted by
    class: the first 5,000 could all be one class), normalised as training normalises
    them. A resumed run then loads its trained weights over it."""
    init = getattr(model, "init_from_data", None)
    if init is None:
        return
    from cnnkit.data.augment import normalize

    index = torch.linspace(0, len(ds.train) - 1, min(count, len(ds.train))).long()
    images = ds.train.load(index.tolist()) if getattr(ds.train, "streaming", False) else ds.train.images[index]  # (n, C, H, W) uint8
    from cnnkit.data.augment import default_normalization

    norm = ds.normalization or default_normalization(images.shape[1])  # as the loader
    init(normalize(images.cpu(), torch.tensor(norm["mean"]), torch.tensor(norm["std"])))


def _start_phase(trainer: Trainer, model, config: TrainConfig, phase, steps_per_epoch: int) -> None:
    groups = _param_groups(model, config)
    s = trainer.loss_scale  # lr / s and decay x s on a loss x s: the same SGD update
    trainer.optimizer = build_optimizer(phase.optimizer, groups, phase.lr / s, config.momentum, config.nesterov,
                                        config.weight_decay * s)
    epochs = phase.end - phase.start
    trainer.total_steps = math.ceil(config.epochs * steps_per_epoch)  # fractional --epochs: the last epoch is cut short
    trainer.schedule, trainer.plateau = build_schedule(
        config.schedule, trainer.optimizer, math.ceil(epochs * steps_per_epoch), int(config.warmup_epochs * steps_per_epoch),
        config.step_epochs * steps_per_epoch)


def _checkpoint(model, ds, config, epoch, history, best, bad_epochs, trainer=None, phase_index=0) -> dict:
    extra = {"epoch": epoch, "history": history, "best": best, "bad_epochs": bad_epochs, "phase": phase_index,
             "config": config.to_dict(), "dataset": config.dataset, "ignore_index": ds.ignore_index}
    if trainer is not None:
        extra["trainer"] = trainer.state_dict()
    return checkpoint_dict(model, ds.input_shape, ds.class_names, ds.normalization, task=ds.task, **extra)


def train(config: TrainConfig, ds=None, progress: Progress = _quiet, resume: bool = False, overwrite: bool = False,
          nested: bool = False) -> dict:
    """Run (or continue, with resume=True and config.out set) one training run. `nested`:
    a trial or sweep variant that cnnkit itself places inside its trials / sweep folder.

    Returns the summary dict that is also written to summary.json."""
    d, device = distributed.init(resolve_device(config.device))
    if not d.is_main:
        progress = _quiet  # rank 0 reports for the job
    if config.log:
        tblog.require()  # before the run directory exists: a missing package leaves nothing behind
    if config.batch_size % d.world:
        raise CnnkitError(f"--batch-size {config.batch_size} is the global batch and must split evenly over {d.world} processes; "
                          f"use a multiple of {d.world}")
    if ds is None:
        with distributed.main_first(d):
            ds = load_dataset(config.dataset, data_options(config))
    run = RunDir(d.broadcast(str(config.out or default_out(config))))  # one name, though the ranks' clocks differ
    outputs.check_outside(run.path, outputs.dataset_folders(config.dataset))  # the write rule (cnnkit.outputs)
    if not resume and getattr(config, "weights", None):
        outputs.check_inputs_not_inside(run.path, [config.weights])
    # Rank 0 owns the folder for the run's life (a second writer gets RunBusy naming its PID).
    distributed.on_main(d, run.acquire if resume else (lambda: run.create(overwrite, nested)))
    try:
        with tblog.logging(config.log if d.is_main else None, run.path, progress) as progress:  # rank 0 logs
            return _train_in(run, config, ds, d, device, progress, resume)
    except BaseException as e:
        # A new run that failed before its first epoch leaves nothing behind that blocks a retry
        # (Ctrl-C keeps last.pt of epoch 0: --resume works from it).
        if d.is_main and not resume and not isinstance(e, Interrupted) and not run.file("metrics.csv").exists():
            run.abandon()
        raise
    finally:
        if d.is_main:
            run.release()


def _train_in(run: RunDir, config: TrainConfig, ds, d: distributed.Dist, device, progress: Progress, resume: bool) -> dict:
    config.out = str(run.path)
    set_deterministic(config.deterministic)
    seed_everything(config.seed)
    ckpt = _load_shared(run.file("last.pt"), d) if resume else None
    model, trainer, train_loader, val_loader, test_loader = _setup(config, ds, device, d, resume, ckpt and ckpt["model"],
                                                                   run.path)
    phases = parse_switch(config.switch, config.epochs, config.optimizer, config.lr)
    steps = len(train_loader)
    history: list[dict] = []
    best, bad_epochs, start_epoch, phase_index = -math.inf, 0, 0, 0
    if resume:
        model.load_state_dict(ckpt["state_dict"])
        start_epoch, history, best, bad_epochs = ckpt["epoch"], list(ckpt["history"]), ckpt["best"], ckpt["bad_epochs"]
        # The optimiser of the phase the last finished epoch used; the loop switches
        # at the phase boundary exactly as an uninterrupted run does.
        phase_index = ckpt.get("phase", 0)
        _start_phase(trainer, model, config, phases[phase_index], steps)
        trainer.load_state_dict(ckpt["trainer"])
        if d.is_main:  # config.json says what the run is now (e.g. --epochs raised on resume)
            run.write_json("config.json", config.to_dict())
    else:
        _start_phase(trainer, model, config, phases[0], steps)
        if d.is_main:
            run.write_json("config.json", config.to_dict())
            _keep_source(run, model)
            save_checkpoint(run.file("last.pt"), _checkpoint(model, ds, config, 0, history, best, 0, trainer, 0))
    metric = "accuracy" if ds.task == "classification" else "dice"
    progress("start", run_dir=run.path, config=config, epochs=config.epochs, start_epoch=start_epoch, batches=steps,
             dataset=ds, device=device, precision=trainer.precision.name)
    epoch = start_epoch
    try:
        for epoch in range(start_epoch, math.ceil(config.epochs)):
            if epoch == phases[phase_index].end:
                phase_index += 1
                _start_phase(trainer, model, config, phases[phase_index], steps)
                progress("switch", epoch=epoch, optimizer=phases[phase_index].optimizer, lr=phases[phase_index].lr)
            lr = trainer.optimizer.param_groups[-1]["lr"] * trainer.loss_scale
            max_steps = trainer.total_steps - epoch * steps  # fewer than `steps` only in the last of fractional epochs
            record = {"epoch": epoch + 1, "lr": lr,
                      **trainer.train_epoch(train_loader, epoch, lambda **b: progress("batch", **b), max_steps=max_steps)}
            if val_loader is not None:
                # choosing the epoch needs no more than mirror TTA; the six-view level is for the test (3x the cost)
                val = trainer.evaluate(val_loader, "mirror" if trainer.tta == "mirror+translate" else None)
                record.update({f"val_{k}": v for k, v in val.items() if not isinstance(v, list)})
                score = headline(ds.task, val)
                if trainer.plateau is not None:
                    trainer.plateau.step(score)
            else:
                score = -record["train_loss"]  # no validation split: the latest epoch is the best
            history.append(record)
            improved = score > best
            if improved:
                best, bad_epochs = score, 0
            else:
                bad_epochs += 1
            if d.is_main:  # every rank holds the same model and metrics; one writes them
                ckpt = _checkpoint(model, ds, config, epoch + 1, history, best, bad_epochs, trainer, phase_index)
                if improved:
                    save_checkpoint(run.file("best.pt"), {k: v for k, v in ckpt.items() if k != "trainer"})
                save_checkpoint(run.file("last.pt"), ckpt)
                run.write_metrics(history)
                _curves(run, history, metric if val_loader is not None else None, ds.task)
            progress("epoch", record=record, improved=improved, metric=metric)
            if config.patience and bad_epochs >= config.patience:
                progress("early_stop", epoch=epoch + 1, patience=config.patience)
                break
    except KeyboardInterrupt:
        done = history[-1]["epoch"] if history else 0
        raise Interrupted(f"interrupted in epoch {epoch + 1}; {run.file('last.pt')} holds epoch {done}. "
                          f"Continue with: cnnkit train --resume {run.path} "
                          f"(from Python: cnnkit.train(resume={str(run.path)!r}))") from None
    d.barrier()  # best.pt is written before any rank reads it back
    return _finish(run, model, trainer, ds, config, history, val_loader, test_loader, progress)


def _keep_source(run: RunDir, model: nn.Module) -> None:
    """A readable copy of the model's own code in the run directory (model-source.py, in the
    folder's manifest), next to the copy every checkpoint holds: the run stays self-contained
    after the file moves, changes or is deleted."""
    from cnnkit import outputs
    from cnnkit.engine.rundir import write_atomic
    from cnnkit.models.source import SOURCE_COPY

    source = model.cnnkit_config.get("source", {})
    code = source.get("code") or (source.get("origin") or {}).get("code")
    original = source.get("path") or (source.get("origin") or {}).get("path")
    if code:
        write_atomic(run.file(SOURCE_COPY), code, outputs.SOURCE, inputs=[original] if original else ())


def model_record(model: nn.Module) -> dict:
    """What summary.json says about the network: its kind, file, object and sha256 (not its code)."""
    source = dict(model.cnnkit_config.get("source", {"kind": "registry"}))
    source.pop("code", None)
    if "origin" in source:
        source["origin"] = {k: v for k, v in source["origin"].items() if k != "code"}
    return source


def _load_shared(path: Path, d: distributed.Dist) -> dict:
    """A checkpoint read by rank 0 and sent to every rank (no shared filesystem needed)."""
    return d.broadcast(load_checkpoint(path, map_location="cpu") if d.is_main else None)


def _curves(run: RunDir, history: list[dict], metric: Optional[str], task: str) -> None:
    from cnnkit.viz.curves import plot_curves

    key = metric if metric else ("accuracy" if task == "classification" else "pixel_accuracy")
    plot_curves({run.path.name: history}, run.file("curves.png"), metric=key)


def warmup_split(history: list[dict]) -> dict:
    """Epoch 1's time split into warm-up (torch.compile, cuDNN autotuning, first allocations)
    and steady state: steady_images_per_second is the median rate of the later epochs, and
    warmup_seconds what epoch 1 took beyond its images at that rate (0 with one epoch)."""
    if len(history) < 2:
        return {"warmup_seconds": 0.0, "steady_images_per_second": history[0]["train_images_per_second"] if history else None}
    rate = statistics.median(r["train_images"] / r["train_seconds"] for r in history[1:] if r["train_seconds"] > 0)
    first = history[0]
    return {"warmup_seconds": max(0.0, first["train_seconds"] - first["train_images"] / rate), "steady_images_per_second": rate}


def _finish(run, model, trainer, ds, config, history, val_loader, test_loader, progress) -> dict:
    """Evaluate the test split once, on the best checkpoint, and write summary.json."""
    d = trainer.dist
    best_epoch = None
    if d.broadcast(run.file("best.pt").exists()):
        best = _load_shared(run.file("best.pt"), d)
        model.load_state_dict(best["state_dict"])
        best_epoch = best["epoch"]
    summary = {
        "task": ds.task,
        "model": config.model,
        "model_source": model_record(model),
        "dataset": config.dataset,
        "epochs_run": len(history),
        "train_seconds": sum(r["train_seconds"] for r in history),
        "train_images_per_second": sum(r["train_images"] for r in history) / max(sum(r["train_seconds"] for r in history), 1e-9),
        "device": str(trainer.device),
        "precision": trainer.precision.name,
        "model_dtype": str(trainer.model_dtype or torch.float32).replace("torch.", ""),
        **warmup_split(history),
        "processes": d.world,
        "run_dir": str(run.path),
        "environment": environment(trainer.device),  # what `cnnkit report` shows to reproduce the run
    }
    # the epoch best.pt holds: the one model selection chose, not recomputed here
    best_row = next((r for r in history if r["epoch"] == best_epoch), None)
    if best_row is not None:
        summary["best_epoch"] = best_epoch
    if ds.task == "classification":
        summary["best_val_accuracy"] = best_row.get("val_accuracy") if best_row else None
    else:
        summary["best_val_dice"] = best_row.get("val_dice") if best_row else None
    if test_loader is not None:
        test = trainer.evaluate(test_loader)
        if ds.task == "classification":
            summary.update(test_accuracy=test["accuracy"], test_per_class_accuracy=dict(zip(ds.class_names, test["per_class_accuracy"])),
                           test_confusion_matrix=test["confusion_matrix"])
            if "top5_accuracy" in test:
                summary["test_top5_accuracy"] = test["top5_accuracy"]
        else:
            summary.update(test_dice=test["dice"], test_iou=test["iou"], test_pixel_accuracy=test["pixel_accuracy"],
                           test_dice_per_class=dict(zip(ds.class_names, test["dice_per_class"])),
                           test_iou_per_class=dict(zip(ds.class_names, test["iou_per_class"])),
                           # per-image macro Dice over the test images (std over images, N not N-1)
                           test_dice_mean=test["dice_mean"], test_dice_std=test["dice_std"],
                           test_dice_min=test["dice_min"], test_dice_max=test["dice_max"],
                           test_iou_min=test["iou_min"], test_images=test["images"])
        summary["test_loss"] = test.get("loss")
    if d.is_main:
        run.write_json("summary.json", summary)
    progress("end", summary=summary)
    return summary


def resume_config(run_dir: str | Path, epochs: Optional[int] = None, given: Optional[dict] = None) -> TrainConfig:
    """The config of the run in `run_dir`, to continue it (optionally for more epochs).

    `given` holds the options the user set alongside --resume (and 'model'): a resumed
    run keeps the settings that define it, so any that differ are refused, naming them."""
    run = RunDir(run_dir)
    if not run.path.is_dir():
        what = "is a file, not a run directory" if run.path.exists() else "no such run directory"
        raise CnnkitError(f"--resume {run_dir}: {what}; give the folder `cnnkit train --out` wrote")
    config = TrainConfig.from_dict(run.read_json("config.json"))
    if not run.file("last.pt").exists():
        raise CnnkitError(f"{run.path} has no last.pt to resume from; start a new run")
    wanted = {k: v for k, v in (given or {}).items() if v is not None and k not in NOT_DEFINING}
    changed = differences(config.to_dict(), dict(config.to_dict(), **wanted), sorted(wanted))
    if changed:
        raise CnnkitError(f"--resume {run.path}: this run was trained with other settings ({'; '.join(changed)}); "
                          "a resumed run keeps its own. Drop those options to continue it, or start a fresh run "
                          "with another --out")
    out = (given or {}).get("out")
    if out is not None and Path(out).resolve() != run.path.resolve():
        raise CnnkitError(f"--out {out} with --resume {run.path}: a resumed run continues in its own folder; "
                          "drop --out (or start a fresh run there without --resume)")
    config.out = str(run.path)
    finished = run.file("summary.json").exists()
    have = f"{config.epochs:g}"  # epochs may be fractional (9.9)
    if epochs is not None and epochs < config.epochs:
        raise CnnkitError(f"--epochs {epochs:g} is fewer than the run's {have}; give --epochs more than {have} to train it further")
    if finished and (epochs is None or epochs == config.epochs):
        raise CnnkitError(f"{run.path} already finished its {have} epochs; give --epochs N (more than {have}) "
                          "with --resume to train it further, or start a new run")
    if epochs is not None:
        config.epochs = epochs
    return config


def run_trials(config: TrainConfig, ds, trials: int, progress: Progress = _quiet, overwrite: bool = False) -> dict:
    """K runs with seeds seed .. seed+K-1 (the data split stays fixed), one run dir
    each under config.out, and their mean +/- std (coursework tables compare means of 3 trials)."""
    base = Path(config.out or default_out(config))
    if isinstance(config.model_object, nn.Module):
        raise CnnkitError(f"{trials} trials need a fresh {config.model} each: pass the class or the function that builds "
                          f"it (e.g. cnnkit.train({config.model}, ...)), not a model object")
    d = distributed.from_env()
    base_run = RunDir(base)  # locked for the whole set; --overwrite clears old trial folders and trials.json
    outputs.check_outside(base, outputs.dataset_folders(config.dataset))
    distributed.on_main(d, lambda: base_run.create(overwrite))
    results = []
    try:
        for k in range(trials):
            c = TrainConfig.from_dict(dict(config.to_dict(), seed=config.seed + k, out=str(base / f"trial-{k + 1}")))
            c.model_object = config.model_object
            progress("trial", trial=k + 1, trials=trials, seed=c.seed)
            if d.is_main:  # listed in the set's manifest: --overwrite of the set clears it
                outputs.record_written(base, f"trial-{k + 1}", outputs.FOLDER)
            results.append(train(c, ds, progress, overwrite=overwrite, nested=True))
    finally:
        if d.is_main:
            base_run.release()
    keys = [k for k in ("best_val_accuracy", "test_accuracy", "best_val_dice", "test_dice", "test_iou", "train_seconds")
            if all(isinstance(r.get(k), (int, float)) for r in results)]
    table = {k: {"mean": statistics.fmean(r[k] for r in results),
                 "std": statistics.stdev([r[k] for r in results]) if trials > 1 else 0.0,
                 "values": [r[k] for r in results]} for k in keys}
    out = {"task": ds.task, "trials": trials, "seeds": [config.seed + k for k in range(trials)], "metrics": table,
           "runs": [r["run_dir"] for r in results]}
    if distributed.from_env().is_main:
        RunDir(base).write_json("trials.json", out)
    return out
