"""Each training option is declared once (engine/config.py) and read alike by `cnnkit train`,
`cnnkit.train(...)`, sweeps ("--lr 0.1" flags, --vary axes, [train] tables) and the checks."""

from __future__ import annotations

import dataclasses
import re

import pytest

import cnnkit
from cnnkit.cli.train_flags import parse_flags
from cnnkit.engine.config import OPTIONS, TrainConfig, check_value
from cnnkit.errors import CnnkitError
from cnnkit.experiments.sweep import SWEPT, load_sweep_file, parse_vary
from tests.conftest import assert_clean_error


def test_every_field_but_the_records_is_an_option_with_an_example(cli):
    names = {f.name for f in dataclasses.fields(TrainConfig)}
    assert set(OPTIONS) == names - {"model", "policy"}
    help_text = "".join(cli("train", "--help").stdout.split())  # without spaces: the terminal wraps at hyphens
    for name, o in OPTIONS.items():
        assert o.flag in help_text, name
        assert re.search(r"\b(e\.g\.|E\.g\.|Example:)", o.help), f"{o.flag}'s help has no example"
        assert "".join(o.help.split()) in help_text, name  # the help the command shows is the declaration's


def test_sweep_flags_are_read_as_the_train_command_reads_them():
    got = parse_flags(["--epochs", "3", "--opt", "widths=(8,16)", "--opt", "batchnorm=false", "--tta", "--no-nesterov",
                       "--image-size", "32", "--class-weights", "1,2", "--pretrained", "-b", "16"], sorted(SWEPT))
    assert got == {"epochs": 3.0, "model_options": {"widths": (8, 16), "batchnorm": False}, "tta": True,
                   "nesterov": False, "image_size": [32, 32], "class_weights": "1,2", "pretrained": True, "batch_size": 16}
    assert parse_flags([], sorted(SWEPT)) == {}  # nothing given: nothing set (not the command's shown defaults)
    with pytest.raises(CnnkitError, match="colour"):
        parse_flags(["--colour", "red"], sorted(SWEPT))
    with pytest.raises(CnnkitError, match="lr"):
        parse_flags(["--lr", "abc"], sorted(SWEPT))


@pytest.mark.parametrize("options, fragment", [
    ({"colour": "red"}, "unknown training option(s): colour"),
    ({"lr": "abc"}, "--lr takes a number, got 'abc'"),
    ({"batch_size": 2.5}, "--batch-size takes a whole number"),
    ({"optimizer": 3}, "--optimizer takes text, got 3"),
    ({"nesterov": 1}, "--nesterov takes true or false, got 1"),
    ({"momentum": 1.5}, "--momentum must be in [0, 1)"),
    ({"tta_level": "all"}, "--tta-level 'all': use none, mirror or mirror+translate"),
    ({"image_size": "0"}, "--image-size '0' must be H or HxW"),
    ({"model_options": ["depth=3"]}, "--opt takes model options (a dict)"),
])
def test_python_refuses_what_the_command_refuses(options, fragment, tmp_path):
    with pytest.raises(CnnkitError) as e:
        cnnkit.train("convnet", dataset="shapes:n=40,size=16", epochs=1, out=tmp_path / "r", progress=False, **options)
    assert fragment in str(e.value)
    assert not (tmp_path / "r").exists()


def test_the_command_says_the_same_as_python(cli, tmp_path):
    r = cli("train", "convnet", "-d", "shapes:n=40,size=16", "--momentum", "1.5", "--out", tmp_path / "r")
    assert_clean_error(r, "--momentum must be in [0, 1)")
    r = cli("sweep", "convnet", "-d", "shapes:n=40,size=16", "--momentum", "1.5", "--out", tmp_path / "s")
    assert_clean_error(r, "--momentum must be in [0, 1)")
    r = cli("sweep", "convnet", "-d", "shapes:n=40,size=16", "--lr", "abc", "--out", tmp_path / "s")
    assert_clean_error(r, "--lr")


def test_vary_values_and_train_tables_follow_the_declaration(tmp_path):
    with pytest.raises(CnnkitError, match="not a grid axis"):
        parse_vary(["seed=1,2"], set())
    assert parse_vary(["init=default,orthogonal", "epochs=1,2"], set()) == [("init", ["default", "orthogonal"]),
                                                                           ("epochs", [1, 2])]
    f = tmp_path / "s.toml"
    f.write_text('model = "convnet"\n[train]\nimage-size = 32\ncrop = "16x8"\nlr = 0.1\n')
    assert load_sweep_file(f)["train"] == {"image_size": [32, 32], "crop": [16, 8], "lr": 0.1}
    f.write_text('model = "convnet"\n[train]\nlr = "fast"\n')
    with pytest.raises(CnnkitError, match=r"\[train\] lr: --lr takes a number, got 'fast'"):
        load_sweep_file(f)
    f.write_text('model = "convnet"\n[train]\nout = "x"\n')
    with pytest.raises(CnnkitError, match="out is not a `cnnkit train` option"):
        load_sweep_file(f)


def test_check_value_passes_an_unset_optional_and_refuses_nan():
    check_value("grad_clip", None)
    with pytest.raises(CnnkitError, match="--lr takes a number, got nan"):
        check_value("lr", float("nan"))
