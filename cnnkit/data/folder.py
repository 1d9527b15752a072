"""`folder:PATH` (class folders) and `segfolder:PATH` (images + masks) datasets.

Layouts (../shared/CLI.md):
    folder:    PATH/train/<class>/*, PATH/test/<class>/*, optional PATH/val/<class>/*
               or PATH/<class>/* (one level; train/test split made here)
    segfolder: PATH/images/* + PATH/masks/* paired by file stem (a mask may be
               named <stem>_mask), or PATH/{train,test[,val]}/{images,masks}
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from cnnkit.data.decode import (
    DataError,
    colour_masks_to_indices,
    is_image,
    read_images,
    read_mask,
    resize_mask,
    stack_images,
)

SPLITS = ("train", "val", "test")
MASK_SUFFIXES = ("", "_mask", "-mask", "_label", "_labels", "_gt")


def require_folder(path: Path, spec: str) -> Path:
    if not path.exists():
        raise DataError(f"dataset folder {path} does not exist (from {spec!r}); check the path")
    if not path.is_dir():
        raise DataError(f"{path} is a file, not a folder; {spec.split(':')[0]}: takes a folder")
    return path


def _images_in(folder: Path) -> list[Path]:
    # os.scandir knows file types without a stat per file (60,000 CIFAR files: 0.1 s)
    with os.scandir(folder) as it:
        names = sorted(e.name for e in it if e.is_file() and is_image(Path(e.name)))
    return [folder / n for n in names]


def _class_dirs(folder: Path) -> list[Path]:
    with os.scandir(folder) as it:
        names = sorted(e.name for e in it if e.is_dir() and not e.name.startswith("."))
    return [folder / n for n in names]


# ---------------------------------------------------------------- classification


def scan_class_folders(root: Path) -> dict:
    """{'layout': 'split'|'flat', 'classes': [...], 'splits': {split: [(path, label), ...]}}."""
    has_splits = (root / "train").is_dir()
    if has_splits:
        classes = [d.name for d in _class_dirs(root / "train")]
        if not classes:
            raise DataError(f"{root / 'train'} has no class folders; expected {root}/train/<class>/<image files>")
        splits = {}
        for split in SPLITS:
            folder = root / split
            if not folder.is_dir():
                continue
            found = [d.name for d in _class_dirs(folder)]
            extra = sorted(set(found) - set(classes))
            if extra:
                raise DataError(f"{folder} has class folders missing from train/: {', '.join(extra[:5])}; add them to train/ or remove them")
            splits[split] = [(p, classes.index(d)) for d in found for p in _images_in(folder / d)]
        layout = "split"
    else:
        dirs = _class_dirs(root)
        if not dirs:
            raise DataError(f"{root} holds no class folders; expected {root}/<class>/<images> or {root}/train/<class>/<images>")
        classes = [d.name for d in dirs]
        splits = {"train": [(p, i) for i, d in enumerate(dirs) for p in _images_in(d)]}
        layout = "flat"
    if not splits["train"]:
        raise DataError(f"no image files under {root} (looked for {', '.join(('.jpg', '.png', '.bmp', '...'))})")
    return {"layout": layout, "classes": classes, "splits": splits}


def load_class_folders(root: Path, image_size=None) -> dict:
    """Decode a scanned class-folder dataset: {'classes', 'layout', 'notes', split: {...}}."""
    scan = scan_class_folders(root)
    out = {"classes": scan["classes"], "layout": scan["layout"], "notes": []}
    all_items = [it for items in scan["splits"].values() for it in items]
    images = read_images([p for p, _ in all_items])
    stacked, notes = stack_images(images, image_size)
    out["notes"] += notes
    start = 0
    for split, items in scan["splits"].items():
        n = len(items)
        out[split] = {
            "images": stacked[start : start + n].clone(),
            "targets": torch.tensor([label for _, label in items], dtype=torch.int64),
            "files": [str(p) for p, _ in items],
        }
        start += n
    return out


# ---------------------------------------------------------------- segmentation


def _pairs(images_dir: Path, masks_dir: Path) -> tuple[list[tuple[Path, Path]], list[Path], list[Path]]:
    """Pair images with masks by stem. Returns (pairs, images without mask, masks without image)."""
    masks = {p.stem: p for p in _images_in(masks_dir)}
    used, pairs, lonely_images = set(), [], []
    for img in _images_in(images_dir):
        for suffix in MASK_SUFFIXES:
            m = masks.get(img.stem + suffix)
            if m is not None:
                pairs.append((img, m))
                used.add(m.stem)
                break
        else:
            lonely_images.append(img)
    lonely_masks = [p for stem, p in sorted(masks.items()) if stem not in used]
    return pairs, lonely_images, lonely_masks


def scan_seg_folders(root: Path) -> dict:
    """{'layout', 'splits': {split: pairs}, 'unpaired_images', 'unpaired_masks'}."""
    if (root / "images").is_dir() and (root / "masks").is_dir():
        bases = {"train": root}
        layout = "flat"
    elif (root / "train" / "images").is_dir():
        bases = {s: root / s for s in SPLITS if (root / s / "images").is_dir()}
        layout = "split"
    else:
        raise DataError(f"{root} needs images/ and masks/ folders (or train/images and train/masks); see `cnnkit data check --help`")
    splits, lonely_images, lonely_masks = {}, [], []
    for split, base in bases.items():
        if not (base / "masks").is_dir():
            raise DataError(f"{base / 'images'} has no sibling masks/ folder; put the masks in {base / 'masks'}")
        pairs, li, lm = _pairs(base / "images", base / "masks")
        splits[split] = pairs
        lonely_images += li
        lonely_masks += lm
    if not splits.get("train"):
        raise DataError(f"no image/mask pairs under {root}; masks are paired with images by file stem (a.png <-> masks/a.png)")
    return {"layout": layout, "splits": splits, "unpaired_images": lonely_images, "unpaired_masks": lonely_masks}


def mask_value_mapping(values: set[int], ignore_index: int | None) -> tuple[dict[int, int] | None, str | None]:
    """How stored mask values become class indices: None (as they are) or a lookup.

    0/255 binary masks become 0/1; a few sparse values such as {0, 128, 255}
    become 0, 1, 2. The ignore index is kept as it is."""
    real = sorted(v for v in values if v != ignore_index)
    if real and set(real) <= {0, 255} and 255 in real:
        return {0: 0, 255: 1}, "mapped mask values 0/255 to classes 0/1"
    if real and real[-1] + 1 > 2 * len(real) and len(real) <= 32:
        lookup = {v: i for i, v in enumerate(real)}
        return lookup, "mapped sparse mask values " + ", ".join(map(str, real)) + f" to classes 0..{len(real) - 1}"
    return None, None


def load_seg_folders(root: Path, image_size=None, ignore_index: int | None = None) -> dict:
    scan = scan_seg_folders(root)
    if scan["unpaired_masks"]:
        m = scan["unpaired_masks"]
        raise DataError(f"mask {m[0]} has no image{f' (and {len(m) - 1} more)' if len(m) > 1 else ''}; add the image or remove the mask (see `cnnkit data check`)")
    if scan["unpaired_images"]:
        m = scan["unpaired_images"]
        raise DataError(f"image {m[0]} has no mask{f' (and {len(m) - 1} more)' if len(m) > 1 else ''}; add its mask to masks/ with the same file stem")
    items = [(split, pair) for split, pairs in scan["splits"].items() for pair in pairs]
    images = read_images([img for _, (img, _) in items])
    stacked, notes = stack_images(images, image_size)
    size = tuple(stacked.shape[2:])
    raw = [read_mask(m) for _, (_, m) in items]
    colour = [r for r in raw if r.ndim == 3]
    if colour:
        if len(colour) != len(raw):
            raise DataError("some masks are colour (RGB) and some greyscale; save them all the same way")
        raw, palette = colour_masks_to_indices(raw)
        notes.append("mapped mask colours " + ", ".join(f"#{r:02x}{g:02x}{b:02x}" for r, g, b in palette) + " to classes 0..")
    for (_, (img, m)), arr, t in zip(items, raw, images):
        if arr.shape != tuple(t.shape[1:]):
            raise DataError(f"mask {m} is {arr.shape[0]}x{arr.shape[1]} but its image {img.name} is {t.shape[1]}x{t.shape[2]}; masks must match their images")
    values = set()
    for arr in raw:
        values.update(int(v) for v in np.unique(arr))
    lookup, note = mask_value_mapping(values, ignore_index)
    if note:
        notes.append(note)
    if max(values) > 255:
        raise DataError(f"mask values go up to {max(values)}; cnnkit supports at most 255 classes in 8-bit class-index masks")
    table = np.arange(256, dtype=np.uint8)
    if lookup:
        for k, v in lookup.items():
            table[k] = v
    masks = torch.stack([resize_mask(torch.from_numpy(table[arr.astype(np.int64)]), size) for arr in raw])
    classes_present = sorted({int(table[v]) for v in values if v != ignore_index})
    num_classes = max(classes_present) + 1 if classes_present else 2
    num_classes = max(num_classes, 2)
    out = {"layout": scan["layout"], "notes": notes, "num_classes": num_classes, "mask_values": sorted(values)}
    start = 0
    for split, pairs in scan["splits"].items():
        n = len(pairs)
        out[split] = {"images": stacked[start : start + n].clone(), "targets": masks[start : start + n].clone(), "files": [str(p) for p, _ in pairs]}
        start += n
    return out


def class_names_file(root: Path, n: int) -> list[str] | None:
    """Optional PATH/classes.txt, one class name per line, in class-index order."""
    f = root / "classes.txt"
    if not f.is_file():
        return None
    names = [ln.strip() for ln in f.read_text().splitlines() if ln.strip()]
    if len(names) < n:
        raise DataError(f"{f} names {len(names)} classes but the masks use {n}; add the missing names")
    return names
