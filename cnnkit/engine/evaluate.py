"""`cnnkit evaluate` as a library call: a checkpoint's metrics on a dataset's split, and the
confusion matrix or per-image table beside it. Prediction and preprocessing are
engine/inference.py's; this module runs the same pipeline over a whole split."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Optional

import torch

from cnnkit import outputs as O
from cnnkit.data.catalog import load_dataset
from cnnkit.data.loader import BatchLoader
from cnnkit.engine.checkpoint import Checkpoint
from cnnkit.engine.inference import inference_precision, load_with_data
from cnnkit.engine.metrics import make_meter
from cnnkit.engine.tta import forward_tta
from cnnkit.errors import CnnkitError


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
    ckpt, model, dev = load_with_data(path, device, how, dataset, data_dir, need_data=True)
    spec = dataset or ckpt.dataset
    if not spec:
        raise CnnkitError(f"{path} does not record its dataset; pass --dataset")
    out = Path(out_dir) if out_dir else Path(path).parent
    stem = f"{Path(path).stem}-{split}"
    _check_outputs(path, ckpt, spec, out, stem)
    ds = _checked_dataset(path, ckpt, spec, data_dir)
    data = ds.split(split)
    names, notes = list(ds.class_names), []
    if ds.task == "classification":
        data, names, notes = match_classes_by_name(path, spec, ckpt.class_names, ds.class_names, data)
    loader = BatchLoader(data, batch_size, device=dev, normalization=ckpt.normalization_or_default)  # as predict, not the data's
    meter = make_meter(ds.task, ds.num_classes, ds.ignore_index)
    # as the run tested (its TTA level, e.g. mirror+translate), unless told otherwise (--tta / --no-tta)
    tta = ckpt.tta_level if tta is None else tta
    with torch.no_grad(), inference_precision(ckpt, dev).autocast():
        for x, y in loader:
            meter.update(forward_tta(model, x, ds.task, tta).float(), y)
    metrics = meter.compute()
    result = {"checkpoint": str(path), "dataset": spec, "split": split, "task": ds.task, "images": len(data),
              "tta": tta not in (False, None, "none"),
              "class_names": names, **metrics}
    notes = list(ckpt.notes) + notes  # what loading assumed (foreign weights), then the data's
    if notes:
        result["notes"] = notes
    out.mkdir(parents=True, exist_ok=True)
    if ds.task == "classification":
        result.update(_write_confusion(path, out, stem, meter.confusion, names))
    else:
        files = data.files or [f"{split}[{i}]" for i in range(len(data))]
        result.update(_write_per_image(path, out, stem, meter.per_image(), files, ds.class_names))
    return result


def _check_outputs(path, ckpt: Checkpoint, spec: str, out: Path, stem: str) -> None:
    """The write rule (cnnkit.outputs), before any work: never over a file of the user's or the
    checkpoint, never inside the dataset folder it reads."""
    if out.exists() and not out.is_dir():
        raise CnnkitError(f"--out {out} is a file; give a folder for the confusion matrix / per-image CSV")
    O.check_outside(out, O.dataset_folders(spec), "--out")
    files = ({f"{stem}-confusion.csv": O.TABLE, f"{stem}-confusion.png": O.FIGURE} if ckpt.task == "classification"
             else {f"{stem}-per-image.csv": O.TABLE})
    for name, kind in files.items():
        O.check_output(out / name, kind, [path], "--out")


def _checked_dataset(path, ckpt: Checkpoint, spec: str, data_dir):
    """The dataset loaded as the checkpoint's run did (its splits on its own data), refused
    when its task, channels or number of classes differ from the model's."""
    c = ckpt.input_shape[0]
    ds = load_dataset(spec, ckpt.data_options(data_dir, same_data=spec == ckpt.dataset))
    if ds.task != ckpt.task:
        raise CnnkitError(f"{path} is a {ckpt.task} model but {spec} is a {ds.task} dataset")
    if ds.input_shape[0] != c:
        raise CnnkitError(f"{path} takes {c}-channel images but {spec} has {ds.input_shape[0]}")
    if ds.num_classes != ckpt.num_classes:
        raise CnnkitError(f"{path} predicts {ckpt.num_classes} classes but {spec} has {ds.num_classes}")
    return ds


def _write_confusion(path, out: Path, stem: str, cm: torch.Tensor, names: list) -> dict:
    """The (K, K) confusion matrix as CSV and PNG (rows: true class, columns: predicted)."""
    from cnnkit.viz.confusion import plot_confusion

    def table(f):
        wr = csv.writer(f)
        wr.writerow(["true \\ predicted", *names])
        for name, row in zip(names, cm.tolist()):
            wr.writerow([name, *row])

    csv_path = O.write_output(out / f"{stem}-confusion.csv", O.TABLE, table, inputs=[path])
    return {"confusion_csv": str(csv_path),
            "confusion_png": str(plot_confusion(cm, names, out / f"{stem}-confusion.png", inputs=[path]))}


def _write_per_image(path, out: Path, stem: str, per: dict, files: list, class_names: list) -> dict:
    """One CSV row per image: its Dice and IoU per class (per['dice'], per['iou']: (N, K)) and its macro Dice."""
    def table(f):
        wr = csv.writer(f)
        wr.writerow(["image", *[f"dice_{n}" for n in class_names], *[f"iou_{n}" for n in class_names], "dice_macro"])
        for i, name in enumerate(files):
            d, j = per["dice"][i], per["iou"][i]
            cell = lambda v: "" if v != v else f"{float(v):.6f}"  # empty: class absent from prediction and target
            wr.writerow([name, *map(cell, d), *map(cell, j), cell(d.nanmean())])

    return {"per_image_csv": str(O.write_output(out / f"{stem}-per-image.csv", O.TABLE, table, inputs=[path]))}


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
