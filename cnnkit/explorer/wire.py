"""How the explore page receives tensors and images: tensors as base64 little-endian float32
("f32": exact, and the page draws them with its own colour scale and shows each value under
the pointer), images as PNG data URLs."""

from __future__ import annotations

import base64
import io

import torch


def f32(t: torch.Tensor) -> dict:
    """{'shape', 'f32': base64 of the float32 values in C order}: exact, about a third of JSON's size."""
    t = t.detach().float().cpu().contiguous()
    return {"shape": list(t.shape), "f32": base64.b64encode(t.numpy().astype("<f4").tobytes()).decode("ascii")}


def decode_f32(obj: dict) -> torch.Tensor:
    """f32's inverse (tests, and Python users of the JSON API)."""
    import numpy as np

    data = np.frombuffer(base64.b64decode(obj["f32"]), dtype="<f4")
    return torch.from_numpy(data.copy()).reshape(obj["shape"])


def png(image: torch.Tensor) -> str:
    """A (C, H, W) uint8 image (C = 1 or 3) or (H, W) uint8 -> a PNG data URL."""
    from PIL import Image

    arr = image.cpu().numpy()
    if arr.ndim == 3:
        arr = arr[0] if arr.shape[0] == 1 else arr.transpose(1, 2, 0)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
