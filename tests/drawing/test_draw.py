"""`cnnkit draw`: every frame against PyTorch, the files it writes, and its errors.

Oracles: F.unfold (which input cells each conv output combines, padding included),
the gradient of one output cell (pooling and transposed conv), conv_transpose2d and
conv2d themselves for values, and the PyTorch line evaluated as code.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from PIL import Image

from cnnkit.arith.frames import plan
from cnnkit.arith.spec import analyse, unit_regions
from cnnkit.errors import CnnkitError
from tests.conftest import assert_clean_error

FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def _plan(*args, **kwargs):
    try:
        return plan(*args, **kwargs)
    except CnnkitError:
        assume(False)


def unfold_taps(h, w, k, s, p, d):
    """Per output cell: the set of (row, col) taps, in unpadded coordinates, via F.unfold.

    Each cell of the padded grid holds its own index + 1, so the unfolded columns name
    the cells each output combines (padding cells included, unlike a zero-padded unfold).
    """
    (pt, pb), (pl, pr) = p
    ph, pw = h + pt + pb, w + pl + pr
    ids = torch.arange(1, ph * pw + 1, dtype=torch.float64).reshape(1, 1, ph, pw)
    cols = F.unfold(ids, k, dilation=d, stride=s)  # (1, kh*kw, L)
    oh = (ph - d[0] * (k[0] - 1) - 1) // s[0] + 1
    ow = (pw - d[1] * (k[1] - 1) - 1) // s[1] + 1
    out = {}
    for n in range(cols.shape[-1]):
        cells = {(int(v - 1) // pw - pt, int(v - 1) % pw - pl) for v in cols[0, :, n]}
        out[divmod(n, ow)] = cells
    assert len(out) == oh * ow
    return out


@FAST
@given(st.integers(1, 9), st.integers(1, 9), st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3),
       st.integers(0, 3), st.integers(0, 3), st.integers(1, 3), st.integers(1, 2))
def test_conv_frames_match_unfold(h, w, kh, kw, sh, sw, ph, pw, dh, dw):
    d = _plan("conv", f"{h}x{w}", f"{kh}x{kw}", f"{sh}x{sw}", f"{ph}x{pw}", f"{dh}x{dw}")
    want = unfold_taps(h, w, (kh, kw), (sh, sw), ((ph, ph), (pw, pw)), (dh, dw))
    assert [tuple(f.output) for f in d.frames] == list(want)
    for f in d.frames:
        inside = {(r, c) for r, c in want[f.output] if 0 <= r < h and 0 <= c < w}
        assert set(f.inputs) == inside
        assert set(f.padding) == want[f.output] - inside


def test_asymmetric_same_padding_frames_match_unfold():
    d = plan("conv", "6x5", "4", padding="same")
    want = unfold_taps(6, 5, (4, 4), (1, 1), ((1, 2), (1, 2)), (1, 1))
    for f in d.frames:
        assert set(f.inputs) | set(f.padding) == want[f.output]
    assert "padding='same'" in d.pytorch or "ZeroPad2d((1, 2, 1, 2))" in d.pytorch


@FAST
@given(st.integers(2, 9), st.integers(2, 9), st.integers(1, 4), st.integers(1, 3), st.integers(0, 2), st.booleans(),
       st.sampled_from(["maxpool", "avgpool"]))
def test_pool_frames_match_gradient(h, w, k, s, p, ceil, op):
    d = _plan(op, f"{h}x{w}", str(k), str(s), str(p), ceil_mode=ceil)
    # The windows (not the max's winner) are what each output reads: average pooling's gradient shows them.
    x = torch.ones(1, 1, h, w, dtype=torch.float64, requires_grad=True)
    y = F.avg_pool2d(x, k, s, p, ceil_mode=ceil)
    assert [y.shape[2], y.shape[3]] == [d.rows.out, d.cols.out]
    for f in d.frames:
        (g,) = torch.autograd.grad(y[0, 0, f.output[0], f.output[1]], x, retain_graph=True)
        assert set(f.inputs) == {tuple(c) for c in (g[0, 0] != 0).nonzero().tolist()}
        for r, c in f.padding:
            assert not (0 <= r < h and 0 <= c < w)
            assert -p <= r < h + p and -p <= c < w + p


@FAST
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 4), st.integers(1, 3), st.integers(0, 2), st.integers(1, 2),
       st.integers(0, 2))
def test_transpose_frames_match_gradient_and_scatter(h, w, k, s, p, dil, op):
    d = _plan("transpose", f"{h}x{w}", str(k), str(s), str(p), str(dil), output_padding=str(op))
    t = nn.ConvTranspose2d(1, 1, k, s, p, op, dilation=dil, bias=False).double()
    nn.init.constant_(t.weight, 1.0)
    x = torch.ones(1, 1, h, w, dtype=torch.float64, requires_grad=True)
    y = t(x)
    assert [y.shape[2], y.shape[3]] == [d.rows.out, d.cols.out]
    for f in d.frames:  # direct view: which input cells each output cell combines
        (g,) = torch.autograd.grad(y[0, 0, f.output[0], f.output[1]], x, retain_graph=True)
        assert sorted(f.inputs) == sorted(tuple(c) for c in (g[0, 0] != 0).nonzero().tolist())
    for f in d.scatter:  # scatter view: which output cells one input cell writes
        one = torch.zeros(1, 1, h, w, dtype=torch.float64)
        one[0, 0, f.output[0], f.output[1]] = 1
        hit = {tuple(c) for c in (t(one)[0, 0] != 0).nonzero().tolist()}
        assert set(f.inputs) == hit


@FAST
@given(st.integers(1, 4), st.integers(1, 4), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2), st.integers(1, 2),
       st.integers(0, 2), st.randoms())
def test_transpose_values_both_ways_equal_torch(h, w, k, s, p, dil, op, rnd):
    image = "; ".join(" ".join(str(rnd.randint(-5, 5)) for _ in range(w)) for _ in range(h))
    kernel = "; ".join(" ".join(str(rnd.randint(-3, 3)) for _ in range(k)) for _ in range(k))
    d = _plan("transpose", stride=str(s), padding=str(p), dilation=str(dil), output_padding=str(op),
              image=image, kernel_values=kernel)
    x = torch.tensor(d.image, dtype=torch.float64)[None, None]
    wt = torch.tensor(d.kernel, dtype=torch.float64)[None, None]
    want = F.conv_transpose2d(x, wt, stride=s, padding=p, output_padding=op, dilation=dil)[0, 0]
    assert torch.equal(torch.tensor(d.output, dtype=torch.float64), want)  # scatter view
    for f in d.frames:  # direct view: flipped kernel over the zero-inserted grid
        total = sum(d.image[r][c] * d.kernel[a][b] for (r, c), (a, b) in zip(f.inputs, f.taps))
        assert total == want[f.output[0], f.output[1]].item()
        assert d.texts[len([g for g in d.frames if g.output < f.output])].endswith(f"= {int(total)}")


@pytest.mark.parametrize("op, args", [
    ("conv", dict(padding="1", stride="2", kernel_values="sobel-x")),
    ("conv", dict(padding="0", dilation="2", kernel_values="1 0 2; 0 1 0; 3 0 1")),
    ("maxpool", dict(kernel="2", padding="1", ceil_mode=True)),
    ("avgpool", dict(kernel="3", stride="2", padding="1", ceil_mode=True)),
])
def test_values_equal_torch(op, args):
    image = "1 0 2 3 1; 3 2 0 7 0; 0 6 1 1 4; 5 1 0 2 2; 1 1 3 0 6"
    d = plan(op, image=image, **args)
    x = torch.tensor(d.image, dtype=torch.float64)[None, None]
    if op == "conv":
        want = F.conv2d(x, torch.tensor(d.kernel, dtype=torch.float64)[None, None], stride=d.rows.s,
                        padding=d.rows.p_before, dilation=d.rows.d)
    elif op == "maxpool":
        want = F.max_pool2d(x, d.rows.k, d.rows.s, d.rows.p_before, ceil_mode=d.rows.ceil_mode)
    else:
        want = F.avg_pool2d(x, d.rows.k, d.rows.s, d.rows.p_before, ceil_mode=d.rows.ceil_mode)
    got = torch.tensor([[float(v) for v in row] for row in d.output], dtype=torch.float64)
    assert torch.allclose(got, want[0, 0])
    assert len(d.texts) == len(d.frames)


@pytest.mark.parametrize("op, args", [
    ("conv", dict(size="6x7", kernel="3x2", stride="2x1", padding="1x0", dilation="1x2")),
    ("conv", dict(size="6", kernel="4", padding="same")),
    ("maxpool", dict(size="7", kernel="2", padding="1", ceil_mode=True)),
    ("avgpool", dict(size="5x6", kernel="3", stride="2")),
    ("transpose", dict(size="3x4", kernel="3", stride="2", padding="1", output_padding="1")),
])
def test_pytorch_line_is_code_with_the_drawn_output_size(op, args):
    d = plan(op, **args)
    module = eval(d.pytorch, {"nn": nn})
    y = module(torch.zeros(1, 1, d.rows.n, d.cols.n))
    assert list(y.shape[2:]) == [d.rows.out, d.cols.out]


def test_sobel_x_worked_answer_from_one_command(cli, tmp_path):
    out = tmp_path / "sobel.png"
    r = cli("draw", "conv", "--image", "1 0 2 3 1; 3 2 0 7 0; 0 6 1 1 4", "--kernel", "sobel-x", "--p", "1",
            "--out", out, "--json")
    assert r.exit_code == 0, r.stderr
    data = r.json()
    assert data["pytorch"] == "nn.Conv2d(1, 1, kernel_size=3, stride=1, padding=1, dilation=1)"
    x = torch.tensor([[1, 0, 2, 3, 1], [3, 2, 0, 7, 0], [0, 6, 1, 1, 4]], dtype=torch.float64)[None, None]
    sobel = torch.tensor([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=torch.float64)[None, None]
    assert data["output"] == F.conv2d(x, sobel, padding=1)[0, 0].int().tolist()
    assert len(data["frames"]) == 15 and data["frames"][0]["padding"]
    with Image.open(out) as im:
        assert im.format == "PNG" and im.width > 300


def test_gif_has_one_frame_per_step_and_svg_is_xml(cli, tmp_path):
    r = cli("draw", "transpose", "--in", "2", "--k", "3", "--s", "2", "--p", "1", "--output-padding", "1",
            "--out", tmp_path / "t.gif", "--json")
    data = r.json()
    assert set(data) >= {"path", "pytorch", "frames", "scatter"}
    with Image.open(data["path"]) as im:
        # scatter steps (one per input cell) then direct steps (one per output cell)
        assert im.n_frames == 2 * 2 + 4 * 4
    r = cli("draw", "maxpool", "--in", "5", "--k", "2", "--s", "2", "--p", "1", "--ceil", "--out", tmp_path / "p.svg")
    assert r.exit_code == 0, r.stderr
    root = ET.parse(tmp_path / "p.svg").getroot()
    assert root.tag.endswith("svg") and len(root) > 50


def test_frame_cap_says_so(cli, tmp_path):
    r = cli("draw", "conv", "--in", "20", "--k", "3", "--out", tmp_path / "big.gif", "--max-frames", "10", "--json")
    data = r.json()
    assert data["frames_drawn"] == 10 and data["frames_total"] == 324 and "10 of 324" in data["notes"][0]
    assert len(data["frames"]) == 324  # the numbers are all there; only the drawing is capped
    with Image.open(data["path"]) as im:
        assert im.n_frames == 10


def test_never_overwrites_a_file_it_did_not_draw(cli, tmp_path):
    mine = tmp_path / "notes.png"
    mine.write_text("my coursework notes")
    assert_clean_error(cli("draw", "conv", "--in", "5", "--k", "3", "--out", mine), "not a file cnnkit wrote")
    assert mine.read_text() == "my coursework notes"
    photo = tmp_path / "photo.png"
    Image.new("RGB", (4, 4)).save(photo)
    assert_clean_error(cli("draw", "conv", "--in", "5", "--k", "3", "--out", photo), "not a file cnnkit wrote")
    ours = tmp_path / "ours.gif"
    assert cli("draw", "conv", "--in", "5", "--k", "3", "--out", ours).exit_code == 0
    assert cli("draw", "conv", "--in", "4", "--k", "3", "--out", ours).exit_code == 0  # a redraw replaces it
    with Image.open(ours) as im:
        assert im.n_frames == 4


@pytest.mark.parametrize("args, fragment", [
    (["conv", "--in", "5", "--k", "9"], "kernel spans 9"),
    (["conv", "--in", "5", "--k", "3", "--s", "0"], "stride must be >= 1"),
    (["conv", "--in", "5", "--k", "3", "--p", "-1"], "padding must be >= 0"),
    (["maxpool", "--in", "8", "--k", "2", "--p", "2"], "half the kernel"),
    (["transpose", "--in", "4", "--k", "3", "--s", "2", "--output-padding", "2"], "output_padding"),
    (["conv", "--in", "5x5x5", "--k", "3"], "2-D"),
    (["conv", "--in", "100", "--k", "3"], "too large"),
    (["conv", "--k", "3"], "--in"),
    (["conv", "--in", "5", "--k", "3", "--out", "c.jpg"], ".gif"),
    (["conv", "--image", "1 2; 3 nan", "--kernel", "box"], "finite"),
    (["conv", "--image", "1 2 3; 4 5 6; 7 8 9"], "--kernel"),
    (["maxpool", "--in", "5", "--k", "2", "--kernel", "box"], "no kernel values"),
    (["conv", "--in", "5", "--k", "3", "--max-frames", "0"], "--max-frames"),
    (["receptive-field", "3x32x32 | flatten | linear 10"], "spatial"),
    (["receptive-field", "1x8x8 | conv 1 k3", "--unit", "6x0"], "outside"),
    (["receptive-field", "1x8x8 | conv -1 k3"], ">= 1"),
])
def test_bad_input_is_one_error_line(cli, tmp_path, args, fragment):
    out = [] if "--out" in args else ["--out", str(tmp_path / "x.png")]
    r = cli("draw", *args, *out, "--json")
    assert_clean_error(r, fragment)
    assert r.stdout == ""


@pytest.mark.parametrize("spec", [
    "1x32x32 | conv 1 k3 | maxpool 2 | conv 1 k3 d2 | upsample 2 bilinear | gap 3x3",
    "1x20x17 | conv 1 k3 s2 p1 | convT 1 k3 s2 p1 op1 | avgpool 3 s2 ceil",
])
def test_receptive_field_regions_match_gradients(spec):
    """The region on every grid equals the non-zero gradient of the chosen unit w.r.t. that grid."""
    report = analyse(spec)
    info = unit_regions(report)
    from tests.arith.test_receptive_vs_torch import _ones

    mods = []
    for row in report.rows:
        L = row.layer
        if L.kind == "conv":
            mods.append(_ones(nn.Conv2d(1, 1, L.kernel[0], L.stride[0] if L.stride else 1, L.padding[0][0],
                                        L.dilation[0], bias=False)))
        elif L.kind == "convT":
            mods.append(_ones(nn.ConvTranspose2d(1, 1, L.kernel[0], L.stride[0], L.padding[0][0], L.output_padding[0],
                                                 bias=False)))
        elif L.kind in ("maxpool", "avgpool"):  # the window, not the max's winner
            mods.append(nn.AvgPool2d(L.kernel[0], L.stride[0] if L.stride else None, ceil_mode=L.ceil_mode))
        elif L.kind == "gap":
            mods.append(nn.AdaptiveAvgPool2d(L.pool_output))
        elif L.kind == "upsample":
            mods.append(nn.Upsample(scale_factor=L.scale, mode=L.upsample_mode))
    acts = [torch.rand(1, 1, *report.input_shape[1:], dtype=torch.float64, requires_grad=True)]
    for m in mods:
        a = m.double()(acts[-1])
        a.retain_grad()
        acts.append(a)
    i, j = info["unit"]
    acts[-1][0, 0, i, j].backward()
    for grid, a in zip(info["grids"][:-1], acts[:-1]):
        g = a.grad[0, 0].abs()
        nz = (g > 1e-9 * g.max()).nonzero()
        want = [[nz[:, 0].min().item(), nz[:, 0].max().item()], [nz[:, 1].min().item(), nz[:, 1].max().item()]]
        assert grid["region"] == want, grid["layer"]


def test_receptive_field_command(cli, tmp_path):
    r = cli("draw", "receptive-field", "1x48x48 | conv 1 k3 | gap 3x3", "--unit", "1x1", "--out", tmp_path / "rf.png",
            "--json")
    assert r.exit_code == 0, r.stderr
    data = r.json()
    assert data["grids"][0]["region"] == [[15, 32], [15, 32]]  # 18x18, not 3x3
    assert data["grids"][-1]["receptive_field"] == [18, 18]
    assert eval(data["pytorch"], {"nn": nn})(torch.zeros(1, 1, 48, 48)).shape[-1] == 3


@pytest.mark.parametrize("op, cin, cout, groups", [("conv", 4, 6, 2), ("conv", 3, 3, 3), ("conv", 2, 4, 1),
                                                   ("transpose", 4, 2, 2), ("transpose", 6, 6, 3)])
def test_channel_view_matches_grouped_torch_layer(op, cin, cout, groups):
    d = plan(op, "5", "3", in_channels=cin, out_channels=cout, groups=groups)
    module = eval(d.pytorch, {"nn": nn}).double()
    ch = d.channels
    assert list(module.weight.shape) == list(ch.weight_shape)
    assert ch.params == sum(p.numel() for p in module.parameters())
    x = torch.rand(1, cin, 5, 5, dtype=torch.float64, requires_grad=True)
    nn.init.constant_(module.weight, 1.0)
    y = module(x)
    seen = {}
    for o in range(cout):
        (g,) = torch.autograd.grad(y[0, o].sum(), x, retain_graph=True)
        seen[o] = [c for c in range(cin) if g[0, c].abs().sum() > 0]
    for ins, outs in ch.blocks:
        for o in outs:
            assert seen[o] == ins


def test_channel_view_in_json_and_errors(cli, tmp_path):
    r = cli("draw", "conv", "--in", "5", "--k", "3", "--in-channels", "4", "--out-channels", "6", "--groups", "2",
            "--out", tmp_path / "g.png", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["channels"]["blocks"][1] == {"in_channels": [2, 3], "out_channels": [3, 4, 5]}
    assert "groups=2" in r.json()["pytorch"]
    for args, fragment in [(["conv", "--groups", "4", "--in-channels", "6", "--out-channels", "8"], "must divide"),
                           (["maxpool", "--groups", "2"], "pooling"),
                           (["conv", "--in-channels", "0"], ">= 1"),
                           (["conv", "--in-channels", "100", "--out-channels", "100"], "at most 64")]:
        r = cli("draw", *args, "--in", "5", "--k", "3", "--out", tmp_path / "e.png", "--json")
        assert_clean_error(r, fragment)
        assert r.stdout == ""


def test_drawing_needs_neither_torch_nor_matplotlib():
    # Frames come from cnnkit.arith and are drawn with Pillow: `cnnkit draw` starts fast.
    import subprocess
    import sys

    code = ("import sys; import cnnkit.arith.frames, cnnkit.arith.receptive, cnnkit.drawing.layer, cnnkit.drawing.receptive_field; "
            "from cnnkit.cli.main import app; "
            "assert 'torch' not in sys.modules and 'matplotlib' not in sys.modules, 'heavy import'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_draw_command_has_help_with_an_example(cli):
    for cmd in ("conv", "maxpool", "avgpool", "transpose", "receptive-field"):
        r = cli("draw", cmd, "--help")
        assert r.exit_code == 0 and "Example: cnnkit draw" in r.stdout, cmd


def test_gather_view_names_the_output_padding_border():
    """ConvTranspose2d(k=3, s=2, p=1, output_padding=1) on 3x3 equals a stride-1 conv over the
    zero-inserted 5x5 input with 1 zero row/column before and 2 after: 8x8 -> 6x6, as torch gives."""
    import torch

    from cnnkit.drawing.grids import _border_text

    x = torch.zeros(1, 1, 3, 3)
    assert torch.nn.ConvTranspose2d(1, 1, 3, 2, 1, output_padding=1)(x).shape[-1] == (1 + 5 + 2) - 3 + 1
    assert _border_text(1, 2) == "border 1, 2 after"
    assert _border_text(1, 1) == "border 1"
    assert _border_text(-1, -1) == "1 cropped (p > d(k-1))"


def test_receptive_field_labels_round_like_layers():
    from cnnkit.drawing.receptive_field import _num

    # jump 22/3 after gap 3 on 22 positions: 7.33, as the layers table prints it
    assert _num(22 / 3) == "7.33" and _num(1.5) == "1.5" and _num(-0.25) == "-0.25" and _num(2.0) == "2"
