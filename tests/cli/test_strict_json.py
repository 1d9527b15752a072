"""Every --json output is strict JSON: `json.loads(..., parse_constant=raise)` reads it,
with null where a value does not exist (NaN and Infinity are not JSON). Every command
that has --json is run here on ordinary inputs; a new command must join the list."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cnnkit.cli.main import app
from cnnkit.jsontext import dumps, finite
from tests.conftest import working_in

TINY = ["-d", "shapes:n=48,size=16", "--epochs", "1", "--batch-size", "16", "--opt", "widths=(4,8)", "-q"]
CLS, SEG, RUN = "runs/cls/best.pt", "runs/seg/best.pt", "runs/cls"


def _refuse(name):
    raise ValueError(f"{name} is not JSON")


def strict(text: str):
    return json.loads(text, parse_constant=_refuse)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("json")
    with working_in(root):
        r = CliRunner().invoke(app, ["train", "convnet", *TINY, "--out", RUN])
        assert r.exit_code == 0, r.stderr
        r = CliRunner().invoke(app, ["train", "unet", "-d", "shapes-seg:n=32,size=16", "--opt", "depth=2", "--opt", "base_width=4",
                                     "--epochs", "1", "--batch-size", "16", "-q", "--out", "runs/seg"])
        assert r.exit_code == 0, r.stderr
        rng = np.random.default_rng(0)
        Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save("img.png")
        yield root


# command path -> argv (without --json) on ordinary inputs
COMMANDS = {
    "shape": ["shape", "--in", "32", "--k", "3", "--explain"],
    "solve": ["solve", "--in", "32", "--out", "30"],
    "layers": ["layers", "3x32x32 | conv 8 k3 | maxpool 2 | flatten | linear 10", "--batch", "8"],
    "conv": ["conv", "--image", "1 2 3; 4 5 6; 7 8 9", "--kernel", "box", "--steps"],
    "draw conv": ["draw", "conv", "--in", "5", "--k", "3", "--out", "out/d.png"],
    "draw maxpool": ["draw", "maxpool", "--in", "4", "--k", "2", "--out", "out/p.png"],
    "draw avgpool": ["draw", "avgpool", "--image", "1 2; 3 4", "--k", "2", "--out", "out/a.png"],
    "draw transpose": ["draw", "transpose", "--in", "3", "--k", "2", "--s", "2", "--out", "out/t.png"],
    "draw receptive-field": ["draw", "receptive-field", "1x8x8 | conv 2 k3", "--out", "out/rf.png"],
    "models": ["models"],
    "summary": ["summary", "convnet"],
    "data list": ["data", "list"],
    "data check": ["data", "check", "shapes:n=48,size=16"],
    "train": ["train", "convnet", *TINY, "--out", "out/train"],
    "evaluate": ["evaluate", CLS, "--out", "out/eval"],
    "predict": ["predict", CLS, "img.png"],
    "gradcheck": ["gradcheck", "--layer", "ReLU"],
    "visualize curves": ["visualize", "curves", RUN, "--out", "out/c.png"],
    "visualize filters": ["visualize", "filters", CLS, "--out", "out/f.png"],
    "visualize features": ["visualize", "features", CLS, "img.png", "--out", "out/fe.png"],
    "visualize attribution": ["visualize", "attribution", CLS, "img.png", "--out", "out/at.png"],
    "visualize maximize": ["visualize", "maximize", CLS, "--class", "1", "--steps", "2", "--seeds", "1", "--top", "0",
                           "--out", "out/m.png"],
    "visualize deconv": ["visualize", "deconv", CLS, "img.png", "--layer", "features.act1", "--channel", "0", "--out", "out/dc.png"],
    "visualize segmentation": ["visualize", "segmentation", SEG, "img.png", "--out", "out/s.png"],
    "sweep": ["sweep", "convnet", *TINY, "--vary", "lr=0.05,0.1", "--out", "out/sweep"],
    "compare": ["compare", RUN],
    "report": ["report", RUN, "--out", "out/r.html"],
}


def _json_commands(group=None, prefix=()):
    """Every command path of the CLI that takes --json."""
    import typer

    group = group or typer.main.get_command(app)
    for name, cmd in group.commands.items():
        path = (*prefix, name)
        if hasattr(cmd, "commands"):
            yield from _json_commands(cmd, path)
        elif any("--json" in p.opts for p in cmd.params):
            yield " ".join(path)


def test_every_command_with_json_is_covered():
    assert set(_json_commands()) - set(COMMANDS) == set()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_json_output_is_strict_json(world, monkeypatch, name):
    monkeypatch.chdir(world)
    r = CliRunner().invoke(app, [*COMMANDS[name], "--json"])
    assert r.exit_code in (0, 1), r.stderr  # gradcheck: 1 only when a check fails
    strict(r.stdout)


def test_run_files_are_strict_json(world):
    for name in ("config.json", "summary.json"):
        strict((world / RUN / name).read_text())


def test_nan_and_inf_become_null_never_a_bare_constant():
    obj = {"loss": math.nan, "best": [1.0, math.inf, -math.inf], "n": np.float64("nan"), "ok": 0.5, "path": __import__("pathlib").Path("a")}
    assert finite(obj) == {"loss": None, "best": [1.0, None, None], "n": None, "ok": 0.5, "path": "a"}
    assert strict(dumps(obj)) == finite(obj)
