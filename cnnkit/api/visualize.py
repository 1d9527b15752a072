"""`cnnkit.visualize`: every `cnnkit visualize` figure as a Python function.

Each function returns a matplotlib Figure (not attached to pyplot, so nothing piles up
in a notebook) whose `fig.cnnkit` dict is exactly what the command prints with
`--json`. `out=PATH` also writes the PNG there (`fig.cnnkit["path"]`); `out=True`
writes it where the command would by default; without `out` nothing is written and
`path` is None. The commands call these functions and nothing else.

    >>> fig = cnnkit.visualize.attribution("runs/c/best.pt", "cat.png", method="gradcam")
    >>> fig.cnnkit["layer"], fig.cnnkit["map_size"]

torch is imported inside the functions: importing this module stays cheap.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

from cnnkit.errors import CnnkitError

Out = Union[str, Path, bool, None]


def _finish(fig, info: dict, out: Out, default: Path, inputs=(), what: str = "visualize"):
    """Save when asked (never over one of the figure's `inputs` or a file of the user's:
    cnnkit.outputs), attach the --json dict, return the figure."""
    path = None
    if out:
        from cnnkit.viz.save import save_figure

        path = save_figure(fig, default if out is True else Path(out), tight=False, inputs=inputs, what=what)
    fig.cnnkit = {"path": None if path is None else str(path), **info}
    return fig


def _early(out: Out, inputs=()) -> None:
    """An explicit --out the write rule refuses is refused before any work (cnnkit.outputs)."""
    if out and out is not True:
        from cnnkit.outputs import FIGURE, check_output

        check_output(out, FIGURE, inputs)


def _outside_data(out: Out, ckpt) -> None:
    """A figure that searches the training data is not written into that data's folder."""
    if out and out is not True:
        from cnnkit.outputs import check_outside, dataset_folders

        check_outside(out, dataset_folders(ckpt.dataset))


def _load(checkpoint, load: dict | None = None, dataset: Optional[str] = None, data_dir=None):
    """(Checkpoint, model) for any checkpoint; `load` holds the flags for weights from
    another training loop (model, options, input, mean, std, classes, trust_checkpoint);
    `dataset` (--dataset) replaces the recorded dataset that figures search for top images,
    and gives such weights its input size and class names, as evaluate's --dataset does."""
    from cnnkit.engine.inference import load_with_data
    from cnnkit.engine.rebuild import load_options

    ckpt, model, _ = load_with_data(checkpoint, "cpu", load_options(**(load or {})), dataset, data_dir)
    if dataset:
        ckpt.dataset = dataset
    return ckpt, model


# maximize with --top > 0 on weights that record no dataset: said, not silently left out
_NO_TOP = "no training images to search: these weights record no dataset; pass --dataset (e.g. --dataset folder:cifar10) or --top 0"




def _note_text(notes: list[str]) -> str:
    return "; ".join(notes)


def curves(runs: Union[str, Path, list], metric: Optional[str] = None, out: Out = None):
    """Loss and `metric` per epoch of one or several run directories, overlaid (train dashed,
    validation solid). metric defaults to accuracy, dice or pixel_accuracy, whichever the
    runs recorded. Default file: RUN/curves.png, or FIRST_RUN/curves-compare.png."""
    from cnnkit.engine.rundir import read_metrics
    from cnnkit.viz.curves import curves_figure, run_labels

    runs = [runs] if isinstance(runs, (str, Path)) else list(runs)
    if not runs:
        raise CnnkitError("give at least one run directory")
    inputs = [Path(r) / "metrics.csv" for r in runs]
    _early(out, inputs)
    if any((Path(r) / "sweep.json").is_file() or (Path(r) / "trials.json").is_file() for r in runs):
        return _variant_curves(runs, metric, out)
    data = {}
    for r, label in zip(runs, run_labels(runs)):
        f = Path(r) / "metrics.csv"
        if not f.is_file():
            raise CnnkitError(f"{r} has no metrics.csv; give run directories written by `cnnkit train`")
        data[label] = read_metrics(f)
    keys = {k for rows in data.values() for row in rows for k in row}
    chosen = metric or next((m for m in ("accuracy", "dice", "pixel_accuracy") if f"val_{m}" in keys or f"train_{m}" in keys), "accuracy")
    if f"val_{chosen}" not in keys and f"train_{chosen}" not in keys:
        raise CnnkitError(f"no {chosen!r} column in these runs; columns: {', '.join(sorted(keys))}")
    fig = curves_figure(data, chosen)
    default = Path(runs[0]) / ("curves-compare.png" if len(runs) > 1 else "curves.png")
    return _finish(fig, {"metric": chosen, "runs": list(data)}, out, default, inputs, "visualize curves")


