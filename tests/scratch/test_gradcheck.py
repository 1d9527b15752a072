"""The checker on code students really write (tests/scratch/student_impls/): the correct
files pass in every configuration they can express, each typical bug fails on the right
check with the right cause, and bad files are one clean error."""

import json
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from cnnkit.errors import CnnkitError
from cnnkit.scratch.gradcheck import load_impl, run_checks
from cnnkit.scratch.verdict import compare, diagnose
from tests.conftest import assert_clean_error

IMPLS = Path(__file__).parent / "student_impls"


def by_key(result):
    return {(c["layer"], c["config"], c["quantity"]): c for c in result["checks"]}


def strict_json(text):
    """json.loads that refuses NaN / Infinity, which are not JSON."""
    return json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in --json output"))


def test_every_reference_layer_passes():
    result = run_checks()
    assert result["passed"] and not result["missing"]
    assert result["summary"]["failed"] == result["summary"]["errors"] == result["summary"]["not_checked"] == 0
    quantities = {(c["layer"], c["quantity"]) for c in result["checks"]}
    for expected in [("Conv2d", "weight gradient"), ("Conv2d", "bias gradient"), ("BatchNorm2d", "running variance"),
                     ("ConvTranspose2d", "input gradient"), ("MaxPool2d", "finite differences"), ("Dropout", "mask"),
                     ("SoftmaxCrossEntropy", "input gradient"), ("MSELoss", "loss")]:
        assert expected in quantities, expected


# file -> (checks that must have passed, configurations listed as not checked with their reason)
CORRECT = {
    "torch_classes.py": (
        [("Conv2d", "k3 s2 p0", "input gradient"), ("Conv2d", "k3 s1 p1", "bias gradient"), ("Linear", "8 -> 5", "weight gradient"),
         ("BatchNorm2d", "eval", "forward output"), ("BatchNorm1d", "train", "running variance"), ("Dropout", "p 0.3", "mask"),
         ("SoftmaxCrossEntropy", "large logits", "loss"), ("MaxPool2d", "k2", "finite differences")],
        {("Conv2d", "k2 p2 d2"): "your Conv2d has no dilation parameter", ("Conv2d", "k3 p1 groups2"): "no groups parameter",
         ("Conv2d", "k5 p2 no bias"): "your Conv2d has no bias parameter",
         ("SoftmaxCrossEntropy", "ignore 255"): "no ignore_index parameter"}),
    "numpy_classes.py": (
        [("Conv2d", "k3 s2 p0", "weight gradient"), ("Linear", "8 -> 5", "bias gradient"), ("BatchNorm2d", "train", "weight gradient"),
         ("BatchNorm2d", "train", "running mean"), ("BatchNorm1d", "eval", "input gradient"),
         ("SoftmaxCrossEntropy", "classes", "input gradient")],
        {("Linear", "3 -> 2 no bias"): "your Linear has no bias parameter",
         ("MaxPool2d", "k3 s2 p1"): "your MaxPool2d has no padding parameter"}),
    "numpy_functions.py": (
        [("Conv2d", "k3 s1 p1", "weight gradient"), ("Conv2d", "k3 s2 p0", "input gradient"), ("Linear", "8 -> 5", "weight gradient"),
         ("BatchNorm2d", "train", "running variance"), ("BatchNorm1d", "eval", "forward output"),
         ("SoftmaxCrossEntropy", "large logits", "input gradient")],
        {("Conv2d", "k2 p2 d2"): "conv_forward_naive takes no dilation", ("Conv2d", "k3 p1 groups2"): "takes no groups",
         ("Conv2d", "k5 p2 no bias"): "always takes a bias"}),
    "report_style.py": (
        [("Linear", "8 -> 5", "weight gradient"), ("Linear", "8 -> 5", "bias gradient"), ("ReLU", "", "finite differences"),
         ("SoftmaxCrossEntropy", "classes", "loss"), ("SoftmaxCrossEntropy", "classes", "input gradient")],
        {("SoftmaxCrossEntropy", "pixels (N, K, H, W)"): "does not take (2, 4, 3, 3) logits"}),
    "module_framework.py": (
        [("Linear", "8 -> 5", "weight gradient"), ("Linear", "8 -> 5", "bias gradient"), ("ReLU", "", "input gradient"),
         ("BatchNorm1d", "eval", "forward output"), ("BatchNorm1d", "train", "running variance"),
         ("BatchNorm1d", "train", "weight gradient")],
        {("Linear", "3 -> 2 no bias"): "your Linear has no bias parameter"}),
}


