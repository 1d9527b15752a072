"""`data list`, `data check`, `draw` and `gradcheck` go through cnnkit.api: the command's --json
equals the Python function's result, and a drawing's file is the same byte for byte."""

import numpy as np
from PIL import Image

import cnnkit


def _class_folder(root, sizes=((12, 12), (12, 12), (16, 12))):
    """Two classes, one image of another size: data check reports it (a warning, not an error)."""
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for i, (h, w) in enumerate(sizes):
            Image.fromarray(np.full((h, w, 3), 40 * i, np.uint8)).save(root / cls / f"{i}.png")
    return root


def test_data_list_json_equals_the_api(cli):
    r = cli("data", "list", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json() == cnnkit.datasets()
    assert "shapes" in [d["name"] for d in r.json()["datasets"]]


def test_data_check_json_equals_the_api(cli, tmp_path):
    root = _class_folder(tmp_path / "pets")
    r = cli("data", "check", f"folder:{root}", "--test-split", "0.25", "--json")
    assert r.exit_code == 0, r.stderr
    api = cnnkit.check_data(f"folder:{root}", test_split=0.25)
    assert r.json() == api
    assert api["splits"]["train"]["per_class"] == {"cat": 3, "dog": 3}
    assert any("different sizes" in p["problem"] for p in api["problems"])


def test_data_check_of_a_builtin_set_equals_the_api(cli):
    r = cli("data", "check", "shapes:n=40,size=16", "--image-size", "24", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json() == cnnkit.check_data("shapes:n=40,size=16", image_size="24")
    assert r.json()["input_shape"][1:] == [24, 24]


def test_draw_json_and_file_equal_the_api(cli, tmp_path):
    r = cli("draw", "conv", "--in", "5", "--k", "3", "--s", "2", "--p", "1", "--out", tmp_path / "cli.gif", "--json")
    assert r.exit_code == 0, r.stderr
    api = cnnkit.draw_layer("conv", tmp_path / "api.gif", size="5", kernel="3", stride="2", padding="1")
    assert dict(r.json(), path=None) == dict(api, path=None)
    assert api["output_size"] == [3, 3]
    assert (tmp_path / "cli.gif").read_bytes() == (tmp_path / "api.gif").read_bytes()


def test_draw_receptive_field_json_and_file_equal_the_api(cli, tmp_path):
    spec = "1x16x16 | conv 4 k3 | maxpool 2 | conv 4 k3"
    r = cli("draw", "receptive-field", spec, "--out", tmp_path / "cli.png", "--json")
    assert r.exit_code == 0, r.stderr
    api = cnnkit.draw_receptive_field(spec, tmp_path / "api.png")
    assert dict(r.json(), path=None) == dict(api, path=None)
    assert (tmp_path / "cli.png").read_bytes() == (tmp_path / "api.png").read_bytes()


def test_gradcheck_json_equals_the_api(cli):
    r = cli("gradcheck", "--layer", "ReLU", "--layer", "Linear", "--json")
    assert r.exit_code == 0, r.stderr
    api = cnnkit.gradcheck(layers=["ReLU", "Linear"])
    assert r.json() == api
    assert api["passed"] and {c["layer"] for c in api["checks"]} == {"ReLU", "Linear"}
