"""Arithmetic commands never answer a different question than the one asked: an option the
op lacks, a repeated key or two sizes that disagree are errors (the refusals themselves are
rows of tests/cli/hostile_table.py); huge sizes are answered at once; a text file saved by
another editor is read or refused by name."""

from __future__ import annotations

import time
from fractions import Fraction

import pytest

from cnnkit.arith import spec
from cnnkit.arith.solve import solve_params
from tests.conftest import assert_clean_error


def test_solve_with_pooling_ceil_finds_what_the_forward_formula_confirms():
    """The option check runs once, before the search: per candidate it read as 'no solution'."""
    from cnnkit.arith.geometry import axis_geometry

    sols = solve_params("maxpool", 10, 5, ceil_mode=True)
    assert len(sols) > 20
    assert all(axis_geometry("maxpool", 10, x.k, x.s, x.p, x.d, True).out == 5 for x in sols)


def test_layers_options_keep_their_meaning(cli):
    r = cli("layers", "3x32x32 | conv 8 k5 s1 p2 | maxpool k2 ceil | convT 4 k4 s2 op0 nobias | upsample 2 bilinear", "--json")
    assert r.exit_code == 0, r.stderr
    rows = r.json()["layers"]
    assert [x["output_shape"] for x in rows] == [[8, 32, 32], [8, 16, 16], [4, 34, 34], [4, 68, 68]]


SPECS = ["3x200x200 | conv 8 k3 p1 | relu | maxpool 2 | conv 16 k5 s2 d2 | avgpool 3 s2 p1 | conv 8 k3",
         "3x200x180 | conv 8 k7 s2 p3 | maxpool 3 s2 p1 ceil | conv 8 k3x5 p1 | gap 1 | conv 4 k1"]


@pytest.mark.parametrize("text", SPECS)
def test_the_recurrence_for_huge_inputs_equals_the_exact_trace_for_conv_and_pooling(monkeypatch, text):
    """Past EXACT_TRACE_LIMIT positions the receptive field comes from the closed form; on
    inputs both can do, conv / pool / even adaptive pools agree exactly with the trace."""
    exact = [(r.receptive_field, r.jump, r.start) for r in spec.analyse(text).rows]
    monkeypatch.setattr(spec, "EXACT_TRACE_LIMIT", 0)
    report = spec.analyse(text)
    assert [(r.receptive_field, r.jump, r.start) for r in report.rows] == exact
    assert any("recurrence" in n for n in report.rows[0].notes)
    assert not any("approximate" in n for r in report.rows for n in r.notes)


def test_the_recurrence_says_where_it_stops_being_exact(monkeypatch):
    monkeypatch.setattr(spec, "EXACT_TRACE_LIMIT", 0)
    rows = spec.analyse("3x64x64 | conv 8 k3 | convT 8 k4 s2 p1 | conv 4 k3").rows
    assert not any("approximate" in n for n in rows[0].notes)
    assert any("approximate" in n for n in rows[1].notes)


def test_layers_on_a_billion_pixels_answers_at_once(cli):
    t = time.perf_counter()
    r = cli("layers", "3x1000000000x1000000000 | conv 64 k3 | maxpool 2", "--json")
    assert time.perf_counter() - t < 5 and r.exit_code == 0, r.stderr
    rows = r.json()["layers"]
    assert rows[0]["output_shape"] == [64, 999_999_998, 999_999_998]
    assert rows[0]["macs"] == 64 * 3 * 9 * 999_999_998 ** 2
    assert rows[1]["receptive_field"] == [4, 4] and rows[1]["effective_stride"] == [2, 2]


def test_draw_huge_grid_is_refused_at_once(cli, tmp_path):
    t = time.perf_counter()
    r = cli("draw", "conv", "--in", "100000", "--k", "3", "--out", tmp_path / "x.png")
    assert_clean_error(r, "too large")
    assert time.perf_counter() - t < 5 and not (tmp_path / "x.png").exists()


def test_draw_sizes_that_agree_with_the_values_are_fine(cli, tmp_path):
    r = cli("draw", "conv", "--in", "3x3", "--k", "2", "--image", "1 2 3; 4 5 6; 7 8 9", "--kernel", "1 0; 0 1",
            "--out", tmp_path / "a.png", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["output"] == [[6, 8], [12, 14]]  # 1+5, 2+6, 4+8, 5+9


def test_draw_receptive_field_png_is_a_png(cli, tmp_path):
    r = cli("draw", "receptive-field", "1x8x8 | conv 2 k3", "--out", tmp_path / "rf.png")
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "rf.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_conv_pooling_and_conv_results_are_what_was_asked(cli):
    r = cli("conv", "--image", "1 2 3; 4 5 6; 7 8 9", "--op", "avgpool", "--size", "3", "--json")
    assert r.json()["output"] == [[5.0]]
    r = cli("conv", "--image", "1 2 3; 4 5 6; 7 8 9", "--kernel", "1 0; 0 2", "--mode", "convolve", "--json")
    assert r.json()["output"] == [[7, 10], [16, 19]]  # flipped kernel [[2, 0], [0, 1]]


@pytest.mark.parametrize("encoded", [
    b"\xef\xbb\xbf1 2 3\n4 5 6\n7 8 9\n",  # Notepad's UTF-8 with a byte-order mark
    "1 2 3\r\n4 5 6\r\n7 8 9\r\n".encode("utf-16"),  # Notepad's "Unicode"
], ids=["utf8-bom", "utf16"])
def test_conv_reads_matrix_files_other_editors_save(cli, tmp_path, encoded):
    f = tmp_path / "m.txt"
    f.write_bytes(encoded)
    r = cli("conv", "--image-file", f, "--kernel", "sobel-x", "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["output"] == [[8]]  # (3-1) + 2(6-4) + (9-7)


def test_a_latin1_matrix_file_is_named_with_the_fix(cli, tmp_path):
    f = tmp_path / "latin.txt"
    f.write_bytes("1 2; 3 4 \u00e9\n".encode("latin-1"))
    assert_clean_error(cli("conv", "--image-file", f), "latin.txt", "not utf-8", "0xe9")


def test_recurrence_rf_is_a_fraction_free_integer_for_conv():
    rows = spec.analyse("3x100000x100000 | conv 8 k3 | conv 8 k3 s2 | conv 8 k3").rows
    assert [r.receptive_field for r in rows] == [(Fraction(3),) * 2, (Fraction(5),) * 2, (Fraction(9),) * 2]