def _variant_curves(paths: list, metric: Optional[str], out: Out):
    """Sweeps and --trials folders: one line per variant, the mean over its trials, with a
    band from the lowest to the highest trial. Default file: FIRST/curves-variants.png."""
    from cnnkit.engine.rundir import read_metrics
    from cnnkit.experiments.compare import collect
    from cnnkit.viz.curves import variant_curves_figure

    variants: dict[str, list[list[dict]]] = {}
    for v in collect([str(p) for p in paths]):
        trials = [read_metrics(Path(r) / "metrics.csv") for r in v["runs"] if (Path(r) / "metrics.csv").is_file()]
        if trials:
            name = v["name"] if v["name"] not in variants else f"{v['name']} ({len(variants) + 1})"
            variants[name] = trials
    if not variants:
        raise CnnkitError("no run of these sweeps has finished an epoch yet (no metrics.csv); let it train first")
    keys = {k for trials in variants.values() for rows in trials for row in rows for k in row}
    chosen = metric or next((m for m in ("accuracy", "dice", "pixel_accuracy") if f"val_{m}" in keys or f"train_{m}" in keys), "accuracy")
    if f"val_{chosen}" not in keys and f"train_{chosen}" not in keys:
        raise CnnkitError(f"no {chosen!r} column in these runs; columns: {', '.join(sorted(keys))}")
    fig = variant_curves_figure(variants, chosen)
    info = {"metric": chosen, "runs": list(variants), "variants": [{"name": n, "trials": len(t)} for n, t in variants.items()],
            "band": "lowest to highest trial"}
    return _finish(fig, info, out, Path(paths[0]) / "curves-variants.png", [], "visualize curves")


def filters(checkpoint, layer: Optional[str] = None, per_filter: bool = False, out: Out = None, trust_checkpoint: bool = False):
    """The weights of a conv layer (default: the model's first conv) on one symmetric scale,
    dead filters crossed out. Read from the weights alone, so a state dict saved by any
    training loop works without its model: every 4-D weight is a conv layer, named by its
    key without '.weight', and the first in the file is the default.
    Default file: CKPT_DIR/<ckpt>-filters-<layer>.png."""
    from cnnkit.engine.checkpoint import read_checkpoint
    from cnnkit.models.source import layer_hints
    from cnnkit.viz.filters import MAX_FILTER_ROWS, MAX_INPUT_COLUMNS, dead_filters, filters_figure, sample, weight_of

    _early(out, [checkpoint])
    ck = read_checkpoint(checkpoint, trust_checkpoint)
    # a registered model's first conv; otherwise (the student's own network, weights only) the file's first
    first = None if ck.foreign else layer_hints(ck.stored["model"])[0]
    name, weights = weight_of(ck.state_dict, layer, first, Path(checkpoint).name)  # (O, C, kh, kw)
    dead = dead_filters(weights)
    title = f"{ck.model_name} {name}" if not ck.foreign else f"{Path(checkpoint).name} {name}"
    fig = filters_figure(weights, title, per_filter, dead)
    info = {"layer": name, "shape": list(weights.shape), "dead_filters": [int(i) for i in dead.nonzero().flatten()],
            "notes": list(ck.notes)}
    if weights.shape[1] not in (1, 3):  # a deep layer: the drawn sample
        info |= {"filters_shown": sample(weights.shape[0], MAX_FILTER_ROWS),
                 "input_channels_shown": sample(weights.shape[1], MAX_INPUT_COLUMNS)}
    return _finish(fig, info, out, Path(checkpoint).with_name(f"{Path(checkpoint).stem}-filters-{name}.png"),
                   [checkpoint], "visualize filters")


