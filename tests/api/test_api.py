"""The Python API: the same results as the commands' --json, the same errors, no torch on import.

The oracle for "one path" is the CLI itself (CliRunner --json) and, for training, a
second identical run: with the same seed on CPU both give the same numbers.
"""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

import cnnkit
from cnnkit.engine.rundir import read_metrics
from tests.conftest import REPO

DATA = "shapes:n=200,size=16"
# CPU on every machine: two runs are compared number for number, which GPU kernels do not promise
TINY = dict(model_options={"widths": (8, 16), "kernel_size": 3, "batchnorm": True}, optimizer="adam", lr=3e-3,
            batch_size=32, recipe="default", device="cpu")
TINY_CLI = ["--opt", "widths=(8,16)", "--opt", "kernel_size=3", "--opt", "batchnorm=True", "--optimizer", "adam",
            "--lr", "3e-3", "-b", "32", "--recipe", "default", "--device", "cpu"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """One tiny run through the API, shared by the tests below."""
    out = tmp_path_factory.mktemp("api") / "run"
    return cnnkit.train("convnet", dataset=DATA, epochs=2, out=str(out), progress=False, **TINY)


def test_import_cnnkit_and_arithmetic_do_not_import_torch():
    code = ("import sys, cnnkit; cnnkit.shape(512, k=9, p=1); cnnkit.solve(504, size=512, p=1); "
            "cnnkit.layers('3x32x32 | conv 8 k3 | relu | flatten | linear 2'); cnnkit.conv('1 2 3; 4 5 6; 7 8 9', kernel='box'); "
            "assert 'torch' not in sys.modules, 'torch imported'; print(sorted(cnnkit.__all__))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 0, r.stderr
    assert "train" in r.stdout and "summary" in r.stdout


@pytest.mark.parametrize("args, call", [
    (["shape", "--in", "512", "--k", "9", "--p", "1"], lambda: cnnkit.shape(512, k=9, p=1)),
    (["shape", "--in", "28x32", "--k", "3", "--p", "1:2", "--s", "2"], lambda: cnnkit.shape("28x32", k=3, p="1:2", s=2)),
    (["shape", "--in", "7", "--k", "2", "--s", "2", "--op", "maxpool", "--ceil"],
     lambda: cnnkit.shape(7, k=2, s=2, op="maxpool", ceil=True)),
    (["solve", "--in", "512", "--out", "504", "--p", "1"], lambda: cnnkit.solve(504, size=512, p=1)),
    (["solve", "--out", "16", "--k", "2", "--s", "2", "--op", "maxpool"], lambda: cnnkit.solve(16, k=2, s=2, op="maxpool")),
    (["layers", "3x32x32 | conv 32 k5 p2 | relu | maxpool 2 | flatten | linear 10", "--batch", "8"],
     lambda: cnnkit.layers("3x32x32 | conv 32 k5 p2 | relu | maxpool 2 | flatten | linear 10", batch=8)),
    (["conv", "--image", "1 0 2; 3 2 0; 0 6 1", "--kernel", "sobel-x", "--p", "1", "--steps"],
     lambda: cnnkit.conv("1 0 2; 3 2 0; 0 6 1", kernel="sobel-x", p=1, steps=True)),
    (["conv", "--image", "1 0 2; 3 2 0", "--op", "avgpool"], lambda: cnnkit.conv("1 0 2; 3 2 0", op="avgpool")),
    (["models", "convnet*"], lambda: cnnkit.api.models("convnet*")),
    (["summary", "convnet-net1", "--input", "3x16x16", "--depth", "1"], lambda: cnnkit.summary("convnet-net1", input="3x16x16", depth=1)),
    (["summary", "unet", "--opt", "depth=2", "--input", "3x32x32"],
     lambda: cnnkit.summary("unet", input=(3, 32, 32), options={"depth": 2})),
])
def test_api_result_equals_cli_json(cli, args, call):
    r = cli(*args, "--json")
    assert r.exit_code == 0, r.stderr
    assert call() == r.json()


def test_summary_of_a_module_object_counts_like_torch():
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(8 * 30 * 30, 10))
    s = cnnkit.summary(net, input="3x32x32")
    assert s["total_params"] == sum(p.numel() for p in net.parameters())
    assert s["output_shape"][-1] == 10


@pytest.mark.parametrize("args, call", [
    (["shape", "--in", "5", "--k", "7"], lambda: cnnkit.shape(5, k=7)),
    (["solve", "--out", "5"], lambda: cnnkit.solve(5)),
    (["layers", "3x32x32 | conv"], lambda: cnnkit.layers("3x32x32 | conv")),
    (["summary", "no-such-net"], lambda: cnnkit.summary("no-such-net")),
    (["train", "convnet", "-d", DATA, "--lr", "-1"], lambda: cnnkit.train("convnet", dataset=DATA, lr=-1.0, progress=False)),
    (["evaluate", "missing.pt"], lambda: cnnkit.evaluate("missing.pt")),
])
def test_bad_input_raises_cnnkit_error_with_the_command_message(cli, args, call):
    r = cli(*args)
    assert r.exit_code == 2
    with pytest.raises(cnnkit.CnnkitError) as e:
        call()
    assert r.stderr.strip() == f"error: {e.value}"


def test_unknown_training_option_is_refused():
    with pytest.raises(cnnkit.CnnkitError, match="unknown training option.*batchsize"):
        cnnkit.train("convnet", dataset=DATA, batchsize=8, progress=False)


def test_unknown_training_option_is_refused_on_resume_too(run):
    # before anything is read: not reported as a changed setting of the run
    with pytest.raises(cnnkit.CnnkitError, match="unknown training option.*colour"):
        cnnkit.train(resume=run.dir, colour=1, progress=False)


def test_run_holds_the_run_directory(run):
    assert isinstance(run, cnnkit.Run)
    assert run.config == json.loads((run.dir / "config.json").read_text())
    assert run.summary == json.loads((run.dir / "summary.json").read_text())
    assert run.metrics == read_metrics(run.dir / "metrics.csv") and len(run.metrics) == 2
    assert run.best == run.dir / "best.pt" and run.last == run.dir / "last.pt"
    assert cnnkit.open_run(run.dir) == run


def test_train_through_the_cli_gives_the_same_run(cli, run, tmp_path):
    r = cli("train", "convnet", "-d", DATA, "-e", "2", "-o", tmp_path / "cli", "--json", *TINY_CLI)
    assert r.exit_code == 0, r.stderr
    cli_summary, api_summary = r.json(), run.summary
    assert cli_summary.keys() == api_summary.keys()
    same = lambda s: {k: v for k, v in s.items() if k != "run_dir" and "second" not in k}  # not timings
    assert same(cli_summary) == same(api_summary)


def test_curves_figure_draws_metrics_csv(run):
    from matplotlib.figure import Figure

    fig = run.curves()
    assert isinstance(fig, Figure)
    loss_ax, metric_ax = fig.axes
    lines = {ln.get_label(): ln.get_ydata() for ln in loss_ax.lines}
    np.testing.assert_allclose(lines["val"], [r["val_loss"] for r in run.metrics])
    np.testing.assert_allclose(lines["train"], [r["train_loss"] for r in run.metrics])
    assert metric_ax.get_ylabel() == "accuracy"


def test_evaluate_and_predict_equal_the_commands(cli, run, tmp_path):
    r = cli("evaluate", run.best, "--json", "--out", tmp_path / "cli", "--device", "cpu")
    assert r.exit_code == 0, r.stderr
    api = cnnkit.evaluate(run.best, out=str(tmp_path / "cli"), device="cpu")
    assert api == r.json()
    assert api["accuracy"] == pytest.approx(run.summary["test_accuracy"])  # best.pt on the same test split

    image = tmp_path / "img.png"
    Image.fromarray((np.random.default_rng(0).random((16, 16, 3)) * 255).astype(np.uint8)).save(image)
    r = cli("predict", run.best, image, "--json", "-k", "3", "--device", "cpu")
    assert r.exit_code == 0, r.stderr
    assert cnnkit.predict(run.best, [image], top_k=3, device="cpu") == r.json()


def test_load_predicts_as_the_command_and_from_arrays(run, tmp_path):
    image = tmp_path / "img.png"
    pixels = (np.random.default_rng(1).random((16, 16, 3)) * 255).astype(np.uint8)  # (H, W, C)
    Image.fromarray(pixels).save(image)
    model = cnnkit.load(run.best, device="cpu")
    assert model.task == "classification" and model.input_shape == (3, 16, 16)
    from_file = model.predict(image, top_k=4)
    assert from_file["top"] == cnnkit.predict(run.best, [image], top_k=4, device="cpu")["predictions"][0]["top"]
    assert model.predict(pixels, top_k=4) == from_file  # numpy (H, W, C)
    assert model.predict(Image.open(image), top_k=4) == from_file  # PIL
    # the oracle: normalise by hand with the checkpoint's statistics and run the module
    norm = model.checkpoint["normalization"]
    x = (torch.from_numpy(pixels).permute(2, 0, 1).float() / 255 - torch.tensor(norm["mean"])[:, None, None]) \
        / torch.tensor(norm["std"])[:, None, None]
    bf16 = model.checkpoint["config"]["precision"] == "bf16"  # the run's precision (bf16 on CPUs that have it natively)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        probs = model.model(x[None]).float().softmax(1)[0]
    assert from_file["top"][0]["index"] == int(probs.argmax())
    assert from_file["top"][0]["probability"] == pytest.approx(float(probs.max()), rel=1e-4)
    with pytest.raises(cnnkit.CnnkitError, match="uint8"):
        model.predict(pixels.astype(np.float32))


def test_interrupted_training_says_how_to_resume_and_resumes(tmp_path):
    def stop(event, **info):
        if event == "batch" and info["epoch"] == 1 and info["batch"] == 2:
            raise KeyboardInterrupt  # what Jupyter's stop button does

    out = tmp_path / "cut"
    with pytest.raises(cnnkit.CnnkitError) as e:
        cnnkit.train("convnet", dataset=DATA, epochs=2, out=str(out), progress=stop, **TINY)
    assert "holds epoch 1" in str(e.value) and f"cnnkit.train(resume={str(out)!r})" in str(e.value)
    assert cnnkit.open_run(out).summary == {} and len(cnnkit.open_run(out).metrics) == 1
    run = cnnkit.train(resume=out, progress=False)
    assert run.summary["epochs_run"] == 2 and [r["epoch"] for r in run.metrics] == [1, 2]


def test_names_stay_functions_after_the_submodules_load():
    import cnnkit.model_summary  # noqa: F401
    import cnnkit.models  # noqa: F401

    assert callable(cnnkit.summary) and callable(cnnkit.train) and callable(cnnkit.load)
    assert callable(cnnkit.visualize.curves) and {"train", "visualize", "CnnkitError"} <= set(dir(cnnkit))
    with pytest.raises(AttributeError):
        cnnkit.no_such_function  # noqa: B018
    assert cnnkit.summary("convnet", input="3x16x16")["total_params"] > 0


def test_trials_return_every_run_and_the_table(tmp_path):
    result = cnnkit.train("convnet", dataset=DATA, epochs=1, out=str(tmp_path / "t"), trials=2, progress=False, **TINY)
    assert isinstance(result, cnnkit.Trials) and result.dir == tmp_path / "t"
    assert result.summary == json.loads((tmp_path / "t" / "trials.json").read_text())
    assert [r.config["seed"] for r in result.runs] == result.summary["seeds"] == [0, 1]
    values = [r.summary["test_accuracy"] for r in result.runs]
    assert result.summary["metrics"]["test_accuracy"]["values"] == values
    assert result.summary["metrics"]["test_accuracy"]["mean"] == pytest.approx(sum(values) / 2)
