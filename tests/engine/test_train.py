"""Training runs on tiny built-in data: learning, resume, interruption, divergence."""

import json

import pytest
import torch

from cnnkit.engine.checkpoint import load_checkpoint, model_from_checkpoint
from cnnkit.engine.evaluate import evaluate_checkpoint
from cnnkit.engine.plan import make_config
from cnnkit.engine.run import Interrupted, resume_config, run_training, run_trials
from cnnkit.engine.rundir import read_metrics
from cnnkit.errors import CnnkitError, RunFailure

# device cpu: the exact comparisons below (resume == uninterrupted) hold for CPU kernels; on a GPU machine
# "auto" would pick CUDA, whose autotuned kernels are not bit-reproducible
TINY = {"model_options": {"widths": (8, 16), "kernel_size": 3, "batchnorm": True, "hidden": 32}, "recipe": "default",
        "batch_size": 32, "optimizer": "adam", "lr": 3e-3, "device": "cpu"}
TINY_DATA = "shapes:n=240,size=16"


def _config(tmp_path, name="run", model="convnet", dataset=TINY_DATA, **overrides):
    return make_config(model, dataset, dict(TINY, out=str(tmp_path / name), data_dir=str(tmp_path / "data"), **overrides))


def test_classification_learns_shapes_far_above_chance(tmp_path):
    config, ds = make_config("convnet", "shapes:n=3000", dict(TINY, epochs=5, out=str(tmp_path / "r"), batch_size=32,
                                                              model_options={"widths": (16, 32, 32), "kernel_size": 3, "batchnorm": True}))
    summary = run_training(config, ds)
    assert summary["test_accuracy"] > 0.6  # chance is 0.25
    for name in ("config.json", "metrics.csv", "last.pt", "best.pt", "curves.png", "summary.json"):
        assert (tmp_path / "r" / name).exists(), name
    on_disk = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert {"task", "epochs_run", "best_val_accuracy", "test_accuracy", "train_seconds", "train_images_per_second"} <= set(on_disk)
    assert 0 <= on_disk["test_accuracy"] <= 1 and on_disk["epochs_run"] == 5


def test_linear_model_on_pixels_fails_on_shapes():
    """The built-in task is not solvable by colour or position statistics."""
    from cnnkit.data.catalog import load_dataset

    ds = load_dataset("shapes:n=3000")
    x = ds.train.images.flatten(1).float() / 255
    xt = ds.test.images.flatten(1).float() / 255
    mean, std = x.mean(0), x.std(0) + 1e-6
    torch.manual_seed(0)
    lin = torch.nn.Linear(x.shape[1], 4)
    opt = torch.optim.Adam(lin.parameters(), lr=1e-3, weight_decay=1e-3)
    for _ in range(200):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(lin((x - mean) / std), ds.train.targets).backward()
        opt.step()
    acc = (lin((xt - mean) / std).argmax(1) == ds.test.targets).float().mean()
    assert acc < 0.45


def test_segmentation_learns_shapes_seg(tmp_path):
    config, ds = make_config("unet", "shapes-seg:n=400,size=32", {"epochs": 4, "out": str(tmp_path / "s"),
                             "model_options": {"base_width": 8, "depth": 2}, "lr": 5e-3})
    summary = run_training(config, ds)
    assert summary["task"] == "segmentation"
    assert summary["test_pixel_accuracy"] > 0.85  # background alone is ~0.8
    assert summary["test_dice_per_class"]["background"] > 0.9
    assert {"test_dice", "test_iou", "test_pixel_accuracy"} <= set(summary)


def test_best_checkpoint_is_the_best_validation_epoch_and_test_uses_it(tmp_path):
    config, ds = _config(tmp_path, epochs=4, lr=0.05, optimizer="sgd", momentum=0.9)
    summary = run_training(config, ds)
    rows = read_metrics(tmp_path / "run" / "metrics.csv")
    best_epoch = max(rows, key=lambda r: r["val_accuracy"])["epoch"]  # first maximum wins, as in training
    assert load_checkpoint(tmp_path / "run" / "best.pt")["epoch"] == best_epoch == summary["best_epoch"]
    again = evaluate_checkpoint(tmp_path / "run" / "best.pt", data_dir=str(tmp_path / "data"), device="cpu")
    assert again["accuracy"] == pytest.approx(summary["test_accuracy"])


