"""What a dataset's labels say before training: which flips keep them, a mask value that
looks like "unlabelled", strong class imbalance. Numbers in, findings out (no engine):
training's policy (engine/policy.py) prints them as notes and `cnnkit data check`
(data/check.py) lists them as problems with a fix, from the same rules."""

from __future__ import annotations

import re
from typing import Optional

import torch

# largest / smallest class worth a warning: images (classification), pixels (segmentation,
# where background outweighing each object class some 30x is the ordinary case: shapes-seg)
IMBALANCE = {"classification": 20.0, "segmentation": 50.0}
# a class name that suggests "unlabelled" anywhere in it (folder.VOID_NAMES, stricter, is the
# whole-name rule that turns a names file's void class into the ignore index)
VOID_LIKE_NAME = re.compile(r"void|unlabel|ignore|unknown|don.?t.?care", re.IGNORECASE)


def flips_for(spec: str, task: str, channels: int) -> tuple[tuple[str, ...], str]:
    """The flips that keep labels on this data, and why."""
    from cnnkit.data.named import NAMED
    from cnnkit.data.shapes import FLIPS

    kind = spec.partition(":")[0]
    if kind in NAMED:
        flips = NAMED[kind].flips
        what = "mirror images keep the label" if flips else "a mirror image can change the label (digits, signs)"
        return flips, f"{kind}: {what}"
    if kind in ("shapes", "shapes-seg"):
        return FLIPS, "shapes are drawn at random rotations, so flips either way keep the class"
    if task == "classification":
        if channels == 1:
            return (), "grey single-channel images such as digits or letters: a mirror image can change the label"
        return ("flip",), "colour photos: a mirror image shows the same thing (upside down it does not)"
    if channels == 1:
        return ("flip", "vflip"), "single-channel segmentation such as microscopy has no up or down"
    return ("flip",), "colour scenes such as streets have a sky and a ground: mirror, but no vertical flip"


def void_candidate(counts: dict[int, int], class_names: Optional[list[str]] = None) -> Optional[dict]:
    """A mask value that looks like 'unlabelled': named so, 255 in a multi-class mask, or
    the largest value far from the others. counts: {value: pixels}."""
    values = sorted(v for v, n in counts.items() if n)
    total = sum(counts.values()) or 1
    found = None
    for v in values:
        if class_names and v < len(class_names) and VOID_LIKE_NAME.search(class_names[v]):
            found = v, f"its class is named {class_names[v]!r}"
    if found is None and len(values) >= 3 and values[-1] == 255:
        found = 255, f"255 in masks of {len(values)} values usually marks unlabelled pixels"
    if found is None and len(values) >= 3 and values[-1] >= 2 * (values[-2] + 1) and values[-1] - values[-2] >= 10:
        found = values[-1], f"it is far from the other values (0..{values[-2]})"
    if found is None:
        return None
    v, why = found
    return {"value": v, "pixels": counts[v], "fraction": counts[v] / total, "reason": why}


def void_note(void: dict, unit: str = "pixels") -> str:
    return (f"mask value {void['value']} looks like 'unlabelled' ({void['pixels']:,} {unit}, {void['fraction']:.1%}): {void['reason']}; "
            f"as a class it is learnt and scored like any other. If it means unlabelled, pass --ignore-index {void['value']}")


def imbalance(counts: dict[str, int], task: str) -> Optional[dict]:
    """{'ratio', 'most', 'least', 'counts'} when the largest present class has IMBALANCE[task]
    times the smallest, else None."""
    present = {k: n for k, n in counts.items() if n}
    if len(present) < 2:
        return None
    most, least = max(present, key=present.get), min(present, key=present.get)
    ratio = present[most] / present[least]
    return {"ratio": ratio, "most": most, "least": least, "counts": present} if ratio >= IMBALANCE[task] else None


def imbalance_note(found: dict, unit: str, task: str) -> str:
    fix = ("--class-weights balanced, or --loss ce+dice (Dice weighs classes equally)" if task == "segmentation"
           else "--class-weights balanced, and read per-class accuracy rather than accuracy")
    return (f"class imbalance: {found['most']!r} has {found['ratio']:.0f}x the {unit} of {found['least']!r} "
            f"({found['counts'][found['most']]:,} vs {found['counts'][found['least']]:,}); consider {fix}")


def data_notes(ds) -> list[str]:
    """Warnings about the loaded training split: void-looking mask values, class imbalance."""
    notes = []
    targets = ds.train.targets
    if ds.task == "segmentation":
        counts = torch.bincount(targets.reshape(-1).long(), minlength=ds.num_classes).tolist()
        by_class = {k: n for k, n in enumerate(counts) if n and k != ds.ignore_index}
        if ds.ignore_index is None:
            # class index -> the value stored in the mask files ({} when they are the class indices)
            raw = dict(enumerate(ds.mask_class_values or []))
            void = void_candidate({raw.get(k, k): n for k, n in by_class.items()}, None if raw else ds.class_names)
            if void is not None:
                notes.append(void_note(void))
                by_class = {k: n for k, n in by_class.items() if raw.get(k, k) != void["value"]}
        found = imbalance({ds.class_names[k] if k < ds.num_classes else str(k): n for k, n in by_class.items()}, ds.task)
        if found:
            notes.append(imbalance_note(found, "pixels", ds.task))
    else:
        counts = torch.bincount(targets.long(), minlength=ds.num_classes).tolist()
        found = imbalance(dict(zip(ds.class_names, counts)), ds.task)
        if found:
            notes.append(imbalance_note(found, "images", ds.task))
    return notes
