"""One network and its inputs, answering the page's questions as JSON-able dicts.

Every number comes from the function the matching CLI command uses, so the page and
the commands cannot disagree:

    network()      cnnkit.api.zoo.summary            (`cnnkit summary --json`)
    predict(i)     Predictor.predict                  (`cnnkit predict`: the run's preprocessing and TTA)
    layer(name)    viz.features.feature_maps          (`cnnkit visualize features`)
                   viz.filters.conv_weights           (`cnnkit visualize filters`)
                   arith.frames.plan + drawing      (`cnnkit draw conv|maxpool|avgpool|transpose`)
    channel(...)   viz.maximize.top_activating        (`cnnkit visualize maximize`, its top images)
    maximize(...)  viz.maximize.maximize
    attribution()  viz.explain_data.explain_tensor    (`cnnkit visualize attribution`)

Tensors travel as base64 little-endian float32 ("f32": exact, and the page draws them
with its own colour scale and shows each value under the pointer); images as PNG data
URLs. Nothing is written to disk: dropped files are decoded in memory.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import torch
import torch.nn as nn

from cnnkit.errors import CnnkitError
from cnnkit.explorer.layer_math import DRAW_OPS, arithmetic, drawing, layer_kind
from cnnkit.explorer.model_load import checkpoint_file, load_model
from cnnkit.explorer.wire import decode_f32, f32, png  # decode_f32: f32's inverse, for Python users of the JSON API

__all__ = ["ATTRIBUTION_METHODS", "Explorer", "Input", "arithmetic", "checkpoint_file", "decode_f32", "drawing", "f32",
           "load_model", "png"]

ATTRIBUTION_METHODS = ("gradcam", "saliency", "guided-backprop")


@dataclass
class Input:
    """One image as the model sees it: `image` (C, H, W) uint8 after the checkpoint's
    channel conversion and resizing, `x` (1, C, H, W) normalised float."""

    name: str
    image: torch.Tensor
    x: torch.Tensor
    label: Optional[int] = None  # the true class, for a test image
    truth: Optional[torch.Tensor] = None  # (H, W) true mask, for a segmentation test image
    notes: list = field(default_factory=list)


class Explorer:
    """A model (`load_model`'s forms) with inputs: `images` (files), a few test images of
    `dataset` (default: the one the checkpoint was trained on), and files dropped on the page."""

    def __init__(self, model, images=(), dataset: Optional[str] = None, data_dir: Optional[str] = None,
                 device: str = "cpu", examples: int = 10, pool: int = 256, options: Optional[dict] = None,
                 weights: Optional[str] = None):
        from cnnkit.api.inference import Predictor
        from cnnkit.engine.device import resolve_device

        self.device = resolve_device(device)
        data = None
        if dataset and checkpoint_file(model) is None:  # a model name shown a dataset: built for its images and classes
            from cnnkit.data.catalog import DataOptions, load_dataset

            data = load_dataset(dataset, DataOptions(data_dir=data_dir))
        shape, classes, task = (data.input_shape, data.num_classes, data.task) if data is not None else (None, None, None)
        self.ckpt, self.model, self.name, self.trained = load_model(model, self.device, options, shape, classes, task)
        self.notes: list[str] = []
        if data is not None:  # a model built here sees the data as training on it would: its own statistics
            self.ckpt.normalization = data.normalization
        if weights is not None:
            self._load_weights(weights, data)
        self.predictor = Predictor(self.model, self.ckpt, self.device)
        self.task = self.ckpt.task
        self.input_shape = self.ckpt.input_shape
        if not self.trained:
            self.notes.append(f"{self.name} is untrained (random weights): its predictions and maps mean nothing yet; "
                              "give a checkpoint (runs/NAME/best.pt) to see what a trained network does")
        self.inputs: list[Input] = [self._from_file(p) for p in images]
        self.pool = None  # (N, C, H, W) uint8 test images searched for a channel's top activations
        self.pool_labels = None
        self.dataset = dataset or self.ckpt.dataset
        if self.dataset:
            self._load_test_images(self.dataset, data_dir, dataset is not None, examples, pool, data)
        self._summary = None
        self._modules = dict(self.model.named_modules())
        self._drawings: dict = {}  # layer -> drawing (input-independent)
        self._scores: dict = {}  # layer -> (pool, C) mean activation of every channel
        self._scoring, self._scores_error, self.scores_seconds = None, None, None
        self._scores_done = threading.Event()

    def _load_weights(self, path: str, data) -> None:
        """A state dict from elsewhere (`--weights`, models.weights_file: the reader `cnnkit
        train --weights` uses) into a model built from a name, a file or a spec."""
        from cnnkit.models.weights_file import load_into

        if self.trained:
            raise CnnkitError("--weights applies to a model name, file or spec; a checkpoint has its own weights")
        self.notes += load_into(self.model, path)
        self.model.eval()
        self.trained, self.name = True, f"{self.name} + {Path(path).name}"
        how = f"{data.name}'s own statistics" if data is not None else "mean 0.5, std 0.5 per channel"
        self.notes.append(f"the weights file does not say how its network was trained to see images: inputs are normalised "
                          f"with {how}; give --dataset for its data's")

    # -- inputs ---------------------------------------------------------------------------
    def _from_file(self, path) -> Input:
        from cnnkit.engine.inference import image_notes, prepare_image, source_shape

        source = source_shape(path)  # a clear error for a folder or a missing file
        x, img = prepare_image(self.ckpt, path)
        return Input(Path(path).name, img, x.to(self.device), notes=image_notes(source, tuple(img.shape)))

    def add_bytes(self, data: bytes, name: str) -> dict:
        """A file dropped on the page: decoded in memory as `read_images` decodes a file of
        that name, then preprocessed as the checkpoint evaluates. Returns inputs()."""
        from cnnkit.data.decode import DataError, decode_image_bytes
        from cnnkit.engine.inference import image_notes, preprocess

        name = Path(name or "dropped file").name
        if not data:
            raise CnnkitError(f"{name} is empty; drop an image file (PNG, JPEG, ...)")
        try:
            source = decode_image_bytes(data, name)
        except DataError:
            raise CnnkitError(f"{name} is not an image cnnkit can read; drop an image file (PNG, JPEG, BMP, ...)") from None
        x, img = preprocess(self.ckpt, source)
        self.inputs.append(Input(name, img, x.to(self.device), notes=image_notes(tuple(source.shape), tuple(img.shape))))
        return self.list_inputs()

    def _load_test_images(self, spec: str, data_dir, asked: bool, examples: int, pool: int, ds=None) -> None:
        """`examples` test images spread over the classes as inputs; `pool` of them for top activations."""
        from cnnkit.data.catalog import load_dataset
        from cnnkit.engine.inference import preprocess

        try:  # loaded as `cnnkit evaluate` loads it: the run's splits, at the model's input size
            ds = ds or load_dataset(spec, self.ckpt.data_options(data_dir, same_data=spec == self.ckpt.dataset))
        except CnnkitError as e:
            if asked:
                raise
            self.notes.append(f"no test images: the model's dataset {spec} did not load ({e}); give --dataset or --image")
            return
        c = self.input_shape[0]
        if ds.task != self.task or ds.input_shape[0] != c:
            raise CnnkitError(f"{self.name} is a {self.task} model taking {c}-channel images, but {spec} is a {ds.task} "
                              f"dataset of {ds.input_shape[0]}-channel images; give a dataset the model was made for")
        names = self.ckpt.class_names or ds.class_names
        if self.ckpt.class_names is None:
            self.ckpt.class_names = ds.class_names  # an untrained model named by its data's classes
        elif len(names) != ds.num_classes:
            raise CnnkitError(f"{self.name} predicts {len(names)} classes but {spec} has {ds.num_classes}")
        split = ds.test if ds.test is not None else ds.split("val")
        n = len(split)
        picks = _spread(split.targets if self.task == "classification" else None, examples, n)
        for i in picks:
            img = split.images[i]
            x, seen = preprocess(self.ckpt, img)
            label = int(split.targets[i]) if self.task == "classification" else None
            truth = split.targets[i].long() if self.task == "segmentation" else None
            name = "/".join(Path(split.files[i]).parts[-2:]) if split.files else f"test[{i}]"  # cat/0000.jpg
            self.inputs.append(Input(name, seen, x.to(self.device), label, truth))
        index = torch.arange(n) if n <= pool else torch.linspace(0, n - 1, pool).round().long().unique()
        self.pool = split.images[index]
        self.pool_labels = split.targets[index] if self.task == "classification" else None
        self.pool_files = [split.files[i] if split.files else f"test[{i}]" for i in index.tolist()]

    def _input(self, i) -> Input:
        try:
            i = int(i)
        except (TypeError, ValueError):
            raise CnnkitError(f"input {i!r} is not a number") from None
        if not self.inputs:
            raise CnnkitError("no input image yet: drop an image on the page, or start with --image IMG or --dataset D")
        if not 0 <= i < len(self.inputs):
            raise CnnkitError(f"input {i} does not exist; there are {len(self.inputs)} (0..{len(self.inputs) - 1})")
        return self.inputs[i]

    def list_inputs(self) -> dict:
        names = self.class_names()
        return {"inputs": [{"index": k, "name": inp.name, "image": png(inp.image), "notes": inp.notes,
                            "label": inp.label, "class_name": None if inp.label is None else names[inp.label],
                            "has_mask": inp.truth is not None}
                           for k, inp in enumerate(self.inputs)]}

    def class_names(self) -> list[str]:
        names = self.ckpt.class_names
        return names if names else self.ckpt.names_for(self._summary_dict()["output_shape"][0])

    # -- the network ------------------------------------------------------------------------
    def _summary_dict(self) -> dict:
        if self._summary is None:
            from cnnkit.api.zoo import summary

            self._summary = summary(self.model, input=self.input_shape)
            self._summary["model"] = self.name
        return self._summary

    def network(self) -> dict:
        """The `cnnkit summary --json` object plus what the page needs to draw each row."""
        s = self._summary_dict()
        layers = []
        for row in s["layers"]:
            module = self._modules.get(row["name"])
            shape = row["output_shape"] or []
            layers.append(dict(row, kind=layer_kind(module), feature_map=len(shape) == 4, filters=isinstance(module, nn.Conv2d),
                               drawn=type(module) in DRAW_OPS))
        return {"model": self.name, "task": self.task, "trained": self.trained, "input_shape": list(self.input_shape),
                "class_names": self.class_names(), "dataset": self.dataset, "notes": self.notes,
                "attribution_methods": list(ATTRIBUTION_METHODS) if self.task == "classification" else [],
                "summary": s, "layers": layers}

    def predict(self, i) -> dict:
        """Classification: every class's probability (Predictor.predict, so `cnnkit predict`'s numbers);
        segmentation: the predicted mask, the palette, class fractions and, with a known mask, Dice."""
        inp = self._input(i)
        names = self.class_names()
        out = {"input": int(i), "name": inp.name, "image": png(inp.image), "notes": inp.notes, "task": self.task,
               "label": inp.label, "class_name": None if inp.label is None else names[inp.label]}
        r = self.predictor.predict(inp.image, top_k=len(names))
        if self.task != "segmentation":
            return dict(out, top=r["top"], predicted=r["top"][0]["index"], predicted_name=r["top"][0]["class"])
        from cnnkit.viz.palette import palette

        ignore = self.ckpt.ignore_index
        mask = r["mask"].cpu()  # (H, W) class indices
        pal = palette(max(len(names), int(mask.max()) + 1), ignore)
        out.update(mask=f32(mask), palette=pal.hex(names), class_fractions=r["class_fractions"], dice=None)
        if inp.truth is not None:
            out.update(truth=f32(inp.truth), **_dice(mask, inp.truth, len(names), ignore, names))
        return out

    def _row(self, name: str) -> dict:
        for row in self._summary_dict()["layers"]:
            if row["name"] == name:
                return row
        raise CnnkitError(f"no layer {name!r} in {self.name}; layers: {', '.join(r['name'] for r in self._summary_dict()['layers'])}")

    def layer(self, name: str, i=None) -> dict:
        """One layer: its summary row, feature maps for input i, its filters (conv) and its arithmetic."""
        from cnnkit.viz.features import feature_maps
        from cnnkit.viz.filters import conv_weights, dead_filters

        row = self._row(name)
        module = self._modules[name]
        out = {"row": row, "kind": layer_kind(module), "maps": None, "filters": None, "arith": arithmetic(module, row)}
        if row["output_shape"] and len(row["output_shape"]) == 4 and i is not None and self.inputs:
            fm = feature_maps(self.model, self._input(i).x, [name])[name]  # (C, H, W)
            out["maps"] = dict(f32(fm), input=int(i))
        if isinstance(module, nn.Conv2d):
            w = conv_weights(self.model, name)  # (O, C, kh, kw)
            out["filters"] = dict(f32(w), dead=[int(k) for k in dead_filters(w).nonzero().flatten()])
        return out

    def drawing(self, name: str) -> dict:
        """The layer's arithmetic drawn as `cnnkit draw` draws it (the same for every input: kept)."""
        if name not in self._drawings:
            arith = arithmetic(self._modules[name], self._row(name))
            if arith is None or "kernel" not in arith:
                raise CnnkitError(f"{name} is not a conv, pooling or transposed conv layer: there is no drawing of it")
            self._drawings[name] = dict(drawing(self._modules[name], arith), layer=name)
        return self._drawings[name]

    def channel(self, name: str, channel, i=None, top: int = 8) -> dict:
        """One channel: its map for input i and the test images (of the pool) that activate it most."""
        from cnnkit.viz.features import feature_maps

        row = self._row(name)
        c = _channel(channel, row)
        out = {"layer": name, "channel": c, "map": None, "top": [], "pool": 0}
        if i is not None and self.inputs:
            out["map"] = f32(feature_maps(self.model, self._input(i).x, [name])[name][c])
        if self.pool is not None:
            best = self.pool_scores(name)[:, c].topk(min(top, len(self.pool)))  # as top_activating ranks them
            names = self.class_names()
            for img, s, k in zip(self.pool[best.indices], best.values.tolist(), best.indices.tolist()):
                label = None if self.pool_labels is None else int(self.pool_labels[k])
                out["top"].append({"image": png(img), "value": float(s), "file": self.pool_files[k], "label": label,
                                   "class_name": None if label is None else names[label]})
            out["pool"] = len(self.pool)
        return out

    def start_scoring(self) -> None:
        """Score the pool in a background thread, on a copy of the model (its hooks must never
        meet a click's: feature_maps would record the pool's batch instead of the input), so a
        network that needs seconds for the pass has it ready by the first channel click."""
        import copy

        if self.pool is None or self._scoring is not None:
            return
        net = copy.deepcopy(self.model).eval()

        def run():
            try:
                t = time.perf_counter()
                self._scores = self._score_all_layers(net)
                self.scores_seconds = time.perf_counter() - t
            except Exception as e:  # shown on the first channel click
                self._scores_error = e
            finally:
                self._scores_done.set()

        self._scoring = threading.Thread(target=run, name="cnnkit-explore-scores", daemon=True)
        self._scoring.start()

    def pool_scores(self, name: str) -> torch.Tensor:
        """(N, C): every channel's mean activation of layer `name` on each pool image, the score
        viz.maximize.top_activating ranks images by. Every layer's come from one pass over the
        pool (start_scoring, or here on first use), then each channel is a look-up."""
        if self._scoring is None:
            self.start_scoring()
        self._scores_done.wait()
        if self._scores_error is not None:
            raise CnnkitError(f"ranking the test images failed: {type(self._scores_error).__name__}: {self._scores_error}")
        if name not in self._scores:
            raise CnnkitError(f"{name} does not output a feature map, so it has no channels to rank test images by")
        return self._scores[name]

    @torch.no_grad()
    def _score_all_layers(self, net, batch: int = 256) -> dict:
        """{layer: (N, C)} for every module of `net` (a copy of the model) that outputs an
        (N, C, H, W) map; a module called twice keeps its last call, as feature_maps records it."""
        from cnnkit.data.augment import normalize

        norm = self._norm()
        mean, std = torch.tensor(norm["mean"]), torch.tensor(norm["std"])
        parts: dict = {}
        this: dict = {}  # layer -> (B, C) of the batch being run

        def keep(name):
            def hook(_m, _i, y):
                if isinstance(y, torch.Tensor) and y.ndim == 4:
                    this[name] = y.float().mean(dim=(2, 3)).cpu()
            return hook

        hooks = [m.register_forward_hook(keep(n)) for n, m in net.named_modules() if n]
        try:
            for k in range(0, len(self.pool), batch):
                this.clear()
                net(normalize(self.pool[k : k + batch], mean, std).to(self.device))
                for n, v in this.items():
                    parts.setdefault(n, []).append(v)
        finally:
            for h in hooks:
                h.remove()
        return {n: torch.cat(v) for n, v in parts.items()}

    def maximize(self, name: str, channel, seeds: int = 1, steps: int = 64) -> dict:
        """Gradient ascent on the pixels for one channel (viz.maximize, as `visualize maximize`)."""
        from cnnkit.viz.maximize import maximize

        c = _channel(channel, self._row(name))
        r = maximize(self.model, self.input_shape, self._norm(), name, c, None, seeds, steps)
        images = (r["images"] * 255).round().to(torch.uint8).cpu()  # (S, C, H, W)
        return {"layer": name, "channel": c, "steps": steps, "images": [png(im) for im in images],
                "scores": [float(v) for v in r["scores"]], "random_scores": [float(v) for v in r["random_scores"]]}

    def attribution(self, i, method: str = "gradcam", target=None, layer: Optional[str] = None) -> dict:
        """Why the model decided (Captum through explain_tensor, as `cnnkit visualize attribution`)."""
        from cnnkit.viz.explain_data import explain_tensor

        if method not in ATTRIBUTION_METHODS:
            raise CnnkitError(f"unknown method {method!r}; choose one of {', '.join(ATTRIBUTION_METHODS)}")
        if target in ("", None):
            target = None
        else:
            try:
                target = int(target)
            except ValueError:
                raise CnnkitError(f"class {target!r} is not a class index") from None
        inp = self._input(i)
        r = explain_tensor(self.ckpt, self.model, inp.x, inp.image, method, target, layer or None, inp.notes)
        return {"input": int(i), "method": method, "map": f32(r["map"]), "map_size": r["map_size"], "layer": r["layer"],
                "target": r["target"], "class_name": r["target_name"], "probability": r["probability"],
                "predicted": r["predicted_name"], "signed": method != "gradcam"}

    def _norm(self) -> dict:
        return self.ckpt.normalization_or_default


