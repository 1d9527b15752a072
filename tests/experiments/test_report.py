"""`cnnkit sweep --file` runs the planned variants, and `cnnkit report` writes one
self-contained page with every section, for sweeps, single runs and unfinished runs,
that a real browser renders with every image decoded."""

from __future__ import annotations

import base64
import io
import json
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from cnnkit.experiments.compare import compare
from cnnkit.experiments.report import SECTIONS
from tests.conftest import assert_clean_error

SWEEP_FILE = """
# optimiser x batch norm on a small shapes set
model = "convnet"
dataset = "shapes:n=120,size=16"
trials = 2

[train]
epochs = 1
batch-size = 32
recipe = "default"
opt = { widths = [8, 16] }

[vary]
optimizer = ["sgd", "adam"]

[[variant]]
name = "plain"

[[variant]]
name = "bn"
batchnorm = true
"""


class Page(HTMLParser):
    """What a report is made of: section ids, image sources, links, and per section its
    tables as lists of rows of cell texts."""

    def __init__(self, text: str):
        super().__init__()
        self.sections, self.images, self.links, self.scripts = [], [], [], 0
        self.tables: dict[str, list[list[list[str]]]] = {}
        self._cell = None
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "section":
            self.sections.append(a["id"])
            self.tables[a["id"]] = []
        elif tag == "img":
            self.images.append(a["src"])
        elif tag in ("a", "link"):
            self.links.append(a.get("href", ""))
        elif tag == "script":
            self.scripts += 1
        elif tag == "table" and self.sections:
            self.tables[self.sections[-1]].append([])
        elif tag == "tr" and self.sections and self.tables[self.sections[-1]]:
            self.tables[self.sections[-1]][-1].append([])
        elif tag in ("td", "th"):
            self._cell = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.tables[self.sections[-1]][-1][-1].append(self._cell)
            self._cell = None


def png_size(src: str) -> tuple[int, int]:
    from PIL import Image

    assert src.startswith("data:image/png;base64,")
    return Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1]))).size


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory):
    from typer.testing import CliRunner

    from cnnkit.cli.main import app

    root = tmp_path_factory.mktemp("report")
    (root / "ab.toml").write_text(SWEEP_FILE)
    # the command line overrides the file: batch size 16, not the file's 32
    r = CliRunner().invoke(app, ["sweep", "--file", str(root / "ab.toml"), "-o", str(root / "ab"), "--batch-size", "16", "-q"])
    assert r.exit_code == 0, r.stderr
    return root / "ab"


def test_sweep_file_runs_listed_variants_crossed_with_the_grid(sweep_dir):
    sweep = json.loads((sweep_dir / "sweep.json").read_text())
    names = [v["name"] for v in sweep["variants"]]
    assert names == ["plain_optimizer-sgd", "plain_optimizer-adam", "bn_optimizer-sgd", "bn_optimizer-adam"]
    for v in sweep["variants"]:
        for k, run in enumerate(v["runs"]):
            config = json.loads((Path(run) / "config.json").read_text())
            assert Path(run).name == f"trial-{k + 1}" and Path(run).parent.name == v["name"]
            # adam with the recipe's SGD weight decay trains as AdamW (decoupled decay; engine/policy.py)
            assert config["optimizer"] == {"adam": "adamw"}.get(v["settings"]["optimizer"], "sgd") and config["seed"] == k
            assert config["model_options"].get("batchnorm", False) == v["name"].startswith("bn")
            assert config["model_options"]["widths"] == [8, 16] and config["batch_size"] == 16 and config["epochs"] == 1


def test_report_on_a_sweep_has_every_section_and_the_comparison(sweep_dir, cli):
    r = cli("report", sweep_dir, "--json")
    assert r.exit_code == 0, r.stderr
    result = r.json()
    assert result["kind"] == "sweep" and result["sections"] == list(SECTIONS)
    page = Page((sweep_dir / "report.html").read_text())
    assert page.sections == list(SECTIONS)
    assert page.scripts == 0 and all(link.startswith("#") for link in page.links)  # nothing fetched, nothing run
    # scores, curves, confusion matrix, filters: each a real PNG
    assert len(page.images) == 4 and all(min(png_size(src)) > 100 for src in page.images)
    table = compare([str(sweep_dir)])
    shown = page.tables["results"][0]  # header, then one row per variant, in order
    assert shown[0][:4] == ["variant", "runs", "mean", "std"]
    for row, cells in zip(table["rows"], shown[1:], strict=True):
        m = row["test_accuracy"]
        assert cells[:6] == [row["variant"], str(row["runs"]), *(f"{m[k]:.4f}" for k in ("mean", "std", "min", "max"))]
    # the variants table names every variant's settings
    variants = page.tables["configuration"][0]
    assert variants[0] == ["variant", "batchnorm", "optimizer", "trials"]
    assert variants[3] == ["bn_optimizer-sgd", "true", "sgd", "2"] and variants[1][1] == "-"


