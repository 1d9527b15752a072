"""`folder:PATH` (class folders) and `segfolder:PATH` (images + masks) datasets.

Layouts (../shared/CLI.md):
    folder:    PATH/train/<class>/*, PATH/test/<class>/*, optional PATH/val/<class>/*
               or PATH/<class>/* (one level; train/test split made here)
    segfolder: PATH/images/* + PATH/masks/* paired by file stem (a mask may be
               named <stem>_mask), or PATH/{train,test[,val]}/{images,masks}
"""

from __future__ import annotations

import os
import re
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


def empty_split_problem(scan: dict, root: Path) -> str | None:
    """A val/ or test/ folder with no images would be measured on 0 images: an accuracy of
    0.0 that means nothing. Said here once, for training, evaluation and `data check`."""
    empty = [split for split, items in scan["splits"].items() if split != "train" and not items]
    if not empty:
        return None
    return (f"{root}/{empty[0]}/ holds no images, so every number measured on it would be about 0 images; "
            f"add images to {root}/{empty[0]}/ (as in train/), or remove the empty folder (cnnkit then holds out "
            "--test-split / --val-split of train/)")


def one_class_problem(scan: dict, root: Path) -> str | None:
    """With one class every prediction is right, so a "trained" model would score 1.0 and mean nothing."""
    with_images = sorted({scan["classes"][label] for _, label in scan["splits"]["train"]})
    if len(with_images) >= 2:
        return None
    return (f"{root} has training images of one class only ({with_images[0]}); a classifier needs at least two: "
            f"add a folder of images per class ({root}/<class>/...)")


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
    sparse = sparse_class_values(values, ignore_index)
    if sparse:
        lookup = {v: i for i, v in enumerate(sparse)}
        return lookup, "mapped sparse mask values " + ", ".join(map(str, sparse)) + f" to classes 0..{len(sparse) - 1}"
    return None, None


def sparse_class_values(values, ignore_index: int | None) -> list[int] | None:
    """The stored values that become classes 0, 1, 2, ... when a few sparse values such as
    {0, 128, 255} are labels (mask_value_mapping), else None. A binary 0/255 mask is not
    sparse labels: it is foreground on background."""
    real = sorted(v for v in values if v != ignore_index)
    if not real or (set(real) <= {0, 255} and 255 in real):
        return None
    return real if real[-1] + 1 > 2 * len(real) and len(real) <= 32 else None


MAX_SPARSE_CLASSES = 32  # more distinct sparse values than this is noise, not a label set


def mask_value_problems(counts: dict[int, int], ignore_index: int | None = None, colours: int = 0) -> list[tuple[str, str]]:
    """(problem, fix) for stored mask values that are not a set of class labels.

    `counts` is {stored value: pixels} over all masks (grey or palette masks); `colours` the
    number of distinct colours of RGB colour masks. Caught here, so a noisy mask never
    silently becomes a 40- or 256-class problem:
      * greyscale images rather than labels: many sparse values (smoothing, JPEG, scans);
      * 0/255 masks with a few in-between values (anti-aliased edges from resizing);
      * colour masks with more colours than a palette of classes;
      * values of 16-bit masks above 255."""
    problems = []
    real = {v: n for v, n in counts.items() if v != ignore_index}
    values = sorted(real)
    total = sum(real.values()) or 1

    def census(vs):
        top = sorted(vs, key=lambda v: -real[v])[:5]
        return ", ".join(f"{v}: {real[v]} px ({real[v] / total:.1%})" for v in top)

    if colours > MAX_SPARSE_CLASSES:
        problems.append((f"colour masks hold {colours} distinct colours, more than a set of classes",
                         "save masks as class-index PNGs (0, 1, 2, ...) or with exact colours (no smoothing, no JPEG)"))
    if values and values[-1] > 255:
        problems.append((f"mask values go up to {values[-1]} (16-bit masks?)",
                         "save masks as 8-bit class-index PNGs (0, 1, 2, ... or 0/255 for two classes)"))
        return problems
    dense = not values or values[-1] + 1 <= 2 * len(values)  # 0..K-1 with few gaps: class indices as they are
    middle = [v for v in values if v not in (0, 255)]
    if 0 in real and 255 in real and len(middle) >= 3 and sum(real[v] for v in middle) < 0.05 * total:
        problems.append((f"masks look binary (0/255) but {len(middle)} in-between values cover "
                         f"{sum(real[v] for v in middle) / total:.2%} of the pixels (anti-aliasing or JPEG; most common: {census(middle)})",
                         "threshold the masks (e.g. value > 127 -> 255) and save them as PNG; resize masks with nearest neighbour"))
    elif not dense and len(values) > MAX_SPARSE_CLASSES:
        problems.append((f"masks hold {len(values)} distinct values between {values[0]} and {values[-1]} "
                         f"(most common: {census(values)}): greyscale images, not class labels",
                         "masks must hold class indices (0, 1, 2, ...) or 0/255; re-export them without smoothing or JPEG, "
                         "or threshold them; set --ignore-index for an 'unlabelled' value"))
    return problems


