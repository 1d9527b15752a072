"""Inference on a checkpoint: load it, preprocess an image as in training, run the network
as the run evaluated (its TTA level and precision), and read the logits as classes or a
mask. `cnnkit predict` (predict_images), `cnnkit.load(...).predict` (api/inference.py),
the figures and `cnnkit explore` all go through these functions."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch

from cnnkit import outputs as O
from cnnkit.engine.checkpoint import Checkpoint
from cnnkit.engine.device import Precision, resolve_device, resolve_model_dtype, resolve_precision
from cnnkit.engine.tta import forward_tta
from cnnkit.errors import CnnkitError


def load_for_inference(path, device="auto", how=None, model=None) -> tuple[Checkpoint, torch.nn.Module, torch.device]:
    """(Checkpoint, model in eval mode on the device, device) for any checkpoint file:
    cnnkit's, or another training loop's weights with `how` (rebuild.LoadOptions) saying
    what the weights do not. `model` (a class, builder or instance) rebuilds a network whose
    code the checkpoint could not keep. The Checkpoint's `notes` say every default taken."""
    from cnnkit.engine.rebuild import LoadOptions, load

    if model is not None:
        how = how or LoadOptions()
        how.model = model
    dev = resolve_device(device)
    ck, net = load(path, how)
    return ck, net.to(dev).eval(), dev


def load_with_data(path, device="auto", how=None, dataset: Optional[str] = None, data_dir=None, need_data: bool = False):
    """load_for_inference, where weights from another training loop take what they lack
    (input shape, class names) from `dataset`: the data they are evaluated on (evaluate,
    which needs it: `need_data`) or searched for top images (the figures' --dataset)."""
    from cnnkit.data.catalog import DataOptions, load_dataset
    from cnnkit.engine.checkpoint import read_checkpoint
    from cnnkit.engine.rebuild import LoadOptions

    how = how or LoadOptions()
    source = read_checkpoint(path, how.trust)
    if source.foreign and dataset:
        data = load_dataset(dataset, DataOptions(data_dir=data_dir))
        how.data_name, how.data_shape, how.data_names = dataset, tuple(data.input_shape), list(data.class_names)
    elif source.foreign and need_data:
        raise CnnkitError(f"{path} holds weights only, not the data they were trained on; pass --dataset")
    return load_for_inference(source, device, how)


def inference_precision(ckpt: Checkpoint, device) -> Precision:
    """The autocast the run evaluated under (its recorded --precision, e.g. bf16 on a CPU
    with native bf16), so evaluate, predict and the figures give summary.json's numbers.
    A run with half-precision weights (--model-dtype) and fp16 autocast off CUDA run in fp32."""
    device = torch.device(device)
    name = ckpt.precision or "auto"
    half_weights = resolve_model_dtype(ckpt.config.get("model_dtype"), device) is not None  # the trainer skips autocast then
    if (name == "fp16" and device.type != "cuda") or device.type == "mps" or half_weights:
        name = "fp32"
    return resolve_precision(name, device)


def model_device(model) -> torch.device:
    return next(model.parameters()).device


def source_shape(path) -> tuple[int, int, int]:
    """(C, H, W) of an image file as decoded, before any conversion; a clear error for a
    folder or a missing file."""
    from cnnkit.data.decode import read_images

    p = Path(path)
    if p.is_dir():
        raise CnnkitError(f"{path} is a folder; give one image file")
    if not p.is_file():
        raise CnnkitError(f"image {path} does not exist")
    return tuple(read_images([p])[0].shape)


def image_notes(source: tuple, used: tuple) -> list[str]:
    """What preprocessing changed, in words: channels converted, size changed (a
    500x300 photo squashed to 32x32 is not what the user thinks the model saw)."""
    notes = []
    if source[0] != used[0]:
        notes.append(f"converted the {'colour' if source[0] == 3 else 'grey'} image to {'grey' if used[0] == 1 else 'colour'}, "
                     f"as the model takes {used[0]}-channel input")
    if tuple(source[1:]) != tuple(used[1:]):
        aspect = "" if source[1] * used[2] == source[2] * used[1] else " (aspect ratio changed)"
        notes.append(f"resized {source[1]}x{source[2]} to the model's {used[1]}x{used[2]}{aspect}")
    return notes


def prepare_image(ckpt: Checkpoint, path) -> tuple[torch.Tensor, torch.Tensor]:
    """An image file preprocessed exactly as in training: (1, C, H, W) normalised
    float and the (C, H, W) uint8 image it came from. Channels are converted to the
    model's; classification models also get their input size (segmentation models
    take any size)."""
    from cnnkit.data.decode import read_images

    if not Path(path).is_file():
        raise CnnkitError(f"image {path} does not exist")
    return preprocess(ckpt, read_images([Path(path)])[0])


