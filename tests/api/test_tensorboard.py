"""`--log tensorboard`: the event files read back with TensorBoard's own reader equal metrics.csv."""

import builtins
import json

import pytest

from cnnkit.engine.rundir import read_metrics
from tests.conftest import assert_clean_error

DATA = "shapes:n=200,size=16"
TINY_CLI = ["--opt", "widths=(8,16)", "--opt", "kernel_size=3", "--opt", "batchnorm=True", "--optimizer", "adam",
            "--lr", "3e-3", "-b", "32", "--recipe", "default"]


def _events(run_dir):
    pytest.importorskip("tensorboard")  # the dev extra installs it; this only guards a bare install
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "images": 0, "tensors": 0})
    acc.Reload()
    return acc


def test_logged_scalars_equal_metrics_csv(cli, tmp_path):
    out = tmp_path / "run"
    r = cli("train", "convnet", "-d", DATA, "-e", "2", "-o", out, "--log", "tensorboard", "--json", *TINY_CLI)
    assert r.exit_code == 0, r.stderr
    acc = _events(out)
    rows = read_metrics(out / "metrics.csv")
    tags = acc.Tags()
    numeric = [k for k, v in rows[0].items() if isinstance(v, (int, float)) and k != "epoch"]  # the epoch is the step
    assert {f"epoch/{k}" for k in numeric} <= set(tags["scalars"])
    for key in numeric:
        logged = acc.Scalars(f"epoch/{key}")
        assert [e.step for e in logged] == [r["epoch"] for r in rows]
        # metrics.csv rounds to 6 significant digits (5e-6 relative at most), the event file is float32
        assert [e.value for e in logged] == pytest.approx([r[key] for r in rows], rel=6e-6, abs=1e-9), key

    steps = acc.Scalars("step/train_loss")
    batches = len(steps) // 2
    assert [e.step for e in steps] == list(range(1, 2 * batches + 1))
    # an epoch's train_loss is the image-weighted mean of its steps: equal when the batches are equal,
    # within the last (smaller) batch's weight otherwise
    for epoch in (1, 2):
        step_losses = [e.value for e in steps[(epoch - 1) * batches: epoch * batches]]
        assert sum(step_losses) / batches == pytest.approx(rows[epoch - 1]["train_loss"], rel=0.05)

    config = json.loads(acc.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode().strip("`\n"))
    assert config == json.loads((out / "config.json").read_text())
    assert [e.step for e in acc.Images("curves")] == [1, 2]
    summary = json.loads((out / "summary.json").read_text())
    assert acc.Scalars("test/test_accuracy")[0].value == pytest.approx(summary["test_accuracy"])


def test_without_tensorboard_the_option_says_how_to_install(cli, tmp_path, monkeypatch):
    real_import = builtins.__import__

    def no_tensorboard(name, *args, **kwargs):
        if name == "tensorboard" or name.startswith(("tensorboard.", "torch.utils.tensorboard")):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_tensorboard)
    r = cli("train", "convnet", "-d", DATA, "-e", "1", "-o", tmp_path / "run", "--log", "tensorboard", *TINY_CLI)
    assert_clean_error(r, "--log tensorboard", "pip install 'cnnkit[tensorboard]'")
    assert not (tmp_path / "run").exists()  # nothing left behind


def test_unknown_logger_is_refused(cli, tmp_path):
    r = cli("train", "convnet", "-d", DATA, "-e", "1", "-o", tmp_path / "run", "--log", "wandb")
    assert_clean_error(r, "--log 'wandb'", "tensorboard")