@pytest.mark.parametrize("name", list(CORRECT))
def test_correct_student_file_passes(name):
    before = list(sys.path)
    result = run_checks(load_impl(IMPLS / name))
    assert sys.path == before and "conv_helpers" not in sys.modules  # the file's folder was importable, then restored
    bad = [c for c in result["checks"] if c["status"] in ("fail", "error")]
    assert result["passed"] and not bad, bad
    checks = by_key(result)
    must_pass, skips = CORRECT[name]
    for key in must_pass:
        assert checks[key]["status"] == "pass", key
    for (layer, config), reason in skips.items():
        c = checks[(layer, config, "all checks")]
        assert c["status"] == "skipped" and reason in c["reason"], c


@pytest.mark.parametrize("name, layer, how", [
    ("torch_classes.py", "BatchNorm2d", "train() / eval()"),
    ("torch_classes.py", "BatchNorm1d", "mode = 'train' / 'test'"),
    ("torch_classes.py", "Dropout", "`training` attribute"),
    ("numpy_classes.py", "BatchNorm2d", "forward(x, eval=...)"),
    ("numpy_classes.py", "BatchNorm1d", "`training` attribute"),
    ("numpy_functions.py", "BatchNorm2d", "bn_param['mode']"),
    ("module_framework.py", "BatchNorm1d", "train() / evaluate()"),
])
def test_train_eval_switch_is_found_and_named(name, layer, how):
    checks = by_key(run_checks(load_impl(IMPLS / name), [layer]))
    config = "p 0.3" if layer == "Dropout" else "eval"
    if layer != "Dropout":  # eval mode really reached: the running statistics were used
        assert checks[(layer, "eval", "forward output")]["status"] == "pass"
    assert how in checks[(layer, config, "forward output")]["reason"]


# file, layer, (config, quantity) that must fail, status, text of the likely cause
BUGS = [
    ("bug_conv_stride.py", "Conv2d", ("k3 s2 p0", "input gradient"), "fail", "off by the stride"),
    ("bug_conv_bias_grad.py", "Conv2d", ("k3 s1 p1", "bias gradient"), "fail", "missing"),
    ("bug_linear_transposed.py", "Linear", ("8 -> 5", "weight gradient"), "fail", "transposed"),
    ("bug_bn_biased_var.py", "BatchNorm1d", ("train", "running variance"), "fail", "biased batch variance"),
    ("bug_bn_momentum.py", "BatchNorm2d", ("train", "running mean"), "fail", "momentum the other way round"),
    ("bug_bn_eval_stats.py", "BatchNorm1d", ("eval", "forward output"), "fail", "wrong in eval mode"),
    ("bug_softmax_overflow.py", "SoftmaxCrossEntropy", ("large logits", "loss"), "fail", "overflow"),
    ("bug_loss_not_mean.py", "SoftmaxCrossEntropy", ("classes", "input gradient"), "fail", "scaled by N = 8"),
    ("bug_sigmoid_sign.py", "Sigmoid", ("", "input gradient"), "fail", "sign flipped"),
    ("bug_grad_never_written.py", "Linear", ("8 -> 5", "weight gradient"), "fail", "all zeros"),
    ("bug_dropout_unscaled.py", "Dropout", ("p 0.3", "mask"), "fail", "not scaled by 1/(1-p)"),
    ("bug_conv_padding.py", "Conv2d", ("k3 s1 p1", "forward output"), "fail", "ignores the padding"),
    ("bug_crash.py", "ReLU", ("", "input gradient"), "error", "bug_crash.py:9 in backward: AttributeError"),
    ("bug_bn_unbiased_norm.py", "BatchNorm1d", ("train", "forward output"), "fail", "uses the unbiased variance (N-1)"),
    ("bug_bn_unbiased_norm.py", "BatchNorm1d", ("train", "weight gradient"), "fail", "uses the unbiased variance (N-1)"),
    ("bug_bn_unbiased_norm.py", "BatchNorm1d", ("train", "finite differences"), "fail", "forward output already differs"),
    ("bug_autograd_weight_grad.py", "Linear", ("8 -> 5", "weight gradient"), "fail", "sign flipped"),
    ("bug_bn_running_never_updated.py", "BatchNorm2d", ("train", "running mean"), "fail", "never updated"),
    ("bug_bn_running_replaced.py", "BatchNorm2d", ("train", "running variance"), "fail", "replaced by the batch statistic"),
    ("bug_dropout_keep_prob.py", "Dropout", ("p 0.3", "mask"), "fail", "scaled by 1/p: p is the probability of dropping"),
    ("bug_linear_bias_mean.py", "Linear", ("8 -> 5", "bias gradient"), "fail", "divided by N = 4 once too often"),
    ("bug_relu_grad_doubled.py", "ReLU", ("", "input gradient"), "fail", "twice the expected value"),
    ("bug_avgpool_divided_by_k.py", "AvgPool2d", ("k2", "input gradient"), "fail", "scaled by the kernel size k = 2"),
    ("bug_avgpool_divided_by_k.py", "AvgPool2d", ("k3 s2 p1 include pad", "input gradient"), "fail",
     "scaled by the kernel size k = 3"),
]


