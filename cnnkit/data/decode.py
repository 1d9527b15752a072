"""Decoding image and mask files into uint8 tensors, with errors that name the file.

JPEGs are decoded in batches by torchvision's libjpeg-turbo path (about 5x PIL on
CIFAR-sized images); other formats go through PIL. Masks always go through PIL,
because a palette PNG stores class indices that must not be expanded to colours.
"""

from __future__ import annotations

import io
from collections import Counter
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from cnnkit.errors import CnnkitError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


class DataError(CnnkitError):
    """A missing, corrupt or inconsistent data file or folder."""


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS and not path.name.startswith(".")


def mode_problem(mode: str, fmt: str | None) -> str | None:
    """Why an image of this PIL mode cannot be read as pixels, or None. One rule for
    training (decoding) and `cnnkit data check` (headers only): 16-bit images (and PNG's
    'I', which holds 16-bit data) are scaled to 8 bits; 32-bit integer and float images
    have no defined value range."""
    if mode.startswith("I;16") or (mode == "I" and fmt == "PNG"):
        return None
    if mode in ("I", "F"):
        return (f"is a {'32-bit integer' if mode == 'I' else 'floating-point'} image, whose value range is not "
                "defined; save it as an 8- or 16-bit PNG")
    return None


def _pil_image(path: Path) -> torch.Tensor:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            refused = mode_problem(im.mode, im.format)
            if refused:
                raise DataError(f"{path} {refused}")
            if im.mode.startswith("I;16") or (im.mode == "I" and im.format == "PNG"):
                arr = scale_16bit(np.asarray(im), path)
            else:
                if im.mode not in ("L", "RGB"):
                    im = im.convert("RGB" if im.mode in ("RGBA", "P", "CMYK", "YCbCr", "LA") or len(im.getbands()) > 1 else "L")
                arr = np.asarray(im)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        if isinstance(e, IsADirectoryError):
            raise DataError(f"{path} is a folder; give an image file") from None
        raise DataError(f"cannot read image {path}: {e}; replace or delete the file") from None
    t = torch.from_numpy(arr.copy())
    return t.unsqueeze(0) if t.ndim == 2 else t.permute(2, 0, 1)  # (C, H, W)


