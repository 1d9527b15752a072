"""`cnnkit evaluate` and `cnnkit predict` as library calls on a checkpoint."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional

import torch

from cnnkit import outputs as O
from cnnkit.data.catalog import DataOptions, load_dataset
from cnnkit.data.loader import BatchLoader
from cnnkit.engine.checkpoint import normalization_of
from cnnkit.engine.device import Precision, resolve_device, resolve_model_dtype, resolve_precision
from cnnkit.engine.metrics import make_meter
from cnnkit.engine.tta import forward_tta, tta_of
from cnnkit.errors import CnnkitError


def load_for_inference(path, device="auto", how=None, model=None):
    """(checkpoint dict, model in eval mode on the device, device) for any checkpoint file:
    cnnkit's, or another training loop's weights with `how` (rebuild.LoadOptions) saying
    what the weights do not. `model` (a class, builder or instance) rebuilds a network whose
    code the checkpoint could not keep. The dict's 'notes' say every default taken."""
    from cnnkit.engine.rebuild import LoadOptions, load

    if model is not None:
        how = how or LoadOptions()
        how.model = model
    dev = resolve_device(device)
    ck, net = load(path, how)
    return dict(ck.as_dict(), notes=list(ck.notes)), net.to(dev).eval(), dev


def inference_precision(ckpt: dict, device) -> Precision:
    """The autocast the run evaluated under (its recorded --precision, e.g. bf16 on a CPU
    with native bf16), so evaluate, predict and the figures give summary.json's numbers.
    A run with half-precision weights (--model-dtype) and fp16 autocast off CUDA run in fp32."""
    device = torch.device(device)
    config = ckpt.get("config", {})
    name = config.get("precision") or "auto"
    half_weights = resolve_model_dtype(config.get("model_dtype"), device) is not None  # the trainer skips autocast then
    if (name == "fp16" and device.type != "cuda") or device.type == "mps" or half_weights:
        name = "fp32"
    return resolve_precision(name, device)


def _model_device(model) -> torch.device:
    return next(model.parameters()).device


def checkpoint_data_options(ckpt: dict, data_dir=None, same_data: bool = True) -> DataOptions:
    """How to load data for a checkpoint: its run's splits (on its own dataset) and its
    input size (classification, or segmentation trained at a fixed --image-size)."""
    config = ckpt.get("config", {})
    c, h, w = ckpt["input_shape"]
    return DataOptions(data_dir=data_dir or config.get("data_dir"), val_split=config.get("val_split", 0.1) if same_data else 0.1,
                       test_split=config.get("test_split", 0.2) if same_data else 0.2,
                       image_size=(h, w) if ckpt["task"] == "classification" or config.get("image_size") else None,
                       ignore_index=ckpt.get("ignore_index", config.get("ignore_index")))