@pytest.mark.parametrize("name, layer, where, status, cause", BUGS, ids=[b[0] for b in BUGS])
def test_typical_bug_is_caught_on_the_right_check_with_its_cause(name, layer, where, status, cause):
    result = run_checks(load_impl(IMPLS / name), [layer])
    assert not result["passed"]
    c = by_key(result)[(layer, *where)]
    assert c["status"] == status and cause in c["reason"], c
    if status == "fail" and c["shape_match"]:
        w = c["worst"]  # the worst element is named, and it is a real difference
        assert isinstance(w["index"], list) and w["yours"] != pytest.approx(w["expected"], rel=1e-6)


@pytest.mark.parametrize("name", ["softmax_then_log.py", "bug_log_underflow.py"])
def test_softmax_then_log_passes_with_the_underflow_note_not_an_overflow_blame(name):
    """Subtracting the row maximum then log(p) is right for every realistic logit; at gaps
    past ~745 p underflows to 0 (log 0 = -inf, or the clamp's value). That is a float64
    limit, said in a note, never "overflow: subtract the row maximum" (it already does)."""
    result = run_checks(load_impl(IMPLS / name), ["SoftmaxCrossEntropy"])
    assert result["passed"], [c for c in result["checks"] if c["status"] != "pass"]
    checks = by_key(result)
    assert checks[("SoftmaxCrossEntropy", "large logits", "loss")]["max_rel_error"] < 1e-6  # logits near 1000
    limit = checks[("SoftmaxCrossEntropy", "logit gaps past 745", "loss")]
    assert limit["status"] == "pass" and "underflows to 0" in limit["reason"] and "logsumexp" in limit["reason"]
    assert not any("row maximum before exp" in c["reason"] for c in result["checks"])


def test_a_softmax_without_the_row_maximum_is_told_overflow_on_realistic_logits():
    c = by_key(run_checks(load_impl(IMPLS / "bug_softmax_overflow.py"), ["SoftmaxCrossEntropy"]))
    assert c[("SoftmaxCrossEntropy", "classes", "loss")]["status"] == "pass"
    assert "subtract the row maximum" in c[("SoftmaxCrossEntropy", "large logits", "loss")]["reason"]


