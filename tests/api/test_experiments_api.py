"""`cnnkit sweep`, `compare` and `report` print what cnnkit.sweep / compare / report return."""

from __future__ import annotations

import json

import pytest

import cnnkit
from cnnkit.errors import CnnkitError

SMALL = ["-d", "shapes:n=60,size=16", "--epochs", "1", "--opt", "widths=(4,8)", "--batch-size", "16"]


def test_sweep_compare_and_report_commands_equal_the_api(cli, tmp_path):
    out = tmp_path / "s"
    r = cli("sweep", "convnet", *SMALL, "--vary", "optimizer=sgd,adam", "-o", out, "--json")
    assert r.exit_code == 0, r.stderr
    printed = r.json()
    again = cnnkit.sweep("convnet", dataset="shapes:n=60,size=16", epochs=1, model_options={"widths": (4, 8)},
                         batch_size=16, vary=["optimizer=sgd,adam"], out=out, progress=False)  # every run finished: skipped
    assert again["sweep"] == printed["sweep"]
    assert again["comparison"]["rows"] == printed["comparison"]["rows"]
    assert [row["variant"] for row in printed["comparison"]["rows"]] == ["optimizer-sgd", "optimizer-adam"]
    for row in printed["comparison"]["rows"]:  # the table's numbers are the runs' own
        run = out / row["variant"] / "trial-1" / "summary.json"
        assert row["values"] == [json.loads(run.read_text())["test_accuracy"]]
    assert cli("compare", out, "--json").json() == cnnkit.compare([out])
    assert cli("compare", out, "--baseline", "optimizer-adam", "--json").json() == cnnkit.compare(
        [str(out)], baseline="optimizer-adam")
    report = cli("report", out, "--json").json()
    assert report == cnnkit.report(out)  # written again, to the same file
    assert report["report"] == str(out / "report.html")


def test_sweep_refuses_unknown_options_from_python(tmp_path):
    with pytest.raises(CnnkitError, match="colour"):
        cnnkit.sweep("convnet", colour="red", out=tmp_path / "s", progress=False)
    with pytest.raises(CnnkitError, match="--lr takes a number, got 'fast'"):
        cnnkit.sweep("convnet", lr="fast", out=tmp_path / "s", progress=False)
    assert not (tmp_path / "s").exists()
