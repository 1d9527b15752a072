"""The class-index mask PNGs `cnnkit predict` writes for a segmentation model: palette PNGs
(pixel value = class index, shown in the classes' colours), each a new file."""

from __future__ import annotations

from pathlib import Path

import torch

from cnnkit import outputs as O
from cnnkit.errors import CnnkitError


def write_mask(folder: Path, stem: str, mask: torch.Tensor, num_classes: int, ignore_index) -> Path:
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
