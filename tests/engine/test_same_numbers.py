"""The refactoring guard: a training on the same seed says and writes the same as it did.

Each case runs `cnnkit train` on built-in data and compares what a user sees and keeps (the lines the
command prints on stdout and stderr, config.json, metrics.csv and summary.json) with a recorded copy in tests/engine/golden/.
What legitimately differs between two runs (wall times, images per second, the run folder, the machine's
environment) is dropped first. Floats are compared to a relative 1e-3: the same maths on another CPU's
kernels may round differently, while any change in what is trained or how moves them far more.
fp32 and cpu are given as flags so the policy's precision pick (bf16 only where the CPU has it) does not
make the recorded copy depend on the machine.

To record the copies again after a change that is meant to alter the numbers:
CNNKIT_RECORD_GOLDEN=1 pytest tests/engine/test_same_numbers.py
"""

from __future__ import annotations

import csv
import json
import math
import os
import re
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"
CASES = {
    "speednet-shapes": ["speednet-cpu", "--dataset", "shapes:n=1200", "-e", "2", "--seed", "3"],
    "unet-shapes-seg": ["unet", "--dataset", "shapes-seg:n=300", "-e", "1", "--seed", "5",
                        "--opt", "base_width=4", "--opt", "depth=2"],
    "convnet-switch": ["convnet", "--dataset", "shapes:n=600,size=16", "-e", "3", "--seed", "1", "--opt", "widths=8,16",
                       "--optimizer", "adam", "--switch", "2:sgd", "--label-smoothing", "0.1"],
    # trials: the second trial's own seed, and the table of means over trials
    "convnet-trials": ["convnet", "--dataset", "shapes:n=400,size=16", "-e", "2", "--opt", "widths=8,16",
                       "--trials", "2"],
}
# keys of summary.json that measure the machine, not the training
VARYING = {"train_seconds", "train_images_per_second", "warmup_seconds", "steady_images_per_second", "run_dir",
           "environment"}
TIMING_COLUMNS = {"train_seconds", "train_images_per_second", "seconds", "images_per_second"}


def _printed(stdout: str) -> list[str]:
    # "... 932 img/s  2.3s ..." and "(2.3s training, 932 img/s)" are timings; everything else is said on purpose
    lines = []
    for line in stdout.splitlines():
        if "seconds" in line:  # the trials table's row of training times
            continue
        line = re.sub(r"\d+(\.\d+)? img/s", "N img/s", line)
        line = re.sub(r"\b\d+(\.\d+)?s\b", "Ns", line)
        lines.append(line.rstrip())
    return lines


def _metrics(path: Path) -> list[dict]:
    with path.open() as f:
        return [{k: v for k, v in row.items() if k not in TIMING_COLUMNS} for row in csv.DictReader(f)]


def _kept(run: Path, stdout: str) -> dict:
    summary = {k: v for k, v in json.loads((run / "summary.json").read_text()).items() if k not in VARYING}
    config = json.loads((run / "config.json").read_text())
    config.pop("out", None)
    return {"printed": _printed(stdout), "config": config, "metrics": _metrics(run / "metrics.csv"),
            "summary": summary}


def _run_folder(out: Path) -> Path:
    return out / "trial-2" if (out / "trial-2").is_dir() else out


def _same(got, want, where: str) -> None:
    if isinstance(want, float) or isinstance(got, float):
        assert isinstance(got, (int, float)) and isinstance(want, (int, float)), (where, got, want)
        assert math.isclose(got, want, rel_tol=1e-3, abs_tol=1e-6), (where, got, want)
    elif isinstance(want, str) and isinstance(got, str) and re.fullmatch(r"-?\d+\.\d+(e-?\d+)?", want):
        assert math.isclose(float(got), float(want), rel_tol=1e-3, abs_tol=1e-6), (where, got, want)
    elif isinstance(want, dict):
        assert isinstance(got, dict) and set(got) == set(want), (where, sorted(set(got) ^ set(want)))
        for k in want:
            _same(got[k], want[k], f"{where}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), (where, got, want)
        for i, (g, w) in enumerate(zip(got, want)):
            _same(g, w, f"{where}[{i}]")
    elif isinstance(want, str) and isinstance(got, str) and "\n" not in want and re.search(r"\d\.\d", want):
        # a printed line with numbers in it: the words equal, the numbers within the tolerance
        split = r"(-?\d+\.\d+(?:e-?\d+)?)"
        gw, ww = re.split(split, got), re.split(split, want)
        assert len(gw) == len(ww), (where, got, want)
        for i, (g, w) in enumerate(zip(gw, ww)):
            if i % 2:
                assert math.isclose(float(g), float(w), rel_tol=1e-3, abs_tol=1e-6), (where, got, want)
            else:
                assert g == w, (where, got, want)
    else:
        assert got == want, (where, got, want)


@pytest.mark.parametrize("name", sorted(CASES))
def test_training_says_and_writes_what_it_did_before(name, cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CNNKIT_DATA", str(tmp_path / "data"))
    result = cli("train", *CASES[name], "--device", "cpu", "--precision", "fp32", "--out", "the-run")
    assert result.exit_code == 0, result.stderr
    got = json.loads(json.dumps(_kept(_run_folder(Path("the-run")), result.stdout + result.stderr)))
    path = GOLDEN / f"{name}.json"
    if os.environ.get("CNNKIT_RECORD_GOLDEN"):
        path.write_text(json.dumps(got, indent=1) + "\n")
    want = json.loads(path.read_text())
    _same(got, want, name)
