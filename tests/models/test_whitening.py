"""The whitening stem decorrelates 2x2 patches, and training sets it from the data and keeps it."""

import torch
import torch.nn.functional as F

from cnnkit.models.whitening import WhiteningConv, whitening_filters


def correlated_images(n=300, seed=0) -> torch.Tensor:
    """Blurred noise with mixed channels: neighbouring pixels and channels correlate, like photos."""
    g = torch.Generator().manual_seed(seed)
    x = F.avg_pool2d(torch.randn(n, 3, 14, 14, generator=g), 3, stride=1)  # (n, 3, 12, 12)
    mix = torch.tensor([[1.0, 0.8, 0.6], [0.2, 1.0, 0.5], [0.1, 0.3, 1.0]])
    return torch.einsum("dc,nchw->ndhw", mix, x) + 0.3


def test_whitened_patches_have_identity_second_moment():
    x = correlated_images()
    conv = WhiteningConv(3)
    conv.init_from_data(x, eps=1e-9)
    y = conv(x)  # (N, 24, 11, 11)
    assert y.shape == (300, 24, 11, 11)
    first = y[:, :12].permute(0, 2, 3, 1).reshape(-1, 12).double()
    moment = first.T @ first / len(first)
    assert torch.allclose(moment, torch.eye(12, dtype=torch.float64), atol=2e-3)
    assert torch.equal(y[:, 12:], -y[:, :12])  # both signs of every direction
    before = (x.unfold(2, 2, 1).unfold(3, 2, 1).permute(0, 2, 3, 1, 4, 5).reshape(-1, 12)).double()
    assert (before.T @ before / len(before) - torch.eye(12, dtype=torch.float64)).abs().max() > 0.5  # far from white before


def test_training_sets_the_stem_from_the_normalised_training_images_and_keeps_it(tmp_path):
    """(shapes:n=120 has fewer than the 5,000 images sampled, so all of them are used.)"""
    from cnnkit.data.augment import normalize
    from cnnkit.engine.checkpoint import load_checkpoint
    from cnnkit.engine.plan import make_config
    from cnnkit.engine.run import run_training

    config, ds = make_config("airbench", "shapes:n=120,size=16", {
        "model_options": {"widths": (8, 16)}, "epochs": 1, "batch_size": 32, "recipe": "default", "out": str(tmp_path / "r"),
        "data_dir": str(tmp_path / "data")})
    run_training(config, ds)
    stem = load_checkpoint(tmp_path / "r" / "best.pt")["state_dict"]["features.stem.0.weight"]
    norm = ds.normalization
    expected = whitening_filters(normalize(ds.train.images, torch.tensor(norm["mean"]), torch.tensor(norm["std"])), (2, 2))
    assert torch.allclose(stem, expected, atol=1e-5)  # set from the data, then frozen
