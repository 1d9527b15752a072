"""The built-in shapes data: deterministic, balanced, masks consistent with images."""

from __future__ import annotations

import numpy as np

from cnnkit.data.shapes import CLASSES, make_shapes


def test_deterministic_by_seed():
    a = make_shapes(16, seed=3)
    b = make_shapes(16, seed=3)
    c = make_shapes(16, seed=4)
    assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not np.array_equal(a[0], c[0])


def test_shapes_dtypes_and_balance():
    images, labels, masks = make_shapes(400, size=32)
    assert images.shape == (400, 3, 32, 32) and images.dtype == np.uint8
    assert masks.shape == (400, 32, 32) and masks.dtype == np.uint8
    assert np.bincount(labels).tolist() == [100] * len(CLASSES)


def test_masks_mark_the_shape_of_the_label():
    images, labels, masks = make_shapes(50, size=48)
    for img, label, mask in zip(images, labels, masks):
        assert set(np.unique(mask)) == {0, label + 1}
        inside, outside = img[:, mask > 0].mean(1), img[:, mask == 0].mean(1)
        assert np.abs(inside.astype(float) - outside).max() > 40  # the shape stands out


def test_class_is_not_given_away_by_colour_or_area_position():
    images, labels, masks = make_shapes(800, size=32)
    mean_colour = images.reshape(800, 3, -1).mean(2)
    centroid = np.array([np.argwhere(m > 0).mean(0) for m in masks])
    for feature in (mean_colour, centroid):
        per_class = np.array([feature[labels == k].mean(0) for k in range(len(CLASSES))])
        spread = feature.std(0)
        assert (np.abs(per_class - feature.mean(0)) < 0.25 * spread).all()
