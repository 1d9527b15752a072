"""The report's number format: nothing a reader needs is rounded away or padded."""

from cnnkit.experiments.report import _policy_choice
from cnnkit.viz.html import fmt, key_values


def test_fmt_keeps_small_values_and_drops_padding():
    assert fmt(5e-5) == "5e-05"  # a weight decay is not 0.0000
    assert fmt(0.80504) == "0.8050" and fmt(0.0) == "0.0000"  # a column of metrics lines up
    assert fmt(1234.56) == "1,234.6"
    assert fmt(None) == "-" and fmt(True) == "true"
    settings = key_values({"epochs": 2.0, "lr": 0.002})
    assert ">2<" in settings and "2.0000" not in settings and ">0.0020<" in settings


def test_policy_choice_says_who_chose():
    flag = {"setting": "epochs", "value": 2.0, "source": "flag", "reason": "34 epochs = 408 steps", "policy_value": 34}
    assert _policy_choice(flag) == "epochs = 2 (your flag; the policy would pick 34: 34 epochs = 408 steps)"
    chosen = {"setting": "batch_size", "value": 2, "source": "policy", "reason": "24 images", "policy_value": None}
    assert _policy_choice(chosen) == "batch_size = 2 (policy: 24 images)"
