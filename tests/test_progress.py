"""The plain progress lines a run prints (logs, CI, notebooks without Rich)."""

from __future__ import annotations

import io

from cnnkit.progress import PlainProgress, _rate


def test_slow_runs_do_not_print_zero_images_per_second():
    assert _rate(0.24) == "0.24" and _rate(7.5) == "7.5" and _rate(241.3) == "241"


def test_end_line_of_a_slow_run():
    out = io.StringIO()
    summary = {"test_dice": 0.8, "train_seconds": 100.0, "train_images_per_second": 0.24}
    PlainProgress(out)("end", summary=summary)
    assert "0.24 img/s" in out.getvalue() and "test_dice 0.8000" in out.getvalue()
