"""The shared segmentation palette: a colour of its own for every class, grey for ignored pixels."""

import numpy as np
import pytest
from PIL import Image

from cnnkit.errors import CnnkitError
from cnnkit.viz.palette import IGNORED, palette


@pytest.mark.parametrize("k", [1, 2, 10, 11, 12, 20, 21, 30, 256])
def test_every_class_has_its_own_colour_and_none_is_the_ignored_grey(k):
    p = palette(k, ignore_index=k)
    colours = {tuple(c) for c in p.colours.tolist()}
    assert len(colours) == k  # no two classes share a colour (the old palette cycled after 10)
    assert IGNORED not in colours
    hexes = p.hex()
    assert len(hexes) == k + 1 and len(set(hexes.values())) == k + 1 and hexes["ignored"] == "#808080"


def test_thirty_classes_are_not_greys():
    # a class colour too close to grey would read as "ignored": keep every class saturated or black/pure
    for c in palette(30).colours[1:].astype(int):
        assert c.max() - c.min() >= 40, c


def test_colourise_maps_classes_and_ignored_pixels():
    p = palette(12, ignore_index=11)
    mask = np.array([[0, 10], [11, 1]])
    rgb = p.colourise(mask)
    assert (rgb[0, 0] == p.colours[0]).all() and (rgb[0, 1] == p.colours[10]).all() and (rgb[1, 1] == p.colours[1]).all()
    assert tuple(rgb[1, 0]) == IGNORED
    assert not (rgb[0, 0] == rgb[0, 1]).all()  # class 0 and class 10 differ (both were black)


def test_a_value_that_is_no_class_is_refused_not_recoloured():
    with pytest.raises(CnnkitError, match=r"\[5\]"):
        palette(2).colourise(np.array([[0, 5]]))


def test_pil_palette_keeps_indices_and_shows_the_same_colours(tmp_path):
    p = palette(12, ignore_index=255)
    mask = np.array([[0, 3, 11], [255, 1, 2]], np.uint8)
    im = Image.fromarray(mask, mode="P")
    im.putpalette(p.pil_palette())
    im.save(tmp_path / "m.png")
    back = Image.open(tmp_path / "m.png")
    assert (np.array(back) == mask).all()  # still a class-index mask
    assert (np.array(back.convert("RGB")) == p.colourise(mask)).all()