def _spread(labels, k: int, n: int) -> list[int]:
    """k indices of a split: one per class in class order while classes last (labels given), else evenly spaced."""
    if labels is None:
        return torch.linspace(0, n - 1, min(k, n)).round().long().unique().tolist()
    picks = []
    for cls in torch.unique(labels).tolist()[:k]:
        picks.append(int(torch.nonzero(labels == cls)[0]))
    return picks


def _channel(channel, row: dict) -> int:
    shape = row["output_shape"] or []
    if len(shape) != 4:
        raise CnnkitError(f"{row['name']} does not output a feature map, so it has no channels to show")
    try:
        c = int(channel)
    except (TypeError, ValueError):
        raise CnnkitError(f"channel {channel!r} is not a number") from None
    if not 0 <= c < shape[1]:
        raise CnnkitError(f"{row['name']} has {shape[1]} channels (0..{shape[1] - 1}), not {c}")
    return c


def _dice(mask: torch.Tensor, truth: torch.Tensor, k: int, ignore, names: list[str]) -> dict:
    """Per-class and macro Dice of one image through evaluate's meter (it scores the argmax
    of its logits, so the one-hot of the predicted mask stands in for them)."""
    from cnnkit.engine.metrics import SegmentationMeter

    meter = SegmentationMeter(k, ignore)
    onehot = torch.nn.functional.one_hot(mask.long().clamp_max(k - 1), k).permute(2, 0, 1)[None].float()  # (1, K, H, W)
    meter.update(onehot, truth[None].long())
    per = meter.per_image()["dice"][0]  # (K,), NaN where a class is in neither mask
    m = meter.compute()
    return {"dice": m["dice_mean"], "pixel_accuracy": m["pixel_accuracy"],
            "dice_per_class": {n: (None if v != v else float(v)) for n, v in zip(names, per.tolist())}}
