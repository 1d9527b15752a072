"""`cnnkit data check`: what is in a dataset and what will go wrong with it.

Reads headers and masks without building the tensors, so a broken folder gets a
full list of its problems (each with a fix) instead of the first error only.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from cnnkit.data import folder as folders
from cnnkit.data.catalog import BUILTIN, DataOptions, check_known, dataset_task, ignore_index_refusal, load_dataset
from cnnkit.data.decode import DataError, mode_problem, read_mask
from cnnkit.data.named import NAMED

UNET_MULTIPLE = 16  # a depth-4 U-Net halves the size four times


def _header(path: Path):
    """(width, height, mode) from the file header, or an error string."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            im.verify()  # checks structure without decoding all pixels
        with Image.open(path) as im:
            return im.size[0], im.size[1], im.mode, im.format
    except Exception as e:
        return f"{type(e).__name__}: {e}"


def _sizes_census(sizes: list[tuple[int, int]]) -> dict:
    return {f"{h}x{w}": n for (h, w), n in Counter(sizes).most_common(8)}


def _problem(report, severity, text, fix):
    report["problems"].append({"severity": severity, "problem": text, "fix": fix})


def _check_images(report, paths):
    sizes, modes = [], Counter()
    for p in paths:
        h = _header(p)
        if isinstance(h, str):
            _problem(report, "error", f"cannot read image {p} ({h[:120]})", "replace or delete the file")
            sizes.append(None)
            continue
        refused = mode_problem(h[2], h[3])  # the rule decoding applies when training
        if refused:
            _problem(report, "error", f"{p} {refused.split('; ')[0]}", refused.split("; ", 1)[1])
        sizes.append((h[1], h[0]))
        modes[h[2]] += 1
    known = [s for s in sizes if s]
    report["image_sizes"] = _sizes_census(known)
    report["image_modes"] = dict(modes)
    if len(set(known)) > 1:
        common = Counter(known).most_common(1)[0][0]
        _problem(report, "warning", f"images have {len(set(known))} different sizes",
                 f"cnnkit resizes them to the most common size {common[0]}x{common[1]}; choose another with --image-size HxW")
    if {"L", "RGB"} <= set(modes) or ("L" in modes and "RGBA" in modes):
        _problem(report, "warning", "some images are greyscale and some colour", "greyscale images are converted to RGB")
    return sizes


GREY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L"}


def _policy_checks(report: dict, spec: str, task: str, channels: int, counts: dict, unit: str, class_names=None) -> None:
    """What training's default policy will do with this data (data/diagnose.py, the one
    place those rules live, which engine/policy.py follows): the flips it allows, a mask
    value that looks like 'unlabelled', strong class imbalance. counts: {class or mask
    value: images or pixels}."""
    from cnnkit.data import diagnose

    flips, why = diagnose.flips_for(spec, task, channels)
    report["augmentation_flips"] = list(flips)
    if "flip" not in flips:  # worth a line: the usual mirror augmentation would change labels here
        _problem(report, "info", f"training augments with {', '.join(flips) if flips else 'no flips'}: {why}",
                 "nothing to do; --augment chooses otherwise")
    if task == "segmentation" and report.get("ignore_index") is None:
        void = diagnose.void_candidate({int(k): n for k, n in counts.items()}, class_names)
        if void is not None:
            report["void_candidate"] = void["value"]
            _problem(report, "warning", diagnose.void_note(void).split(". If")[0],
                     f"if it means unlabelled, train with --ignore-index {void['value']} (left out of loss and metrics)")
            counts = {k: n for k, n in counts.items() if int(k) != void["value"]}
    found = diagnose.imbalance({str(k): n for k, n in counts.items()}, task)
    if found:
        report["imbalance_ratio"] = round(found["ratio"], 1)
        text = diagnose.imbalance_note(found, unit, task)
        _problem(report, "warning", text.split("; consider")[0], "consider " + text.split("; consider ")[1])


