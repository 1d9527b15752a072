"""`cnnkit explore`: the page's numbers are the CLI's, a real browser shows them, bad input is one clear error."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
from PIL import Image

from tests.conftest import REPO, assert_clean_error

pytest.importorskip("werkzeug")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A convnet trained briefly on the built-in shapes (16x16), and an image file for it."""
    from typer.testing import CliRunner

    from cnnkit.cli.main import app

    root = tmp_path_factory.mktemp("explore")
    r = CliRunner().invoke(app, ["train", "convnet", "-d", "shapes:n=120,size=16", "--epochs", "1", "-o", str(root / "c"),
                                 "--opt", "widths=(8,16)", "--opt", "kernel_size=3", "-q"])
    assert r.exit_code == 0, r.stderr
    img = root / "x.png"
    Image.fromarray((np.random.default_rng(0).random((16, 16, 3)) * 255).astype(np.uint8)).save(img)
    return root / "c" / "best.pt", img


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as r:
        return json.loads(r.read())


def _port_free(port: int) -> bool:
    """Nothing listens there any more and a new server may bind it (SO_REUSEADDR, as every
    server sets it: the closed connections' TIME_WAIT entries do not hold the port)."""
    with socket.socket() as c:
        if c.connect_ex(("127.0.0.1", port)) == 0:
            return False
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            s.listen()
        except OSError:
            return False
    return True


def test_the_page_numbers_are_the_commands_numbers(trained, cli):
    """summary --json, predict --json, the feature maps and Grad-CAM of visualize: the same values."""
    from cnnkit.engine.inference import load_for_inference, prepare_image
    from cnnkit.explorer.session import Explorer, decode_f32
    from cnnkit.viz.explain_data import explain_image
    from cnnkit.viz.features import feature_maps
    from cnnkit.viz.maximize import top_activating

    ckpt_path, img = trained
    e = Explorer(ckpt_path, [img], device="cpu")
    assert e.network()["summary"] == cli("summary", ckpt_path, "--json").json()
    predicted = cli("predict", ckpt_path, img, "--json", "--top-k", "4").json()["predictions"][0]["top"]
    assert e.predict(0)["top"] == predicted
    ckpt, model, _ = load_for_inference(str(ckpt_path), "cpu")
    x, _ = prepare_image(ckpt, img)
    layer = e.layer("features.conv1", 0)
    assert torch.equal(decode_f32(layer["maps"]), feature_maps(model, x, ["features.conv1"])["features.conv1"])
    assert torch.equal(decode_f32(layer["filters"]), model.features.conv1.weight.detach())
    assert layer["arith"]["formula"][1].strip() == "= floor((16 + 2*1 - 1*(3 - 1) - 1) / 1) + 1 = floor(15 / 1) + 1 = 16"
    assert layer["arith"]["pytorch"] == "nn.Conv2d(3, 8, kernel_size=3, stride=1, padding=1, dilation=1)"
    cam = e.attribution(0, "gradcam")
    ref = explain_image(ckpt, model, img, "gradcam")
    assert cam["layer"] == ref["layer"] and cam["class_name"] == ref["target_name"]
    assert torch.allclose(decode_f32(cam["map"]), ref["map"], atol=1e-6)
    ch = e.channel("features.conv1", 3, 0)
    assert torch.equal(decode_f32(ch["map"]), feature_maps(model, x, ["features.conv1"])["features.conv1"][3])
    _, values, index = top_activating(model, e.pool, e._norm(), "features.conv1", 3, None, 8)  # visualize maximize's ranking
    assert [t["file"] for t in ch["top"]] == [e.pool_files[k] for k in index.tolist()]
    assert [t["value"] for t in ch["top"]] == pytest.approx(values.tolist(), rel=1e-5, abs=1e-6)
    drawn = e.drawing("features.conv1")
    assert drawn["gif"].startswith("data:image/gif;base64,") and drawn["input_size"] == [3, 3] and drawn["output_size"] == [3, 3]
    assert drawn["command"] == "cnnkit draw conv --in 3 --k 3 --s 1 --p 1 --out drawing.gif"


def chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(chromium() is None, reason="no Chromium installed (Debian: apt-get install chromium)")
def test_a_real_browser_clicks_a_conv_layer(trained, cli, tmp_path):
    """Headless Chromium loads the page, which clicks features.conv1 and channel 2 (URL parameters
    script the clicks); the dumped DOM holds its feature maps (with the values' sums), its filters,
    its arithmetic and the summary's totals. Then the server stops and the port is free."""
    import cnnkit
    from cnnkit.engine.inference import load_for_inference, prepare_image
    from cnnkit.viz.features import feature_maps

    ckpt_path, img = trained
    server = cnnkit.explore(ckpt_path, images=[img], port=0, device="cpu")
    port = server.port
    try:
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
                 "--virtual-time-budget=20000"]
        url = f"{server.url}?layer=features.conv1&channel=2"
        dom = subprocess.run([chromium(), *flags, "--dump-dom", url], capture_output=True, text=True, timeout=180).stdout
    finally:
        server.stop()
    assert _port_free(port)
    assert '<body data-state="ready">' in dom, dom[-3000:]
    assert re.search(r'id="error"[^>]*hidden', dom)
    summary = cli("summary", ckpt_path, "--json").json()
    shown = lambda key: int(re.search(rf'id="{key}"><b>[^<]*</b>([\d,]+)<', dom).group(1).replace(",", ""))
    assert shown("total-params") == summary["total_params"] and shown("total-macs") == summary["total_macs"]
    # feature maps: one canvas per channel, each carrying the sum of the values the browser decoded
    ckpt, model, _ = load_for_inference(str(ckpt_path), "cpu")
    maps = feature_maps(model, prepare_image(ckpt, img)[0], ["features.conv1"])["features.conv1"]  # (8, 16, 16)
    sums = {int(c): float(s) for c, s in re.findall(r'class="fmap" data-channel="(\d+)" data-sum="([^"]+)"', dom)}
    assert sorted(sums) == list(range(8))
    for c, s in sums.items():
        assert s == pytest.approx(float(maps[c].double().sum()), rel=1e-4, abs=1e-4)
    assert len(re.findall(r'class="filter" data-filter="\d+"', dom)) == 8  # RGB filters: one canvas each
    formula = re.search(r'<pre id="formula">([^<]*)</pre>', dom).group(1)
    assert "floor((16 + 2*1 - 1*(3 - 1) - 1) / 1) + 1 = floor(15 / 1) + 1 = 16" in formula
    assert re.search(r'<img id="drawing" src="data:image/gif;base64,', dom)
    assert 'id="channel-title" data-channel="2"' in dom
    top = re.search(r'<div id="channel-top" class="thumbs">(.*?)</div>', dom).group(1)
    assert len(re.findall(r'<img src="data:image/png;base64,', top)) == 8  # the channel's top test images


def test_bad_input_is_one_clear_error(trained, cli, tmp_path):
    ckpt_path, img = trained
    assert_clean_error(cli("explore", "no-such-model", "--no-browser"), "no-such-model")
    assert_clean_error(cli("explore", ckpt_path, "--image", tmp_path / "missing.png", "--no-browser"), "missing.png")
    with socket.socket() as s:  # a port in use
        s.bind(("127.0.0.1", 0))
        s.listen()
        taken = s.getsockname()[1]
        assert_clean_error(cli("explore", ckpt_path, "--port", str(taken), "--no-browser"), f"port {taken}", "in use")


def test_a_dropped_file_that_is_not_an_image(trained, tmp_path):
    """The page gets one error line to show; nothing is added, nothing written."""
    import cnnkit

    ckpt_path, img = trained
    before = sorted(p.name for p in ckpt_path.parent.rglob("*"))
    server = cnnkit.explore(ckpt_path, images=[img], port=0, device="cpu")
    try:
        count = len(_get(f"{server.url}api/inputs")["inputs"])
        assert count == 1 + 4  # the --image and one test image per class of shapes
        request = urllib.request.Request(f"{server.url}api/upload?name=notes.txt", data=b"not a picture", method="POST")
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(request, timeout=60)
        assert e.value.code == 400
        assert json.loads(e.value.read()) == {"error": "notes.txt is not an image cnnkit can read; drop an image file (PNG, JPEG, BMP, ...)"}
        assert len(_get(f"{server.url}api/inputs")["inputs"]) == count  # nothing added
        good = urllib.request.Request(f"{server.url}api/upload?name=x.png", data=img.read_bytes(), method="POST")
        with urllib.request.urlopen(good, timeout=60) as r:
            inputs = json.loads(r.read())["inputs"]
        assert inputs[-1]["name"] == "x.png"
        assert _get(f"{server.url}api/predict?input={len(inputs) - 1}")["top"] == _get(f"{server.url}api/predict?input=0")["top"]
    finally:
        server.stop()
    assert sorted(p.name for p in ckpt_path.parent.rglob("*")) == before


def test_ctrl_c_stops_the_command_cleanly(trained):
    ckpt_path, img = trained
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-m", "cnnkit", "explore", str(ckpt_path), "--image", str(img), "--port", "0",
                             "--no-browser", "--device", "cpu"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        first, line = proc.stdout.readline(), proc.stdout.readline()
        assert first.startswith("loading "), first
        url = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert url, (line, proc.stderr.read() if proc.poll() is not None else "")
        assert _get(url.group(0) + "api/network")["summary"]["total_params"] > 0
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    assert out.strip() == "stopped" and err == ""
    assert _port_free(int(url.group(1)))