@pytest.mark.parametrize("name, layer, where, status, cause", [b for b in BUGS if b[3] == "fail"], ids=[b[0] for b in BUGS if b[3] == "fail"])
def test_each_bug_file_has_its_one_cause_and_no_other(name, layer, where, status, cause):
    """A bug built to have one cause: every failing check of that layer names that cause,
    another one of the same file's table rows, the forward it follows from, or none."""
    allowed = [b[4].split(" = ")[0] for b in BUGS if b[0] == name]  # "scaled by N" in every configuration's own N
    allowed += ["fix that first"]  # a gradient of a forward already wrong
    for c in run_checks(load_impl(IMPLS / name), [layer])["checks"]:
        if c["status"] == "fail" and "likely cause" in c["reason"]:
            assert any(a in c["reason"] for a in allowed), c


def test_no_cause_is_blamed_on_precision_or_the_batch_when_it_is_the_formula():
    """The N-1 slip in a float64 file is not "float32 somewhere"; k instead of k*k is not "the batch size"."""
    for name, layer in (("bug_bn_unbiased_norm.py", "BatchNorm1d"), ("bug_avgpool_divided_by_k.py", "AvgPool2d")):
        for c in run_checks(load_impl(IMPLS / name), [layer])["checks"]:
            assert "float32" not in c["reason"] and "batch size" not in c["reason"], c


def test_case_sizes_differ_so_a_factor_names_one_cause():
    """Batch, channels, kernel (and k*k), stride and spatial sizes of each 4-d case are distinct numbers."""
    from cnnkit.scratch.cases import cases

    for case in cases():
        if len(case.input_shape) != 4 or not case.layer.endswith(("Pool2d", "Conv2d")) or case.layer.startswith("ConvT"):
            continue
        n, c, h, w = case.input_shape
        k = case.kwargs["kernel_size"]
        sizes = {"batch": n, "kernel": k, "k*k": k * k}
        if case.layer.endswith("Pool2d"):
            sizes |= {"channels": c, "spatial": h} | ({"width": w} if w != h else {})
        if case.kwargs.get("stride", 1) != 1 and case.kwargs.get("stride") != k:
            sizes["stride"] = case.kwargs["stride"]
        assert len(set(sizes.values())) == len(sizes), (case.layer, case.config, sizes)


def test_a_stride_bug_leaves_stride_1_passing():
    checks = by_key(run_checks(load_impl(IMPLS / "bug_conv_stride.py"), ["Conv2d"]))
    assert checks[("Conv2d", "k3 s1 p1", "input gradient")]["status"] == "pass"
    assert checks[("Conv2d", "k3 s2 p0", "weight gradient")]["status"] == "pass"


@pytest.mark.parametrize("make, cause", [
    (lambda e: e * 7 / 8, "uses N-1 where PyTorch uses N"),
    (lambda e: e.T.contiguous(), "transposed"),
    (lambda e: -e, "sign flipped"),
    (lambda e: torch.zeros_like(e), "all zeros"),
    (lambda e: e * 4, "scaled by N = 4"),
])
def test_causes_are_named_from_the_error_pattern(make, cause):
    expected = torch.randn(4, 4, dtype=torch.float64)
    c = compare("L", "", "q", make(expected), expected, ctx={"N": 4, "M": 8})
    assert c.status == "fail" and cause in c.full_reason(), c.full_reason()


def test_border_only_errors_point_at_the_padding():
    expected = torch.randn(1, 1, 6, 6, dtype=torch.float64)
    got = expected.clone()
    got[0, 0, 0, 3] += 1
    assert "padding" in diagnose(got, expected, torch.float64, 1.0, {"border": 1})
    got = expected.clone()
    got[0, 0, 3, 3] += 1
    assert "padding" not in diagnose(got, expected, torch.float64, 1.0, {"border": 1})


def test_other_names_through_map(tmp_path):
    (tmp_path / "mine.py").write_text(textwrap.dedent("""
        import torch
        class FullyConnected:
            def __init__(self, n_in, n_out, bias=True):
                self.weight = torch.zeros(n_out, n_in)
                self.bias = torch.zeros(n_out) if bias else None
            def forward(self, x):
                self.x = x
                return x @ self.weight.T + (0 if self.bias is None else self.bias)
            def backward(self, dy):
                self.grads = {"weight": dy.T @ self.x, "bias": dy.sum(0)}
                return dy @ self.weight
    """))
    result = run_checks(load_impl(tmp_path / "mine.py"), ["Linear"], mapping={"Linear": "FullyConnected"})
    assert result["passed"] and result["found"]["Linear"] == "class FullyConnected"
    with pytest.raises(CnnkitError, match="defines no Dense"):
        run_checks(load_impl(tmp_path / "mine.py"), ["Linear"], mapping={"Linear": "Dense"})


