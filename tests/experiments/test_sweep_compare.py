"""Sweeps run every variant and trial, resume what is missing, and compare correctly."""

import json
import statistics

import pytest

from cnnkit.experiments.compare import compare
from cnnkit.experiments.sweep import parse_vary, variant_name

ARGS = ["-d", "shapes:n=120,size=16", "--vary", "optimizer=sgd,adam", "--trials", "2", "--epochs", "1", "--recipe", "default",
        "--opt", "widths=(8,16)", "--batch-size", "32", "-q"]


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    from typer.testing import CliRunner

    from cnnkit.cli.main import app

    out = tmp_path_factory.mktemp("sweep") / "s"
    r = CliRunner().invoke(app, ["sweep", "convnet", *ARGS, "-o", str(out)])
    assert r.exit_code == 0, r.stderr
    return out


def test_sweep_layout_and_table_equal_the_summaries(sweep_dir, cli):
    sweep = json.loads((sweep_dir / "sweep.json").read_text())
    assert [v["name"] for v in sweep["variants"]] == ["optimizer-sgd", "optimizer-adam"]
    r = cli("compare", sweep_dir, "--json")
    assert r.exit_code == 0, r.stderr
    result = r.json()
    for row, variant in zip(result["rows"], sweep["variants"]):
        accs = [json.loads((sweep_dir / variant["name"] / f"trial-{k}" / "summary.json").read_text())["test_accuracy"] for k in (1, 2)]
        assert row["test_accuracy"]["mean"] == pytest.approx(statistics.fmean(accs))
        assert row["test_accuracy"]["std"] == pytest.approx(statistics.stdev(accs))
        assert row["test_accuracy"]["min"] == pytest.approx(min(accs))
    adam = result["rows"][1]
    assert adam["vs_baseline"]["pairs"] == 2
    assert adam["vs_baseline"]["mean_difference"] == pytest.approx(adam["test_accuracy"]["mean"] - result["rows"][0]["test_accuracy"]["mean"])
    # the seeds differ per trial and are the same across variants (paired)
    seeds = {json.loads((sweep_dir / v["name"] / f"trial-{k}" / "config.json").read_text())["seed"] for v in sweep["variants"] for k in (1, 2)}
    assert seeds == {0, 1}
    md = cli("compare", sweep_dir, "--markdown").stdout
    assert md.splitlines()[0].startswith("| variant |") and "optimizer-adam" in md
    assert cli("compare", sweep_dir, "--csv").stdout.splitlines()[0].startswith("variant,runs,test_accuracy_mean")


def test_rerun_finishes_only_what_was_missing(sweep_dir, cli):
    import shutil

    done = sweep_dir / "optimizer-sgd" / "trial-1" / "summary.json"
    before = done.stat().st_mtime_ns
    (sweep_dir / "optimizer-adam" / "trial-2" / "summary.json").unlink()  # interrupted after its last epoch
    shutil.rmtree(sweep_dir / "optimizer-sgd" / "trial-2")  # never started
    r = cli("sweep", "convnet", *ARGS, "-o", sweep_dir)
    assert r.exit_code == 0, r.stderr
    assert done.stat().st_mtime_ns == before  # untouched
    assert (sweep_dir / "optimizer-adam" / "trial-2" / "summary.json").exists()
    assert (sweep_dir / "optimizer-sgd" / "trial-2" / "summary.json").exists()


def test_vary_parsing_and_errors():
    axes = parse_vary(["optimizer=sgd,adam", "widths=(8,16),(4,8)", "batchnorm=true,false"], {"widths", "batchnorm"})
    assert axes == [("optimizer", ["sgd", "adam"]), ("widths", [(8, 16), (4, 8)]), ("batchnorm", [True, False])]
    assert variant_name({"optimizer": "sgd", "widths": (8, 16)}) == "optimizer-sgd_widths-8x16"
    from cnnkit.errors import CnnkitError

    with pytest.raises(CnnkitError, match="not a training option"):
        parse_vary(["colour=red"], {"widths"})
    with pytest.raises(CnnkitError, match="key=v1,v2"):
        parse_vary(["optimizer"], set())


def test_compare_errors(cli, tmp_path, sweep_dir):
    r = cli("compare", tmp_path)
    assert r.exit_code == 2 and "not a run, trials or sweep" in r.stderr
    from cnnkit.errors import CnnkitError

    with pytest.raises(CnnkitError, match="--baseline 'nope' is not a variant"):
        compare([str(sweep_dir)], baseline="nope")
    assert compare([str(sweep_dir)], baseline="optimizer-adam")["rows"][1]["vs_baseline"] is None
