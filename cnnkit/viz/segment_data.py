"""The numbers of the segmentation figure (`cnnkit visualize segmentation`, the report's
examples, `cnnkit explore`): one image's predicted mask and its Dice / IoU against a true
mask, and the best, median and worst test images, all through evaluate's pipeline."""

from __future__ import annotations

from pathlib import Path

import torch

from cnnkit.data.catalog import load_dataset
from cnnkit.data.loader import BatchLoader
from cnnkit.engine.checkpoint import Checkpoint
from cnnkit.engine.inference import image_notes, infer, inference_precision, prepare_image, source_shape
from cnnkit.engine.tta import forward_tta
from cnnkit.errors import CnnkitError


def segment_image(ckpt: Checkpoint, model, image, mask=None) -> dict:
    """Predicted mask of one image, and with a true mask its Dice / IoU / pixel accuracy,
    through the checkpoint's evaluation pipeline: the image (and mask) resized to the
    training --image-size when the run had one, its normalisation, its mirror TTA.
    So the Dice equals `cnnkit evaluate`'s per-image Dice for the same image.

    {'image': (C, h, w) uint8 as the model saw it, 'pred': (h, w), 'truth': (h, w) | None,
    'scores': dict | None, 'notes': [str]}. A true mask holds class indices (or the
    ignore index); 0/255 masks of a 2-class model mean 0/1; other values are refused."""
    from cnnkit.data.decode import resize_mask

    if ckpt.task != "segmentation":
        raise CnnkitError(f"this is a {ckpt.task} model; the segmentation figure needs a segmentation model")
    source = source_shape(image)
    x, img = prepare_image(ckpt, image)  # resized to the run's --image-size when it had one (preprocess)
    notes = image_notes(source, tuple(img.shape))
    logits = infer(ckpt, model, x)  # (1, K, h, w), as evaluate: the run's TTA and precision
    pred = logits.argmax(1)[0]
    out = {"image": img, "pred": pred, "truth": None, "scores": None, "notes": notes}
    if mask is None:
        return out
    arr = _class_mask(ckpt, mask, source[1:])
    truth = resize_mask(torch.from_numpy(arr), tuple(pred.shape)).long()  # nearest, as the training data
    return dict(out, truth=truth, scores=_mask_scores(logits, truth, ckpt))


def _class_mask(ckpt: Checkpoint, mask, shape):
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
    k = ckpt.num_classes
    ignore = ckpt.ignore_index
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


def _mask_scores(logits: torch.Tensor, truth: torch.Tensor, ckpt: Checkpoint) -> dict:
    """Dice / IoU / pixel accuracy of one image: logits (1, K, H, W), truth (H, W).
    Dice is the image's macro Dice over the classes present in truth or prediction,
    the number `cnnkit evaluate` writes per image (dice_macro)."""
    from cnnkit.engine.metrics import SegmentationMeter

    meter = SegmentationMeter(ckpt.num_classes, ckpt.ignore_index)
    meter.update(logits.float().cpu(), truth[None].cpu())
    m = meter.compute()
    return {"Dice": m["dice_mean"], "IoU": m["iou_mean"], "pixel acc": m["pixel_accuracy"]}


def segmentation_examples(ckpt: Checkpoint, model, device, data_dir=None, batch_size: int = 16) -> list[dict]:
    """The best, median and worst test images by Dice, ranked over the whole test split
    (the validation split when there is none) through evaluate's pipeline and meter,
    each as segment_image returns it plus a 'label', the image's 'file' and its 'rank'
    out of 'images'."""
    from cnnkit.engine.metrics import SegmentationMeter

    if not ckpt.dataset:
        raise CnnkitError("the checkpoint does not record its dataset")
    ds = load_dataset(ckpt.dataset, ckpt.data_options(data_dir))
    split = ds.test if ds.test is not None else ds.split("val")
    tta = ckpt.tta_level  # the run's TTA level, as evaluate
    loader = BatchLoader(split, batch_size, device=device, normalization=ckpt.normalization_or_default)
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
