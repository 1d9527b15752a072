"""visualize filters / curves: the compute part numerically, the figures as files."""

import numpy as np
import pytest
import torch
from PIL import Image

from cnnkit.registry import create_model
from cnnkit.viz.filters import conv_weights, dead_filters

TINY = ["--opt", "widths=(8,16)", "--opt", "kernel_size=3", "-b", "32", "--recipe", "default", "-q"]


def test_conv_weights_are_the_layer_weights_and_dead_filters_are_found():
    model = create_model("convnet", widths=(8, 16), kernel_size=3)
    w = conv_weights(model, "features.conv1")
    assert torch.equal(w, model.features.conv1.weight.detach())
    with torch.no_grad():
        model.features.conv1.weight[3] = 0
    assert dead_filters(conv_weights(model, "features.conv1")).nonzero().flatten().tolist() == [3]
    from cnnkit.errors import CnnkitError

    with pytest.raises(CnnkitError, match="conv layers: features.conv1"):
        conv_weights(model, "features.nope")
    with pytest.raises(CnnkitError, match="not a Conv2d"):
        conv_weights(model, "features.act1")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    from typer.testing import CliRunner

    from cnnkit.cli.main import app

    base = tmp_path_factory.mktemp("viz")
    for name, opt in (("adam", "adam"), ("sgd", "sgd")):
        r = CliRunner().invoke(app, ["train", "convnet", "-d", "shapes:n=120,size=16", "--epochs", "2", "-o", str(base / name),
                                     "--optimizer", opt, *TINY])
        assert r.exit_code == 0, r.stderr
    return base


def _not_blank(path, min_size=(200, 100)):
    img = np.asarray(Image.open(path).convert("L"))
    assert img.shape[1] >= min_size[0] and img.shape[0] >= min_size[1]
    assert img.std() > 5  # something was drawn


def test_filters_png(cli, runs, tmp_path):
    r = cli("visualize", "filters", runs / "adam" / "best.pt", "--out", tmp_path / "f.png", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["layer"] == "features.conv1" and r.json()["shape"] == [8, 3, 3, 3]
    _not_blank(tmp_path / "f.png")
    r = cli("visualize", "filters", runs / "adam" / "best.pt", "--layer", "features.conv2", "--out", tmp_path / "g.png")
    assert r.exit_code == 0 and r.stdout.strip() == str(tmp_path / "g.png")
    _not_blank(tmp_path / "g.png")


def test_curves_overlay_png(cli, runs, tmp_path):
    r = cli("visualize", "curves", runs / "adam", runs / "sgd", "--out", tmp_path / "c.png", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["metric"] == "accuracy" and r.json()["runs"] == ["adam", "sgd"]
    _not_blank(tmp_path / "c.png", (600, 300))
    r = cli("visualize", "curves", tmp_path)
    assert r.exit_code == 2 and "no metrics.csv" in r.stderr


def test_run_labels_keep_the_variant_of_trial_folders(tmp_path):
    from cnnkit.viz.curves import run_labels

    a, b = tmp_path / "sweep" / "lr-0.1" / "trial-1", tmp_path / "sweep" / "lr-0.01" / "trial-1"
    assert run_labels([a, b]) == ["lr-0.1/trial-1", "lr-0.01/trial-1"]
    assert run_labels([a]) == ["lr-0.1/trial-1"]
    assert run_labels([tmp_path / "x" / "run", tmp_path / "y" / "run"]) == ["x/run", "y/run"]
    assert run_labels([tmp_path / "adam", tmp_path / "sgd"]) == ["adam", "sgd"]


def test_one_channel_filters_are_wide_enough_for_title_and_colorbar():
    from cnnkit.viz.filters import filters_figure

    for o in (6, 32):
        fig = filters_figure(torch.randn(o, 1, 5, 5), "lenet5 features.conv1")
        w, h = fig.get_size_inches() * 100
        assert w >= 450 and h < 8 * 100  # was 210 px wide, and 3,600 px tall for 32 filters


def test_importing_cnnkit_visualize_does_not_import_torch():
    import subprocess
    import sys

    code = "import sys, cnnkit.visualize; assert 'torch' not in sys.modules and 'matplotlib' not in sys.modules"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True).returncode == 0


def test_deep_filter_grid_is_an_even_sample_said_in_the_title():
    from cnnkit.viz.filters import filters_figure, sample

    assert sample(6, 16) == list(range(6))
    rows = sample(128, 16)
    assert len(rows) == 16 and rows[0] == 0 and rows[-1] == 127 and rows == sorted(set(rows))
    weights = torch.randn(128, 64, 3, 3)
    fig = filters_figure(weights, "net conv3")
    drawn = [ax for ax in fig.axes if ax.images and ax.get_label() != "<colorbar>"]
    assert len(drawn) == 16 * 8  # not 32 x 8 (a 3,600-pixel-tall figure)
    assert fig.get_size_inches()[1] <= 20
    title = fig._suptitle.get_text()
    assert "16 of 128, spread evenly" in title and "8 of 64, spread evenly" in title
    labels = [ax.get_ylabel() for ax in fig.axes if ax.get_ylabel()]
    assert labels[:2] == ["0", str(rows[1])] and labels[15] == "127"  # rows are named by their real filter index
    # the panel in row 1, column 1 is filter rows[1]'s input channel sample(64, 8)[1]
    first = [ax for ax in drawn if ax.get_ylabel() == str(rows[1])]
    assert torch.equal(torch.tensor(first[0].images[0].get_array().data), weights[rows[1], 0])


def test_confusion_figure_says_what_it_shows():
    from cnnkit.viz.confusion import confusion_figure

    cm = torch.tensor([[8, 2], [1, 89]])
    fig = confusion_figure(cm, ["cat", "dog"])
    ax = fig.axes[0]
    assert ax.get_xlabel() == "predicted class" and ax.get_ylabel() == "true class"
    assert "row-normalised" in ax.get_title() and "100 images" in ax.get_title()
    bar = fig.axes[1]
    assert "each row sums to 1" in bar.get_ylabel()
    shown = ax.images[0].get_array()
    assert shown[0].tolist() == pytest.approx([0.8, 0.2]) and shown[1].tolist() == pytest.approx([1 / 90, 89 / 90])
    assert sorted(t.get_text() for t in ax.texts) == ["1", "2", "8", "89"]  # the counts in the cells