def evaluate_checkpoint(path, dataset: Optional[str] = None, split: str = "test", data_dir: Optional[str] = None,
                        batch_size: int = 256, device: str = "auto", out_dir: Optional[str] = None,
                        tta: Optional[bool] = None, how=None) -> dict:
    """Metrics of a checkpoint on a split, plus files: confusion matrix (CSV, PNG) for
    classification, a per-image CSV for segmentation. The data is resized to the
    checkpoint's input size and normalised with the statistics stored in it.

    Weights from another training loop take their input size and class names from
    `dataset` unless `how` (rebuild.LoadOptions) gives them."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise CnnkitError(f"--batch-size must be a whole number, at least 1; got {batch_size!r}")
    from cnnkit.engine.checkpoint import read_checkpoint
    from cnnkit.engine.rebuild import LoadOptions

    how = how or LoadOptions()
    source = read_checkpoint(path, how.trust)
    if source.foreign:
        if not dataset:
            raise CnnkitError(f"{path} holds weights only, not the data they were trained on; pass --dataset")
        plain = load_dataset(dataset, DataOptions(data_dir=data_dir))
        how.data_name, how.data_shape, how.data_names = dataset, tuple(plain.input_shape), list(plain.class_names)
    ckpt, model, dev = load_for_inference(source, device, how)
    config = ckpt.get("config", {})
    spec = dataset or ckpt.get("dataset")
    if not spec:
        raise CnnkitError(f"{path} does not record its dataset; pass --dataset")
    out = Path(out_dir) if out_dir else Path(path).parent
    if out.exists() and not out.is_dir():
        raise CnnkitError(f"--out {out} is a file; give a folder for the confusion matrix / per-image CSV")
    stem = f"{Path(path).stem}-{split}"
    # The write rule (cnnkit.outputs), before any work: never over a file of the user's or the
    # checkpoint, never inside the dataset folder it reads.
    O.check_outside(out, O.dataset_folders(spec), "--out")
    files = ({f"{stem}-confusion.csv": O.TABLE, f"{stem}-confusion.png": O.FIGURE} if ckpt["task"] == "classification"
             else {f"{stem}-per-image.csv": O.TABLE})
    for name, kind in files.items():
        O.check_output(out / name, kind, [path], "--out")
    c = ckpt["input_shape"][0]
    ds = load_dataset(spec, checkpoint_data_options(ckpt, data_dir, same_data=spec == ckpt.get("dataset")))
    if ds.task != ckpt["task"]:
        raise CnnkitError(f"{path} is a {ckpt['task']} model but {spec} is a {ds.task} dataset")
    if ds.input_shape[0] != c:
        raise CnnkitError(f"{path} takes {c}-channel images but {spec} has {ds.input_shape[0]}")
    if ds.num_classes != len(ckpt["class_names"] or []):
        raise CnnkitError(f"{path} predicts {len(ckpt['class_names'])} classes but {spec} has {ds.num_classes}")
    data = ds.split(split)
    names, notes = list(ds.class_names), []
    if ds.task == "classification":
        data, names, notes = match_classes_by_name(path, spec, ckpt["class_names"], ds.class_names, data)
    loader = BatchLoader(data, batch_size, device=dev, normalization=normalization_of(ckpt))  # as predict, not the data's
    meter = make_meter(ds.task, ds.num_classes, ds.ignore_index)
    # as the run tested (its TTA level, e.g. mirror+translate), unless told otherwise (--tta / --no-tta)
    tta = tta_of(config) if tta is None else tta
    with torch.no_grad(), inference_precision(ckpt, dev).autocast():
        for x, y in loader:
            meter.update(forward_tta(model, x, ds.task, tta).float(), y)
    metrics = meter.compute()
    result = {"checkpoint": str(path), "dataset": spec, "split": split, "task": ds.task, "images": len(data),
              "tta": tta not in (False, None, "none"),
              "class_names": names, **metrics}
    notes = list(ckpt["notes"]) + notes  # what loading assumed (foreign weights), then the data's
    if notes:
        result["notes"] = notes
    out.mkdir(parents=True, exist_ok=True)
    if ds.task == "classification":
        from cnnkit.viz.confusion import plot_confusion

        cm = meter.confusion  # also in result["confusion_matrix"], from compute()

        def table(f):
            wr = csv.writer(f)
            wr.writerow(["true \\ predicted", *names])
            for name, row in zip(names, cm.tolist()):
                wr.writerow([name, *row])

        csv_path = O.write_output(out / f"{stem}-confusion.csv", O.TABLE, table, inputs=[path])
        result["confusion_csv"] = str(csv_path)
        result["confusion_png"] = str(plot_confusion(cm, names, out / f"{stem}-confusion.png", inputs=[path]))
    else:
        per = meter.per_image()
        files = data.files or [f"{split}[{i}]" for i in range(len(data))]

        def table(f):
            wr = csv.writer(f)
            wr.writerow(["image", *[f"dice_{n}" for n in ds.class_names], *[f"iou_{n}" for n in ds.class_names], "dice_macro"])
            for i, name in enumerate(files):
                d, j = per["dice"][i], per["iou"][i]
                cell = lambda v: "" if v != v else f"{float(v):.6f}"  # empty: class absent from prediction and target
                wr.writerow([name, *map(cell, d), *map(cell, j), cell(d.nanmean())])

        csv_path = O.write_output(out / f"{stem}-per-image.csv", O.TABLE, table, inputs=[path])
        result["per_image_csv"] = str(csv_path)
    return result


def match_classes_by_name(path, spec: str, model_names: list, data_names: list, data):
    """A classifier's output i means the class it was trained to call model_names[i]; a
    dataset's label j means data_names[j]. Compared by index, "cat" would be scored against
    "dog" whenever the folders sort differently, so classes are matched by name: the same
    names in another order are relabelled to the model's order (and said); names that
    differ are refused, since no accuracy between different classes means anything.
    Returns (data with labels in the model's order, the names in that order, notes)."""
    model_names, data_names = list(model_names or []), list(data_names or [])
    if model_names == data_names:
        return data, model_names, []
    if set(model_names) != set(data_names) or len(model_names) != len(data_names):
        only_model = sorted(set(model_names) - set(data_names))
        only_data = sorted(set(data_names) - set(model_names))
        parts = ([f"only the model has {', '.join(only_model[:5])}"] if only_model else []) + (
            [f"only the dataset has {', '.join(only_data[:5])}"] if only_data else [])
        raise CnnkitError(f"{path} was trained on classes {', '.join(model_names[:8])} but {spec} has "
                          f"{', '.join(data_names[:8])} ({'; '.join(parts) or 'names repeat'}); the accuracy would compare "
                          "different classes: evaluate on a dataset with the model's class folders")
    import copy

    lut = torch.tensor([model_names.index(n) for n in data_names], dtype=torch.int64)
    data = copy.copy(data)  # the dataset's own split is left as loaded
    data.targets = lut[data.targets.long()]
    return data, model_names, [f"{spec} lists the classes in another order; matched to the model's by name"]


def prepare_image(ckpt: dict, path) -> tuple[torch.Tensor, torch.Tensor]:
    """An image file preprocessed exactly as in training: (1, C, H, W) normalised
    float and the (C, H, W) uint8 image it came from. Channels are converted to the
    model's; classification models also get their input size (segmentation models
    take any size)."""
    from cnnkit.data.decode import read_images

    if not Path(path).is_file():
        raise CnnkitError(f"image {path} does not exist")
    return preprocess(ckpt, read_images([Path(path)])[0])


def preprocess(ckpt: dict, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A decoded (C, H, W) uint8 image -> ((1, C, H, W) normalised float, the uint8 image
    at the model's channels and size): prepare_image after reading the file."""
    from cnnkit.data.augment import normalize
    from cnnkit.data.decode import resize_image

    c, h, w = ckpt["input_shape"]
    if img.ndim != 3 or img.dtype != torch.uint8:
        raise CnnkitError(f"an image must be (C, H, W) uint8, got {tuple(img.shape)} {img.dtype}")
    if img.shape[0] != c:  # grey <-> colour to what the model takes
        img = img.expand(3, -1, -1).contiguous() if c == 3 else img.float().mean(0, keepdim=True).round().to(torch.uint8)
    # The size `evaluate` loads the data at: always the input size for classification; for
    # segmentation the run's --image-size when it had one (otherwise the image's own size).
    size = checkpoint_data_options(ckpt).image_size
    if size and tuple(img.shape[1:]) != tuple(size):
        img = resize_image(img, tuple(size))
    norm = normalization_of(ckpt)
    return normalize(img[None], torch.tensor(norm["mean"]), torch.tensor(norm["std"])), img


def predict_images(path, images: list[str], top_k: int = 5, device: str = "auto", out_dir: Optional[str] = None,
                   how=None) -> dict:
    """Top-k classes with probabilities, or one class-index mask PNG per image, through the
    checkpoint's evaluation pipeline (`evaluate`'s size, normalisation and mirror TTA), so
    a prediction equals what `evaluate` scores for the same image.

    Masks go to `out_dir` (default: RUN/predictions/ beside the checkpoint), never beside
    the images, under names no earlier file has (`<stem>_mask.png`, `<stem>_mask-2.png`, ...);
    they are palette PNGs: pixel value = class index, shown in the classes' colours."""
    if top_k < 1:
        raise CnnkitError(f"--top-k must be at least 1, got {top_k}")
    for p in images:  # every input checked before anything is written
        if not Path(p).is_file():
            raise CnnkitError(f"image {p} does not exist" if not Path(p).is_dir() else f"{p} is a folder; give image files")
    ckpt, model, dev = load_for_inference(path, device, how)
    names = ckpt["class_names"] or [str(i) for i in range(1000)]
    tta = tta_of(ckpt.get("config", {}))  # the run's TTA level (e.g. six views), as evaluate and the run's test
    seg = ckpt["task"] == "segmentation"
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
        source = _source_shape(p)
        x, img = prepare_image(ckpt, p)
        with torch.no_grad(), inference_precision(ckpt, dev).autocast():
            logits = forward_tta(model, x.to(dev), ckpt["task"], tta).float()  # (1, K) or (1, K, h, w)
        if not seg:
            results.append({"image": p, "top": top_classes(logits, names, top_k)})
            continue
        from cnnkit.data.decode import resize_mask

        mask = logits.argmax(1)[0].cpu()  # (h, w) at the size the model saw
        full = resize_mask(mask.to(torch.uint8 if len(names) <= 256 else torch.int64), tuple(source[1:]))  # (H, W) the image's own size
        target = _write_mask(out, Path(p).stem, full, len(names), ckpt.get("ignore_index"))
        counts = torch.bincount(mask.reshape(-1), minlength=len(names))
        results.append({"image": p, "mask": str(target), "size": list(source[1:]), "model_size": list(mask.shape), "tta": tta != "none",
                        "class_fractions": {names[i]: round(float(v) / mask.numel(), 6) for i, v in enumerate(counts.tolist())}})
    return {"checkpoint": str(path), "task": ckpt["task"], "tta": tta != "none", "tta_level": tta, "predictions": results,
            "notes": ckpt["notes"]}


def _write_mask(folder: Path, stem: str, mask: torch.Tensor, num_classes: int, ignore_index) -> Path:
    """Write a (H, W) class-index mask as a new file in `folder` (exclusive create: an
    existing file, of this or another run, is never replaced) and return its path."""
    import io

    from PIL import Image

    from cnnkit.viz.palette import palette

    arr = mask.numpy()
    if num_classes <= 256:
        im = Image.fromarray(arr.astype("uint8"))  # "L"; putpalette makes it "P" with the same values
        im.putpalette(palette(num_classes, ignore_index).pil_palette())
    else:
        im = Image.fromarray(arr.astype("uint16"))  # 16-bit grey: no palette holds that many classes
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Software", "cnnkit predict")  # the mark by which cnnkit knows its own mask (cnnkit.outputs)
    buf = io.BytesIO()
    im.save(buf, format="PNG", pnginfo=info)
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(1, 100_000):
        target = folder / (f"{stem}_mask.png" if n == 1 else f"{stem}_mask-{n}.png")
        try:
            with open(target, "xb") as f:
                f.write(buf.getvalue())
            O.record_written(folder, target.name, O.MASK)
            if O.folder_role(folder.parent) == "run":  # RUN/predictions/: --overwrite of the run clears it too
                O.record_written(folder.parent, folder.name, O.FOLDER)
            return target
        except FileExistsError:
            continue
    raise CnnkitError(f"{folder} already holds 100,000 masks of {stem}; choose another --out")


def top_classes(logits: torch.Tensor, names: list[str], k: int) -> list[dict]:
    """The k most probable classes of one image's logits (1, K): [{class, index, probability}]."""
    probs = logits.float().softmax(1)[0]
    top = probs.topk(min(k, len(probs)))
    return [{"class": names[i], "index": int(i), "probability": float(v)} for v, i in zip(top.values.tolist(), top.indices.tolist())]


def segment_image(ckpt: dict, model, image, mask=None) -> dict:
    """Predicted mask of one image, and with a true mask its Dice / IoU / pixel accuracy,
    through the checkpoint's evaluation pipeline: the image (and mask) resized to the
    training --image-size when the run had one, its normalisation, its mirror TTA.
    So the Dice equals `cnnkit evaluate`'s per-image Dice for the same image.

    {'image': (C, h, w) uint8 as the model saw it, 'pred': (h, w), 'truth': (h, w) | None,
    'scores': dict | None, 'notes': [str]}. A true mask holds class indices (or the
    ignore index); 0/255 masks of a 2-class model mean 0/1; other values are refused."""
    from cnnkit.data.decode import resize_mask

    if ckpt["task"] != "segmentation":
        raise CnnkitError(f"this is a {ckpt['task']} model; the segmentation figure needs a segmentation model")
    source = _source_shape(image)
    x, img = prepare_image(ckpt, image)  # resized to the run's --image-size when it had one (preprocess)
    notes = image_notes(source, tuple(img.shape))
    with torch.no_grad(), inference_precision(ckpt, _model_device(model)).autocast():
        logits = forward_tta(model, x, "segmentation", tta_of(ckpt.get("config", {}))).float()  # (1, K, h, w), as evaluate
    pred = logits.argmax(1)[0]
    out = {"image": img, "pred": pred, "truth": None, "scores": None, "notes": notes}
    if mask is None:
        return out
    arr = _class_mask(ckpt, mask, source[1:])
    truth = resize_mask(torch.from_numpy(arr), tuple(pred.shape)).long()  # nearest, as the training data
    return dict(out, truth=truth, scores=_mask_scores(logits, truth, ckpt))


def _source_shape(path) -> tuple[int, int, int]:
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


def _class_mask(ckpt: dict, mask, shape):
    """The true mask as (H, W) class indices, checked against the model's classes."""
    import numpy as np

    from cnnkit.data.decode import read_mask

    p = Path(mask)
    if p.is_dir():
        raise CnnkitError(f"mask {mask} is a folder; give one mask image")
    if not p.is_file():
        raise CnnkitError(f"mask {mask} does not exist")
    arr = read_mask(p)
    if arr.ndim != 2:
        raise CnnkitError(f"mask {mask} is a colour image; give a class-index mask (pixel value = class)")
    if arr.shape != tuple(shape):
        raise CnnkitError(f"mask {mask} is {arr.shape[0]}x{arr.shape[1]} but the image is {shape[0]}x{shape[1]}; give the image's own mask")
    k = len(ckpt["class_names"] or [])
    ignore = ckpt.get("ignore_index", ckpt.get("config", {}).get("ignore_index"))
    values = {int(v) for v in np.unique(arr)}
    real = values - {ignore}
    if k == 2 and 255 in real and real <= {0, 255}:  # a binary 0/255 mask, as training data maps it
        return np.where(arr == 255, 1, arr).astype(np.int64)
    bad = sorted(real - set(range(k)))
    if bad:
        shown = ", ".join(map(str, bad[:12])) + (" ..." if len(bad) > 12 else "")
        extra = "" if ignore is None else f" or the ignore index {ignore}"
        raise CnnkitError(f"mask {mask} holds values {shown} but this model has {k} classes (0..{k - 1}{extra}); "
                          "give a class-index mask for this model")
    return arr.astype(np.int64)


def _mask_scores(logits: torch.Tensor, truth: torch.Tensor, ckpt: dict) -> dict:
    """Dice / IoU / pixel accuracy of one image: logits (1, K, H, W), truth (H, W).
    Dice is the image's macro Dice over the classes present in truth or prediction,
    the number `cnnkit evaluate` writes per image (dice_macro)."""
    from cnnkit.engine.metrics import SegmentationMeter

    meter = SegmentationMeter(len(ckpt["class_names"] or []), ckpt.get("ignore_index", ckpt.get("config", {}).get("ignore_index")))
    meter.update(logits.float().cpu(), truth[None].cpu())
    m = meter.compute()
    return {"Dice": m["dice_mean"], "IoU": m["iou_mean"], "pixel acc": m["pixel_accuracy"]}


def segmentation_examples(ckpt: dict, model, device, data_dir=None, batch_size: int = 16) -> list[dict]:
    """The best, median and worst test images by Dice, ranked over the whole test split
    (the validation split when there is none) through evaluate's pipeline and meter,
    each as segment_image returns it plus a 'label', the image's 'file' and its 'rank'
    out of 'images'."""
    from cnnkit.engine.metrics import SegmentationMeter

    if not ckpt.get("dataset"):
        raise CnnkitError("the checkpoint does not record its dataset")
    ds = load_dataset(ckpt["dataset"], checkpoint_data_options(ckpt, data_dir))
    split = ds.test if ds.test is not None else ds.split("val")
    tta = tta_of(ckpt.get("config", {}))  # the run's TTA level, as evaluate
    loader = BatchLoader(split, batch_size, device=device, normalization=normalization_of(ckpt))
    meter = SegmentationMeter(ds.num_classes, ds.ignore_index)
    preds = []
    with torch.no_grad(), inference_precision(ckpt, device).autocast():
        for x, y in loader:  # in split order (an evaluation loader does not shuffle)
            logits = forward_tta(model, x, "segmentation", tta).float()  # (B, K, H, W)
            meter.update(logits, y)
            preds.append(logits.argmax(1).cpu())
    per = meter.per_image()
    dice, iou = per["dice"].nanmean(1), per["iou"].nanmean(1)  # (N,) as evaluate's per-image CSV
    order = sorted(range(len(dice)), key=lambda i: float(dice[i]) if dice[i] == dice[i] else -1.0)  # NaN sorts first
    picks = {"best": order[-1], "median": order[len(order) // 2], "worst": order[0]}
    pred_all = torch.cat(preds)
    seen, out = set(), []
    for label, i in picks.items():
        if i in seen:  # a split of one or two images has fewer distinct picks
            continue
        seen.add(i)
        truth = split.targets[i].long()
        valid = truth != ds.ignore_index if ds.ignore_index is not None else torch.ones_like(truth, dtype=torch.bool)
        scores = {"Dice": float(dice[i]), "IoU": float(iou[i]), "pixel acc": float((pred_all[i] == truth)[valid].float().mean())}
        out.append({"image": split.images[i], "pred": pred_all[i], "truth": truth, "scores": scores, "label": label,
                    "file": split.files[i] if split.files else f"test[{i}]", "rank": len(order) - order.index(i),
                    "images": len(order)})
    return out


def explain_image(ckpt: dict, model, image, method: str, target=None, layer=None, model_name: str | None = None) -> dict:
    """An attribution map for one image: {'image', 'map' (H, W), 'map_size', 'layer', 'target',
    'target_name', 'probability', 'predicted_name', 'notes'}; the target defaults to the
    predicted class. Grad-CAM uses `layer`, else the model spec's gradcam_layer when its
    map is larger than 1x1 at this input, else the last layer that is (viz.target_layer)."""
    from cnnkit.viz.attribution import check_relus

    if ckpt["task"] != "classification":  # before reading the image: the model is the first thing wrong
        raise CnnkitError(f"this is a {ckpt['task']} model; attribution explains a class decision")
    if method in ("guided-backprop", "deconvolution"):
        check_relus(model, method, ckpt["model"]["name"])
    source = _source_shape(image)
    x, img = prepare_image(ckpt, image)
    return explain_tensor(ckpt, model, x, img, method, target, layer, image_notes(source, tuple(img.shape)))


def explain_tensor(ckpt: dict, model, x: torch.Tensor, img: torch.Tensor, method: str, target=None, layer=None,
                   notes: list | None = None) -> dict:
    """explain_image for an image already preprocessed: x (1, C, H, W) as `preprocess` gives it,
    img the (C, H, W) uint8 image it came from (`cnnkit explore` keeps its inputs so)."""
    from cnnkit.models.source import layer_hints
    from cnnkit.viz.attribution import attribute, check_relus
    from cnnkit.viz.target_layer import check_layer, spatial_layer

    if ckpt["task"] != "classification":
        raise CnnkitError(f"this is a {ckpt['task']} model; attribution explains a class decision")
    if method in ("guided-backprop", "deconvolution"):
        check_relus(model, method, ckpt["model"]["name"])
    with torch.no_grad():
        probs = model(x).softmax(1)[0]
    names = ckpt["class_names"] or [str(i) for i in range(len(probs))]
    cls = int(probs.argmax()) if target is None else target
    if not 0 <= cls < len(probs):
        raise CnnkitError(f"--target {cls} is not a class index (0..{len(probs) - 1})")
    used = None
    if method == "gradcam":
        if layer:
            check_layer(model, x, layer)
            used = layer
        else:
            used, _ = spatial_layer(model, x, layer_hints(ckpt["model"])[1])  # a registered model's own choice, else found
    a = attribute(model, x, method, cls, used)
    return {"image": img, "map": a["map"], "map_size": list(a["map_size"]), "layer": used, "target": cls,
            "target_name": names[cls], "probability": float(probs[cls]), "predicted_name": names[int(probs.argmax())],
            "notes": list(notes or [])}


def training_images(ckpt: dict, data_dir=None, limit: int = 2000, split: str = "train") -> dict | None:
    """Up to `limit` images of the checkpoint's dataset (its `split`: train or test) at its
    input size, spread evenly over the whole split (folder data is sorted by class: the
    first 2,000 would be two or three classes): {'images': (N, C, H, W) uint8, 'labels': (N,)
    or None, 'files': [str], 'class_names', 'total'}, or None without a recorded dataset."""
    if not ckpt.get("dataset"):
        return None
    ds = load_dataset(ckpt["dataset"], checkpoint_data_options(ckpt, data_dir))
    part = getattr(ds, split)
    if part is None:
        raise CnnkitError(f"{ckpt['dataset']} has no {split} split here; use --split train")
    n = len(part)
    index = torch.arange(n) if n <= limit else torch.linspace(0, n - 1, limit).round().long().unique()
    labels = part.targets[index] if ds.task == "classification" else None
    # built-in data has no files: name each image by its split and index there ("test[161]")
    files = [part.files[i] for i in index.tolist()] if part.files else [f"{split}[{i}]" for i in index.tolist()]
    return {"images": part.images[index], "labels": labels, "files": files, "class_names": ds.class_names, "total": n}
