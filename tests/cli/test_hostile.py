"""Hostile input, run through the CLI: every row of tests/cli/hostile_table.py must end in
exactly one `error:` line and exit code 2, print nothing on stdout under --json, and
create or change no file outside its --out (a crafted pickle must never run).

Most rows fail before any training; the fixture trains two tiny runs once (seconds)."""

from __future__ import annotations

import hashlib
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from cnnkit.cli.main import app
from tests.cli import hostile_table as table
from tests.conftest import assert_clean_error, working_in


class _Exec:
    """Unpickling this runs exec(...): the file a crafted checkpoint would create if loaded unsafely."""

    def __reduce__(self):
        return (exec, ("open('PWNED', 'w').close()",))


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("hostile")
    data = tmp_path_factory.mktemp("hostile-data")
    with working_in(root, data):
        runner = CliRunner()
        tiny = ["--epochs", "1", "--batch-size", "16", "-q"]
        r = runner.invoke(app, ["train", "convnet", "-d", "shapes:n=48,size=16", "--opt", "widths=(4,8)", *tiny, "--out", "runs/cls"])
        assert r.exit_code == 0, r.stderr
        r = runner.invoke(app, ["train", "unet", "-d", "shapes-seg:n=32,size=16", "--opt", "depth=2", "--opt", "base_width=4",
                                *tiny, "--out", "runs/seg"])
        assert r.exit_code == 0, r.stderr
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save("img.png")
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save("seg.png")
        Path("afolder").mkdir()
        Path("afile").write_text("a file, not a folder\n")
        Path("binary.png").write_bytes(bytes(rng.integers(0, 256, 4096, dtype=np.uint8)))
        Path("binary.pt").write_bytes(bytes(rng.integers(0, 256, 4096, dtype=np.uint8)))
        Path("empty.png").write_bytes(b"")
        Path("empty.pt").write_bytes(b"")
        Path("notes.txt").write_text("just text\n")
        Path("broken.py").write_text("def oops(:\n")
        Path("nets").mkdir()
        for name, (source, _) in table.BAD_NETS.items():
            Path(f"nets/{name}.py").write_text(source)
        Path("truncated.pt").write_bytes(Path("runs/cls/best.pt").read_bytes()[:2000])
        Path("crafted.pt").write_bytes(pickle.dumps(_Exec(), protocol=2))
        torch.save({"weights": torch.zeros(3)}, "foreign.pt")
        ckpt = torch.load("runs/cls/best.pt", weights_only=True)
        ckpt.pop("normalization")
        torch.save(ckpt, "nonorm.pt")
        _bad_checkpoints()
        Path("bad.toml").write_text("model = [unclosed\n")
        Path("unknown.toml").write_text('model = "convnet"\ncolour = "red"\n')
        for i in range(3):  # one class folder only
            Path("oneclass/cat").mkdir(parents=True, exist_ok=True)
            Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(f"oneclass/cat/{i}.png")
        for d in ("noisy/images", "noisy/masks"):
            Path(d).mkdir(parents=True)
        for i in range(3):  # greyscale images saved as masks: 40 grey levels
            Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(f"noisy/images/{i}.png")
            Image.fromarray((rng.integers(0, 40, (16, 16)) * 6).astype(np.uint8)).save(f"noisy/masks/{i}.png")
        shutil.copytree("runs/cls", "corrupt")
        Path("corrupt/summary.json").write_text(Path("corrupt/summary.json").read_text()[:30])
        yield root


def _bad_checkpoints() -> None:
    """Checkpoints whose content is wrong (issue: NaN weights, names that do not match the
    outputs, a task that does not match the weights, weights of another model) and a whole
    pickled model; in the current folder, next to runs/cls and runs/seg."""
    good = torch.load("runs/cls/best.pt", weights_only=True)

    def variant(name, **changes):
        torch.save({**good, **changes}, name)

    sd = dict(good["state_dict"])
    first = next(k for k, v in sd.items() if v.ndim == 4)
    variant("nan.pt", state_dict={**sd, first: torch.full_like(sd[first], float("nan"))})
    variant("nannorm.pt", normalization={"mean": [float("nan")] * 3, "std": [0.5] * 3})
    names = list(good["class_names"])
    variant("manynames.pt", class_names=names + ["extra1", "extra2"])
    variant("fewnames.pt", class_names=names[:1])
    variant("taskswap.pt", task="segmentation")
    variant("misfit.pt", state_dict={**sd, first: torch.zeros(2, *sd[first].shape[1:])})
    torch.save(torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3)), "wholemodel.pt")


