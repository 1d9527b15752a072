"""Built-in procedural datasets: `shapes` (classification) and `shapes-seg` (masks).

Each image is one light shape (circle, square, triangle, cross) of random size,
position, rotation and colour on a dark background of random colour, with pixel noise.
The class depends only on the outline, so colour or position statistics do not give it
away (a linear model on pixels does poorly); `shapes-seg` uses the same scenes with
per-pixel masks (0 = background, 1 + class index = the shape). Deterministic for a
seed, offline, and made in a fraction of a second: the default data of the
quickstart and the tests.

Why light on dark, and shapes of equal area, 20-30% of the image in radius: every model of the registry should
clearly learn this in two epochs. With colours of either polarity and shapes of 18-34%,
the plain coursework nets (convnet, lenet5, signnet) stayed at chance for two epochs
whatever the optimiser, rate or initialisation: a first-layer filter sees a red-on-blue
edge and a blue-on-red one as opposite signals, and small rotated squares are hard to tell
from circles at 32x32 (docs/benchmarks.md has the measurements).
"""

from __future__ import annotations

import numpy as np

CLASSES = ("circle", "square", "triangle", "cross")
# Shapes are drawn at a random rotation, so a mirror image either way is another valid
# scene of the same class: both flips keep the label (read by the training policy).
FLIPS = ("flip", "vflip")


def _outline(kind: int, xx: np.ndarray, yy: np.ndarray, r: float) -> np.ndarray:
    """Boolean (H, W) mask of one shape in rotated, centred coordinates xx, yy. Every
    shape has the area of a circle of radius r (pi r^2), so neither its pixel count nor
    the image's mean colour tells the classes apart."""
    if kind == 0:  # circle
        return xx**2 + yy**2 <= r**2
    if kind == 1:  # square: side sqrt(pi) r
        half = 0.5 * np.sqrt(np.pi) * r
        return (np.abs(xx) <= half) & (np.abs(yy) <= half)
    if kind == 2:  # equilateral triangle pointing up (in rotated coordinates): area 3 sqrt(3) rho^2, rho its inradius
        rho = r * np.sqrt(np.pi / (3 * np.sqrt(3)))
        return (yy <= rho) & (np.sqrt(3) * xx - yy <= 2 * rho) & (-np.sqrt(3) * xx - yy <= 2 * rho)
    # cross: two bars of half-length a and half-width a/4, area 1.75 a^2
    a = r * np.sqrt(np.pi / 1.75)
    w = 0.25 * a
    return ((np.abs(xx) <= a) & (np.abs(yy) <= w)) | ((np.abs(yy) <= a) & (np.abs(xx) <= w))


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
        r = rng.uniform(0.2, 0.3) * size  # the radius of a circle of the shape's area
        # the same margin for every class (a class-dependent one would give the class away
        # by position); a triangle's corner (1.55 r out) may touch the border
        cx, cy = rng.uniform(1.2 * r, size - 1.2 * r, 2)
        theta = rng.uniform(0, 2 * np.pi)
        dx, dy = coords[None, :] - cx, coords[:, None] - cy  # (1, W), (H, 1)
        xx = np.cos(theta) * dx + np.sin(theta) * dy
        yy = -np.sin(theta) * dx + np.cos(theta) * dy
        inside = _outline(int(kind), xx, yy, r)
        # A dark background and a light shape, any hue: every channel at least 0.2 brighter inside.
        bg = rng.uniform(0, 0.4, 3)
        fg = rng.uniform(0.6, 1, 3)
        img = np.where(inside[None], fg[:, None, None], bg[:, None, None])
        img = img + rng.normal(0, noise, img.shape)
        images[i] = np.clip(img * 255 + 0.5, 0, 255).astype(np.uint8)
        masks[i][inside] = kind + 1
    return images, labels.astype(np.int64), masks