def features(checkpoint, image, layers: Optional[list[str]] = None, top: int = 16, out: Out = None, **load):
    """Feature maps of `layers` for one image (default: the first conv and the last layer whose
    map is larger than 1x1 at this input). Default file: CKPT_DIR/<image>-features.png."""
    from cnnkit.engine.inference import image_notes, prepare_image, source_shape
    from cnnkit.models.source import first_conv, layer_hints
    from cnnkit.viz.features import feature_maps, feature_maps_figure
    from cnnkit.viz.target_layer import spatial_layer

    if top < 1:
        raise CnnkitError(f"--top must be at least 1, not {top}")
    _early(out, [checkpoint, image])
    ckpt, model = _load(checkpoint, load)
    source = source_shape(image)
    x, img = prepare_image(ckpt, image)
    conv_hint, cam_hint = layer_hints(ckpt.model_record)  # a registered model's own; found in other networks
    if isinstance(layers, str):
        layers = [layers]
    if not layers:
        deep, _ = spatial_layer(model, x, cam_hint)
        layers = list(dict.fromkeys([first_conv(model, conv_hint), deep]))
    maps = feature_maps(model, x, layers)  # {layer: (C, H, W)}
    notes = image_notes(source, tuple(img.shape))
    title = f"{ckpt.title()}: {Path(image).name}" + (f"\n{_note_text(notes)}" if notes else "")
    notes = ckpt.notes + notes
    fig = feature_maps_figure(maps, top, img, title)
    info = {"layer": layers[-1], "layers": {n: list(m.shape) for n, m in maps.items()}, "notes": notes}
    return _finish(fig, info, out, Path(checkpoint).with_name(f"{Path(image).stem}-features.png"),
                   [checkpoint, image], "visualize features")


def attribution(checkpoint, image, method: str = "saliency", target: Optional[int] = None, layer: Optional[str] = None,
                out: Out = None, **load):
    """Why the model decided (Captum): saliency, guided-backprop, deconvolution, gradcam,
    integrated-gradients or occlusion, for class `target` (default: the predicted one).
    Default file: CKPT_DIR/<image>-<method>.png."""
    from cnnkit.viz.attribution import METHODS, attribution_figure, unit
    from cnnkit.viz.explain_data import explain_image

    if method not in METHODS:
        raise CnnkitError(f"unknown method {method!r}; choose one of {', '.join(METHODS)}")
    if layer and method != "gradcam":  # the pixel methods explain the input, not a layer: refuse rather than ignore it
        raise CnnkitError(f"--layer is used by --method gradcam only; {method} attributes to the input pixels")
    _early(out, [checkpoint, image])
    ckpt, model = _load(checkpoint, load)
    r = explain_image(ckpt, model, image, method, target, layer)
    where = f" on {r['layer']} ({r['map_size'][0]}x{r['map_size'][1]} map, upsampled)" if r["layer"] else ""
    title = (f"{method}{where} for class {r['target_name']} (p = {r['probability']:.2f}; predicted {r['predicted_name']})"
             + (f"\n{_note_text(r['notes'])}" if r["notes"] else ""))
    label = unit(method, r["target_name"])
    fig = attribution_figure(r["image"], r["map"], title, label, signed=method != "gradcam")
    info = {"method": method, "layer": r["layer"], "map_size": r["map_size"], "target": r["target"], "class_name": r["target_name"],
            "probability": r["probability"], "predicted": r["predicted_name"], "unit": label, "notes": ckpt.notes + r["notes"]}
    return _finish(fig, info, out, Path(checkpoint).with_name(f"{Path(image).stem}-{method}.png"),
                   [checkpoint, image], "visualize attribution")


def segmentation(checkpoint, image, mask=None, out: Out = None, **load):
    """Image, true mask (with `mask`), predicted mask and overlay in the shared palette, through
    the checkpoint's evaluation pipeline; with a mask, the image's Dice / IoU / pixel accuracy
    (equal to `cnnkit evaluate`'s per-image numbers). Default file: CKPT_DIR/<image>-segmentation.png."""
    from cnnkit.viz.palette import palette
    from cnnkit.viz.segment_data import segment_image
    from cnnkit.viz.segmentation import segmentation_figure

    _early(out, [checkpoint, image, mask])
    ckpt, model = _load(checkpoint, load)
    r = segment_image(ckpt, model, image, mask)
    names = ckpt.class_names or []
    ignore = ckpt.ignore_index
    pal = palette(max(len(names), int(r["pred"].max()) + 1), ignore)
    title = f"{ckpt.title()}: {Path(image).name}" + (f"\n{_note_text(r['notes'])}" if r["notes"] else "")
    fig = segmentation_figure(r["image"], r["pred"], names, r["truth"], r["scores"], ignore, title, pal)
    s = r["scores"] or {}
    info = {"palette": pal.hex(names), "ignore_index": ignore, "size": list(r["pred"].shape), "notes": ckpt.notes + r["notes"],
            "dice": s.get("Dice"), "iou": s.get("IoU"), "pixel_accuracy": s.get("pixel acc")}
    return _finish(fig, info, out, Path(checkpoint).with_name(f"{Path(image).stem}-segmentation.png"),
                   [checkpoint, image, mask], "visualize segmentation")