def num_classes_of(values: set[int], ignore_index: int | None) -> int:
    """Classes that stored mask values become (at least 2): what training builds the model
    for, and what `cnnkit data check` holds classes.txt against (one rule, here)."""
    lookup, _ = mask_value_mapping(set(values), ignore_index)
    present = {(lookup or {}).get(int(v), int(v)) for v in values if v != ignore_index}
    return max(max(present) + 1 if present else 2, 2)


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
        n_colours = len({tuple(c) for m in raw for c in np.unique(m.reshape(-1, 3), axis=0).tolist()})
        for problem, fix in mask_value_problems({}, None, n_colours):
            raise DataError(f"{problem}; {fix} (see `cnnkit data check`)")
        named = read_names_file(root)
        if named is not None and named[1] is not None:  # the names file's colours, in its order
            raw, palette = colour_masks_to_indices(raw, named[1], named[2])
            notes.append(f"mask colours mapped to classes in the order of {named[2].name}")
        else:
            raw, palette = colour_masks_to_indices(raw)
            notes.append("mapped mask colours " + ", ".join(f"#{r:02x}{g:02x}{b:02x}" for r, g, b in palette) + " to classes 0..")
    for (_, (img, m)), arr, t in zip(items, raw, images):
        if arr.shape != tuple(t.shape[1:]):
            raise DataError(f"mask {m} is {arr.shape[0]}x{arr.shape[1]} but its image {img.name} is {t.shape[1]}x{t.shape[2]}; masks must match their images")
    counts: dict[int, int] = {}
    for arr in raw:
        for v, n in zip(*np.unique(arr, return_counts=True)):
            counts[int(v)] = counts.get(int(v), 0) + int(n)
    values = set(counts)
    for problem, fix in mask_value_problems(counts, ignore_index):
        raise DataError(f"{problem}; {fix} (see `cnnkit data check`)")
    lookup, note = mask_value_mapping(values, ignore_index)
    if note:
        notes.append(note)
    table = np.arange(256, dtype=np.uint8)
    if lookup:
        for k, v in lookup.items():
            table[k] = v
    masks = torch.stack([resize_mask(torch.from_numpy(table[arr.astype(np.int64)]), size) for arr in raw])
    num_classes = num_classes_of(values, ignore_index)
    out = {"layout": scan["layout"], "notes": notes, "num_classes": num_classes, "mask_values": sorted(values)}
    start = 0
    for split, pairs in scan["splits"].items():
        n = len(pairs)
        out[split] = {"images": stacked[start : start + n].clone(), "targets": masks[start : start + n].clone(), "files": [str(p) for p, _ in pairs]}
        start += n
    return out


# Names files a segmentation folder may hold, looked for in this order: one name per line,
# or a name and a colour per line as CamVid's distributions ship them (class_dict.csv:
# "name,r,g,b" with a header; label_colors.txt: "r g b name").
NAME_FILES = ("classes.txt", "class_dict.csv", "classes.csv", "label_colors.txt")
VOID_NAMES = re.compile(r"^(void|unlabel+ed|unlabel+ed.*|ignore|ignored|don.?t.?care)$", re.IGNORECASE)


def names_file(root: Path) -> Path | None:
    return next((root / n for n in NAME_FILES if (root / n).is_file()), None)


def read_names_file(root: Path) -> tuple[list[str], list[tuple[int, int, int]] | None, Path] | None:
    """(names in class order, their colours or None, the file) from the folder's names file."""
    f = names_file(root)
    if f is None:
        return None
    from cnnkit.textfile import read_user_text

    names, colours = [], []
    lines = [ln.strip() for ln in read_user_text(f, "class-name list").splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    for i, line in enumerate(lines):
        parts = [p.strip() for p in (line.split(",") if "," in line else line.split())]
        ints = [p.isdigit() for p in parts]
        if len(parts) >= 4 and not ints[0] and all(ints[1:4]) and len(parts) == 4:  # name,r,g,b
            names.append(parts[0])
            colours.append(tuple(int(v) for v in parts[1:4]))
        elif len(parts) >= 4 and all(ints[:3]) and not ints[3]:  # r g b name (the name may hold spaces)
            names.append(" ".join(parts[3:]))
            colours.append(tuple(int(v) for v in parts[:3]))
        elif i == 0 and len(parts) == 4 and not any(ints):  # a header such as name,r,g,b
            continue
        elif len(parts) == 1 or not any(ints):
            names.append(line)
            colours.append(None)
        else:
            raise DataError(f"{f} line {i + 1} {line!r}: give one class name per line, or a name and a colour "
                            "(name,r,g,b or r g b name)")
    if not names:
        raise DataError(f"{f} names no classes; give one class name per line, or delete it")
    if any(c is not None and max(c) > 255 for c in colours):
        raise DataError(f"{f}: colours are r g b values in 0..255")
    given = [c for c in colours if c is not None]
    if given and len(given) != len(colours):
        raise DataError(f"{f}: some lines give a colour and some do not; give every class a colour or none")
    return names, (colours if given else None), f


def class_names_file(root: Path, n: int) -> list[str] | None:
    """The class names of the folder's names file (classes.txt, class_dict.csv, ...), in class-index order."""
    found = read_names_file(root)
    if found is None:
        return None
    names, _, f = found
    if len(names) < n:
        raise DataError(f"{f} names {len(names)} classes but the masks use {n}; add the missing names")
    return names
