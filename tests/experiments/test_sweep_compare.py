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


def test_rerun_with_other_settings_is_refused_and_changes_nothing(sweep_dir, cli):
    """Another dataset, lr or epochs in the same --out: refused before anything trains or is written,
    naming what differs (the old table must never be printed as the new result)."""
    from tests.conftest import assert_clean_error

    def files():  # the lock file records who last held the folder; everything else must stay as it was
        return {p: p.stat().st_mtime_ns for p in sweep_dir.rglob("*") if p.is_file() and p.name != ".cnnkit.lock"}

    before = files()
    for change, named in ((["-d", "shapes:n=100,size=16"], "dataset"), (["--lr", "0.2"], "lr"), (["--epochs", "2"], "epochs")):
        args = list(ARGS)
        if change[0] in args:
            args[args.index(change[0]) + 1] = change[1]
        else:
            args += change
        r = cli("sweep", "convnet", *args, "-o", sweep_dir, "--json")
        assert_clean_error(r, named, "--overwrite")
        assert r.stdout == ""
    assert files() == before


def test_overwrite_starts_a_sweep_afresh(tmp_path, cli):
    out = tmp_path / "s"
    small = ["-d", "shapes:n=60,size=16", "--epochs", "1", "--recipe", "default", "--opt", "widths=(4,8)", "--batch-size", "32", "-q"]
    assert cli("sweep", "convnet", *small, "--vary", "optimizer=sgd,adam", "-o", out).exit_code == 0
    (out / "notes.txt").write_text("mine")  # a user's file is never removed
    r = cli("sweep", "convnet", *small, "--vary", "lr=0.01", "-o", out, "--overwrite", "--json")
    assert r.exit_code == 0, r.stderr
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == ["lr-0.01", "notes.txt", "sweep.json"]
    assert [row["variant"] for row in r.json()["comparison"]["rows"]] == ["lr-0.01"]
    assert json.loads((out / "lr-0.01" / "trial-1" / "config.json").read_text())["lr"] == 0.01


def test_sweep_values_are_checked_before_training(tmp_path, cli):
    from tests.conftest import assert_clean_error

    for vary, named in (("lr=0.1,-1", "--lr"), ("momentum=abc", "--momentum"), ("dropout=2", "dropout")):
        r = cli("sweep", "convnet", "-d", "shapes:n=60,size=16", "--epochs", "1", "--vary", vary, "-o", tmp_path / "s", "-q")
        assert_clean_error(r, named)
        assert not (tmp_path / "s").exists()


def test_compare_names_a_damaged_summary(cli, tmp_path, sweep_dir):
    import shutil

    from tests.conftest import assert_clean_error

    copy = tmp_path / "copy"
    shutil.copytree(sweep_dir, copy)
    sweep = json.loads((copy / "sweep.json").read_text())
    for v in sweep["variants"]:
        v["runs"] = [r.replace(str(sweep_dir), str(copy)) for r in v["runs"]]
    (copy / "sweep.json").write_text(json.dumps(sweep))
    summary = copy / "optimizer-adam" / "trial-1" / "summary.json"
    summary.write_text(summary.read_text()[:40])
    assert_clean_error(cli("compare", copy, "--json"), str(summary), "corrupt")
    (copy / "sweep.json").write_text("{not json")
    assert_clean_error(cli("compare", copy), "sweep.json")


SMALL = ["-d", "shapes:n=60,size=16", "--epochs", "1", "--recipe", "default", "--opt", "widths=(4,8)", "--batch-size", "32"]


def test_every_variant_is_planned_before_the_first_trains(tmp_path, cli):
    """rprop takes no weight decay: the recipe's is dropped with a line, and each variant gets
    the data policy `cnnkit train` gives it (Adam's own rate, not SGD's)."""
    out = tmp_path / "s"
    r = cli("sweep", "convnet", *SMALL, "--vary", "optimizer=sgd,adam,rprop", "-o", out)
    assert r.exit_code == 0, r.stderr
    cfg = {v: json.loads((out / f"optimizer-{v}" / "trial-1" / "config.json").read_text()) for v in ("sgd", "adam", "rprop")}
    assert (cfg["rprop"]["optimizer"], cfg["rprop"]["weight_decay"], cfg["rprop"]["lr"]) == ("rprop", 0.0, 0.01)
    assert (cfg["adam"]["optimizer"], cfg["adam"]["weight_decay"], cfg["adam"]["lr"]) == ("adamw", 0.01, 0.001)
    assert (cfg["sgd"]["weight_decay"], cfg["sgd"]["lr"]) == (5e-4, 0.05)
    assert "weight decay 0: rprop has no weight decay (the recipe default's 0.0005 is left out)" in r.stderr


def test_a_variant_that_cannot_run_stops_the_sweep_before_anything_trains(tmp_path, cli):
    from tests.conftest import assert_clean_error

    out = tmp_path / "s"
    r = cli("sweep", "convnet", *SMALL, "--weight-decay", "5e-4", "--vary", "optimizer=sgd,rprop", "-o", out, "-q")
    assert_clean_error(r, "variant optimizer-rprop", "rprop has no weight decay")
    assert not out.exists()