def check_dataset(spec: str, options: DataOptions | None = None) -> dict:
    """Every problem of a dataset with its fix, and what is in it: {'dataset', 'task',
    'splits', 'problems': [{'severity', 'problem', 'fix'}], ...} (docs/data.md)."""
    opts = options or DataOptions()
    kind, _, rest = spec.partition(":")
    check_known(kind, spec)
    if opts.ignore_index is not None and dataset_task(spec) == "classification":  # as `train` refuses it
        raise DataError(ignore_index_refusal(spec))
    report = {"dataset": spec, "problems": []}
    if kind in BUILTIN or kind in NAMED:
        return _check_loaded(report, spec, opts)
    if not rest:  # Path("") would be the current folder
        raise DataError(f"{kind}: needs a path, e.g. {kind}:data/my-images")
    path = folders.require_folder(Path(rest).expanduser(), spec)
    if kind == "folder":
        return _check_class_folder(report, spec, path, opts)
    return _check_seg_folder(report, spec, path, opts)


def _check_loaded(report: dict, spec: str, opts: DataOptions) -> dict:
    """Built-in and named datasets: loaded as training loads them, then counted."""
    ds = load_dataset(spec, opts)
    report.update(task=ds.task, classes=ds.class_names, input_shape=list(ds.input_shape), normalization=ds.normalization, notes=ds.notes)
    report["splits"] = {}
    for name in ds.available_splits():
        s = ds.split(name)
        entry = {"count": len(s)}
        if ds.task == "classification":
            entry["per_class"] = {ds.class_names[i]: int(n) for i, n in enumerate(np.bincount(s.targets.numpy(), minlength=ds.num_classes))}
        else:
            entry["pixels_per_class"] = {str(v): int(n) for v, n in zip(*np.unique(s.targets.numpy(), return_counts=True))}
        report["splits"][name] = entry
    train = report["splits"]["train"]
    report["ignore_index"] = ds.ignore_index
    if ds.task == "classification":
        _policy_checks(report, spec, ds.task, ds.input_shape[0], train["per_class"], "images")
    else:
        pixels = {int(k): n for k, n in train["pixels_per_class"].items() if int(k) != ds.ignore_index}
        _policy_checks(report, spec, ds.task, ds.input_shape[0], pixels, "pixels", ds.class_names)
    return report


def _check_class_folder(report: dict, spec: str, path: Path, opts: DataOptions) -> dict:
    """folder:PATH, from the scan and the image headers (nothing decoded)."""
    scan = folders.scan_class_folders(path)
    report.update(task="classification", layout=scan["layout"], classes=scan["classes"], splits={})
    for split, items in scan["splits"].items():
        counts = Counter(label for _, label in items)
        report["splits"][split] = {"count": len(items), "per_class": {c: counts.get(i, 0) for i, c in enumerate(scan["classes"])}}
        empty = [c for i, c in enumerate(scan["classes"]) if not counts.get(i)]
        if empty:
            _problem(report, "warning", f"{split}/ has no images of {', '.join(empty[:5])}", f"add images to {path}/{split}/<class>/ or remove the class folder")
    if scan["layout"] == "flat":
        _problem(report, "info", "no train/ and test/ folders", f"cnnkit holds out {opts.test_split:.0%} as test (--test-split); training then holds out a validation split sized to the data (--val-split)")
    for found in (folders.one_class_problem(scan, path), folders.empty_split_problem(scan, path)):
        if found:  # the rules that make training refuse the folder
            _problem(report, "error", found.split("; ")[0], found.split("; ", 1)[1])
    _check_images(report, [p for items in scan["splits"].values() for p, _ in items])
    grey = set(report["image_modes"]) <= GREY_MODES
    _policy_checks(report, spec, "classification", 1 if grey else 3, report["splits"].get("train", {}).get("per_class", {}), "images")
    return report


def _mask_census(report: dict, pairs: list, sizes: list) -> tuple[Counter, int, Counter]:
    """Read every mask: ({stored value: pixels} of grey masks, how many masks are RGB colour,
    {colour: pixels} of those). Unreadable masks and masks of the wrong size are problems."""
    values, colour, mismatched, colours = Counter(), 0, 0, Counter()
    for (img, m), size in zip(pairs, sizes):
        try:
            arr = read_mask(m)
        except DataError as e:
            _problem(report, "error", str(e), "replace or delete the mask")
            continue
        if arr.ndim == 3:
            colour += 1
            found, counts = np.unique(arr.reshape(-1, 3), axis=0, return_counts=True)
            colours.update(dict(zip(map(tuple, found.tolist()), counts.tolist())))  # colour -> pixels
            continue
        if size and arr.shape != size:
            mismatched += 1
            if mismatched <= 3:
                _problem(report, "error", f"mask {m} is {arr.shape[0]}x{arr.shape[1]} but {img.name} is {size[0]}x{size[1]}", "masks must have their image's size")
        v, n = np.unique(arr, return_counts=True)
        values.update(dict(zip(v.tolist(), n.tolist())))
    return values, colour, colours