def test_report_of_a_single_unfinished_run_says_so(sweep_dir, cli, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(sweep_dir / "bn_optimizer-adam" / "trial-1", run)
    (run / "summary.json").unlink()  # as if interrupted after its last epoch
    r = cli("report", run, "-o", tmp_path / "page.html")
    assert r.exit_code == 0, r.stderr
    text = (tmp_path / "page.html").read_text()
    page = Page(text)
    assert page.sections == list(SECTIONS)
    assert "has not finished" in text and len(page.images) == 2  # curves and filters still drawn


def test_report_on_a_segmentation_run_shows_best_median_worst(cli, tmp_path):
    import csv
    import math

    from cnnkit.engine.evaluate import evaluate_checkpoint
    from cnnkit.engine.inference import load_for_inference
    from cnnkit.viz.segment_data import segmentation_examples

    out = tmp_path / "seg"
    # over 64 test images: more than the 64 the examples used to be chosen from
    r = cli("train", "unet", "-d", "shapes-seg:n=500,size=16", "--epochs", "1", "--batch-size", "32", "--opt", "base_width=4",
            "--opt", "depth=2", "--out", out, "-q")
    assert r.exit_code == 0, r.stderr
    assert cli("report", out).exit_code == 0
    text = (out / "report.html").read_text()
    page = Page(text)
    assert page.sections == list(SECTIONS)
    assert "Segmentation examples" in text
    for label in ("best", "median", "worst"):
        assert f"{label} test image by Dice" in text
    assert json.loads((out / "summary.json").read_text())["environment"]["torch"]
    # the examples are the extremes over *all* test images, by evaluate's own per-image Dice
    ev = evaluate_checkpoint(out / "best.pt", device="cpu", out_dir=tmp_path / "ev")
    with open(ev["per_image_csv"]) as f:
        dice = [float(row["dice_macro"]) for row in csv.DictReader(f) if row["dice_macro"]]
    n = len(dice)
    assert n > 64
    ckpt, model, dev = load_for_inference(out / "best.pt", "cpu")
    examples = {e["label"]: e for e in segmentation_examples(ckpt, model, dev)}
    assert math.isclose(examples["best"]["scores"]["Dice"], max(dice), abs_tol=1e-6)
    assert math.isclose(examples["worst"]["scores"]["Dice"], min(dice), abs_tol=1e-6)
    assert examples["best"]["rank"] == 1 and examples["worst"]["rank"] == n and examples["best"]["images"] == n
    assert f"rank 1 of {n}" in text


def test_a_failed_report_leaves_no_file_behind(sweep_dir, cli, tmp_path):
    run = sweep_dir / "plain_optimizer-sgd" / "trial-1"
    before = set(tmp_path.iterdir())
    (tmp_path / "taken").mkdir()
    r = cli("report", run, "-o", tmp_path / "taken")
    assert_clean_error(r, "folder")
    assert set(tmp_path.iterdir()) - before == {tmp_path / "taken"} and not any((tmp_path / "taken").iterdir())


def test_report_errors(cli, tmp_path):
    assert_clean_error(cli("report", tmp_path / "missing"), "no such directory")
    assert_clean_error(cli("report", tmp_path), "not a run, trials or sweep directory")
    (tmp_path / "bad.toml").write_text("model = [")
    assert_clean_error(cli("sweep", "--file", tmp_path / "bad.toml"), "not valid TOML")
    (tmp_path / "typo.toml").write_text('modle = "convnet"\n')
    assert_clean_error(cli("sweep", "--file", tmp_path / "typo.toml"), "unknown key(s) modle")
    (tmp_path / "twice.toml").write_text('model = "convnet"\n[[variant]]\nname = "a"\n[[variant]]\nname = "a"\nlr = 0.1\n')
    assert_clean_error(cli("sweep", "--file", tmp_path / "twice.toml", "-d", "shapes:n=40,size=16"), "share the folder")


CHECK_SCRIPT = """<script>
window.addEventListener('load', () => {
  const imgs = [...document.images];
  const broken = imgs.filter(i => !i.complete || i.naturalWidth === 0).length;
  const ids = [...document.querySelectorAll('section')].map(s => s.id).join(',');
  const dangling = [...document.querySelectorAll('nav a')].filter(a => !document.querySelector(a.getAttribute('href'))).length;
  document.body.setAttribute('data-check', `images=${imgs.length} broken=${broken} dangling=${dangling} sections=${ids}`);
});
</script></body>"""


def chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(chromium() is None, reason="no Chromium installed (Debian: apt-get install chromium)")
def test_report_renders_in_headless_chromium(sweep_dir, tmp_path):
    """A real browser decodes every embedded image and finds every section: the page as
    written plus a probe script (the report itself has none) that records what it sees."""
    report = sweep_dir / "report.html"
    if not report.exists():
        from cnnkit.experiments.report import build_report

        build_report(sweep_dir)
    probe = tmp_path / "probe.html"
    probe.write_text(report.read_text().replace("</body>", CHECK_SCRIPT))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
             "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000"]
    dom = subprocess.run([chromium(), *flags, "--dump-dom", probe.as_uri()], capture_output=True, text=True, timeout=120).stdout
    assert f'data-check="images=4 broken=0 dangling=0 sections={",".join(SECTIONS)}"' in dom, dom[-2000:]
    shot = tmp_path / "report.png"
    subprocess.run([chromium(), *flags, "--window-size=1200,3000", f"--screenshot={shot}", report.as_uri()],
                   capture_output=True, timeout=120)
    from PIL import Image

    assert Image.open(shot).size == (1200, 3000)
