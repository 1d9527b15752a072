"""Checkpoints from Python: `cnnkit evaluate`, `cnnkit predict`, and `load()` for inference.

    model = cnnkit.load("runs/convnet/best.pt")
    model.predict("cat.png")          # {'top': [{'class': 'cat', 'index': 3, 'probability': 0.91}, ...]}
    x = model.preprocess(image)       # (1, C, H, W) float, exactly as in training
    model.model(x)                    # the torch module, in eval mode, on model.device
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Union

from cnnkit.errors import CnnkitError


def evaluate(checkpoint: Union[str, Path], dataset: Optional[str] = None, split: str = "test",
             data_dir: Optional[str] = None, batch_size: int = 256, device: str = "auto", out: Optional[str] = None,
             tta: Optional[bool] = None, **load) -> dict:
    """Accuracy, per-class accuracy, confusion matrix; or Dice / IoU / pixel accuracy (`cnnkit evaluate`).

    `dataset` defaults to the one the model was trained on, with the run's splits. The
    confusion matrix (or per-image CSV) goes next to the checkpoint unless `out` names a folder.
    Weights saved by your own training loop need `dataset`; `load` takes what they do not
    record (see `load`)."""
    from cnnkit.api.plain import plain
    from cnnkit.engine.evaluate import evaluate_checkpoint
    from cnnkit.engine.rebuild import load_options

    return plain(evaluate_checkpoint(str(checkpoint), dataset, split, data_dir, batch_size, device, out, tta,
                                     load_options(**load)))


def predict(checkpoint: Union[str, Path], images: list, top_k: int = 5, device: str = "auto",
            out: Optional[str] = None, **load) -> dict:
    """Top-k classes per image file, or a class-index mask PNG per image for segmentation (`cnnkit predict`).
    `load`: as for `load`, for weights saved by your own training loop."""
    from cnnkit.api.plain import plain
    from cnnkit.engine.inference import predict_images
    from cnnkit.engine.rebuild import load_options

    if isinstance(images, (str, Path)):
        images = [images]
    return plain(predict_images(str(checkpoint), [str(p) for p in images], top_k, device, out, load_options(**load)))


@dataclass
class Predictor:
    """A checkpoint ready for inference: `model` (torch module, eval mode, on `device`),
    `class_names`, `task`, `input_shape` (C, H, W), `notes` (each default loading took) and
    `ckpt` (the engine.checkpoint.Checkpoint); `checkpoint` is the stored dict."""

    model: Any
    ckpt: Any  # engine.checkpoint.Checkpoint
    device: Any

    @property
    def checkpoint(self) -> dict:
        """The checkpoint as the stored dict (its 'config', 'normalization', ...), with 'notes'."""
        return dict(self.ckpt.as_dict(), notes=list(self.ckpt.notes))

    @property
    def notes(self) -> list:
        return list(self.ckpt.notes)

    @property
    def task(self) -> str:
        return self.ckpt.task

    @property
    def class_names(self) -> list:
        return self.ckpt.class_names or []

    @property
    def input_shape(self) -> tuple:
        return self.ckpt.input_shape

    def preprocess(self, image):
        """An image file path, PIL image, (H, W[, C]) uint8 numpy array or (C, H, W) uint8
        tensor -> (1, C, H, W) float on the model's device, preprocessed as in training
        (channels converted, classification inputs resized, the run's normalisation)."""
        from cnnkit.engine.inference import prepare_image, preprocess

        if isinstance(image, (str, Path)):
            x, _ = prepare_image(self.ckpt, image)
        else:
            x, _ = preprocess(self.ckpt, _as_chw_uint8(image))
        return x.to(self.device)

    def predict(self, image, top_k: int = 5) -> dict:
        """Classification: {'top': [{class, index, probability}, ...]} as `cnnkit predict`;
        segmentation: {'mask': (H, W) class-index tensor, 'class_fractions': {name: fraction}}.
        Computed as the run evaluated: its TTA views and its precision (bf16 autocast when it
        trained so), through the code `cnnkit predict` runs (engine/inference.py)."""
        from cnnkit.engine.inference import class_fractions, infer, top_classes

        logits = infer(self.ckpt, self.model, self.preprocess(image), self.device).cpu()  # (1, K) or (1, K, H, W)
        names = self.ckpt.names_for(logits.shape[1])
        if self.task != "segmentation":
            return {"top": top_classes(logits, names, top_k)}
        mask = logits.argmax(1)[0]  # (H, W)
        return {"mask": mask, "class_fractions": class_fractions(mask, names)}


def load(checkpoint: Union[str, Path], device: str = "auto", model: Any = None, **load) -> Predictor:
    """A checkpoint as a Predictor (model + preprocessing): one written by `cnnkit train`, or
    weights saved by your own training loop (a state dict, {'model_state_dict': ...},
    Lightning's {'state_dict': ...}, torchvision / timm files).

    `model`: for a cnnkit checkpoint, the class, builder function or model object to load the
    weights into, for a network defined in a notebook whose code the checkpoint could not keep
    (`cnnkit.load(ckpt, model=MyNet)`); by default the checkpoint rebuilds its own network.
    For your own loop's weights, the network they belong to (any form `cnnkit.train` takes;
    default: matched against the registered models). What weights do not record:
    `input` ('3x32x32'), `mean` / `std` (lists or '0.5,0.5,0.5'), `classes` (a list, 'a,b,c'
    or a names file); `options` for `model`; `trust_checkpoint=True` unpickles a whole saved
    model (runs code from the file). `Predictor.notes` says each default taken."""
    from cnnkit.engine.inference import load_for_inference
    from cnnkit.engine.rebuild import load_options

    ckpt, model, dev = load_for_inference(str(checkpoint), device, load_options(model=model, **load))
    return Predictor(model, ckpt, dev)


def _as_chw_uint8(image):
    """PIL image / numpy array (H, W) or (H, W, C) / tensor (C, H, W) -> (C, H, W) uint8 tensor."""
    import numpy as np
    import torch

    if isinstance(image, torch.Tensor):
        t = image
    else:
        if hasattr(image, "convert") and getattr(image, "mode", None) not in ("L", "RGB"):  # PIL: palette, RGBA, ...
            image = image.convert("RGB")
        arr = np.asarray(image)
        if arr.ndim == 2:
            arr = arr[:, :, None]
        if arr.ndim != 3:
            raise CnnkitError(f"an image array must be (H, W) or (H, W, C), got shape {arr.shape}")
        t = torch.from_numpy(np.array(arr)).permute(2, 0, 1)  # (C, H, W); a writable copy (PIL arrays are read-only)
    if t.dtype != torch.uint8:
        raise CnnkitError(f"give images as uint8 (0..255), got {t.dtype}; e.g. (x * 255).round().to(torch.uint8)")
    return t