def _check_seg_folder(report: dict, spec: str, path: Path, opts: DataOptions) -> dict:
    """segfolder:PATH: pairing, image headers, then every mask read for its values."""
    scan = folders.scan_seg_folders(path)
    report.update(task="segmentation", layout=scan["layout"], splits={s: {"count": len(p)} for s, p in scan["splits"].items()})
    empty = folders.empty_split_problem(scan, path)
    if empty:
        _problem(report, "error", empty.split("; ")[0], empty.split("; ", 1)[1])
    if scan["layout"] == "flat":
        _problem(report, "info", "no train/ and test/ folders", f"cnnkit holds out {opts.test_split:.0%} as test (--test-split); training then holds out a validation split sized to the data (--val-split)")
    report["unpaired_images"] = [str(p) for p in scan["unpaired_images"]]
    report["unpaired_masks"] = [str(p) for p in scan["unpaired_masks"]]
    for p in scan["unpaired_masks"][:10]:
        _problem(report, "error", f"mask {p} has no image", f"add the image with stem {p.stem!r} to images/, or delete the mask")
    for p in scan["unpaired_images"][:10]:
        _problem(report, "error", f"image {p} has no mask", f"add masks/{p.stem}.png, or move the image out of the dataset")
    pairs = [pair for ps in scan["splits"].values() for pair in ps]
    sizes = _check_images(report, [img for img, _ in pairs])
    values, colour, colours = _mask_census(report, pairs, sizes)
    report["mask_values"] = {str(k): v for k, v in sorted(values.items())}
    if colour:
        # what each colour will become: classes in sorted colour order (folder.colour_masks_to_indices)
        report["mask_colours"] = {"#{:02x}{:02x}{:02x}".format(*c): n for c, n in sorted(colours.items())}
        if len(colours) <= folders.MAX_SPARSE_CLASSES:
            mapping = ", ".join(f"#{r:02x}{g:02x}{b:02x} -> {i}" for i, (r, g, b) in enumerate(sorted(colours)))
            _problem(report, "info", f"{colour} masks are RGB colour images without a palette: {len(colours)} colours become "
                     f"classes {mapping}", "check that order is what you mean; class-index PNGs (or a palette PNG) are clearer")
    for problem, fix in folders.mask_value_problems(dict(values), opts.ignore_index, len(colours)):
        _problem(report, "error", problem, fix)  # the same rule that makes training refuse these masks
    lookup, note = folders.mask_value_mapping(set(values), opts.ignore_index)
    if note:
        _problem(report, "info", note.replace("mapped", "mask values will be mapped:", 1), "nothing to do; set --ignore-index if one value means 'unlabelled'")
    report["ignore_index"] = opts.ignore_index
    n_classes = len(colours) if colour else folders.num_classes_of(set(values), opts.ignore_index)
    names = None
    try:  # the rule training applies to the names file (classes.txt, class_dict.csv ...), with the class count training will use
        names = folders.class_names_file(path, n_classes) if values or colours else None
    except DataError as e:
        _problem(report, "error", str(e).split("; ")[0], str(e).split("; ", 1)[1] if "; " in str(e) else "fix classes.txt")
    if not colour:  # colour masks become classes by colour: their values say nothing about 'unlabelled'
        grey = set(report["image_modes"]) <= GREY_MODES
        _policy_checks(report, spec, "segmentation", 1 if grey else 3,
                       {k: n for k, n in values.items() if k != opts.ignore_index}, "pixels", names)
    bad = sorted({f"{s[0]}x{s[1]}" for s in sizes if s and (s[0] % UNET_MULTIPLE or s[1] % UNET_MULTIPLE)})
    if bad:
        _problem(report, "info", f"sizes {', '.join(bad[:4])} are not multiples of {UNET_MULTIPLE} (what a depth-4 U-Net halves to)",
                 "cnnkit's unet pads and crops automatically; for other nets use --image-size or --crop with multiples of 16")
    return report