def preprocess(ckpt: Checkpoint, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A decoded (C, H, W) uint8 image -> ((1, C, H, W) normalised float, the uint8 image
    at the model's channels and size): prepare_image after reading the file."""
    from cnnkit.data.augment import normalize
    from cnnkit.data.decode import resize_image

    c, h, w = ckpt.input_shape
    if img.ndim != 3 or img.dtype != torch.uint8:
        raise CnnkitError(f"an image must be (C, H, W) uint8, got {tuple(img.shape)} {img.dtype}")
    if img.shape[0] != c:  # grey <-> colour to what the model takes
        img = img.expand(3, -1, -1).contiguous() if c == 3 else img.float().mean(0, keepdim=True).round().to(torch.uint8)
    # The size `evaluate` loads the data at: always the input size for classification; for
    # segmentation the run's --image-size when it had one (otherwise the image's own size).
    size = ckpt.data_options().image_size
    if size and tuple(img.shape[1:]) != tuple(size):
        img = resize_image(img, tuple(size))
    norm = ckpt.normalization_or_default
    return normalize(img[None], torch.tensor(norm["mean"]), torch.tensor(norm["std"])), img


def infer(ckpt: Checkpoint, model, x: torch.Tensor, device=None) -> torch.Tensor:
    """Preprocessed images (N, C, H, W) -> float logits (N, K) or (N, K, h, w), as the run
    evaluated: its TTA views (ckpt.tta_level) under its precision's autocast."""
    device = device if device is not None else model_device(model)
    with torch.no_grad(), inference_precision(ckpt, device).autocast():
        return forward_tta(model, x.to(device), ckpt.task, ckpt.tta_level).float()


def top_classes(logits: torch.Tensor, names: list[str], k: int) -> list[dict]:
    """The k most probable classes of one image's logits (1, K): [{class, index, probability}]."""
    probs = logits.float().softmax(1)[0]
    top = probs.topk(min(k, len(probs)))
    return [{"class": names[i], "index": int(i), "probability": float(v)} for v, i in zip(top.values.tolist(), top.indices.tolist())]


def class_fractions(mask: torch.Tensor, names: list[str]) -> dict:
    """{class name: fraction of the (h, w) mask's pixels}, every class named (0.0 when absent)."""
    counts = torch.bincount(mask.reshape(-1), minlength=len(names)).tolist()
    return {names[i]: float(v) / mask.numel() for i, v in enumerate(counts)}


def predict_images(path, images: list[str], top_k: int = 5, device: str = "auto", out_dir: Optional[str] = None,
                   how=None) -> dict:
    """Top-k classes with probabilities, or one class-index mask PNG per image, through the
    checkpoint's evaluation pipeline (`evaluate`'s size, normalisation and mirror TTA), so
    a prediction equals what `evaluate` scores for the same image.

    Masks go to `out_dir` (default: RUN/predictions/ beside the checkpoint), never beside
    the images, under names no earlier file has (`<stem>_mask.png`, `<stem>_mask-2.png`, ...);
    they are palette PNGs: pixel value = class index, shown in the classes' colours."""
    from cnnkit.data.decode import resize_mask
    from cnnkit.engine.masks import write_mask

    if top_k < 1:
        raise CnnkitError(f"--top-k must be at least 1, got {top_k}")
    for p in images:  # every input checked before anything is written
        if not Path(p).is_file():
            raise CnnkitError(f"image {p} does not exist" if not Path(p).is_dir() else f"{p} is a folder; give image files")
    ckpt, model, dev = load_for_inference(path, device, how)
    tta = ckpt.tta_level  # the run's TTA level (e.g. six views), as evaluate and the run's test
    seg = ckpt.task == "segmentation"
    out = Path(out_dir) if out_dir else Path(path).parent / "predictions"
    if seg:  # the write rule (cnnkit.outputs): masks go to a folder of their own, new names only
        if out.exists() and not out.is_dir():
            raise CnnkitError(f"--out {out} is a file; give a folder for the masks")
        for p in images:
            if O.same_file(Path(p).parent, out):
                raise CnnkitError(f"--out {out} is the folder of the image {p}; choose another folder for the masks, "
                                  "so they are not mixed with the images")
    results = []
    for p in images:
        source = source_shape(p)
        x, img = prepare_image(ckpt, p)
        logits = infer(ckpt, model, x, dev)  # (1, K) or (1, K, h, w)
        names = ckpt.names_for(logits.shape[1])
        if not seg:
            results.append({"image": p, "top": top_classes(logits, names, top_k)})
            continue
        mask = logits.argmax(1)[0].cpu()  # (h, w) at the size the model saw
        full = resize_mask(mask.to(torch.uint8 if len(names) <= 256 else torch.int64), tuple(source[1:]))  # (H, W) the image's own size
        target = write_mask(out, Path(p).stem, full, len(names), ckpt.ignore_index)
        fractions = {n: round(v, 6) for n, v in class_fractions(mask, names).items()}
        results.append({"image": p, "mask": str(target), "size": list(source[1:]), "model_size": list(mask.shape),
                        "tta": tta != "none", "class_fractions": fractions})
    return {"checkpoint": str(path), "task": ckpt.task, "tta": tta != "none", "tta_level": tta, "predictions": results,
            "notes": ckpt.notes}


def training_images(ckpt: Checkpoint, data_dir=None, limit: int = 2000, split: str = "train") -> dict | None:
    """data.sample.sample_split of the checkpoint's dataset, loaded as it was trained (its
    splits and input size), or None when the checkpoint records no dataset."""
    from cnnkit.data.sample import sample_split

    if not ckpt.dataset:
        return None
    return sample_split(ckpt.dataset, ckpt.data_options(data_dir), limit, split)
