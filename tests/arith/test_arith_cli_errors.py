"""Bad values at the command line: one `error:` line, exit 2, and nothing on stdout under --json.

Siblings of each reported case across shape / solve / layers / conv: zero, negative and
non-finite values where they mean nothing, unknown ops and unbounded searches.
"""

from __future__ import annotations

import time

import pytest

from tests.conftest import assert_clean_error

BAD = [
    # layers: channel, feature, kernel, stride, dilation, groups, sizes must be >= 1; paddings >= 0
    (["layers", "3x8x8 | conv -8"], "output channels"),
    (["layers", "3x8x8 | conv 0"], "output channels"),
    (["layers", "3x8x8 | flatten | linear -5"], "output features"),
    (["layers", "3x8x8 | gap -2"], "output size"),
    (["layers", "3x8x8 | upsample 0"], "scale factor"),
    (["layers", "3x8x8 | conv 4 k0"], "kernel size"),
    (["layers", "3x8x8 | conv 4 s0"], "stride"),
    (["layers", "3x8x8 | conv 4 d-1"], "dilation"),
    (["layers", "3x8x8 | conv 4 g0"], "groups"),
    (["layers", "3x8x8 | conv 4 p-1"], "padding"),
    (["layers", "3x8x8 | convT 4 op-1"], "output padding"),
    (["layers", "3x8x8 | maxpool 0"], "kernel size"),
    (["layers", "3x8x8 | dropout nan"], "[0, 1)"),
    (["layers", "3x8x8 | dropout -0.1"], "[0, 1)"),
    (["layers", "0x8x8 | relu"], "positive"),
    (["layers", "3x8x8 | relu", "--batch", "0"], "batch"),
    # solve: op names, known values and bounds
    (["solve", "--in", "32", "--out", "16", "--op", "foo"], "choose one of conv"),
    (["solve", "--in", "32", "--out", "16", "--s", "0"], "--s must be >= 1"),
    (["solve", "--in", "32", "--out", "16", "--p", "-2"], "--p must be >= 0"),
    (["solve", "--in", "32", "--out", "16", "--d", "0"], "--d must be >= 1"),
    (["solve", "--in", "32", "--out", "16", "--k", "-3"], "--k must be >= 1"),
    (["solve", "--out", "16", "--k", "3", "--s", "-1"], "--s must be >= 1"),
    (["solve", "--in", "32", "--out", "16", "--max-k", "0"], "--max-k"),
    (["solve", "--in", "32", "--out", "16", "--max-p", "-1"], "--max-p"),
    (["solve", "--in", "32", "--out", "16", "--max-s", "100000", "--max-p", "100000"], "too many"),
    (["solve", "--in", "0", "--out", "16"], ">= 1"),
    (["solve", "--in", "32", "--out", "0"], ">= 1"),
    # shape
    (["shape", "--in", "0", "--k", "3"], "input size"),
    (["shape", "--in", "8", "--k", "0"], "kernel size"),
    (["shape", "--in", "8", "--k", "3", "--s", "0"], "stride"),
    (["shape", "--in", "8", "--k", "3", "--p", "-1"], "padding"),
    (["shape", "--in", "8", "--k", "3", "--d", "0"], "dilation"),
    (["shape", "--in", "8", "--k", "3", "--op", "transpose", "--output-padding", "-1"], "output_padding"),
    # conv by hand
    (["conv", "--image", "1 2 3; 4 5 6; 7 8 9", "--kernel", "box", "--s", "0"], "stride"),
    (["conv", "--image", "1 2 3; 4 5 6; 7 8 9", "--kernel", "box", "--p", "-1"], "padding"),
    (["conv", "--image", "1 2 3; 4 5 6; 7 8 9", "--kernel", "box", "--d", "0"], "dilation"),
    (["conv", "--image", "1 2; 3 nan", "--kernel", "1"], "finite"),
    (["conv", "--image", "1 2; 3 4", "--kernel", "1 inf; 0 1"], "finite"),
    (["conv", "--image", "1 2 3; 4 5 6", "--op", "maxpool", "--size", "0"], "kernel size"),
    (["conv", "--image", "1 2 3; 4 5 6", "--op", "maxpool", "--s", "0"], "stride"),
    (["conv", "--image", "1 2 3; 4 5 6", "--op", "blur"], "conv, maxpool or avgpool"),
    (["conv", "--image", "1 2 3; 4 5 6", "--op", "maxpool", "--d", "2"], "dilation"),
]


@pytest.mark.parametrize("args, fragment", BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_value_is_one_error_line_and_exit_2(cli, args, fragment):
    r = cli(*args, "--json")
    assert_clean_error(r, fragment)
    assert r.stdout == ""


def test_solve_with_a_huge_kernel_bound_answers_at_once(cli):
    start = time.perf_counter()
    r = cli("solve", "--in", "512", "--out", "504", "--p", "1", "--max-k", "100000000", "--json")
    assert r.exit_code == 0 and time.perf_counter() - start < 5
    assert {(s["k"], s["d"]) for s in r.json()["solutions"]} >= {(11, 1), (6, 2), (3, 5)}


def test_solve_with_every_value_given_names_what_happened(cli):
    r = cli("solve", "--in", "32", "--out", "15", "--k", "3", "--s", "2", "--p", "1", "--d", "1")
    assert r.exit_code == 0
    assert "every value was given" in r.stdout and "for  " not in r.stdout
    r = cli("solve", "--in", "32", "--out", "16", "--k", "3", "--s", "2", "--p", "1", "--d", "1", "--json")
    assert r.json()["solutions"] == [{"in": 32, "k": 3, "s": 2, "p": 1, "d": 1}]