def scale_16bit(arr: np.ndarray, path: Path) -> np.ndarray:
    """16-bit grey (0..65535) -> 8-bit (0..255) by scaling, v * 255 / 65535 rounded, so
    every grey level keeps its place in the range. (PIL's convert("L") clips at 255
    instead, which turns most 16-bit images into 0/255.)"""
    wide = arr.astype(np.int64)
    if wide.min() < 0 or wide.max() > 65535:
        raise DataError(f"{path} holds values outside 0..65535; save it as an 8- or 16-bit PNG")
    return ((wide * 255 + 32767) // 65535).astype(np.uint8)


def _jpeg_batch(paths: list[Path]) -> list[torch.Tensor]:
    import warnings

    with warnings.catch_warnings():
        # torchvision 0.29 marks its decoders deprecated in favour of TorchCodec; they
        # still work and are 5x faster than PIL here, so keep them until they go.
        warnings.simplefilter("ignore", DeprecationWarning)
        from torchvision.io import ImageReadMode, decode_jpeg

        return _decode_jpegs(paths, ImageReadMode, decode_jpeg)


def _decode_jpegs(paths, ImageReadMode, decode_jpeg) -> list[torch.Tensor]:
    data = []
    for p in paths:
        try:
            data.append(torch.frombuffer(bytearray(p.read_bytes()), dtype=torch.uint8))
        except OSError as e:
            raise DataError(f"cannot read {p}: {e.strerror}") from None
    try:
        return decode_jpeg(data, mode=ImageReadMode.UNCHANGED)
    except (RuntimeError, ValueError):
        pass
    # Something in the batch is not a valid JPEG: find it, fall back to PIL (a PNG
    # renamed .jpg still loads), and name the file if PIL cannot read it either.
    out = []
    for p, d in zip(paths, data):
        try:
            out.append(decode_jpeg(d, mode=ImageReadMode.UNCHANGED))
        except (RuntimeError, ValueError):
            out.append(_pil_image(p))
    return out


def read_images(paths: list[Path], chunk: int = 512) -> list[torch.Tensor]:
    """Decode every file to a (C, H, W) uint8 tensor, C = 1 or 3 (alpha dropped)."""
    out: list[torch.Tensor] = []
    for start in range(0, len(paths), chunk):
        batch = paths[start : start + chunk]
        jpegs = [p for p in batch if p.suffix.lower() in (".jpg", ".jpeg")]
        decoded = dict(zip(jpegs, _jpeg_batch(jpegs))) if jpegs else {}
        for p in batch:
            t = decoded.get(p)
            if t is None:
                t = _pil_image(p)
            if t.shape[0] == 4:  # CMYK JPEG or RGBA: keep colour only
                t = _pil_image(p)
            if t.shape[0] == 2:  # grey + alpha
                t = t[:1]
            out.append(t)
    return out


class _FileBytes(io.BytesIO):
    """A file's bytes under its name, standing in for a Path in read_images (which asks
    for .suffix and .read_bytes(); PIL opens it as a file object)."""

    def __init__(self, data: bytes, name: str):
        super().__init__(data)
        self.name, self.suffix = name, Path(name).suffix

    def read_bytes(self) -> bytes:
        return self.getvalue()

    def __str__(self) -> str:
        return self.name


def decode_image_bytes(data: bytes, name: str) -> torch.Tensor:
    """An image file's bytes that never touched the disk (a file dropped on the
    `cnnkit explore` page) -> (C, H, W) uint8, decoded exactly as read_images decodes a
    file of that name; a DataError naming it when it is not an image."""
    return read_images([_FileBytes(data, name)])[0]


def read_mask(path: Path) -> np.ndarray:
    """A mask as an (H, W) integer array of stored values (palette indices for 'P' PNGs).

    RGB masks whose channels agree are read as grey; colour masks are returned as
    (H, W, 3) for `colour_masks_to_indices`."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("RGBA", "LA"):
                im = im.convert(im.mode[:-1])
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise DataError(f"cannot read mask {path}: {e}; replace or delete the file") from None
    if arr.ndim == 3:
        if (arr[..., :1] == arr).all():
            arr = arr[..., 0]
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    return arr


def colour_masks_to_indices(masks: list[np.ndarray], palette=None, source=None) -> tuple[list[np.ndarray], list[tuple[int, int, int]]]:
    """Map RGB colour masks to class indices: each distinct colour is a class, in the
    order of `palette` (a names file's colours, read from `source`) or else in sorted
    colour order (so black, the usual background, is class 0)."""
    seen = sorted({tuple(int(v) for v in c) for m in masks for c in np.unique(m.reshape(-1, 3), axis=0)})
    if palette is not None:
        unknown = [c for c in seen if c not in set(palette)]
        if unknown:
            shown = ", ".join(f"{r} {g} {b}" for r, g, b in unknown[:3])
            raise DataError(f"masks hold colour(s) {shown} that {source} does not name; add them to it "
                            "(or fix the masks: resizing with smoothing makes new colours)")
    colours = list(palette) if palette is not None else seen
    if len(colours) > 255:
        raise DataError(f"colour masks hold {len(colours)} distinct colours; that is not a class palette. Save masks as class-index PNGs")
    lookup = {c: i for i, c in enumerate(colours)}
    out = []
    for m in masks:
        flat = m.reshape(-1, 3)
        uniq, inverse = np.unique(flat, axis=0, return_inverse=True)
        ids = np.array([lookup[tuple(int(v) for v in u)] for u in uniq], dtype=np.uint8)
        out.append(ids[inverse.reshape(-1)].reshape(m.shape[:2]))
    return out, colours


def most_common_size(sizes: list[tuple[int, int]]) -> tuple[int, int]:
    return Counter(sizes).most_common(1)[0][0]


def resize_image(img: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(C, H, W) uint8 -> (C, h, w) uint8, antialiased bilinear."""
    if tuple(img.shape[1:]) == tuple(size):
        return img
    x = F.interpolate(img[None].float(), size=size, mode="bilinear", antialias=True, align_corners=False)
    return x[0].round().clamp(0, 255).to(torch.uint8)


def resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(H, W) class indices -> (h, w), nearest neighbour so no new classes appear."""
    if tuple(mask.shape) == tuple(size):
        return mask
    return F.interpolate(mask[None, None].float(), size=size, mode="nearest-exact")[0, 0].to(mask.dtype)


def stack_images(images: list[torch.Tensor], size: tuple[int, int] | None) -> tuple[torch.Tensor, list[str]]:
    """Stack (C, H, W) uint8 tensors into (N, C, h, w); returns the tensor and notes.

    Channel counts are unified (grey becomes RGB when any image is colour); sizes are
    unified to `size`, else to the most common size."""
    notes = []
    channels = max(t.shape[0] for t in images)
    sizes = [tuple(t.shape[1:]) for t in images]
    target = tuple(size) if size else most_common_size(sizes)
    differing = sum(s != target for s in sizes)
    if differing:
        notes.append(f"resized {differing} of {len(images)} images to {target[0]}x{target[1]}")
    grey = sum(t.shape[0] == 1 for t in images) if channels == 3 else 0
    if grey:
        notes.append(f"converted {grey} greyscale images to RGB")
    if not differing and not grey:
        return torch.stack(images), notes
    out = torch.empty((len(images), channels, *target), dtype=torch.uint8)
    for i, t in enumerate(images):
        if t.shape[0] != channels:
            t = t.expand(channels, -1, -1)
        out[i] = resize_image(t, target)
    return out, notes
