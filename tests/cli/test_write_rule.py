"""The write rule (cnnkit/outputs.py, docs/files.md) through every command that writes:
never over an input, another run's file or a file of the user's (each such file is
byte-identical afterwards); cnnkit's own earlier output of the same kind is replaced;
--overwrite deletes only what the folder's manifest lists; run and sweep folders stay
what they are; no output inside a dataset folder the command reads."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from cnnkit.cli.main import app
from tests.conftest import assert_clean_error

TINY = ["-d", "shapes:n=48,size=16", "--epochs", "1", "--batch-size", "16", "--opt", "widths=(4,8)", "-q"]
PHOTO = b"\x89PNG\r\n\x1a\n" + b"my holiday photo" * 10  # a user's file (not cnnkit's); byte-identical afterwards


def run_cli(*args):
    return CliRunner().invoke(app, [str(a) for a in args])


def digest(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def tree(root: Path) -> dict:
    """{relative path: sha256} of every file under root."""
    return {str(p.relative_to(root)): digest(p) for p in sorted(root.rglob("*")) if p.is_file() and p.name != ".cnnkit.lock"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("write-rule")
    for name, data in (("runA", "shapes:n=48,size=16"), ("runB", "shapes:n=48,size=16"), ("seg", "shapes-seg:n=24,size=16")):
        opts = ["--opt", "base_width=4", "--opt", "depth=2"] if name == "seg" else ["--opt", "widths=(4,8)"]
        r = run_cli("train", "convnet" if name != "seg" else "unet", "-d", data, "--epochs", "1", "--batch-size", "16", "-q",
                    "--out", root / name, *opts)
        assert r.exit_code == 0, r.stderr
    Image.new("RGB", (16, 16), (200, 30, 30)).save(root / "img.png")
    Image.new("L", (16, 16), 0).save(root / "mask.png")
    (root / "photo.png").write_bytes(PHOTO)
    (root / "data.csv").write_text("my,own\n1,2\n")
    return root


class Case:
    """A command writing one file given by --out, with its inputs."""

    def __init__(self, name, argv, inputs):
        self.name, self.argv, self.inputs = name, argv, inputs


def cases(w: Path) -> list[Case]:
    a, s = w / "runA", w / "seg"
    return [
        Case("report", ["report", a], [a / "config.json", a / "metrics.csv", a / "best.pt"]),
        Case("filters", ["visualize", "filters", a / "best.pt"], [a / "best.pt"]),
        Case("features", ["visualize", "features", a / "best.pt", w / "img.png"], [a / "best.pt", w / "img.png"]),
        Case("attribution", ["visualize", "attribution", a / "best.pt", w / "img.png"], [a / "best.pt", w / "img.png"]),
        Case("segmentation", ["visualize", "segmentation", s / "best.pt", w / "img.png", "--mask", w / "mask.png"],
             [s / "best.pt", w / "img.png", w / "mask.png"]),
        Case("maximize", ["visualize", "maximize", a / "best.pt", "--class", "0", "--seeds", "1", "--steps", "2", "--top", "0"],
             [a / "best.pt"]),
        Case("curves", ["visualize", "curves", a], [a / "metrics.csv"]),
        Case("deconv", ["visualize", "deconv", a / "best.pt", w / "img.png", "--layer", "features.act2", "--channel", "0"],
             [a / "best.pt", w / "img.png"]),
        Case("draw", ["draw", "conv", "--in", "5", "--k", "3"], []),
    ]


NAMES = ["report", "filters", "features", "attribution", "segmentation", "maximize", "curves", "deconv", "draw"]


def _case(world, name) -> Case:
    return next(c for c in cases(world) if c.name == name)


def _refused(world, argv, target: Path, *fragments):
    before = tree(world)
    r = run_cli(*argv, "--out", target)
    assert_clean_error(r, str(target), *fragments)
    assert tree(world) == before  # nothing written anywhere, every file byte-identical


@pytest.mark.parametrize("name", NAMES)
def test_never_over_an_input(world, name):
    case = _case(world, name)
    for target in case.inputs:
        _refused(world, case.argv, target, "--out")


@pytest.mark.parametrize("name", NAMES)
def test_never_over_another_runs_files(world, name):
    case = _case(world, name)
    for f in ("best.pt", "last.pt", "config.json", "metrics.csv", "summary.json"):
        _refused(world, case.argv, world / "runB" / f, "--out")


@pytest.mark.parametrize("name", NAMES)
def test_never_over_a_users_file(world, name):
    case = _case(world, name)
    for f in ("photo.png", "data.csv"):  # (draw refuses a .csv name for its suffix already)
        _refused(world, case.argv, world / f, "must end in" if name == "draw" and f == "data.csv" else "not a file cnnkit wrote")
    assert (world / "photo.png").read_bytes() == PHOTO


@pytest.mark.parametrize("name", NAMES)
def test_cnnkits_own_earlier_output_of_the_same_kind_is_replaced(world, tmp_path, name):
    case = _case(world, name)
    target = tmp_path / ("out.html" if name == "report" else "out.png")
    first = run_cli(*case.argv, "--out", target)
    assert first.exit_code == 0, first.stderr
    old = target.read_bytes()
    again = run_cli(*case.argv, "--out", target)
    assert again.exit_code == 0, again.stderr
    assert target.read_bytes()[:8] == old[:8]  # still the same kind of file (PNG / HTML)
    # but a file of another kind that cnnkit wrote is not: a report is not written over a figure, nor the reverse
    other = tmp_path / "other.png"  # (a name draw accepts; report writes HTML under any name)
    if name == "report":
        fig = run_cli("visualize", "filters", world / "runA" / "best.pt", "--out", other)
        assert fig.exit_code == 0, fig.stderr
        before = digest(other)
        assert_clean_error(run_cli(*case.argv, "--out", other), "a figure", "not a report")
        assert digest(other) == before
    else:
        assert run_cli("report", world / "runA", "--out", other).exit_code == 0
        before = digest(other)
        assert_clean_error(run_cli(*case.argv, "--out", other), "a report", "not a figure")
        assert digest(other) == before


def test_the_python_api_follows_the_same_rule(world):
    import cnnkit
    from cnnkit.errors import CnnkitError

    ckpt = world / "runA" / "best.pt"
    before = digest(ckpt)
    with pytest.raises(CnnkitError, match="input of this command"):
        cnnkit.visualize.filters(ckpt, out=ckpt)
    with pytest.raises(CnnkitError, match="not a file cnnkit wrote"):
        cnnkit.visualize.features(ckpt, world / "img.png", out=world / "photo.png")
    assert digest(ckpt) == before and (world / "photo.png").read_bytes() == PHOTO


# ---- evaluate and predict: folders of tables, figures and masks

def test_evaluate_never_replaces_a_users_table_and_replaces_its_own(world, tmp_path):
    ckpt = world / "runA" / "best.pt"
    out = tmp_path / "eval"
    out.mkdir()
    (out / "best-test-confusion.csv").write_text("my,table\n")
    before = tree(tmp_path)
    assert_clean_error(run_cli("evaluate", ckpt, "--out", out), "best-test-confusion.csv", "not a file cnnkit wrote")
    assert tree(tmp_path) == before
    (out / "best-test-confusion.csv").unlink()
    for _ in range(2):  # its own table and figure: replaced on the second run
        r = run_cli("evaluate", ckpt, "--out", out, "--json")
        assert r.exit_code == 0, r.stderr
    assert (out / "best-test-confusion.csv").read_text().startswith("true \\ predicted")
    assert_clean_error(run_cli("evaluate", ckpt, "--out", ckpt), "is a file")


def test_evaluate_output_inside_the_dataset_it_reads_is_refused(tmp_path):
    data = _class_folders(tmp_path / "data")
    r = run_cli("train", "convnet", *TINY[2:], "-d", f"folder:{data}", "--out", tmp_path / "run")
    assert r.exit_code == 0, r.stderr
    before = tree(data)
    assert_clean_error(run_cli("evaluate", tmp_path / "run" / "best.pt", "--out", data / "train" / "a"),
                       "inside the dataset folder")
    assert_clean_error(run_cli("train", "convnet", *TINY[2:], "-d", f"folder:{data}", "--out", data / "run"),
                       "inside the dataset folder")
    assert_clean_error(run_cli("report", tmp_path / "run", "--out", data / "report.html"), "inside the dataset folder")
    assert_clean_error(run_cli("visualize", "maximize", tmp_path / "run" / "best.pt", "--class", "0", "--steps", "1",
                               "--seeds", "1", "--top", "0", "--out", data / "train" / "a" / "m.png"), "inside the dataset folder")
    assert tree(data) == before


def _class_folders(root: Path) -> Path:
    for split, n in (("train", 8), ("test", 3)):
        for k, colour in (("a", (250, 0, 0)), ("b", (0, 0, 250))):
            d = root / split / k
            d.mkdir(parents=True)
            for i in range(n):
                Image.new("RGB", (16, 16), tuple(max(0, c - 10 * i) for c in colour)).save(d / f"{i}.png")
    return root


def test_predict_masks_never_join_the_images_or_replace_a_file(world, tmp_path):
    ckpt = world / "seg" / "best.pt"
    images = tmp_path / "images"
    images.mkdir()
    shutil.copy(world / "img.png", images / "x.png")
    (tmp_path / "masks").mkdir()
    (tmp_path / "masks" / "x_mask.png").write_bytes(PHOTO)
    assert_clean_error(run_cli("predict", ckpt, images / "x.png", "--out", images), "folder of the image")
    assert sorted(os.listdir(images)) == ["x.png"]
    r = run_cli("predict", ckpt, images / "x.png", "--out", tmp_path / "masks", "--json")
    assert r.exit_code == 0, r.stderr
    assert (tmp_path / "masks" / "x_mask.png").read_bytes() == PHOTO
    assert json.loads(r.stdout)["predictions"][0]["mask"].endswith("x_mask-2.png")


# ---- train --overwrite and the folders

def test_overwrite_deletes_only_what_cnnkit_listed(tmp_path):
    run = tmp_path / "runA"
    assert run_cli("train", "convnet", *TINY, "--out", run).exit_code == 0
    mine = {"best-photo.png": PHOTO, "last-week.csv": b"week,1\n", "mine.txt": b"keep", "tensorboard/mine.txt": b"mine",
            "predictions/notes.txt": b"n"}
    for name, data in mine.items():
        (run / name).parent.mkdir(exist_ok=True)
        (run / name).write_bytes(data)
    old_best = digest(run / "best.pt")
    assert_clean_error(run_cli("train", "convnet", *TINY, "--out", run), "--overwrite")
    r = run_cli("train", "convnet", *TINY, "--seed", "1", "--out", run, "--overwrite")
    assert r.exit_code == 0, r.stderr
    for name, data in mine.items():
        assert (run / name).read_bytes() == data, name
    assert digest(run / "best.pt") != old_best  # the run itself was replaced


def test_overwrite_of_a_run_from_before_manifests_removes_only_exact_names(tmp_path):
    run = tmp_path / "old"
    assert run_cli("train", "convnet", *TINY, "--out", run).exit_code == 0
    (run / ".cnnkit-files").unlink()  # as a run written by an earlier cnnkit
    (run / "best-photo.png").write_bytes(PHOTO)
    (run / "curves-old.png").write_bytes(PHOTO)
    from cnnkit.outputs import clear_written

    removed = {p.name for p in clear_written(run)}
    assert removed == {"config.json", "metrics.csv", "summary.json", "best.pt", "last.pt", "curves.png"}
    assert (run / "best-photo.png").read_bytes() == PHOTO and (run / "curves-old.png").read_bytes() == PHOTO


def test_a_users_file_under_a_run_name_blocks_the_run_even_with_overwrite(tmp_path):
    out = tmp_path / "mine"
    out.mkdir()
    (out / "best.pt").write_bytes(b"my own model")
    for extra in ((), ("--overwrite",)):
        assert_clean_error(run_cli("train", "convnet", *TINY, "--out", out, *extra), str(out / "best.pt"), "not cnnkit's")
    assert (out / "best.pt").read_bytes() == b"my own model"
    assert sorted(p.name for p in out.iterdir() if p.name != ".cnnkit.lock") == ["best.pt"]


def test_run_and_sweep_folders_refuse_to_become_the_other(tmp_path):
    sweep = tmp_path / "sweep"
    r = run_cli("sweep", "convnet", *TINY[:2], "--vary", "lr=0.05", "--out", sweep, "-q", *TINY[2:-1])
    assert r.exit_code == 0, r.stderr
    run = tmp_path / "run"
    assert run_cli("train", "convnet", *TINY, "--out", run).exit_code == 0
    sweep_before, run_before = tree(sweep), tree(run)
    for extra in ((), ("--overwrite",)):
        assert_clean_error(run_cli("train", "convnet", *TINY, "--out", sweep, *extra), "sweep folder")
        assert_clean_error(run_cli("sweep", "convnet", *TINY[:2], "--epochs", "1", "--vary", "lr=0.05", "--out", run, *extra),
                           "run folder")
    variant = next(p for p in sweep.iterdir() if p.is_dir())
    assert_clean_error(run_cli("train", "convnet", *TINY, "--out", variant / "trial-9"), "inside the sweep folder")
    assert_clean_error(run_cli("train", "convnet", *TINY, "--out", run / "sub"), "inside the run folder")
    assert tree(sweep) == sweep_before and tree(run) == run_before
    assert not (run / "sub").exists()


def test_resuming_a_run_from_before_manifests_adopts_its_files(tmp_path):
    from cnnkit.outputs import written

    run = tmp_path / "old"
    assert run_cli("train", "convnet", *TINY, "--out", run).exit_code == 0
    (run / ".cnnkit-files").unlink()  # as a run written by an earlier cnnkit
    (run / "best-photo.png").write_bytes(PHOTO)
    r = run_cli("train", "--resume", run, "--epochs", "2", "-q")
    assert r.exit_code == 0, r.stderr
    listed = written(run)
    assert {"config.json", "metrics.csv", "summary.json", "best.pt", "last.pt", "curves.png"} <= set(listed)
    assert "best-photo.png" not in listed and (run / "best-photo.png").read_bytes() == PHOTO


def test_overwrite_never_deletes_the_weights_the_run_starts_from(tmp_path):
    run = tmp_path / "run"
    assert run_cli("train", "convnet", *TINY, "--out", run).exit_code == 0
    before = tree(run)
    assert_clean_error(run_cli("train", "convnet", *TINY, "--weights", run / "best.pt", "--out", run, "--overwrite"),
                       "copy it out of that folder")
    assert tree(run) == before


def test_a_projects_own_config_json_is_not_taken_for_a_run(tmp_path):
    project = tmp_path / "project"
    project.mkdir()
    (project / "config.json").write_text('{"model": "my-cnn", "dataset": "cats"}')
    r = run_cli("train", "convnet", *TINY, "--out", project / "runs" / "a")
    assert r.exit_code == 0, r.stderr
    assert (project / "config.json").read_text() == '{"model": "my-cnn", "dataset": "cats"}'
    assert_clean_error(run_cli("train", "convnet", *TINY, "--out", project, "--overwrite"), "config.json", "not cnnkit's")
    assert (project / "config.json").read_text() == '{"model": "my-cnn", "dataset": "cats"}'