def maximize(checkpoint, layer: Optional[str] = None, channel: Optional[int] = None, class_index: Optional[int] = None,
             seeds: Optional[int] = None, steps: int = 128, top: int = 8, data_dir: Optional[str] = None, out: Out = None,
             pool: int = 2000, channels=None, dataset: Optional[str] = None, **load):
    """What a channel (`layer` + `channel`) or a class (`class_index`) responds to: gradient ascent
    from `seeds` (default 3) different random starts, next to the `top` training images (of `pool`
    spread evenly over the training split) that activate it most, each with its true label.
    `channels` ('0-15', '0,4,9' or a list) with `layer`: many channels in one grid, optimised
    as one batch from one shared start, each above its strongest training image (top > 0).
    `dataset` searches that dataset instead of the recorded one (weights from your own loop
    record none). Default file: CKPT_DIR/<ckpt>-maximize-<what>.png."""
    import torch

    from cnnkit.engine.inference import training_images
    from cnnkit.viz.maximize import maximize as ascend
    from cnnkit.viz.maximize import maximize_figure, similarity_words, top_activating
    from cnnkit.viz.target_layer import check_layer

    _early(out, [checkpoint])
    if channels is not None:
        return _maximize_grid(checkpoint, layer, channels, channel, class_index, seeds, steps, top, data_dir, out, pool, load,
                              dataset)
    seeds = 3 if seeds is None else seeds
    unit, whole_class = layer is not None and channel is not None, class_index is not None
    if unit and whole_class:
        raise CnnkitError("give --layer NAME --channel C (or --channels 0-15), or --class K, not both")
    if not unit and not whole_class:
        raise CnnkitError("say what to maximise: --layer NAME --channel C (one unit; or --channels 0-15), "
                          "or --class K (a class's score)")
    for name, v, low in (("--seeds", seeds, 1), ("--steps", steps, 1), ("--top", top, 0)):
        if v < low:
            raise CnnkitError(f"{name} must be at least {low}, not {v}")
    ckpt, model = _load(checkpoint, load, dataset, data_dir)
    _outside_data(out, ckpt)
    names = ckpt.class_names or []
    c, h, w = ckpt.input_shape
    if class_index is not None:
        if ckpt.task != "classification":
            raise CnnkitError(f"--class needs a classification model and this is a {ckpt.task} model; "
                              "use --layer NAME --channel C")
        if not 0 <= class_index < len(names):
            raise CnnkitError(f"--class {class_index} is not a class of this {len(names)}-class model; give 0..{len(names) - 1} "
                              f"({', '.join(f'{i} {n}' for i, n in enumerate(names[:12]))}{' ...' if len(names) > 12 else ''})")
    else:
        check_layer(model, torch.zeros(1, c, h, w), layer)  # a wrong name lists the layers with feature maps

    norm = ckpt.normalization_or_default  # stored, else what training applied
    result = ascend(model, (c, h, w), norm, layer, channel, class_index, seeds, steps)
    top_images = top_scores = None
    tops, labels, pool_text = [], None, ""
    data = training_images(ckpt, data_dir, limit=pool) if top else None
    notes = list(ckpt.notes) + ([_NO_TOP] if top and data is None else [])
    if data is not None:
        top_images, top_scores, index = top_activating(model, data["images"], norm, layer, channel, class_index, top)
        class_names = data["class_names"] or names
        for i, s in zip(index.tolist(), top_scores.tolist()):
            label = None if data["labels"] is None else int(data["labels"][i])
            tops.append({"path": data["files"][i], "label": label, "class_name": None if label is None else class_names[label],
                         "value": float(s)})
        labels = [t["class_name"] or "" for t in tops]
        pool_text = f"top {len(tops)} of {len(data['images'])} searched ({data['total']} training images)"
    if class_index is not None:
        what = f"class {class_index}" + ("" if names[class_index] == str(class_index) else f" ({names[class_index]})")
    else:
        what = f"{layer} channel {channel}"
    title = f"{ckpt.title()}: {what}"
    if result["similarity"] is not None:
        agree = similarity_words(result["similarity"])
        title += f"\n{seeds} random starts, mean correlation of the results {result['similarity']:.2f} ({agree})"
    fig = maximize_figure(result, top_images, top_scores, title, labels, pool_text or "training images")
    info = {"layer": layer, "channel": channel, "class": class_index, "class_name": names[class_index] if class_index is not None else None,
            "scores": [float(s) for s in result["scores"]], "random_scores": [float(s) for s in result["random_scores"]],
            "similarity": result["similarity"],
            "top_images": tops, "notes": notes}
    slug = f"class-{class_index}" if class_index is not None else f"{layer}-channel-{channel}"
    return _finish(fig, info, out, Path(checkpoint).with_name(f"{Path(checkpoint).stem}-maximize-{slug}.png"),
                   [checkpoint], "visualize maximize")


