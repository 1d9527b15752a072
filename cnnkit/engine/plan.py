"""Planning a training run: the flags, the data, the recipe and the policy become one
TrainConfig, before anything is built or written.

    config, ds = make_config("convnet", "shapes", {"epochs": 3})

Every setting is layered the same way: TrainConfig's defaults < the recipe (picked from
the data and the model unless --recipe names one) < the policy's choices for this data
(engine/policy.py: batch size, validation split, clipping, ...; each printed with its
reason) < the flags the user gave, which always win. The data is loaded once here and
handed on to engine/build.py and engine/run.py; the model is built once here on the
meta device (no memory) for the policy to read and for the checks that a run can fit.
"""

from __future__ import annotations

import copy
import datetime
import os
from pathlib import Path
from typing import Optional

import torch
import torch.nn as nn

from cnnkit.data.catalog import DataOptions, dataset_task, load_dataset
from cnnkit.data.splits import hold_out_validation
from cnnkit.engine import distributed, policy
from cnnkit.engine.config import TrainConfig
from cnnkit.engine.device import resolve_device
from cnnkit.engine.recipes import recipe
from cnnkit.errors import CnnkitError


def make_config(model, dataset: str, overrides: dict, loaded: Optional[dict] = None) -> tuple[TrainConfig, object]:
    """The whole plan of a run: (its TrainConfig, its loaded dataset). `model` is any form
    `cnnkit.models.source.build_model` takes (a registered name, PATH.py:NAME, a layer
    spec, a Python class / builder / instance); `overrides` the flags the user gave.

    `loaded` ({data options: dataset}) lets a sweep plan every variant on one loaded copy
    of the data; each variant still gets its own validation hold-out (a shallow copy)."""
    from cnnkit.models.source import kind_of, model_label
    from cnnkit.registry import get_spec

    ref, model = model, model_label(model)
    spec = get_spec(model) if kind_of(ref) == "registry" else None  # the one registry look-up of a run
    _check_task(spec, model, dataset, overrides)
    given = {k for k, v in overrides.items() if v is not None}

    # 1. defaults < flags, for the data options only; no validation split yet unless
    #    given (the policy sizes it to the data, step 4)
    data_flags = TrainConfig.build(model, {}, dict(overrides, dataset=dataset, **({} if "val_split" in given else {"val_split": 0.0})))
    data_flags.validate()
    d, device = distributed.init(resolve_device(data_flags.device))
    key = (dataset, repr(data_options(data_flags)))
    ds = _load(dataset, data_flags, key, loaded, d)

    # 2. the model as it will be built (meta device), for the policy to read its layers
    probe = _probe_model(ref, ds, overrides.get("model_options"), dataset)
    arch = policy.architecture(display_name(model), probe)

    # 3. defaults < recipe < flags (the CIFAR-like threshold counts every training image,
    #    before validation is held out)
    name, why = overrides.get("recipe"), ""
    if not name:
        name, why = policy.pick_recipe(ds.task, ds.input_shape, len(ds.train) + len(ds.val or []), arch)
    values = recipe(name)
    config = TrainConfig.build(model, values, dict(overrides, dataset=dataset, recipe=name))
    if kind_of(ref) == "python":
        config.model_object = ref

    # 4. < policy: what the data and the model call for, only where no flag was given
    config.policy = policy.decide(config, values, ds, given, d.world, device, arch, why)
    if config.weights:  # checked against the model now, before anything trains
        config.policy["notes"] += _check_weights(config, probe)
    if ds.val is None and config.val_split > 0 and "val_split" not in given:
        ds = _held_out(ds, config.val_split, (key, config.val_split), loaded)
    config.validate()

    # 5. the run must fit: crops the model takes, activations the device can hold
    if config.crop:
        _check_crop_fits(probe, ref, ds, config.crop)
    if kind_of(ref) == "registry":  # the user's own network ran once for real already (_probe_model)
        _check_activations_fit(probe, ref, ds, config, device)
    if config.pretrained and (spec is None or "pretrained" not in spec.options()):
        raise CnnkitError(f"{display_name(config.model)} has no pretrained weights; only models with a 'pretrained' "
                          "option do (e.g. resnet18)")
    return config, ds


def _check_task(spec, model: str, dataset: str, overrides: dict) -> None:
    task = dataset_task(dataset)
    if spec is not None and spec.task != task:
        raise CnnkitError(f"{model} is a {spec.task} model but {dataset} is a {task} dataset; "
                          f"pick a {task} model (cnnkit models --task {task})")
    if task == "classification" and overrides.get("ignore_index") is not None:
        from cnnkit.data.catalog import ignore_index_refusal

        raise CnnkitError(ignore_index_refusal(dataset))


