"""Datasets from Python: `cnnkit data list` and `cnnkit data check` as functions.

    cnnkit.datasets()["datasets"]                       # [{'name', 'task', 'description'}]
    report = cnnkit.check_data("segfolder:data/cells")  # every problem with its fix
    [p["problem"] for p in report["problems"] if p["severity"] == "error"]

The results equal the commands' `--json` output. `check_data` returns the report even
when it lists errors (the command then exits 2 after printing it).
"""

from __future__ import annotations

from typing import Optional, Union


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
    from cnnkit.engine.config import check_value, parse_size

    for name, value in (("test_split", test_split), ("ignore_index", ignore_index)):
        check_value(name, value)  # the ranges training checks (engine/config.py), with the same message
    size = parse_size(image_size, "--image-size") if image_size is not None else None
    options = DataOptions(data_dir=data_dir, test_split=test_split, image_size=tuple(size) if size else None,
                          ignore_index=ignore_index, download=download)
    return plain(check_dataset(spec, options))
