"""The reference layers pass; deliberately broken ones fail with the right check named."""

import textwrap

import pytest

from cnnkit.scratch.gradcheck import load_impl, run_checks

BROKEN = {
    "wrong padding": ("Conv2d", """
        class Conv2d(ref.Conv2d):
            def __init__(self, *a, **kw):
                super().__init__(*a, **kw)
                self.padding = (0, 0)  # forgot the padding
    """, "forward output"),
    "missing bias gradient": ("Conv2d", """
        class Conv2d(ref.Conv2d):
            def backward(self, dy):
                dx = super().backward(dy)
                self.grads.pop("bias", None)
                return dx
    """, "bias gradient"),
    "transposed weight gradient": ("Linear", """
        class Linear(ref.Linear):
            def backward(self, dy):
                dx = super().backward(dy)
                self.grads["weight"] = self.grads["weight"].T
                return dx
    """, "weight gradient"),
    "biased running variance": ("BatchNorm2d", """
        class BatchNorm2d(ref.BatchNorm2d):
            def forward(self, x):
                y = super().forward(x)
                if self.training:  # redo the update with the biased variance
                    var = x.var(dim=(0, 2, 3), unbiased=False)
                    m = x.numel() // x.shape[1]
                    self.running_var = (self.running_var - self.momentum * var * m / (m - 1)) + self.momentum * var
                return y
    """, "running variance"),
    "softmax without max-subtraction": ("SoftmaxCrossEntropy", """
        import torch
        class SoftmaxCrossEntropy(ref.SoftmaxCrossEntropy):
            def forward(self, logits, target):
                z = logits.movedim(1, -1).reshape(-1, logits.shape[1])
                e = torch.exp(z)  # overflows for logits of a few hundred
                p = e / e.sum(1, keepdim=True)
                t = target.reshape(-1)
                valid = torch.ones_like(t, dtype=torch.bool) if self.ignore_index is None else t != self.ignore_index
                self.count = max(int(valid.sum()), 1)
                safe = torch.where(valid, t, 0)
                self.probs, self.target, self.valid, self.shape = p, safe, valid, logits.shape
                return -(torch.log(p.gather(1, safe[:, None])[:, 0]) * valid).sum() / self.count
    """, "loss"),
}


def test_every_reference_layer_passes():
    result = run_checks()
    assert result["passed"] and not result["missing"]
    quantities = {(c["layer"], c["quantity"]) for c in result["checks"]}
    for expected in [("Conv2d", "weight gradient"), ("Conv2d", "bias gradient"), ("BatchNorm2d", "running variance"),
                     ("ConvTranspose2d", "input gradient"), ("MaxPool2d", "finite differences"), ("Dropout", "mask"),
                     ("SoftmaxCrossEntropy", "input gradient"), ("MSELoss", "loss")]:
        assert expected in quantities, expected


@pytest.mark.parametrize("bug", list(BROKEN))
def test_broken_implementation_fails_with_the_right_check(tmp_path, bug):
    layer, body, quantity = BROKEN[bug]
    f = tmp_path / "student.py"
    f.write_text("import cnnkit.scratch as ref\n" + textwrap.dedent(body))
    result = run_checks(load_impl(f), [layer])
    assert not result["passed"]
    failed = {c["quantity"] for c in result["checks"] if not (c["shape_match"] and c["result_match"])}
    assert quantity in failed, (bug, failed)


def test_cli_gradcheck(cli, tmp_path):
    r = cli("gradcheck", "--layer", "Linear", "--json")
    assert r.exit_code == 0 and r.json()["passed"]
    assert {"layer", "quantity", "shape_match", "result_match", "max_rel_error"} <= set(r.json()["checks"][0])
    r = cli("gradcheck", "--layer", "ReLU")
    assert "Shape Match, Result Match" in r.stdout
    f = tmp_path / "mine.py"
    f.write_text("import cnnkit.scratch as ref\n" + textwrap.dedent(BROKEN["transposed weight gradient"][1]))
    r = cli("gradcheck", "--impl", f, "--layer", "Linear")
    assert r.exit_code == 1 and "Shape Mismatch" in r.stdout and r.stderr.startswith("error:")
    r = cli("gradcheck", "--impl", f)  # the file defines only Linear: the rest is listed as missing
    assert "not in" in r.stdout and "Conv2d" in r.stdout
    r = cli("gradcheck", "--impl", tmp_path / "nope.py")
    assert r.exit_code == 2 and "does not exist" in r.stderr
    r = cli("gradcheck", "--layer", "Conv3d")
    assert r.exit_code == 2 and "unknown layer" in r.stderr