def _stop_after(epochs_done):
    def progress(event, **info):
        if event == "epoch" and info["record"]["epoch"] == epochs_done:
            raise KeyboardInterrupt

    return progress


@pytest.mark.parametrize("stop_after", [1, 2])
def test_resume_equals_uninterrupted(tmp_path, stop_after):
    overrides = dict(epochs=3, schedule="onecycle", switch="3:sgd:0.01", model_options=dict(TINY["model_options"], dropout=0.2))
    config, ds = _config(tmp_path, "full", **overrides)
    run_training(config, ds)
    config, ds = _config(tmp_path, "cut", **overrides)
    with pytest.raises(Interrupted) as e:
        run_training(config, ds, progress=_stop_after(stop_after))
    assert "--resume" in str(e.value) and e.value.exit_code == 130
    assert load_checkpoint(tmp_path / "cut" / "last.pt")["epoch"] == stop_after
    run_training(resume_config(tmp_path / "cut"), resume=True)
    full = load_checkpoint(tmp_path / "full" / "last.pt")
    cut = load_checkpoint(tmp_path / "cut" / "last.pt")
    for key, value in full["state_dict"].items():
        assert torch.equal(value, cut["state_dict"][key]), key
    strip = lambda rows: [{k: v for k, v in r.items() if "second" not in k} for r in rows]
    assert strip(read_metrics(tmp_path / "full" / "metrics.csv")) == strip(read_metrics(tmp_path / "cut" / "metrics.csv"))
    assert "momentum" in cut["trainer"]["optimizer"]["param_groups"][0]  # SGD after the switch


def test_ctrl_c_mid_epoch_keeps_a_resumable_last_checkpoint(tmp_path):
    config, ds = _config(tmp_path, epochs=2)

    def progress(event, **info):
        if event == "batch" and info["epoch"] == 1 and info["batch"] == 2:
            raise KeyboardInterrupt

    with pytest.raises(Interrupted, match="holds epoch 1"):
        run_training(config, ds, progress=progress)
    assert load_checkpoint(tmp_path / "run" / "last.pt")["epoch"] == 1
    summary = run_training(resume_config(tmp_path / "run"), resume=True)
    assert summary["epochs_run"] == 2


def test_diverging_loss_stops_with_exit_1_and_says_where(tmp_path):
    config, ds = _config(tmp_path, epochs=2, optimizer="sgd", lr=1e12, model_options={"widths": (8,), "kernel_size": 3})
    with pytest.raises(RunFailure, match=r"epoch 1, batch \d+.*--lr") as e:
        run_training(config, ds)
    assert e.value.exit_code == 1


def test_early_stopping(tmp_path):
    config, ds = _config(tmp_path, epochs=30, lr=1e-9, patience=2)  # nothing improves after epoch 1
    summary = run_training(config, ds)
    assert summary["epochs_run"] == 3


def test_trials_report_mean_and_std(tmp_path):
    config, ds = _config(tmp_path, "trials", epochs=1)
    result = run_trials(config, ds, 2)
    assert result["seeds"] == [0, 1] and len(result["runs"]) == 2
    m = result["metrics"]["test_accuracy"]
    assert m["mean"] == pytest.approx(sum(m["values"]) / 2)
    assert (tmp_path / "trials" / "trials.json").exists() and (tmp_path / "trials" / "trial-2" / "best.pt").exists()


def test_mismatched_model_and_dataset(tmp_path):
    with pytest.raises(CnnkitError, match="segmentation model"):
        make_config("unet", "shapes", {})


def test_out_dir_with_a_run_is_not_overwritten(tmp_path):
    config, ds = _config(tmp_path, epochs=1)
    run_training(config, ds)
    config, ds = _config(tmp_path, epochs=1)
    with pytest.raises(CnnkitError, match="--resume"):
        run_training(config, ds)


