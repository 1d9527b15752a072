"""The dataset registry: one spec string -> a ready `Dataset`.

Specs: `shapes`, `shapes-seg` (built in; options as `shapes:n=4000,size=48`), the
named torchvision datasets in cnnkit.data.named, `folder:PATH` and `segfolder:PATH`.
Loading adds the validation split (from train, deterministic) and the
normalisation statistics (from the train split only).
"""

from __future__ import annotations

import difflib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import torch

from cnnkit.data.cache import cached, data_root, fingerprint
from cnnkit.data.decode import DataError, read_images
from cnnkit.data.named import NAMED, load_named
from cnnkit.data.splits import Dataset, Split, hold_out_validation, holdout, train_statistics

BUILTIN = {
    "shapes": "built in: 4 shape classes (circle, square, triangle, cross) drawn with noise, 32x32 RGB; offline",
    "shapes-seg": "built in: the shapes scenes with per-pixel masks (background + 4 shape classes); offline",
}
PATH_KINDS = {
    "folder": "folder:PATH - PATH/train/<class>/*, PATH/test/<class>/* (optional val/), or PATH/<class>/*",
    "segfolder": "segfolder:PATH - PATH/images + PATH/masks paired by stem, or PATH/{train,test}/{images,masks}",
}


@dataclass
class DataOptions:
    data_dir: Optional[str] = None
    val_split: float = 0.1  # fraction of train held out for model selection (0 = none)
    split_seed: int = 0  # the split never depends on the training seed
    test_split: float = 0.2  # for layouts without a test folder
    image_size: Optional[tuple[int, int]] = None
    ignore_index: Optional[int] = None
    download: bool = True


def dataset_names() -> list[str]:
    return [*BUILTIN, *NAMED]


def describe_datasets() -> list[dict]:
    rows = [{"name": n, "task": "segmentation" if n.endswith("-seg") else "classification", "description": d} for n, d in BUILTIN.items()]
    rows += [{"name": n, "task": d.task, "description": d.description} for n, d in NAMED.items()]
    rows += [{"name": f"{k}:PATH", "task": "segmentation" if k == "segfolder" else "classification", "description": d} for k, d in PATH_KINDS.items()]
    return rows


def dataset_task(spec: str) -> str:
    kind, _, _ = spec.partition(":")
    if kind in ("segfolder", "shapes-seg") or NAMED.get(kind) and NAMED[kind].task == "segmentation":
        return "segmentation"
    check_known(kind, spec)
    return "classification"


def ignore_index_refusal(dataset: str) -> str:
    """Why --ignore-index has no meaning for classification (one place: train, sweep, data check)."""
    return (f"--ignore-index is for segmentation masks (a mask value that is no class, e.g. 255 on borders); {dataset} "
            "is a classification dataset, one label per image, where the class would never be learnt yet still "
            "counted in accuracy; drop --ignore-index (to leave a class out, move its folder out of the dataset)")


