"""Data-parallel training under torchrun (gloo on CPU, 2 processes).

With no batch norm, no augmentation and no dropout, a step of 2 processes on halves
of a global batch (gradients averaged by DDP) is the same step as one process on the
whole batch, so the runs must agree to float rounding: that checks the sharding,
the gradient averaging, the metric merging and resume at another world size at once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch

from cnnkit.data.loader import BatchLoader
from cnnkit.data.splits import Split
from cnnkit.engine.metrics import ClassificationMeter, SegmentationMeter
from cnnkit.engine.rundir import read_metrics
from tests.conftest import REPO

# A convnet without batch norm on a small shapes set: exactly data-parallel; a constant
# learning rate, so stopping after epoch 1 and resuming to 2 is the same run as 2 epochs; fp32, since
# bf16 autocast (the policy's choice on CPUs with native bf16) rounds the two ways differently.
ARGS = ["convnet", "-d", "shapes:n=240,size=16", "--batch-size", "32", "--recipe", "default", "--optimizer", "adam",
        "--lr", "3e-3", "--schedule", "none", "--augment", "none", "--opt", "widths=(8,16)", "--opt", "kernel_size=3", "--opt", "hidden=32",
        "--device", "cpu", "--precision", "fp32", "--seed", "3"]


def numbered_split(n: int) -> Split:
    """Image i is filled with the value i, so a batch tells which samples it holds."""
    images = torch.arange(n, dtype=torch.uint8)[:, None, None, None].expand(n, 1, 2, 2).contiguous()
    return Split(images, torch.arange(n))


def test_evaluation_shards_cover_the_split_once_in_order():
    split = numbered_split(11)
    seen = []
    for rank in range(3):
        loader = BatchLoader(split, 2, rank=rank, world=3)
        seen += [int(t) for _, y in loader for t in y]
    assert seen == list(range(11))  # no padding, no duplicates, dataset order


def test_training_batches_are_the_global_batches_split_between_ranks():
    split = numbered_split(40)
    single = [y.tolist() for _, y in BatchLoader(split, 8, shuffle=True, seed=5, drop_last=True)]
    ranks = [[y.tolist() for _, y in BatchLoader(split, 8, shuffle=True, seed=5, drop_last=True, rank=r, world=2)] for r in range(2)]
    assert len(ranks[0]) == len(ranks[1]) == len(single) == 5
    for whole, a, b in zip(single, *ranks):
        assert len(a) == len(b) == 4 and a + b == whole
    # a short last batch (drop_last off) is topped up so both ranks take equal shares
    short = [[y.tolist() for _, y in BatchLoader(numbered_split(9), 4, shuffle=True, rank=r, world=2)] for r in range(2)]
    assert [len(b) for b in short[0]] == [len(b) for b in short[1]] == [2, 2, 1]
    with pytest.raises(ValueError, match="split evenly"):
        BatchLoader(split, 7, shuffle=True, rank=0, world=2)


@pytest.mark.parametrize("task", ["classification", "segmentation"])
def test_merged_meters_equal_one_meter_over_everything(task):
    g = torch.Generator().manual_seed(0)
    if task == "classification":
        logits, targets = torch.randn(30, 12, generator=g), torch.randint(0, 12, (30,), generator=g)
        make = lambda: ClassificationMeter(12)
    else:
        logits, targets = torch.randn(6, 3, 8, 8, generator=g), torch.randint(0, 3, (6, 8, 8), generator=g)
        make = lambda: SegmentationMeter(3)
    whole, parts = make(), [make(), make()]
    whole.update(logits, targets, 0.5)
    parts[0].update(logits[:4], targets[:4], 0.5)
    parts[1].update(logits[4:], targets[4:], 0.5)
    parts[0].merge(parts[1])
    # the same counts, in the same order: identical results (NaN for absent classes included)
    assert json.dumps(parts[0].compute(), sort_keys=True) == json.dumps(whole.compute(), sort_keys=True)


def cnnkit(*args, nproc: int = 1, tmp_path) -> dict:
    """Run the real command line (torchrun needs a real process) and return its --json."""
    env = dict(os.environ, CNNKIT_DATA=str(tmp_path / "data"), PYTHONPATH=str(REPO), OMP_NUM_THREADS="1")
    extra = ["--nproc", str(nproc)] if nproc > 1 else []
    r = subprocess.run([sys.executable, "-m", "cnnkit", "train", *map(str, args), *extra, "--json", "-q"],
                       capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout)  # exactly one JSON object: only rank 0 prints


def test_two_processes_train_like_one_and_resume_at_either_world_size(tmp_path, cli):
    r = cli("train", *ARGS, "--epochs", "2", "--out", tmp_path / "one", "--data-dir", tmp_path / "data", "--json", "-q")
    assert r.exit_code == 0, r.stderr
    one = r.json()
    reference = read_metrics(tmp_path / "one" / "metrics.csv")
    assert reference[1]["train_loss"] < reference[0]["train_loss"]  # it trains

    # epoch 1 on 2 processes, epoch 2 on 1; and the other way round
    cnnkit(*ARGS, "--epochs", "1", "--out", tmp_path / "two-one", nproc=2, tmp_path=tmp_path)
    cnnkit("--resume", tmp_path / "two-one", "--epochs", "2", tmp_path=tmp_path)
    assert cli("train", *ARGS, "--epochs", "1", "--out", tmp_path / "one-two", "--data-dir", tmp_path / "data", "-q").exit_code == 0
    two = cnnkit("--resume", tmp_path / "one-two", "--epochs", "2", nproc=2, tmp_path=tmp_path)
    assert two["processes"] == 2 and one["processes"] == 1
    # rank 0 alone wrote the run directory: the same files as a single process
    assert sorted(p.name for p in (tmp_path / "two-one").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())

    for run in ("two-one", "one-two"):
        rows = read_metrics(tmp_path / run / "metrics.csv")
        assert [r["epoch"] for r in rows] == [1, 2]
        for a, b in zip(rows, reference):
            assert a["train_loss"] == pytest.approx(b["train_loss"], rel=1e-3)
            assert a["val_loss"] == pytest.approx(b["val_loss"], rel=1e-3)
            assert a["train_accuracy"] == pytest.approx(b["train_accuracy"], abs=1 / 192 + 1e-9)  # one image at most

    # every test image counted exactly once on 2 processes (no padded duplicates)
    from cnnkit.data.catalog import load_dataset

    n_test = len(load_dataset("shapes:n=240,size=16").test)
    assert sum(map(sum, one["test_confusion_matrix"])) == sum(map(sum, two["test_confusion_matrix"])) == n_test
    assert abs(two["test_accuracy"] - one["test_accuracy"]) <= 1 / n_test + 1e-9


def test_bad_input_under_nproc_is_one_error_line(tmp_path):
    """Every process meets the error; rank 0 alone prints it, and the launcher adds no
    torchrun report: one `error:` line, exit code 2."""
    env = dict(os.environ, CNNKIT_DATA=str(tmp_path / "data"), PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, "-m", "cnnkit", "train", *ARGS, "--batch-size", "33", "--nproc", "2", "--out", "x", "-q"],
                       capture_output=True, text=True, env=env, timeout=300, cwd=tmp_path)
    assert r.returncode == 2
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert lines == ["error: --batch-size 33 is the global batch and must split evenly over 2 processes; use a multiple of 2"]
    assert not (tmp_path / "x").exists()
