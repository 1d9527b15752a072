"""Checkpoints: self-describing round trip, atomic write, and refusal of bad files."""

from __future__ import annotations

import os
import pickle

import pytest
import torch

from cnnkit.engine.checkpoint import (
    CheckpointError,
    checkpoint_dict,
    load_checkpoint,
    model_from_checkpoint,
    save_checkpoint,
)
from cnnkit.registry import create_model
from tests.conftest import assert_clean_error


@pytest.fixture
def ckpt_path(tmp_path):
    torch.manual_seed(0)
    model = create_model("convnet", num_classes=4, batchnorm=True)
    ckpt = checkpoint_dict(model, (3, 32, 32), class_names=["a", "b", "c", "d"],
                           normalization={"mean": [0.5] * 3, "std": [0.25] * 3}, epoch=3)
    return save_checkpoint(tmp_path / "run" / "best.pt", ckpt), model


def test_round_trip_rebuilds_the_same_model(ckpt_path):
    path, model = ckpt_path
    ckpt = load_checkpoint(path)
    assert ckpt["model"]["name"] == "convnet" and ckpt["class_names"] == ["a", "b", "c", "d"] and ckpt["epoch"] == 3
    rebuilt = model_from_checkpoint(ckpt).eval()
    x = torch.randn(2, 3, 32, 32)
    assert torch.equal(rebuilt(x), model.eval()(x))
    assert not [f for f in os.listdir(path.parent) if f.endswith(".tmp")]


def test_crafted_pickle_is_refused_not_run(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    path = tmp_path / "evil.pt"
    torch.save({"format": "cnnkit-checkpoint", "payload": Evil()}, path)
    with pytest.raises(CheckpointError, match="refused"):
        load_checkpoint(path)
    assert not marker.exists()


def test_truncated_file(ckpt_path, tmp_path):
    path, _ = ckpt_path
    cut = tmp_path / "cut.pt"
    cut.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="truncated"):
        load_checkpoint(cut)


def test_foreign_and_missing_files(tmp_path):
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, foreign)
    with pytest.raises(CheckpointError, match="not a cnnkit checkpoint"):
        load_checkpoint(foreign)
    text = tmp_path / "notes.pt"
    text.write_text("hello")
    with pytest.raises(CheckpointError, match="truncated or not a PyTorch file"):
        load_checkpoint(text)
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    raw = tmp_path / "raw.pkl"
    raw.write_bytes(pickle.dumps([1, 2]))
    with pytest.raises(CheckpointError):
        load_checkpoint(raw)


def test_summary_of_a_checkpoint(cli, ckpt_path, tmp_path):
    path, model = ckpt_path
    data = cli("summary", path, "--json").json()
    assert data["total_params"] == sum(p.numel() for p in model.parameters())
    assert data["output_shape"] == [4]
    evil = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(3)}, evil)
    assert_clean_error(cli("summary", evil), "match no model cnnkit knows")
    assert_clean_error(cli("summary", tmp_path / "missing.pt"), "does not exist")