def test_compiled_training_runs_and_saves_plain_weights(tmp_path):
    """--compile trains through torch.compile (the GPU speed path) and the checkpoint is
    the plain model's state dict, loadable without compiling."""
    from cnnkit.engine.inference import load_for_inference

    config, ds = _config(tmp_path, compile=True, epochs=1, model_options={"widths": (4,), "kernel_size": 3, "hidden": 8})
    summary = run_training(config, ds)
    assert summary["epochs_run"] == 1
    ckpt, model, _ = load_for_inference(tmp_path / "run" / "best.pt", "cpu")
    assert not any(k.startswith("_orig_mod") for k in ckpt.state_dict)


def test_evaluate_and_predict_compute_as_a_bf16_run_did(tmp_path):
    """bf16 autocast (the default on CPUs with native bf16) moves logits by ~1e-2: evaluate
    and predict must run the same autocast, or their accuracy drifts from summary.json's."""
    from cnnkit.engine.inference import inference_precision, predict_images

    config, ds = _config(tmp_path, epochs=2, precision="bf16")
    summary = run_training(config, ds)
    ckpt = load_checkpoint(tmp_path / "run" / "best.pt")
    from cnnkit.engine.checkpoint import read_checkpoint

    typed = read_checkpoint(tmp_path / "run" / "best.pt")
    assert summary["precision"] == "bf16" and inference_precision(typed, "cpu").name == "bf16"
    again = evaluate_checkpoint(tmp_path / "run" / "best.pt", data_dir=str(tmp_path / "data"), device="cpu")
    assert again["accuracy"] == summary["test_accuracy"]  # exactly: the same images right
    # predict's logits are bf16-autocast logits: a plain fp32 forward differs from them
    image = tmp_path / "one.png"
    from PIL import Image

    Image.fromarray(ds.test.images[0].permute(1, 2, 0).numpy()).save(image)
    top = predict_images(tmp_path / "run" / "best.pt", [str(image)], top_k=4, device="cpu")["predictions"][0]["top"]
    model = model_from_checkpoint(ckpt).eval()
    from cnnkit.engine.inference import prepare_image

    x, _ = prepare_image(typed, str(image))
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        probs = torch.softmax(model(x).float(), 1)[0]
    assert [t["probability"] for t in top] == pytest.approx(sorted(probs.tolist(), reverse=True), abs=1e-6)


def test_segmentation_summary_per_image_dice_equals_torchmetrics(tmp_path):
    """test_dice_mean/std/min/max: each test image's macro Dice (torchmetrics' samplewise F1 over the
    classes present in image or prediction), summarised over the test images."""
    from torchmetrics.classification import MulticlassF1Score

    from cnnkit.data.augment import normalize
    from cnnkit.engine.inference import load_for_inference

    config, ds = make_config("unet", "shapes-seg:n=60,size=32", {"epochs": 1, "out": str(tmp_path / "s"), "precision": "fp32",
                             "device": "cpu", "model_options": {"base_width": 4, "depth": 2}})
    summary = run_training(config, ds)
    ckpt, model, _ = load_for_inference(tmp_path / "s" / "best.pt", "cpu")
    norm = ckpt.normalization
    x = normalize(ds.test.images, torch.tensor(norm["mean"]), torch.tensor(norm["std"]))
    with torch.no_grad():
        pred = model(x).argmax(1)
    k = ds.num_classes
    per = MulticlassF1Score(k, average=None, multidim_average="samplewise")(pred, ds.test.targets.long())  # (N, K)
    present = torch.stack([torch.isin(torch.arange(k), torch.cat([p.unique(), t.unique()])) for p, t in zip(pred, ds.test.targets)])
    image = torch.stack([row[m].mean() for row, m in zip(per, present)])  # (N,) macro over present classes
    assert summary["test_images"] == len(ds.test)
    assert summary["test_dice_mean"] == pytest.approx(float(image.mean()), abs=1e-5)
    assert summary["test_dice_std"] == pytest.approx(float(image.std(unbiased=False)), abs=1e-5)
    assert summary["test_dice_min"] == pytest.approx(float(image.min()), abs=1e-5)
    assert summary["test_dice_max"] == pytest.approx(float(image.max()), abs=1e-5)
    pooled = MulticlassF1Score(k, average=None, multidim_average="global")(pred, ds.test.targets.long())
    assert list(summary["test_dice_per_class"].values()) == pytest.approx(pooled.tolist(), abs=1e-5)