def _snapshot(root: Path) -> dict:
    """Every file outside out/ with a hash of its bytes (the lock file's PID line is not content)."""
    found = {}
    for p in root.rglob("*"):
        rel = p.relative_to(root)
        if rel.parts[0] == "out" or not p.is_file() or p.name == ".cnnkit.lock":
            continue
        found[str(rel)] = hashlib.sha1(p.read_bytes()).hexdigest()
    return found


ROWS = table.rows()


def _param(row):
    id_, argv, fragment = row
    marks = []
    if id_.endswith("read-only-out") and not (sys.platform.startswith("linux") and Path("/sys").is_dir()):
        marks.append(pytest.mark.skip(reason="needs Linux's read-only /sys"))
    return pytest.param(argv, fragment, id=id_, marks=marks)


def test_the_table_is_large_and_unique():
    ids = [r[0] for r in ROWS]
    assert len(ids) >= 150 and len(set(ids)) == len(ids)


@pytest.mark.parametrize("argv,fragment", [_param(r) for r in ROWS])
def test_bad_input_is_one_clean_error(world, monkeypatch, argv, fragment):
    monkeypatch.chdir(world)
    before = _snapshot(world)
    result = CliRunner().invoke(app, argv)
    from tests.conftest import CliResult

    r = CliResult(result)
    assert_clean_error(r, *([fragment] if fragment else []))
    if "--json" in argv:
        assert r.stdout == ""
    assert _snapshot(world) == before
    assert not (world / "PWNED").exists()


@pytest.mark.parametrize("argv,fragment", [
    (["evaluate", "crafted.pt", "--json"], "refused"),
    (["evaluate", "nonorm.pt"], "normalization"),
    (["predict", table.CLS, "binary.png", "--json"], "binary.png"),
    (["train", "convnet", *table.TINY, "--grad-clip", "-1", "--out", "out/gc"], "grad-clip"),
], ids=["evaluate-crafted-pickle", "evaluate-no-normalization", "predict-binary-image", "train-negative-grad-clip"])
def test_a_real_process_prints_one_line_and_no_warnings(world, argv, fragment):
    """Under pytest, warnings are captured, not printed: a real process shows what a user sees."""
    env = dict(os.environ, PYTHONWARNINGS="default", CNNKIT_DATA=str(world / "out" / "data"))
    r = subprocess.run([sys.executable, "-m", "cnnkit", *argv], cwd=world, capture_output=True, text=True, env=env, timeout=120)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 2 and len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert fragment in lines[0].lower() and r.stdout == ""
    assert not (world / "PWNED").exists()


def test_divergence_hint_names_only_remedies_not_in_use(world, monkeypatch, cli):
    """A diverged fp32 run is a failure while running (exit 1) whose hint does not suggest
    --precision fp32 or --grad-clip to a run that already uses them (convnet is clipped at 2
    by default; --grad-clip 0 turns that off)."""
    monkeypatch.chdir(world)
    base = ["train", "convnet", *table.TINY, "--epochs", "2", "--lr", "1e12", "--precision", "fp32", "-q"]
    r = cli(*base, "--grad-clip", "0", "--out", "out/div1")
    assert_clean_error(r, "the loss became", "--grad-clip 1.0", code=1)
    assert "--precision fp32" not in r.stderr
    r = cli(*base, "--grad-clip", "5", "--out", "out/div2")
    assert_clean_error(r, "smaller --grad-clip than 5", code=1)
    r = cli(*base, "--out", "out/div3")
    assert_clean_error(r, "smaller --grad-clip than 2", code=1)
    assert not (world / "out" / "div1").exists()  # failed in its first epoch: nothing left to block a retry
