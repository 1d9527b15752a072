"""Building a planned run's parts, each once: the model (on its device, in its dtype),
the loss, the Trainer (with the optimiser's parameter groups and the speed-run hooks),
and the train / val / test loaders.

    parts = build(config, ds, device, d)        # config, ds: engine/plan.py's make_config
    parts.trainer.start_phase(phase, len(parts.train_loader))

A resumed run passes last.pt's model record (`entry`): its network is rebuilt as it was
trained (a model file's kept source, not the file as it is now) and its own weights are
loaded over it later, not the --weights file again.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch
import torch.nn as nn

from cnnkit.data.augment import Augment
from cnnkit.data.loader import BatchLoader
from cnnkit.engine import airbench, distributed
from cnnkit.engine.config import TrainConfig
from cnnkit.engine.device import resolve_model_dtype, resolve_precision
from cnnkit.engine.losses import build_loss, class_weights_from
from cnnkit.engine.trainer import Trainer
from cnnkit.errors import CnnkitError


@dataclass
class Parts:
    """What one run trains with."""

    model: nn.Module  # the module whose state_dict is saved (not the DDP / compiled wrapper)
    trainer: Trainer
    train_loader: BatchLoader
    val_loader: Optional[BatchLoader]
    test_loader: Optional[BatchLoader]


def build(config: TrainConfig, ds, device: torch.device, d: distributed.Dist, entry: Optional[dict] = None,
          run_dir: Optional[Path] = None) -> Parts:
    """The run's parts; `entry` (a resumed run's model record) rebuilds the network it trained."""
    precision = resolve_precision(config.precision, device)
    channels_last = config.channels_last if config.channels_last is not None else device.type == "cuda"
    model = build_model(config, ds.input_shape, ds.num_classes, entry, run_dir, load_weights=entry is None)
    _data_init(model, ds)
    if config.bn_momentum is not None:
        airbench.set_bn_momentum(model, config.bn_momentum)
    model_dtype = resolve_model_dtype(config.model_dtype, device)
    model = _placed(model, config, device, d, channels_last, model_dtype)
    hooks = speed_hooks(config, model, d)
    loss_fn = build_loss(ds.task, config.loss, ds.num_classes, config.label_smoothing, _class_weights(config, ds, device),
                         ds.ignore_index)
    compiled = torch.compile(model) if config.compile else None
    train_forward = None
    if d.active:
        ddp = distributed.wrap_model(model, device, d)
        train_forward = torch.compile(ddp) if config.compile else ddp
    trainer = Trainer(model=model, loss_fn=loss_fn, task=ds.task, num_classes=ds.num_classes, device=device,
                      precision=precision, config=config,
                      param_groups=lambda: param_groups(model, config), ignore_index=ds.ignore_index,
                      compiled=compiled, dist=d, train_forward=train_forward, hooks=hooks, model_dtype=model_dtype)
    crop = tuple(config.crop) if config.crop else None
    common = {"device": device, "normalization": ds.normalization, "dtype": model_dtype or torch.float32,
              "channels_last": channels_last, "rank": d.rank, "world": d.world}
    train_loader = BatchLoader(ds.train, config.batch_size, augment=Augment.parse(config.augment, crop), shuffle=True,
                               seed=config.seed, drop_last=drop_last(len(ds.train), config),
                               alternating_flip=config.alternating_flip, **common)
    val_loader = BatchLoader(ds.val, config.eval_batch_size, **common) if ds.val is not None else None
    test_loader = BatchLoader(ds.test, config.eval_batch_size, **common) if ds.test is not None else None
    return Parts(model, trainer, train_loader, val_loader, test_loader)


def _placed(model: nn.Module, config: TrainConfig, device, d: distributed.Dist, channels_last: bool, model_dtype) -> nn.Module:
    """The model on `device`, in its memory format and dtype (batch norm synchronised across ranks with --sync-bn)."""
    if config.sync_bn and d.active:
        if device.type != "cuda":
            raise CnnkitError("--sync-bn needs CUDA (PyTorch's SyncBatchNorm); on CPU each process keeps its own batch statistics")
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # same state_dict keys: checkpoints load into plain BN
    model = model.to(device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    return airbench.to_model_dtype(model, model_dtype)


def build_model(config: TrainConfig, input_shape, num_classes: int, entry: Optional[dict] = None,
                run_dir: Optional[Path] = None, load_weights: bool = True) -> nn.Module:
    """The run's model (cnnkit.models.source.build_model), or with `entry` (a resumed run's
    model record) the network that checkpoint was trained as. engine/plan.py has checked
    already that a --pretrained model has pretrained weights."""
    from cnnkit.models import source
    from cnnkit.models.init import init_weights

    options = dict(config.model_options)
    ref = config.model_object if config.model_object is not None else config.model
    if config.pretrained:
        options["pretrained"] = True
    if entry is not None and source.kind_of(ref) != "registry":
        model = source.rebuild(entry, run_dir)
    else:
        model = source.build_model(ref, num_classes=num_classes, input_shape=tuple(input_shape), options=options)
    if config.init:
        init_weights(model, config.init)
    if config.weights and load_weights:  # after --init: the file's weights win where they fit
        from cnnkit.models.weights_file import load_into

        load_into(model, config.weights)
    return model


def _class_weights(config: TrainConfig, ds, device) -> Optional[torch.Tensor]:
    """--class-weights as a (K,) tensor on the device: 'balanced' from the training targets, or the numbers given."""
    if not config.class_weights:
        return None
    if config.class_weights == "balanced":
        weights = class_weights_from(ds.train.targets, ds.num_classes, ds.ignore_index)
    else:
        try:
            weights = torch.tensor([float(v) for v in config.class_weights.split(",")])
        except ValueError:
            raise CnnkitError("--class-weights takes 'balanced' or numbers, e.g. 1,2.5,1") from None
        if len(weights) != ds.num_classes:
            raise CnnkitError(f"--class-weights has {len(weights)} values but the data has {ds.num_classes} classes")
    return weights.to(device)


def param_groups(model: nn.Module, config: TrainConfig) -> list[dict]:
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
        shifts = airbench.batchnorm_biases(model)
        biases = [{"params": [p for p in g["params"] if id(p) in shifts], "lr_scale": g["lr_scale"] * config.bias_lr_scale,
                   "wd_scale": 1.0 / config.bias_lr_scale} for g in groups]
        groups = biases + [{"params": [p for p in g["params"] if id(p) not in shifts], "lr_scale": g["lr_scale"]} for g in groups]
    return [g for g in groups if g["params"]]


def speed_hooks(config: TrainConfig, model: nn.Module, d: distributed.Dist) -> list:
    """The trainer hooks the config asks for: whitening-bias freeze, lookahead."""
    hooks = []
    if config.whiten_bias_epochs is not None:
        if d.active:
            raise CnnkitError("--whiten-bias-epochs cannot be used with --nproc (data-parallel training needs a fixed set "
                              "of trained parameters); leave it out or train in one process")
        hooks.append(airbench.FreezeAfter(airbench.whitening_biases(model, config.model), config.whiten_bias_epochs))
    if config.lookahead:
        hooks.append(airbench.Lookahead(model, config.lookahead_every, config.lookahead_start))
    return hooks


def drop_last(n: int, config: TrainConfig) -> bool:
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
    from cnnkit.data.augment import default_normalization, normalize

    index = torch.linspace(0, len(ds.train) - 1, min(count, len(ds.train))).long()
    images = ds.train.load(index.tolist()) if getattr(ds.train, "streaming", False) else ds.train.images[index]  # (n, C, H, W) uint8
    norm = ds.normalization or default_normalization(images.shape[1])  # as the loader
    init(normalize(images.cpu(), torch.tensor(norm["mean"]), torch.tensor(norm["std"])))
