"""Datasets from Python: `cnnkit data list` and `cnnkit data check` as functions.

    cnnkit.datasets()["datasets"]                       # [{'name', 'task', 'description'}]
    report = cnnkit.check_data("segfolder:data/cells")  # every problem with its fix
    [p["problem"] for p in report["problems"] if p["severity"] == "error"]

The results equal the commands' `--json` output. `check_data` returns the report even
when it lists errors (the command then exits 2 after printing it).
"""

from __future__ import annotations

import math
from typing import Optional, Union

from cnnkit.errors import CnnkitError, SpecError


def datasets() -> dict:
    """The dataset names `--dataset` accepts (`cnnkit data list`):
    {'datasets': [{'name', 'task', 'description'}]}."""
    from cnnkit.api.plain import plain
    from cnnkit.data.catalog import describe_datasets

    return plain({"datasets": describe_datasets()})


def check_data(spec: str, data_dir: Optional[str] = None, image_size: Union[str, int, tuple, list, None] = None,
               ignore_index: Optional[int] = None, download: bool = True, test_split: float = 0.2) -> dict:
    """What is in a dataset and what will go wrong with it (`cnnkit data check SPEC`).

    `spec`: a name, "folder:PATH" or "segfolder:PATH"; `image_size`: "HxW", H or (H, W) as
    training's --image-size; `ignore_index`: the mask value meaning unlabelled. Returns
    {'dataset', 'task', 'splits', 'problems': [{'severity', 'problem', 'fix'}], ...}
    (docs/data.md lists the keys)."""
    from cnnkit.api.plain import plain
    from cnnkit.data.catalog import DataOptions
    from cnnkit.data.check import check_dataset

    if not (isinstance(test_split, (int, float)) and 0 < test_split < 1) or not math.isfinite(test_split):
        raise CnnkitError(f"--test-split must be in (0, 1), got {test_split}")
    if ignore_index is not None and not (isinstance(ignore_index, int) and 0 <= ignore_index <= 255):
        raise CnnkitError(f"--ignore-index must be a mask value in 0..255, got {ignore_index}")
    options = DataOptions(data_dir=data_dir, test_split=test_split, image_size=_image_size(image_size),
                          ignore_index=ignore_index, download=download)
    return plain(check_dataset(spec, options))


def _image_size(value) -> Optional[tuple[int, int]]:
    """'64', '256x192', 64 or (256, 192) -> (H, W), as --image-size reads them."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        from cnnkit.arith.parse import parse_sizes

        size = list(parse_sizes(value, "--image-size"))
    elif isinstance(value, int) and not isinstance(value, bool):
        size = [value]
    else:
        size = list(value)
    size = size * 2 if len(size) == 1 else size
    if len(size) != 2 or not all(isinstance(v, int) and v >= 1 for v in size):
        raise SpecError(f"--image-size {value!r} must be H or HxW, e.g. 64 or 256x256")
    return (size[0], size[1])
