"""Batched augmentation against per-image oracles built from F.pad and flips."""

import pytest
import torch
import torch.nn.functional as F

from cnnkit.data.augment import Augment, apply_cutout, draw_indices, gather, normalize
from cnnkit.data.loader import BatchLoader
from cnnkit.data.splits import Split


def _images(b=16, c=3, h=9, w=11, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (b, c, h, w), generator=g, dtype=torch.uint8)


def _loader_augment(images, masks, aug, gen):
    """The loader's two steps on one batch: draw the indices, then gather them."""
    b, _, h, w = images.shape
    drawn = draw_indices(b, h, w, aug, gen)
    return (images, masks) if drawn is None else gather(images, masks, *drawn)


def _windows(x, p):
    """Every (H, W) window of the reflect-padded image x (C, H, W)."""
    padded = F.pad(x[None].float(), (p, p, p, p), mode="reflect")[0]
    h, w = x.shape[1:]
    return [padded[:, i : i + h, j : j + w] for i in range(2 * p + 1) for j in range(2 * p + 1)]


def test_translate_is_a_window_of_the_reflect_padded_image():
    x = _images()
    out, _ = _loader_augment(x, None, Augment(translate=3), torch.Generator().manual_seed(1))
    shifts = set()
    for src, got in zip(x, out):
        matches = [k for k, win in enumerate(_windows(src, 3)) if torch.equal(win, got.float())]
        assert matches, "output is not a reflect-padded translation of its input"
        shifts.add(matches[0])
    assert len(shifts) > 3  # the shift really varies per image


def test_flip_gives_the_image_or_its_mirror_and_both_occur():
    x = _images(b=64)
    out, _ = _loader_augment(x, None, Augment(flip=True), torch.Generator().manual_seed(2))
    flipped = [torch.equal(o, s.flip(-1)) for s, o in zip(x, out)]
    same = [torch.equal(o, s) for s, o in zip(x, out)]
    assert all(f or s for f, s in zip(flipped, same))
    assert 10 < sum(flipped) < 54


def test_mask_moves_with_its_image():
    masks = torch.randint(0, 5, (32, 12, 12), dtype=torch.uint8)
    images = masks[:, None].repeat(1, 3, 1, 1)  # the mask is painted into the image
    out, out_masks = _loader_augment(images, masks, Augment(flip=True, vflip=True, translate=4, crop=(8, 10)), torch.Generator().manual_seed(3))
    assert out.shape == (32, 3, 8, 10) and out_masks.shape == (32, 8, 10)
    assert torch.equal(out[:, 0], out_masks)


def test_crop_larger_than_image_is_a_clear_error():
    from cnnkit.errors import GeometryError

    with pytest.raises(GeometryError, match="crop"):
        _loader_augment(_images(), None, Augment(crop=(20, 20)), torch.Generator())


def test_normalize_and_cutout():
    x = _images(b=4)
    mean, std = torch.tensor([0.1, 0.2, 0.3]), torch.tensor([0.5, 0.25, 2.0])
    y = normalize(x, mean, std)
    ref = (x.float() / 255 - mean[:, None, None]) / std[:, None, None]
    torch.testing.assert_close(y, ref)
    z = apply_cutout(torch.ones(8, 3, 16, 16), 5, torch.Generator().manual_seed(0))
    holes = (z == 0).all(1).sum(dim=(1, 2))  # pixels zeroed per image, all channels at once
    assert ((holes > 0) & (holes <= 25)).all()


def test_augment_parse():
    a = Augment.parse("flip,translate=4,cutout=8")
    assert a == Augment(flip=True, translate=4, cutout=8)
    assert not Augment.parse("none").active
    from cnnkit.errors import SpecError

    with pytest.raises(SpecError, match="unknown augmentation"):
        Augment.parse("rotate=10")


def test_loader_is_reproducible_and_covers_every_sample():
    split = Split(_images(b=50), torch.arange(50))
    make = lambda: BatchLoader(split, 16, augment=Augment(flip=True, translate=2), shuffle=True, seed=7)
    a, b = make(), make()
    batches_a, batches_b = list(a), list(b)
    assert len(batches_a) == len(a) == 4
    for (xa, ya), (xb, yb) in zip(batches_a, batches_b):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert sorted(torch.cat([y for _, y in batches_a]).tolist()) == list(range(50))
    b.set_epoch(1)
    assert not torch.equal(next(iter(b))[1], batches_a[0][1])
    dropped = BatchLoader(split, 16, drop_last=True)
    assert len(dropped) == 3 and dropped.num_samples == 48