def test_cli_json_is_valid_json_with_statuses(cli):
    r = cli("gradcheck", "--impl", IMPLS / "bug_softmax_overflow.py", "--layer", "SoftmaxCrossEntropy", "--json")
    assert r.exit_code == 1 and r.stderr.startswith("error:")
    out = strict_json(r.stdout)
    assert out["passed"] is False
    for c in out["checks"]:
        assert {"layer", "quantity", "shape_match", "result_match", "max_rel_error", "status", "reason"} <= set(c)
        assert c["status"] in ("pass", "fail", "error", "skipped")
    overflow = [c for c in out["checks"] if c["config"] == "large logits" and c["quantity"] == "loss"][0]
    assert overflow["max_rel_error"] is None and overflow["status"] == "fail"
    r = cli("gradcheck", "--impl", IMPLS / "torch_classes.py", "--layer", "Conv2d", "--json")  # skips only: exit 0
    assert r.exit_code == 0 and strict_json(r.stdout)["summary"]["not_checked"] == 3


def test_cli_lines_summary_and_score(cli):
    r = cli("gradcheck", "--layer", "ReLU")
    assert r.exit_code == 0 and "Shape Match, Result Match" in r.stdout and "Score: 3/3" in r.stdout
    r = cli("gradcheck", "--impl", IMPLS / "bug_conv_stride.py", "--layer", "Conv2d")
    assert r.exit_code == 1
    line = [ln for ln in r.stdout.splitlines() if "[k3 s2 p0] input gradient" in ln][0]
    assert line.startswith("FAIL") and "worst at [" in line and "yours" in line and "likely cause: off by the stride" in line
    assert "SKIP  Conv2d [k2 p2 d2] all checks: not checked: your Conv2d has no dilation parameter" in r.stdout
    assert "2 failed, 0 errors, 3 not checked" in r.stdout and "Score: " in r.stdout
    r = cli("gradcheck", "--impl", IMPLS / "bug_crash.py", "--layer", "ReLU")
    assert r.exit_code == 1 and "ERROR ReLU input gradient: your code crashed at bug_crash.py:9" in r.stdout
    assert "Shape Mismatch" not in r.stdout and "Traceback" not in r.stdout + r.stderr


def test_cli_bad_impl_files_are_one_clean_error(cli, tmp_path):
    (tmp_path / "weights.bin").write_bytes(bytes(range(256)) * 4)
    (tmp_path / "notes.txt").write_text("My layers are in the notebook.\n")
    (tmp_path / "broken.py").write_text("class Conv2d:\n    def forward(self, x)\n        return x\n")
    (tmp_path / "imports.py").write_text("import numpy as np\nraise ValueError('set DATA first')\n")
    assert_clean_error(cli("gradcheck", "--impl", tmp_path / "nope.py"), "does not exist")
    assert_clean_error(cli("gradcheck", "--impl", tmp_path), "is a folder")
    assert_clean_error(cli("gradcheck", "--impl", tmp_path / "weights.bin"), "binary file")
    assert_clean_error(cli("gradcheck", "--impl", tmp_path / "notes.txt"), "notes.txt:1: syntax error")
    assert_clean_error(cli("gradcheck", "--impl", tmp_path / "broken.py"), "broken.py:2: syntax error")
    assert_clean_error(cli("gradcheck", "--impl", tmp_path / "imports.py"), "imports.py:2", "ValueError: set DATA first")
    assert_clean_error(cli("gradcheck", "--layer", "Conv3d"), "unknown layer")
    assert_clean_error(cli("gradcheck", "--map", "Conv2d"), "Layer=YourName")
    (tmp_path / "empty.py").write_text("import numpy as np\n\ndef helper(x):\n    return x\n")
    assert_clean_error(cli("gradcheck", "--impl", tmp_path / "empty.py"), "found none of the layers", "--map")
    assert_clean_error(cli("gradcheck", "--impl", IMPLS / "report_style.py", "--layer", "Conv2d"), "Conv2d not found", "--map")


