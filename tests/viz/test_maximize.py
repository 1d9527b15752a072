"""Activation maximisation raises the target far above a random input; the figure is written."""

import torch

from cnnkit.registry import create_model
from cnnkit.viz.maximize import maximize, top_activating
from tests.viz.test_filters_curves import _not_blank

NORM = {"mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}


def test_channel_and_class_maximisation_beat_random_inputs_by_far():
    torch.manual_seed(0)
    model = create_model("convnet", widths=(8, 16), kernel_size=3, input_size=16).eval()
    result = maximize(model, (3, 16, 16), NORM, layer="features.act2", channel=3, seeds=2, steps=64)
    assert result["images"].shape == (2, 3, 16, 16)
    assert 0 <= float(result["images"].min()) and float(result["images"].max()) <= 1  # real pixel range
    # an untrained net responds weakly to anything; trained channels reach ~100x (docs/visualize.md)
    assert (result["scores"] > 3 * result["random_scores"].abs().clamp_min(1e-3)).all()
    logits = maximize(model, (3, 16, 16), NORM, class_index=2, seeds=2, steps=64)
    assert (logits["scores"] > logits["random_scores"].max() + 0.05).all()


def test_top_activating_images_are_sorted_and_really_the_top():
    torch.manual_seed(0)
    model = create_model("convnet", widths=(8, 16), kernel_size=3, input_size=16).eval()
    images = torch.randint(0, 256, (40, 3, 16, 16), dtype=torch.uint8)
    top, scores, index = top_activating(model, images, NORM, None, None, class_index=1, k=5)
    assert torch.equal(top, images[index])
    assert top.shape == (5, 3, 16, 16) and (scores[:-1] >= scores[1:]).all()
    x = (images.float() / 255 - 0.5) / 0.25
    all_scores = model(x)[:, 1]
    assert torch.allclose(scores, all_scores.topk(5).values, atol=1e-5)


def test_maximize_command(cli, tmp_path):
    r = cli("train", "convnet", "-d", "shapes:n=80,size=16", "--epochs", "1", "-o", tmp_path / "c", "--opt", "widths=(8,16)",
            "-q", "--data-dir", tmp_path / "data")
    assert r.exit_code == 0, r.stderr
    r = cli("visualize", "maximize", tmp_path / "c" / "best.pt", "--layer", "features.conv2", "--channel", "1", "--steps", "16",
            "--seeds", "2", "--top", "4", "--out", tmp_path / "m.png", "--json")
    assert r.exit_code == 0, r.stderr
    assert len(r.json()["scores"]) == 2 and r.json()["layer"] == "features.conv2"
    assert len(r.json()["top_images"]) == 4
    _not_blank(tmp_path / "m.png", (400, 200))
    r = cli("visualize", "maximize", tmp_path / "c" / "best.pt", "--layer", "features.conv2", "--channel", "99", "--steps", "2", "--top", "0")
    assert r.exit_code == 2 and "out of range" in r.stderr
    r = cli("visualize", "maximize", tmp_path / "c" / "best.pt")
    assert r.exit_code == 2 and "--channel" in r.stderr


def test_similarity_words_follow_the_correlation():
    from cnnkit.viz.maximize import similarity_words

    # 0.86 is a strong correlation: it must not be called "different"
    assert "alike" in similarity_words(0.95)
    assert "similar" in similarity_words(0.86) and "differently" not in similarity_words(0.86)
    assert "differently" in similarity_words(0.2)


def test_a_channel_grid_is_one_batch_equal_to_separate_runs_and_each_image_wins_its_channel():
    from cnnkit.viz.maximize import _objective

    torch.manual_seed(0)
    model = create_model("convnet", widths=(8, 16), kernel_size=3, input_size=16).eval()
    grid = maximize(model, (3, 16, 16), NORM, layer="features.act2", channel=[0, 3, 5], seeds=1, steps=32, jitter=0)
    assert grid["images"].shape == (3, 3, 16, 16) and grid["similarity"] is None
    alone = maximize(model, (3, 16, 16), NORM, layer="features.act2", channel=3, seeds=1, steps=32, jitter=0)
    assert torch.allclose(grid["images"][1], alone["images"][0], atol=1e-5)  # the batch did not mix the channels
    assert torch.allclose(grid["scores"][1], alone["scores"][0], atol=1e-4)
    # the scores are each image's own channel, and each rose far above the shared start's
    x = (grid["images"] - 0.5) / 0.25
    table = torch.stack([_objective(model, "features.act2", c, None)(x) for c in (0, 3, 5)], dim=1)  # (3 images, 3 channels)
    assert torch.allclose(table.diagonal(), grid["scores"], atol=1e-4)
    start = maximize(model, (3, 16, 16), NORM, layer="features.act2", channel=[0, 3, 5], seeds=1, steps=1, lr=0.0)
    assert (grid["scores"] > 2 * start["scores"].abs().clamp_min(1e-3)).all()


def test_channel_lists_parse_and_bad_ones_say_how():
    import pytest

    from cnnkit.errors import CnnkitError
    from cnnkit.viz.maximize import parse_channels

    assert parse_channels("0-3") == [0, 1, 2, 3] and parse_channels("0,4, 7-8") == [0, 4, 7, 8] and parse_channels([2, 1]) == [2, 1]
    for bad, said in (("a-b", "e.g. 0-15"), ("5-2", "runs backwards"), ("", "e.g. 0-15")):
        with pytest.raises(CnnkitError, match=said):
            parse_channels(bad)


def test_maximize_channels_command_draws_one_titled_panel_per_channel(cli, tmp_path):
    from cnnkit import visualize
    from tests.conftest import assert_clean_error

    r = cli("train", "convnet", "-d", "shapes:n=80,size=16", "--epochs", "1", "-o", tmp_path / "c", "--opt", "widths=(8,16)",
            "-q", "--data-dir", tmp_path / "data")
    assert r.exit_code == 0, r.stderr
    ckpt = tmp_path / "c" / "best.pt"
    r = cli("visualize", "maximize", ckpt, "--layer", "features.conv2", "--channels", "0-5", "--steps", "8", "--top", "1",
            "--data-dir", tmp_path / "data", "--out", tmp_path / "grid.png", "--json")
    assert r.exit_code == 0, r.stderr
    info = r.json()
    assert info["channels"] == [0, 1, 2, 3, 4, 5] and len(info["scores"]) == 6
    assert [t["channel"] for t in info["top_images"]] == info["channels"]
    _not_blank(tmp_path / "grid.png", (400, 200))
    fig = visualize.maximize(ckpt, "features.conv2", channels="2,4", steps=4, top=0, data_dir=tmp_path / "data")
    titles = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert [t.split("\n")[0] for t in titles] == ["channel 2", "channel 4"]
    assert "channels 2, 4" in fig._suptitle.get_text()
    assert_clean_error(cli("visualize", "maximize", ckpt, "--layer", "features.conv2", "--channels", "0-99", "--top", "0",
                           "--steps", "2"), "--channels 16 is out of range", "0..15")
    assert_clean_error(cli("visualize", "maximize", ckpt, "--channels", "0-3"), "--layer")
    assert_clean_error(cli("visualize", "maximize", ckpt), "say what to maximise", "--class K")  # nothing given
    assert_clean_error(cli("visualize", "maximize", ckpt, "--layer", "features.conv2", "--channels", "0-3", "--seeds", "3"),
                       "one start per channel")
    assert_clean_error(cli("visualize", "maximize", ckpt, "--layer", "features.conv2", "--channels", "0-3", "--channel", "1"),
                       "not both")
