"""Built-in procedural datasets: `shapes` (classification) and `shapes-seg` (masks).

Each image is one shape (circle, square, triangle, cross) of random size, position,
rotation and colour on a random-colour background with pixel noise. The class
depends only on the outline, so colour or position statistics do not give it away
(a linear model on pixels does poorly); `shapes-seg` uses the same scenes with
per-pixel masks (0 = background, 1 + class index = the shape). Deterministic for a
seed, offline, and made in a fraction of a second: the default data of the
quickstart and the tests.
"""

from __future__ import annotations

import numpy as np

CLASSES = ("circle", "square", "triangle", "cross")
# Shapes are drawn at a random rotation, so a mirror image either way is another valid
# scene of the same class: both flips keep the label (read by the training policy).
FLIPS = ("flip", "vflip")


def _outline(kind: int, xx: np.ndarray, yy: np.ndarray, r: float) -> np.ndarray:
    """Boolean (H, W) mask of one shape in rotated, centred coordinates xx, yy."""
    if kind == 0:  # circle
        return xx**2 + yy**2 <= r**2
    if kind == 1:  # square (side 1.6 r, so its area is close to the circle's)
        return (np.abs(xx) <= 0.8 * r) & (np.abs(yy) <= 0.8 * r)
    if kind == 2:  # equilateral triangle pointing up (in rotated coordinates)
        h = 1.2 * r
        return (yy <= 0.5 * h) & (np.sqrt(3) * xx - yy <= h) & (-np.sqrt(3) * xx - yy <= h)
    # cross: two bars of width 0.5 r
    return ((np.abs(xx) <= r) & (np.abs(yy) <= 0.25 * r)) | ((np.abs(yy) <= r) & (np.abs(xx) <= 0.25 * r))


def make_shapes(n: int, size: int = 32, seed: int = 0, noise: float = 0.08) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """n scenes: images (n, 3, size, size) uint8, labels (n,) int64, masks (n, size, size) uint8.

    Labels cycle through the classes (balanced); the order is shuffled by the seed.
    """
    if n < 1 or size < 8:
        raise ValueError("need n >= 1 and size >= 8")
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % len(CLASSES)
    rng.shuffle(labels)
    images = np.empty((n, 3, size, size), dtype=np.uint8)
    masks = np.zeros((n, size, size), dtype=np.uint8)
    coords = np.arange(size, dtype=np.float32) + 0.5
    for i, kind in enumerate(labels):
        r = rng.uniform(0.18, 0.34) * size
        cx, cy = rng.uniform(r, size - r, 2)
        theta = rng.uniform(0, 2 * np.pi)
        dx, dy = coords[None, :] - cx, coords[:, None] - cy  # (1, W), (H, 1)
        xx = np.cos(theta) * dx + np.sin(theta) * dy
        yy = -np.sin(theta) * dx + np.cos(theta) * dy
        inside = _outline(int(kind), xx, yy, r)
        # Foreground and background colours at least 0.35 apart so the shape is visible.
        bg = rng.uniform(0, 1, 3)
        fg = rng.uniform(0, 1, 3)
        while np.abs(fg - bg).max() < 0.35:
            fg = rng.uniform(0, 1, 3)
        img = np.where(inside[None], fg[:, None, None], bg[:, None, None])
        img = img + rng.normal(0, noise, img.shape)
        images[i] = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
        masks[i][inside] = kind + 1
    return images, labels.astype(np.int64), masks