@pytest.mark.parametrize("name, layers", [("my_numpy_layers.py", {"Linear", "ReLU", "Conv2d", "SoftmaxCrossEntropy"}),
                                          ("my_torch_layers.py", {"Linear", "BatchNorm1d"})])
def test_the_docs_examples_pass_as_written(tmp_path, name, layers):
    import re

    text = (Path(__file__).parents[2] / "docs" / "gradcheck.md").read_text()
    code = re.search(rf"```python\n(# {re.escape(name)}\n.*?)```", text, re.S).group(1)
    (tmp_path / name).write_text(code)
    result = run_checks(load_impl(tmp_path / name))
    assert set(result["found"]) == layers
    assert result["passed"] and result["summary"]["failed"] == result["summary"]["errors"] == 0
    assert result["summary"]["passed"] >= 5 * len(layers)


def test_short_names_prints_and_imported_torch_layers(cli, tmp_path):
    """Unknown required names are matched by position (and said so); prints cannot break --json;
    torch.nn.ReLU imported into the file is not taken for the student's ReLU."""
    (tmp_path / "short.py").write_text(textwrap.dedent("""
        import torch
        import torch.nn.functional as F
        from torch.nn import ReLU
        print("loading my layers")

        class Conv2d:
            def __init__(self, cin_, cout_, ks, stride=1, p=0, init_fn=None):
                self.s, self.p = stride, p
                self.weight, self.bias = torch.zeros(cout_, cin_, ks, ks), torch.zeros(cout_)
            def forward(self, x):
                print("forward", x.shape)
                self.x = x
                return F.conv2d(x, self.weight, self.bias, self.s, self.p)
            def backward(self, dy):
                self.dweight = torch.nn.grad.conv2d_weight(self.x, self.weight.shape, dy, self.s, self.p)
                self.dbias = dy.sum((0, 2, 3))
                return torch.nn.grad.conv2d_input(self.x.shape, self.weight, dy, self.s, self.p)
    """))
    r = cli("gradcheck", "--impl", tmp_path / "short.py", "--json")
    out = strict_json(r.stdout)
    assert r.exit_code == 0 and out["passed"] and "ReLU" in out["missing"] and set(out["found"]) == {"Conv2d"}
    fwd = [c for c in out["checks"] if c["config"] == "k3 s2 p0" and c["quantity"] == "forward output"][0]
    assert "matched by position: cin_ = in_channels, cout_ = out_channels, ks = kernel_size" in fwd["reason"]
    assert sum(c["status"] == "pass" and c["quantity"] == "weight gradient" for c in out["checks"]) == 2
    (tmp_path / "two_args.py").write_text("class ReLU:\n    def forward(self, x):\n        return x\n"
                                          "    def backward(self, dy, x, cache):\n        return dy\n")
    r = cli("gradcheck", "--impl", tmp_path / "two_args.py")
    assert "calling your code failed: TypeError" in r.stdout and "backward() missing 1 required positional" in r.stdout


def test_float32_inside_the_forward_is_named_not_blamed_on_backward(tmp_path):
    (tmp_path / "f32.py").write_text(textwrap.dedent("""
        import numpy as np
        class Tanh:
            def forward(self, x):
                self.y = np.tanh(x.astype(np.float32)).astype(np.float64)
                return self.y
            def backward(self, dy):
                return dy * (1 - self.y ** 2)
    """))
    checks = by_key(run_checks(load_impl(tmp_path / "f32.py"), ["Tanh"]))
    fd = checks[("Tanh", "", "finite differences")]
    assert fd["status"] == "fail" and "float32 somewhere inside" in fd["reason"] and "disagrees" not in fd["reason"]
    assert checks[("Tanh", "", "input gradient")]["status"] == "pass"


