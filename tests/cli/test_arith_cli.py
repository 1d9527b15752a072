"""`cnnkit shape | solve | layers | conv` through the real CLI."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import assert_clean_error


def test_shape_readme_example(cli):
    r = cli("shape", "--in", "512", "--k", "9", "--p", "1")
    assert r.exit_code == 0 and r.stdout.strip() == "506"


def test_shape_json_per_axis(cli):
    r = cli("shape", "--in", "28x32", "--k", "5x3", "--s", "2", "--json")
    assert r.exit_code == 0
    assert r.json()["output"] == [12, 15]


def test_shape_explain_shows_substituted_numbers_and_lost_pixels(cli):
    r = cli("shape", "--in", "32", "--k", "3", "--s", "2", "--explain")
    assert r.stdout.splitlines()[0] == "15"
    assert "floor((32 + 2*0 - 1*(3 - 1) - 1) / 2) + 1" in r.stdout
    assert "remainder of 1" in r.stdout


def test_shape_ceil_mode_explains_dropped_window(cli):
    r = cli("shape", "--in", "5", "--k", "2", "--s", "2", "--p", "1", "--op", "maxpool", "--ceil", "--explain")
    assert r.stdout.splitlines()[0] == "3"
    assert "drops it" in r.stdout


def test_shape_transpose_and_same(cli):
    assert cli("shape", "--in", "16", "--k", "4", "--s", "2", "--p", "1", "--op", "transpose").stdout.strip() == "32"
    assert cli("shape", "--in", "17", "--k", "4", "--p", "same").stdout.strip() == "17"


@pytest.mark.parametrize("args, fragment", [
    (["shape", "--in", "5", "--k", "9"], "kernel spans 9"),
    (["shape", "--in", "5", "--k", "3", "--p", "same", "--s", "2"], "strided"),
    (["shape", "--in", "8", "--k", "2", "--p", "2", "--op", "maxpool"], "half the kernel"),
    (["shape", "--in", "8", "--k", "3", "--s", "2", "--output-padding", "2", "--op", "transpose"], "output_padding"),
    (["shape", "--in", "8", "--k", "3", "--op", "blur"], "unknown op"),
    (["shape", "--in", "8x", "--k", "3"], "malformed"),
    (["shape", "--in", "8x8x8", "--k", "3x3"], "axes"),
    (["shape", "--in", "8"], "--k"),
    (["shape", "--in", "8", "--k", "3", "--bogus"], "no such option"),
    (["layers", "3x32x32 | conv 8 | linear 10"], "flatten"),
    (["layers", "3x32x32 | resblock 8"], "unknown layer"),
    (["conv", "--image", "1 2; 3", "--kernel", "box"], "different lengths"),
    (["conv", "--image", "1 2; 3 4", "--kernel", "sobel-x"], "kernel spans 3"),
    (["conv", "--image-file", "/nonexistent/m.txt"], "cannot read"),
    (["solve", "--out", "5"], "kernel"),
])
def test_bad_input_is_one_error_line_exit_2(cli, args, fragment):
    assert_clean_error(cli(*args), fragment)


def test_solve_json(cli):
    r = cli("solve", "--in", "512", "--out", "504", "--p", "1", "--s", "1", "--d", "1", "--json")
    assert r.json()["solutions"] == [{"in": 512, "k": 11, "s": 1, "p": 1, "d": 1}]


def test_solve_for_input_says_several_inputs_map_to_one_output(cli):
    r = cli("solve", "--out", "16", "--k", "2", "--s", "2", "--op", "maxpool")
    assert "cannot be recovered" in r.stdout


def test_layers_json_keys(cli):
    r = cli("layers", "3x32x32 | conv 32 k5 p2 | relu | maxpool 2 | flatten | linear 10", "--json", "--batch", "8")
    data = r.json()
    assert data["total_params"] == 2432 + (32 * 16 * 16 + 1) * 10
    assert [layer["output_shape"] for layer in data["layers"]] == [[32, 32, 32], [32, 32, 32], [32, 16, 16], [8192], [10]]
    assert data["total_macs"] == sum(layer["macs"] for layer in data["layers"])
    assert data["training_memory_bytes"]["total"] > 0


def test_layers_table(cli):
    r = cli("layers", "3x32x32 | conv 32 k5 p2 | relu")
    assert r.exit_code == 0 and "2,432" in r.stdout and "total params" in r.stdout


def test_conv_json_and_steps(cli):
    r = cli("conv", "--image", "1 0 2 3 1; 3 2 0 7 0; 0 6 1 1 4", "--kernel", "sobel-x", "--p", "1", "--json", "--steps")
    data = r.json()
    assert data["output"][0] == [2, -1, 11, -2, -13]
    assert data["steps"][0].startswith("out[0][0] = 0·(-1)")


def test_conv_pooling_and_file(cli, tmp_path):
    f = tmp_path / "m.txt"
    f.write_text("1 2 3 4\n5 6 7 8\n")
    r = cli("conv", "--image-file", f, "--op", "maxpool", "--size", "2", "--json")
    assert r.json()["output"] == [[6, 8]]


def test_json_output_is_exactly_one_object(cli):
    import json

    for args in (["shape", "--in", "9", "--k", "3", "--json"], ["layers", "1x8x8 | conv 2", "--json"]):
        r = cli(*args)
        assert isinstance(json.loads(r.stdout), dict) and r.stderr == ""


def test_help_has_examples(cli):
    for cmd in ("shape", "solve", "layers", "conv"):
        r = cli(cmd, "--help")
        assert r.exit_code == 0 and "Example" in r.stdout, cmd


def test_arithmetic_does_not_import_torch():
    code = ("import sys; from cnnkit.cli.main import app; import cnnkit.arith.spec, cnnkit.arith.solve, "
            "cnnkit.arith.manual, cnnkit.arith.shape; assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_module_entry_point():
    r = subprocess.run([sys.executable, "-m", "cnnkit", "shape", "--in", "512", "--k", "9", "--p", "1"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip() == "506"
    r = subprocess.run([sys.executable, "-m", "cnnkit", "shape", "--in", "5", "--k", "9"], capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.startswith("error: ") and "Traceback" not in r.stderr