def _maximize_grid(checkpoint, layer, channels, channel, class_index, seeds, steps, top, data_dir, out, pool, load=None,
                   dataset=None):
    """maximize(channels=...): K channels of one layer in one figure (report-style "16 filters")."""
    import torch

    from cnnkit.engine.inference import training_images
    from cnnkit.viz.maximize import grid_figure, parse_channels, strongest_per_channel
    from cnnkit.viz.maximize import maximize as ascend
    from cnnkit.viz.target_layer import check_layer

    if channel is not None or class_index is not None:
        raise CnnkitError("give --channels or one --channel / --class, not both")
    if layer is None:
        raise CnnkitError("--channels needs --layer NAME (the layer whose channels to draw)")
    if seeds not in (None, 1):
        raise CnnkitError("--channels draws one start per channel; leave out --seeds (or use --channel K --seeds N)")
    for name, v, low in (("--steps", steps, 1), ("--top", top, 0)):
        if v < low:
            raise CnnkitError(f"{name} must be at least {low}, not {v}")
    chans = parse_channels(channels)
    ckpt, model = _load(checkpoint, load, dataset, data_dir)
    _outside_data(out, ckpt)
    c, h, w = ckpt.input_shape
    check_layer(model, torch.zeros(1, c, h, w), layer)

    norm = ckpt.normalization_or_default  # stored, else what training applied
    result = ascend(model, (c, h, w), norm, layer, chans, None, 1, steps)
    tops, top_images, top_scores, labels, where = [], None, None, None, ""
    data = training_images(ckpt, data_dir, limit=pool) if top else None
    notes = list(ckpt.notes) + ([_NO_TOP] if top and data is None else [])
    if data is not None:
        index, top_scores = strongest_per_channel(model, data["images"], norm, layer, chans)
        top_images = data["images"][index]
        class_names = data["class_names"] or ckpt.class_names or []
        for ch, i, v in zip(chans, index.tolist(), top_scores.tolist()):
            label = None if data["labels"] is None else int(data["labels"][i])
            tops.append({"channel": ch, "path": data["files"][i], "label": label,
                         "class_name": None if label is None else class_names[label], "value": float(v)})
        labels = [t["class_name"] or "" for t in tops]
        where = f"; below: its strongest of {len(data['images'])} training images"
    span = _channel_words(chans)
    title = (f"{ckpt.model_name} {layer}: {span}, one shared random start, {steps} steps"
             f"\nscore = mean activation of the channel (a random image's in brackets){where}")
    fig = grid_figure(result, chans, title, top_images, top_scores, labels)
    info = {"layer": layer, "channels": chans, "scores": [float(v) for v in result["scores"]],
            "random_scores": [float(v) for v in result["random_scores"]], "top_images": tops, "notes": notes}
    slug = f"{layer}-channels-{chans[0]}-{chans[-1]}"
    return _finish(fig, info, out, Path(checkpoint).with_name(f"{Path(checkpoint).stem}-maximize-{slug}.png"),
                   [checkpoint], "visualize maximize")