def test_segmentation_mask_and_dice_equal_visualize_segmentation(tmp_path, cli):
    import cnnkit
    from cnnkit.explorer.session import Explorer

    r = cli("train", "unet", "-d", "shapes-seg:n=40,size=16", "--epochs", "1", "-o", tmp_path / "u", "--opt", "base_width=4",
            "--opt", "depth=2", "-q")
    assert r.exit_code == 0, r.stderr
    e = Explorer(tmp_path / "u" / "best.pt", device="cpu")
    inp = e.inputs[0]
    Image.fromarray(inp.image.permute(1, 2, 0).numpy()).save(tmp_path / "i.png")
    Image.fromarray(inp.truth.numpy().astype(np.uint8)).save(tmp_path / "m.png")
    ref = cnnkit.visualize.segmentation(tmp_path / "u" / "best.pt", tmp_path / "i.png", tmp_path / "m.png").cnnkit
    p = e.predict(0)
    assert p["dice"] == pytest.approx(ref["dice"]) and p["pixel_accuracy"] == pytest.approx(ref["pixel_accuracy"])
    assert set(p["dice_per_class"]) == set(e.class_names()) and e.network()["attribution_methods"] == []


def test_your_own_file_and_a_layer_spec(tmp_path, cli):
    """The forms models.source.build_model takes: a class in the student's file (with data for
    its input size and classes) and a layer spec, whose totals equal `cnnkit layers`'."""
    from cnnkit.explorer.session import Explorer

    (tmp_path / "my_net.py").write_text(
        "import torch.nn as nn\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, num_classes=10, in_channels=3):\n"
        "        super().__init__()\n"
        "        self.conv = nn.Conv2d(in_channels, 8, 3, padding=1)\n"
        "        self.act = nn.ReLU()\n"
        "        self.pool = nn.AdaptiveAvgPool2d(1)\n"
        "        self.fc = nn.Linear(8, num_classes)\n"
        "    def forward(self, x):\n"
        "        return self.fc(self.pool(self.act(self.conv(x))).flatten(1))\n")
    e = Explorer(f"{tmp_path / 'my_net.py'}:Net", dataset="shapes:n=24,size=16", device="cpu")
    assert e.network()["summary"]["total_params"] == (3 * 9 * 8 + 8) + (8 * 4 + 4)  # built for shapes' 4 classes
    assert e.attribution(0, "gradcam")["layer"] == "act"  # the last map larger than 1x1, found as for any model
    spec = "3x32x32 | conv 8 k3 p1 | relu | maxpool 2 | flatten | linear 4"
    s = Explorer(spec, device="cpu").network()["summary"]
    ref = cli("layers", spec, "--json").json()
    assert (s["total_params"], s["total_macs"]) == (ref["total_params"], ref["total_macs"])
    assert_clean_error(cli("explore", f"{tmp_path / 'my_net.py'}:Net", "--no-browser"), "--dataset")


def test_without_the_server_library_the_error_says_how_to_install_it(trained, cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "werkzeug", None)  # as if not installed: importing it raises ImportError
    assert_clean_error(cli("explore", trained[0], "--no-browser"), "pip install 'cnnkit[explore]'")


def test_weights_from_a_foreign_state_dict(trained, tmp_path, cli):
    """--weights: a bare state dict (as another training loop saves it) into a model built by name,
    read by models.weights_file as `train --weights` reads it; the normalisation used is said."""
    from cnnkit.explorer.session import Explorer

    ckpt_path, img = trained
    state = torch.load(ckpt_path, weights_only=True)["state_dict"]
    torch.save({f"module.{k}": v for k, v in state.items()}, tmp_path / "foreign.pth")  # a DataParallel-style file
    e = Explorer("convnet", dataset="shapes:n=24,size=16", options={"widths": (8, 16), "kernel_size": 3}, device="cpu",
                 weights=str(tmp_path / "foreign.pth"))
    assert e.trained and all(torch.equal(v, state[k]) for k, v in e.model.state_dict().items())
    assert any("tensors loaded" in n for n in e.notes) and any("normalised with shapes" in n for n in e.notes)
    assert_clean_error(cli("explore", ckpt_path, "--weights", tmp_path / "foreign.pth", "--no-browser"), "--weights")


def test_a_request_for_another_host_name_is_refused(trained):
    """DNS rebinding: a page on evil.example that resolves to 127.0.0.1 must not read the model."""
    import http.client

    import cnnkit

    server = cnnkit.explore(trained[0], port=0, device="cpu")
    try:
        for host, status in (("evil.example", 403), (f"localhost:{server.port}", 200), (f"127.0.0.1:{server.port}", 200)):
            c = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
            c.request("GET", "/api/network", headers={"Host": host})
            assert c.getresponse().status == status, host
            c.close()
    finally:
        server.stop()