def test_a_real_process_shows_no_warnings_around_an_overflowing_student_loss():
    """numpy's overflow warnings in the student's exp() would surround the one error line."""
    import os
    import subprocess

    env = dict(os.environ, PYTHONWARNINGS="default")
    r = subprocess.run([sys.executable, "-m", "cnnkit", "gradcheck", "--impl", str(IMPLS / "bug_softmax_overflow.py"),
                        "--layer", "SoftmaxCrossEntropy", "--json"], capture_output=True, text=True, env=env, timeout=300)
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 1 and len(lines) == 1 and lines[0].startswith("error: "), r.stderr
    assert strict_json(r.stdout)["summary"]["failed"] == 4  # large logits and gaps past 745, loss and gradient


def test_groups_are_checked_without_dilation(tmp_path):
    (tmp_path / "grouped.py").write_text(textwrap.dedent("""
        import cnnkit.scratch as ref
        class Conv2d(ref.Conv2d):
            def __init__(self, in_channels, out_channels, kernel_size, stride=1, padding=0, groups=1):
                super().__init__(in_channels, out_channels, kernel_size, stride, padding, groups=groups)
    """))
    checks = by_key(run_checks(load_impl(tmp_path / "grouped.py"), ["Conv2d"]))
    assert checks[("Conv2d", "k3 p1 groups2", "weight gradient")]["status"] == "pass"
    assert checks[("Conv2d", "k2 p2 d2", "all checks")]["status"] == "skipped"


def test_a_forgotten_return_and_per_sample_losses_are_named(tmp_path):
    (tmp_path / "slips.py").write_text(textwrap.dedent("""
        import numpy as np
        class ReLU:
            def forward(self, x):
                self.x = x
                np.maximum(x, 0)  # no return
            def backward(self, dy):
                return dy * (self.x > 0)
        def mse_loss(pred, target):
            d = pred - target
            return (d ** 2).mean(axis=1), 2 * d / d.size
    """))
    checks = by_key(run_checks(load_impl(tmp_path / "slips.py")))
    assert "your forward returned None" in checks[("ReLU", "", "forward output")]["reason"]
    loss = checks[("MSELoss", "", "loss")]
    assert loss["status"] == "fail" and "shape (4,), expected ()" in loss["reason"] and "return their mean" in loss["reason"]
    assert checks[("MSELoss", "", "input gradient")]["status"] == "pass"


def test_autograd_function_layers_are_checked_through_their_own_backward():
    """A module calling LinearFunction.apply, bare Functions (ReLU, MaxPool2d with the kernel as an argument)."""
    checks = by_key(run_checks(load_impl(IMPLS / "autograd_functions.py"), ["Linear", "ReLU", "MaxPool2d"]))
    for key in (("Linear", "8 -> 5", "weight gradient"), ("Linear", "8 -> 5", "bias gradient"), ("ReLU", "", "input gradient"),
                ("MaxPool2d", "k2", "input gradient"), ("MaxPool2d", "k2", "finite differences")):
        assert checks[key]["status"] == "pass", checks[key]
    bugged = by_key(run_checks(load_impl(IMPLS / "bug_autograd_weight_grad.py"), ["Linear"]))
    assert bugged[("Linear", "8 -> 5", "input gradient")]["status"] == "pass"  # only their weight gradient is wrong


def test_a_module_without_backward_is_refused_not_passed_on_torchs_gradients(tmp_path):
    """autograd through plain torch ops would check PyTorch against itself: say there is nothing to check."""
    (tmp_path / "plain.py").write_text(textwrap.dedent("""
        import torch
        import torch.nn as nn

        class Linear(nn.Module):
            def __init__(self, in_features, out_features, bias=True):
                super().__init__()
                self.weight = nn.Parameter(torch.randn(out_features, in_features))
                self.bias = nn.Parameter(torch.zeros(out_features))

            def forward(self, x):
                return x @ self.weight.T + self.bias
    """))
    result = run_checks(load_impl(tmp_path / "plain.py"), ["Linear"])
    assert {c["status"] for c in result["checks"]} == {"error"}
    assert all("no backward of yours to check" in c["reason"] for c in result["checks"])