def _channel_words(chans: list[int]) -> str:
    """[0..15] -> 'channels 0-15'; [0, 4, 9] -> 'channels 0, 4, 9'."""
    if chans == list(range(chans[0], chans[-1] + 1)) and len(chans) > 2:
        return f"channels {chans[0]}-{chans[-1]}"
    return "channels " + ", ".join(map(str, chans))


def deconv(checkpoint, layer: str, channel: int, image=None, top: int = 4, split: str = "test",
           data_dir: Optional[str] = None, out: Out = None, pool: int = 2000, dataset: Optional[str] = None, **load):
    """Zeiler & Fergus's deconvnet: the strongest activation of `channel` of `layer` projected
    back to pixels, beside guided backprop of the same unit (Captum's neuron attributions).
    On `image`, or on the `top` images of the dataset's `split` (of `pool` spread evenly over
    it) whose strongest activation of the channel is largest. The unit's receptive field is
    boxed; both projections are zero outside it. Default file: CKPT_DIR/<ckpt>-deconv-<layer>-<channel>.png."""
    import torch

    from cnnkit.engine.inference import prepare_image, training_images
    from cnnkit.viz.deconv import deconv_figure, mask_box, project, receptive_mask, strongest
    from cnnkit.viz.target_layer import check_layer

    if layer is None or channel is None:
        raise CnnkitError("give --layer NAME --channel K: the unit whose strongest activation to project back")
    if top < 1:
        raise CnnkitError(f"--top must be at least 1, not {top}")
    if split not in ("train", "test"):
        raise CnnkitError(f"--split is train or test, not {split!r}")
    _early(out, [checkpoint, image])
    ckpt, model = _load(checkpoint, load, dataset, data_dir)
    _outside_data(out, ckpt)
    c, h, w = ckpt.input_shape
    check_layer(model, torch.zeros(1, c, h, w), layer)
    names = ckpt.class_names or []
    if image is not None:
        x, img = prepare_image(ckpt, image)
        xs, imgs, labels, files = x, img[None], [Path(image).name], [str(image)]
        searched = f"on {Path(image).name}"
    else:
        from cnnkit.data.augment import normalize

        data = training_images(ckpt, data_dir, limit=pool, split=split)
        if data is None:
            raise CnnkitError("these weights record no dataset to search; give an IMAGE file or --dataset, "
                              "e.g. --dataset folder:cifar10")

        norm = ckpt.normalization_or_default  # stored, else what training applied
        mean, std = torch.tensor(norm["mean"]), torch.tensor(norm["std"])
        values = torch.cat([strongest(model, normalize(data["images"][i : i + 256], mean, std), layer, channel)[0]
                            for i in range(0, len(data["images"]), 256)])
        best = values.topk(min(top, len(values))).indices
        imgs = data["images"][best]
        xs = normalize(imgs, mean, std)
        class_names = data["class_names"] or names
        labels = [Path(data["files"][i]).name + ("" if data["labels"] is None else f" ({class_names[int(data['labels'][i])]})")
                  for i in best.tolist()]
        files = [data["files"][i] for i in best.tolist()]
        searched = f"on each of its top {len(best)} of {len(data['images']):,} {split} images ({data['total']:,} in the split)"
    value, where = strongest(model, xs, layer, channel)
    rows = []
    for k in range(len(xs)):
        pos = where[k].tolist()
        maps = project(model, xs[k : k + 1], layer, channel, pos)
        box = mask_box(receptive_mask(model, (c, h, w), layer, channel, pos))
        rows.append({"image": imgs[k], "label": labels[k], "value": float(value[k]), "position": pos, "receptive_field": box,
                     **maps})
    title = (f"{ckpt.model_name} {layer} channel {channel}: the strongest activation {searched},\n"
             "projected back to pixels with every other activation of the layer set to 0; yellow: the unit's receptive field")
    fig = deconv_figure(rows, title)
    info = {"layer": layer, "channel": channel, "split": None if image is not None else split, "notes": list(ckpt.notes),
            "images": [{"path": f, "value": r["value"], "position": r["position"], "receptive_field": r["receptive_field"]}
                       for f, r in zip(files, rows)]}
    return _finish(fig, info, out, Path(checkpoint).with_name(f"{Path(checkpoint).stem}-deconv-{layer}-{channel}.png"),
                   [checkpoint, image], "visualize deconv")