def test_changed_sweep_keeps_the_finished_runs_whose_settings_did_not_change(tmp_path, cli):
    out = tmp_path / "s"
    assert cli("sweep", "convnet", *SMALL, "--vary", "optimizer=sgd,adam", "-o", out, "-q").exit_code == 0
    sgd = out / "optimizer-sgd" / "trial-1" / "summary.json"
    before = sgd.stat().st_mtime_ns
    # the file fixed: adam replaced by adagrad; sgd's runs are what they were
    r = cli("sweep", "convnet", *SMALL, "--vary", "optimizer=sgd,adagrad", "-o", out)
    assert r.exit_code == 0, r.stderr
    assert sgd.stat().st_mtime_ns == before
    assert "kept 1 finished run(s) whose settings did not change (optimizer-sgd)" in r.stderr
    assert "variant(s) no longer in the sweep: optimizer-adam (their folders stay, left out of the table)" in r.stderr
    assert [row["variant"] for row in compare([str(out)])["rows"]] == ["optimizer-sgd", "optimizer-adagrad"]
    # a changed base changes every run: refused, and --overwrite re-trains only what changed
    from tests.conftest import assert_clean_error

    r = cli("sweep", "convnet", *SMALL, "--vary", "optimizer=sgd,adagrad", "--momentum", "0.5", "-o", out, "-q")
    assert_clean_error(r, "momentum 0.9 -> 0.5", "--overwrite")
    assert sgd.stat().st_mtime_ns == before
    r = cli("sweep", "convnet", *SMALL, "--vary", "optimizer=sgd", "--lr", "0.02", "-o", out, "--overwrite")
    assert r.exit_code == 0, r.stderr
    assert "re-training 1 run(s) trained with other settings (optimizer-sgd)" in r.stderr
    assert json.loads((out / "optimizer-sgd" / "trial-1" / "config.json").read_text())["lr"] == 0.02


def test_compare_lists_only_metrics_it_accepts_and_takes_one_class(cli, sweep_dir):
    """Every key the error offers is one --metric accepts; a per-class key is KEY.CLASS."""
    from cnnkit.experiments.compare import metric_names
    from tests.conftest import assert_clean_error

    r = cli("compare", sweep_dir, "--metric", "nosuch")
    assert_clean_error(r, "test_accuracy", "test_per_class_accuracy.")
    offered = r.stderr.split("choose --metric from ")[1].split(";")[0].split(", ")
    assert "test_confusion_matrix" not in r.stderr and "test_per_class_accuracy," not in r.stderr
    for key in offered:
        assert cli("compare", sweep_dir, "--metric", key.strip(), "--json").exit_code == 0, key
    summary = json.loads((sweep_dir / "optimizer-sgd" / "trial-1" / "summary.json").read_text())
    scalars, tables = metric_names(summary)
    assert "test_per_class_accuracy" in tables and "test_per_class_accuracy" not in scalars
    name = next(iter(summary["test_per_class_accuracy"]))
    rows = cli("compare", sweep_dir, "--metric", f"test_per_class_accuracy.{name}", "--json").json()["rows"]
    values = [json.loads((sweep_dir / "optimizer-sgd" / f"trial-{k}" / "summary.json").read_text())["test_per_class_accuracy"][name]
              for k in (1, 2)]
    assert rows[0]["values"] == pytest.approx(values)


def test_curves_of_a_sweep_overlay_each_variants_mean_and_band(cli, sweep_dir):
    """One line per variant: the mean over its trials per epoch; the band spans lowest to highest trial."""
    from cnnkit import visualize
    from cnnkit.engine.rundir import read_metrics

    fig = visualize.curves(sweep_dir)
    assert fig.cnnkit["variants"] == [{"name": "optimizer-sgd", "trials": 2}, {"name": "optimizer-adam", "trials": 2}]
    metric_ax = fig.axes[1]
    for name in ("optimizer-sgd", "optimizer-adam"):
        vals = [read_metrics(sweep_dir / name / f"trial-{k}" / "metrics.csv")[0]["val_accuracy"] for k in (1, 2)]
        line = next(ln for ln in metric_ax.lines if ln.get_label() == f"{name} val (n=2)")
        assert list(line.get_ydata()) == pytest.approx([statistics.fmean(vals)])
    bands = [c.get_paths()[0].vertices[:, 1] for c in metric_ax.collections]
    sgd = [read_metrics(sweep_dir / "optimizer-sgd" / f"trial-{k}" / "metrics.csv")[0]["val_accuracy"] for k in (1, 2)]
    assert min(bands[0]) == pytest.approx(min(sgd)) and max(bands[0]) == pytest.approx(max(sgd))
    r = cli("visualize", "curves", sweep_dir, "--json")
    assert r.exit_code == 0, r.stderr
    assert r.json()["path"] == str(sweep_dir / "curves-variants.png") and (sweep_dir / "curves-variants.png").stat().st_size > 0