def check_known(kind: str, spec: str) -> None:
    if kind in BUILTIN or kind in NAMED or kind in PATH_KINDS:
        return
    close = difflib.get_close_matches(kind, [*dataset_names(), *PATH_KINDS], n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise DataError(f"unknown dataset {spec!r}; {hint}run `cnnkit data list` for the names, or use folder:PATH / segfolder:PATH")


# images before the test quarter is added: classification has enough for two epochs of a few
# hundred steps (what the plain nets need to leave chance); a segmentation scene is 1,024 targets
DEFAULT_N = {"shapes": 4800, "shapes-seg": 2400}


def _builtin_options(spec: str, text: str) -> dict:
    opts = {"n": DEFAULT_N[spec.partition(":")[0]], "size": 32, "seed": 0}
    for item in filter(None, (t.strip() for t in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in opts or not value.strip().isdigit():
            raise DataError(f"bad option {item!r} in {spec!r}; built-in datasets take n=, size= and seed=, e.g. shapes:n=4000,size=48")
        opts[key] = int(value)
    return opts


def _check_builtin(opts: dict, spec: str) -> None:
    """make_shapes draws n scenes of size x size pixels: keep them drawable and in memory."""
    if not 1 <= opts["n"] <= 200_000:
        raise DataError(f"n={opts['n']} in {spec!r}: the number of images must be 1..200000, e.g. shapes:n=4000")
    if not 8 <= opts["size"] <= 512:
        raise DataError(f"size {opts['size']} for {spec!r}: built-in images are 8..512 pixels, e.g. shapes:size=48")


def _load_raw(spec: str, opts: DataOptions) -> dict:
    """{'task', 'classes', 'notes', 'train': {...}, 'test': {...}|absent, 'val': ...}."""
    kind, _, rest = spec.partition(":")
    check_known(kind, spec)
    if kind in BUILTIN:
        return _load_builtin(kind, spec, rest, opts)
    root = data_root(opts.data_dir)
    if kind in NAMED:
        return _load_named_cached(kind, spec, rest, root, opts)
    from cnnkit.data import folder

    if not rest:
        raise DataError(f"{kind}: needs a path, e.g. {kind}:data/my-images")
    path = folder.require_folder(Path(rest).expanduser(), spec)
    if kind == "folder":
        return _load_class_folder(path, root, opts)
    return _load_seg_folder(path, root, opts)


def _load_builtin(kind: str, spec: str, rest: str, opts: DataOptions) -> dict:
    """shapes / shapes-seg drawn in memory: n training scenes and a quarter as many test ones."""
    from cnnkit.data.shapes import CLASSES, make_shapes

    o = _builtin_options(spec, rest)
    if opts.image_size:
        o["size"] = int(opts.image_size[0])
    _check_builtin(o, spec)
    n_test = max(o["n"] // 4, 8)
    images, labels, masks = make_shapes(o["n"] + n_test, size=o["size"], seed=o["seed"])
    seg = kind == "shapes-seg"
    targets = torch.from_numpy(masks) if seg else torch.from_numpy(labels)
    images = torch.from_numpy(images)
    return {
        "task": "segmentation" if seg else "classification",
        "classes": ["background", *CLASSES] if seg else list(CLASSES),
        "notes": [],
        "train": {"images": images[: o["n"]], "targets": targets[: o["n"]]},
        "test": {"images": images[o["n"] :], "targets": targets[o["n"] :]},
    }


def _load_named_cached(kind: str, spec: str, rest: str, root: Path, opts: DataOptions) -> dict:
    """A named dataset; decoded from image files (or resized) it is cached by the files' fingerprint."""
    if rest:
        raise DataError(f"{kind} takes no options (got {spec!r})")
    if NAMED[kind].size or opts.image_size:  # decoded from image files: worth caching
        files = [root / e for e in NAMED[kind].expected if (root / e).exists()]
        if len(files) == len(NAMED[kind].expected):
            key = fingerprint(files, kind, opts.image_size, memo=root / "cache" / f"{kind}.hashes.json")
            value, _ = cached(root, kind, key, lambda: load_named(kind, root, opts.download, opts.image_size))
            return value
    return load_named(kind, root, opts.download, opts.image_size)


def _load_class_folder(path: Path, root: Path, opts: DataOptions) -> dict:
    """folder:PATH decoded into memory (cached), or streamed when it would not fit."""
    from cnnkit.data import folder

    scan = folder.scan_class_folders(path)
    problem = folder.one_class_problem(scan, path) or folder.empty_split_problem(scan, path)
    if problem:
        raise DataError(problem)
    files = [p for items in scan["splits"].values() for p, _ in items]
    streamed = _streamed_folder(scan, files, opts)
    if streamed is not None:
        return streamed
    label = f"folder-{path.resolve().name}"
    key = fingerprint(files, "folder", opts.image_size, memo=root / "cache" / f"{label}.hashes.json")
    value, _ = cached(root, label, key, lambda: folder.load_class_folders(path, opts.image_size))
    return dict(value, task="classification")


def _load_seg_folder(path: Path, root: Path, opts: DataOptions) -> dict:
    """segfolder:PATH decoded into memory (cached), with its class names and void class."""
    from cnnkit.data import folder

    scan = folder.scan_seg_folders(path)
    problem = folder.empty_split_problem(scan, path)
    if problem:
        raise DataError(problem)
    if opts.image_size:  # masks are not streamed: the decoded, resized split must fit before any is made
        from cnnkit.data.stream import memory_budget_bytes

        pairs = [pair for ps in scan["splits"].values() for pair in ps]
        channels = read_images([pairs[0][0]])[0].shape[0]
        h, w = opts.image_size
        needed = len(pairs) * (channels + 1) * h * w  # uint8 images + masks
        if needed > memory_budget_bytes():
            raise DataError(f"--image-size {h}x{w}: {len(pairs)} images and masks at that size take "
                            f"{needed / 2**30:,.1f} GiB, over the in-memory budget of {memory_budget_bytes() / 2**30:.1f} GiB "
                            "(a quarter of RAM, or CNNKIT_MAX_MEMORY_MB); choose a smaller --image-size (or --crop to "
                            "train on parts of full-size images)")
    files = [p for pairs in scan["splits"].values() for pair in pairs for p in pair]
    files += scan["unpaired_images"] + scan["unpaired_masks"]
    if folder.names_file(path) is not None:  # its colours decide the classes of colour masks
        files.append(folder.names_file(path))
    label = f"segfolder-{path.resolve().name}"
    key = fingerprint(files, "segfolder", opts.image_size, opts.ignore_index, memo=root / "cache" / f"{label}.hashes.json")
    value, _ = cached(root, label, key, lambda: folder.load_seg_folders(path, opts.image_size, opts.ignore_index))
    value = dict(value, mask_class_values=folder.sparse_class_values(value["mask_values"], opts.ignore_index))
    n = value["num_classes"]
    names = folder.class_names_file(path, n)
    if names is None:  # no names: a class is its mask value, never assumed to be "background"
        stored = [v for v in value["mask_values"] if v != opts.ignore_index]
        value["classes"] = [f"class {v}" for v in stored] if len(stored) == n else [f"class {i}" for i in range(n)]
        return dict(value, task="segmentation")
    value["classes"] = names[:n]
    if opts.ignore_index is None:
        value = _void_as_ignored(value, folder.names_file(path))
    return dict(value, task="segmentation")


def _void_as_ignored(value: dict, source: Path) -> dict:
    """A class the names file calls void / unlabelled is not a class: its pixels become
    the ignore index (255), counted in neither the loss nor the scores, and the classes
    after it move down one. Said in a note."""
    from cnnkit.data.folder import VOID_NAMES

    names = value["classes"]
    void = [k for k, name in enumerate(names) if VOID_NAMES.match(name.strip())]
    if not void or len(void) == len(names) or len(names) - len(void) < 1:
        return value
    lut = torch.full((256,), 255, dtype=torch.uint8)
    kept = [k for k in range(len(names)) if k not in void]
    for new, old in enumerate(kept):
        lut[old] = new
    # the classes move down: the stored value of each is no longer known by position
    out = dict(value, classes=[names[k] for k in kept], num_classes=max(len(kept), 2), ignore_index=255, mask_class_values=None)
    for split in ("train", "val", "test"):
        if out.get(split) is not None:
            out[split] = dict(out[split], targets=lut[out[split]["targets"].long()])
    what = ", ".join(repr(names[k]) for k in void)
    out["notes"] = list(value.get("notes", [])) + [
        f"class {what} of {source.name} marks unlabelled pixels: they are ignored in the loss and the scores "
        f"(ignore index 255), and the {len(kept)} other classes keep their order; rename it in {source.name} to train it as a class"]
    return out


def _streamed_folder(scan: dict, files: list[Path], opts: DataOptions) -> dict | None:
    """A raw dict of StreamSplits when the decoded folder would exceed the memory budget."""
    from cnnkit.data.stream import StreamSplit, memory_budget_bytes

    first = read_images(files[:1])[0]  # (C, H, W) of the first image stands for all
    channels = first.shape[0]
    size = tuple(opts.image_size) if opts.image_size else tuple(first.shape[1:])
    needed = len(files) * channels * size[0] * size[1]
    if needed <= memory_budget_bytes():
        return None
    one = 4 * channels * size[0] * size[1]  # one image as float32, what every batch holds at least
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        ram = None
    if ram and one > ram // 2:  # streaming bounds the data, not one image: this one could never be trained on
        raise DataError(f"images of {size[0]}x{size[1]} take {one / 2**30:,.1f} GiB each as float32, more than half of "
                        f"this machine's {ram / 2**30:.0f} GiB of memory; choose a smaller --image-size")
    raw = {"task": "classification", "classes": scan["classes"],
           "notes": [f"streaming from disk: decoded it would take {needed / 2**30:.1f} GiB, over the in-memory budget "
                     f"(CNNKIT_MAX_MEMORY_MB); every image is resized to {size[0]}x{size[1]}"]}
    for split, items in scan["splits"].items():
        raw[split] = {"stream": StreamSplit([str(p) for p, _ in items], torch.tensor([c for _, c in items]), channels, size)}
    return raw


def load_dataset(spec: str, options: DataOptions | None = None) -> Dataset:
    """Load, split and measure a dataset. Every failure is a DataError that names the file."""
    opts = options or DataOptions()
    raw = _load_raw(spec, opts)

    def split(name):
        part = raw.get(name)
        if part is None:
            return None
        return part["stream"] if "stream" in part else Split(part["images"], part["targets"], part.get("files"))

    train, val, test = split("train"), split("val"), split("test")
    seg = raw["task"] == "segmentation"
    if not seg and len(train) and len(torch.unique(train.targets)) < 2:
        raise DataError(f"{spec} has training images of one class only; a classifier needs at least two classes")
    notes = list(raw.get("notes", []))
    if test is None:
        train, test = holdout(train, opts.test_split, opts.split_seed + 1, stratify=not seg)
        notes.append(f"no test split in the data: held out {opts.test_split:.0%} of it as test")
    ignore = raw.get("ignore_index", opts.ignore_index)
    ds = Dataset(spec, raw["task"], list(raw["classes"]), train, test, val, ignore, notes)
    ds.mask_class_values = raw.get("mask_class_values")
    if val is None and opts.val_split > 0:
        hold_out_validation(ds, opts.val_split, opts.split_seed)  # and the normalisation of what is left
    else:
        ds.normalization = train_statistics(ds.train)
    train = ds.train
    if seg and len(train) and int(train.targets.max()) >= ds.num_classes and int(train.targets.max()) != ignore:
        raise DataError(f"mask value {int(train.targets.max())} is not a class of {spec}; set --ignore-index or fix the masks")
    return ds