def _load(dataset: str, config: TrainConfig, key, loaded: Optional[dict], d: distributed.Dist):
    if loaded is not None and key in loaded:
        return loaded[key]
    with distributed.main_first(d):  # a download or cache write happens once
        ds = load_dataset(dataset, data_options(config))
    if loaded is not None:
        loaded[key] = ds
    return ds


def _held_out(ds, fraction: float, key, loaded: Optional[dict]):
    """The validation split the policy sized, held out as load_dataset(val_split=fraction)
    does (data/splits.hold_out_validation), from a shallow copy: the loaded data is shared."""
    if loaded is not None and key in loaded:
        return loaded[key]
    ds = hold_out_validation(copy.copy(ds), fraction, DataOptions().split_seed)
    if loaded is not None:
        loaded[key] = ds
    return ds


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


def _check_weights(config: TrainConfig, probe: nn.Module) -> list[str]:
    """--weights FILE against the model as it will be built (shapes only); the lines saying
    which layers stay random."""
    from cnnkit.models.weights_file import match, read_weights

    if config.pretrained:
        raise CnnkitError("--weights FILE and --pretrained both choose the starting weights; give one")
    state, read = read_weights(config.weights)
    loaded, notes = match(probe, state, config.weights)
    return [f"weights from {config.weights}: {len(loaded)} tensors checked against {config.model}"] + read + notes


def _check_crop_fits(probe: nn.Module, ref, ds, crop) -> None:
    """Training sees crops, evaluation whole images: the model must take both sizes. A
    model with a fixed-size classifier (flatten then Linear) takes only the size it was
    built for; found here, not as a shape error mid-epoch."""
    from cnnkit.models.source import kind_of

    c, h, w = ds.input_shape
    try:
        with torch.device("meta" if kind_of(ref) == "registry" else "cpu"), torch.no_grad():
            probe.eval()(torch.zeros(2, c, *crop))  # (2, C, crop_h, crop_w)
    except RuntimeError:
        raise CnnkitError(
            f"--crop {crop[0]}x{crop[1]}: {display_name(ref)} built for {h}x{w} images cannot take {crop[0]}x{crop[1]} crops "
            f"(its classifier has a fixed input size) while evaluation sees whole {h}x{w} images; drop --crop, "
            f"resize instead with --image-size, or use a model with global pooling") from None
    finally:
        probe.train()


def _check_activations_fit(probe: nn.Module, ref, ds, config: TrainConfig, device) -> None:
    """Refuse a run whose activations alone cannot fit in the device's memory, before any
    is allocated (a --image-size of 100000 would otherwise fail inside the first step).

    Backward keeps every layer's output: at least 2 bytes (bf16) x batch x the elements of
    every leaf module's output, counted by one forward on the meta device (no memory).
    A lower bound, so only a run that can never fit is refused."""
    c = ds.input_shape[0]
    h, w = config.crop or ds.input_shape[1:]
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
        probe.train()
    batch = min(config.batch_size, len(ds.train))  # a batch never holds more images than there are
    needed = 2 * batch * elements[0]
    total = _device_memory(device)
    if total and needed > total:
        where = "GPU" if torch.device(device).type == "cuda" else "machine"
        raise CnnkitError(f"training {display_name(ref)} on {h}x{w} images with batch size {batch} keeps at least "
                          f"{needed / 2**30:,.1f} GiB of activations for backward, more than this {where}'s "
                          f"{total / 2**30:,.0f} GiB; use a smaller --batch-size, --image-size, or --crop")


def _device_memory(device) -> Optional[int]:
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_properties(device).total_memory
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def display_name(model) -> str:
    from cnnkit.models.source import display_name as name

    return name(model)


def data_options(config: TrainConfig) -> DataOptions:
    return DataOptions(data_dir=config.data_dir, val_split=config.val_split, test_split=config.test_split,
                       image_size=tuple(config.image_size) if config.image_size else None, ignore_index=config.ignore_index)


def default_out(config: TrainConfig) -> Path:
    data = config.dataset.split(":")[-1].rstrip("/").split("/")[-1] or "data"
    return Path("runs") / f"{display_name(config.model)}-{data}-{datetime.datetime.now():%Y%m%d-%H%M%S}"
