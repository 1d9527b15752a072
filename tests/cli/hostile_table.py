"""A generated table of bad inputs for every command: each row must end in exactly one
`error:` line and exit code 2, before any training where possible.

    python -m tests.cli.hostile_table      # print the table as Markdown

Rows are (id, argv, fragment): `fragment` must appear in the error line (lower case);
argv uses the files that `tests/cli/test_hostile.py::world` creates (relative paths,
run from that folder): CLS and SEG checkpoints, RUN (a finished run), images and
damaged files. `out/<id>` is the only place a row may write.
"""

from __future__ import annotations

# Files made by the fixture (names relative to its folder).
CLS, SEG, RUN = "runs/cls/best.pt", "runs/seg/best.pt", "runs/cls"
IMG, SEG_IMG = "img.png", "seg.png"
BAD_FILES = {  # what, path, fragment in the error
    "missing": ("nope.png", "nope.png"),
    "folder": ("afolder", "afolder"),
    "binary": ("binary.png", "binary.png"),
    "empty": ("empty.png", "empty.png"),
    "text": ("notes.txt", "notes.txt"),
}
BAD_CKPTS = {
    "missing": ("nope.pt", "does not exist"),
    "folder": ("afolder", "is a folder"),
    "binary": ("binary.pt", "not a pytorch file"),
    "empty": ("empty.pt", "not a pytorch file"),
    "truncated": ("truncated.pt", "truncated"),
    "pickle": ("crafted.pt", "refused"),
    "foreign": ("foreign.pt", "foreign.pt"),
    "no-normalization": ("nonorm.pt", "normalization"),
    # content that would give NaN or wrong names, a task or weights that do not fit, a whole pickled model
    "nan-weights": ("nan.pt", "non-finite weights: features.conv1.weight"),
    "nan-normalization": ("nannorm.pt", "non-finite normalization"),
    "more-names-than-outputs": ("manynames.pt", "outputs; pass --classes"),
    "fewer-names-than-outputs": ("fewnames.pt", "outputs; pass --classes"),
    "task-does-not-match-weights": ("taskswap.pt", "says its task is segmentation"),
    "weights-do-not-fit": ("misfit.pt", "size mismatch for features.conv1.weight: checkpoint 2x3x5x5, model 4x3x5x5"),
    "pickled-model": ("wholemodel.pt", "save model.state_dict() instead"),
}
INTS = {"abc": "abc", "float": "1.5", "empty": ""}
# A student's network files that fail (written by the fixture into nets/): name -> (source, fragment).
_HEAD = "import torch.nn as nn\n\n\n"
_GOOD_INIT = ("class Net1(nn.Module):\n    def __init__(self, num_classes=4):\n        super().__init__()\n"
              "        self.feature_extractor = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())\n")
BAD_NETS = {
    "syntax": (_HEAD + "class Net1(nn.Module)\n    pass\n", "syntax.py:4"),
    "import": (_HEAD + "import no_such_module_cnnkit\n", "import.py:4"),
    "not-a-module": (_HEAD + "class Net1:\n    pass\n", "not-a-module.py:4 (net1): net1 is a plain class, not an nn.module"),
    "needs-args": (_HEAD + "class Net1(nn.Module):\n    def __init__(self, width):\n        super().__init__()\n",
                   "needs-args.py:4 (net1) needs width; give --opt width=value"),
    "init-crash": (_HEAD + "class Net1(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
                   "        self.fc = nn.Linear(3, 'x')\n", "init-crash.py:7"),
    "forward-crash": (_HEAD + _GOOD_INIT + "        self.classifier = nn.Linear(999, num_classes)\n\n"
                      "    def forward(self, x):\n        return self.classifier(self.feature_extractor(x).flatten(1))\n",
                      "forward-crash.py:11 in forward"),
    "ten-outputs": (_HEAD + _GOOD_INIT.replace("num_classes=4", "") + "        self.classifier = nn.Linear(4, 10)\n\n"
                    "    def forward(self, x):\n        return self.classifier(self.feature_extractor(x).mean((2, 3)))\n",
                    "has 4 classes"),
    "segmentation-out": (_HEAD + _GOOD_INIT + "        self.head = nn.Conv2d(4, num_classes, 1)\n\n"
                         "    def forward(self, x):\n        return self.head(self.feature_extractor(x))\n",
                         "segmentation network?"),
}
TINY = ["-d", "shapes:n=48,size=16", "--epochs", "1", "--batch-size", "16", "--opt", "widths=(4,8)"]

def rows() -> list[tuple[str, list[str], str | None]]:
    r: list[tuple[str, list[str], str | None]] = []

    def add(id_, argv, fragment=None):
        r.append((id_, [str(a) for a in argv], fragment))

    # ---- arithmetic (no torch)
    for opt, vals in (("--in", ("0", "-5", "abc", "nan")), ("--k", ("0", "-1", "1.5")), ("--s", ("0", "-2")),
                      ("--d", ("0",)), ("--p", ("-1", "bogus")), ("--output-padding", ("-1",))):
        for v in vals:
            add(f"shape{opt}={v}", ["shape", "--in", "32", "--k", "3", *(["--op", "transpose"] if opt == "--output-padding" else []),
                                    opt, v, "--json"])
    add("shape--op=nosuch", ["shape", "--in", "32", "--k", "3", "--op", "nosuch", "--json"])
    add("shape-kernel-too-big", ["shape", "--in", "3", "--k", "5", "--json"])
    for opt, v in (("--in", "0"), ("--out", "-1"), ("--max-k", "0"), ("--max-s", "-1"), ("--s", "0"), ("--in", "abc")):
        add(f"solve{opt}={v}", ["solve", "--in", "32", "--out", "30", opt, v, "--json"])
    for spec in ("", "3x32x32 | conv 0 k3", "3x32x32 | conv 8 k0", "0x32x32 | relu", "3x32x32 | nosuch 3",
                 "3x32x32 | conv 8 k3 s0", "3x4x4 | conv 8 k9", "3x32x32 | maxpool -2", "abc", "3x32x32 | linear 10"):
        add(f"layers[{spec}]", ["layers", spec, "--json"])
    for opt, v in (("--batch", "0"), ("--batch", "-1"), ("--optimizer", "nosuch")):
        add(f"layers{opt}={v}", ["layers", "3x32x32 | conv 8 k3", opt, v, "--json"])
    for image in ("1 2; 3", "a b; c d", ""):
        add(f"conv--image={image}", ["conv", "--image", image, "--kernel", "sobel-x", "--json"])
    for opt, v in (("--kernel", "nosuch"), ("--p", "-1"), ("--s", "0"), ("--d", "0"), ("--mode", "nosuch"), ("--op", "nosuch")):
        add(f"conv{opt}={v}", ["conv", "--image", "1 2 3; 4 5 6; 7 8 9", "--kernel", "sobel-x", opt, v, "--json"])
    for what, (path, frag) in BAD_FILES.items():  # binary, empty and text files need not be named
        add(f"conv--image-file={what}", ["conv", "--image-file", path, "--kernel", "sobel-x", "--json"],
            frag if what in ("missing", "folder", "binary", "empty") else None)
    for op, opt, v in (("conv", "--in", "0"), ("conv", "--k", "-1"), ("maxpool", "--s", "0"), ("transpose", "--output-padding", "-1")):
        add(f"draw-{op}{opt}={v}", ["draw", op, "--in", "5", "--k", "3", opt, v, "--out", "out/draw-x/a.png", "--json"])
    # options that do not belong to the op, repeated keys, sizes that disagree: refused, never ignored
    for id_, argv, frag in (
        ("solve-conv--ceil", ["solve", "--in", "10", "--out", "5", "--ceil"], "ceil mode only exists for pooling"),
        ("solve-conv--output-padding", ["solve", "--in", "10", "--out", "5", "--output-padding", "1"], "output_padding"),
        ("solve-for-in-conv--ceil", ["solve", "--out", "5", "--k", "3", "--ceil"], "ceil mode"),
        ("solve-avgpool--d=2", ["solve", "--in", "10", "--out", "5", "--op", "avgpool", "--d", "2"], "dilation"),
        ("solve--in=5000-digits", ["solve", "--in", "9" * 5000, "--out", "3"], "5,000 digits"),
        ("shape--in=5000-digits", ["shape", "--in", "9" * 5000, "--k", "3"], "5,000 digits"),
        ("shape--k-more-axes-than--in", ["shape", "--in", "5x5", "--k", "3x3x3"], "--k 3x3x3 has 3 axes but --in 5x5 has 2"),
        ("layers-repeated-k", ["layers", "3x32x32 | conv 8 k3 k5"], "both set the kernel size"),
        ("layers-repeated-p", ["layers", "3x32x32 | conv 8 p1 psame"], "both set the padding"),
        ("layers-pool-size-twice", ["layers", "3x32x32 | maxpool 2 k3"], "both set the pool size"),
        ("layers-upsample-two-modes", ["layers", "3x32x32 | upsample 2 nearest bilinear"], "upsampling mode"),
        ("layers-option-the-layer-lacks", ["layers", "3x32x32 | relu k3"], "relu has no kernel size"),
        ("layers-avgpool-dilation", ["layers", "3x32x32 | avgpool 2 d2"], "avgpool has no dilation"),
        ("conv-maxpool--kernel", ["conv", "--image", "1 2; 3 4", "--op", "maxpool", "--kernel", "laplace"], "--kernel"),
        ("conv-avgpool--mode", ["conv", "--image", "1 2; 3 4", "--op", "avgpool", "--mode", "convolve"], "--mode"),
        ("conv--size-without-pooling", ["conv", "--image", "1 2 3; 4 5 6; 7 8 9", "--size", "3"], "--size"),
        ("conv--ceil-without-pooling", ["conv", "--image", "1 2 3; 4 5 6; 7 8 9", "--ceil"], "--ceil"),
        ("conv--image-file=dev-zero", ["conv", "--image-file", "/dev/zero"], "/dev/zero"),
        ("draw-conv--in-disagrees-with--image", ["draw", "conv", "--in", "7", "--image", "1 2 3; 4 5 6; 7 8 9",
                                                 "--kernel", "box", "--out", "out/d-in/a.png"], "--in 7 disagrees"),
        ("draw-conv--k-disagrees-with--kernel", ["draw", "conv", "--in", "5", "--k", "5", "--kernel", "1 0; 0 1",
                                                 "--out", "out/d-k/a.png"], "--k 5 disagrees"),
        ("draw-conv-huge-grid", ["draw", "conv", "--in", "100000", "--k", "3", "--out", "out/d-huge/x.png"], "too large"),
        ("draw-receptive-field-gif", ["draw", "receptive-field", "1x8x8 | conv 2 k3", "--out", "out/rf/rf.gif"], ".png or .svg"),
        ("draw-receptive-field-huge", ["draw", "receptive-field", "1x1000000000x8 | conv 2 k3", "--out", "out/rf/x.png"],
         "too large"),
    ):
        add(id_, [*argv, "--json"], frag)
    add("draw-conv-bad-suffix", ["draw", "conv", "--in", "5", "--k", "3", "--out", "out/draw-suffix/a.txt", "--json"])
    add("draw-conv-out-under-file", ["draw", "conv", "--in", "5", "--k", "3", "--out", "afile/a.png", "--json"], "afile")

    # ---- models
    add("models--task=nosuch", ["models", "--task", "nosuch", "--json"])
    add("summary-nosuch", ["summary", "nosuch", "--json"], "unknown model")
    for opt, v, frag in (("--input", "0x32x32", None), ("--input", "abc", None), ("--input", "3x2x2", None),
                         ("--classes", "0", None), ("--classes", "-1", None), ("--batch", "0", None),
                         ("--opt", "dropout=abc", "dropout"), ("--opt", "dropout=2", "dropout"), ("--opt", "nosuch=1", "nosuch"),
                         ("--opt", "novalue", "key=value"), ("--opt", "widths=(8,0)", "widths"), ("--opt", "hidden=-4", "hidden"),
                         ("--opt", "batchnorm=3", "batchnorm"), ("--opt", "activation=7", "activation")):
        add(f"summary{opt}={v}", ["summary", "convnet", opt, v, "--json"], frag)
    add("summary-unet-base_width=-4", ["summary", "unet", "--opt", "base_width=-4", "--json"], "base_width")

    # ---- data
    for spec, frag in (("nosuch", "unknown dataset"), ("folder:nope", "does not exist"), ("folder:afile", "afile"),
                       ("segfolder:afolder", "images/ and masks/"), ("shapes:n=0", "n=0"), ("shapes:size=0", "size"),
                       ("shapes:size=4", "size"), ("shapes:bogus=1", "bogus"), ("shapes:n=-1", "n=-1"), ("cifar10:x", "no options"),
                       ("folder:", "needs a path")):
        add(f"data-check[{spec}]", ["data", "check", spec, "--json"], frag)
    for opt, v in (("--image-size", "0"), ("--image-size", "abc"), ("--ignore-index", "-1"), ("--ignore-index", "300"),
                   ("--test-split", "0"), ("--test-split", "1.5"), ("--test-split", "nan")):
        add(f"data-check{opt}={v}", ["data", "check", "shapes:n=48,size=16", opt, v, "--json"])

    # ---- the write rule (docs/files.md): never over an input, a run's file or a user's file (issue lines, exactly)
    for target in (CLS, f"{RUN}/config.json", f"{RUN}/metrics.csv", "runs/seg/best.pt", IMG):
        add(f"report-over[{target}]", ["report", RUN, "--out", target], target)
    add("filters-over-its-input", ["visualize", "filters", CLS, "--out", CLS], "input of this command")
    for sub in ("features", "attribution"):
        add(f"{sub}-over-its-image", ["visualize", sub, CLS, IMG, "--out", IMG], "input of this command")
    add("segmentation-over-its-image", ["visualize", "segmentation", SEG, SEG_IMG, "--out", SEG_IMG], "input of this command")
    add("maximize-over-a-checkpoint", ["visualize", "maximize", CLS, "--class", "0", "--steps", "1", "--seeds", "1",
                                       "--out", f"{RUN}/last.pt"], "a checkpoint")
    add("curves-over-a-users-file", ["visualize", "curves", RUN, "--out", "notes.txt"], "not a file cnnkit wrote")
    add("draw-over-a-users-image", ["draw", "conv", "--in", "5", "--k", "3", "--out", IMG], "not a file cnnkit wrote")
    add("evaluate-out-is-a-file", ["evaluate", CLS, "--out", "notes.txt"], "is a file")
    add("train-out-inside-a-run", ["train", "convnet", *TINY, "--out", f"{RUN}/sub"], "inside the run folder")
    add("sweep-out-is-a-run", ["sweep", "convnet", "-d", "shapes:n=48,size=16", "--vary", "lr=0.1", "--out", RUN, "--overwrite"],
        "run folder")

    # ---- train: every numeric option x malformed values, names, paths
    numeric = {"--epochs": ("0", "-1", "abc", "nan"), "--batch-size": ("0", "-1"), "--lr": ("0", "-1", "nan", "inf", "abc"),
               "--momentum": ("-0.5", "1.5", "nan"), "--weight-decay": ("-1", "nan"), "--grad-clip": ("-1", "nan"),
               "--label-smoothing": ("1", "-0.1"), "--warmup-epochs": ("-1", "nan"), "--val-split": ("1", "-0.1"),
               "--test-split": ("0", "1"), "--head-lr": ("0", "-1"), "--patience": ("0", "-2"), "--seed": ("-1", "abc"),
               "--ignore-index": ("-1", "256"), "--trials": ("0", "-1"), "--nproc": ("0",)}
    for opt, vals in numeric.items():
        for v in vals:
            flag = opt if v not in ("abc",) else None
            add(f"train{opt}={v}", ["train", "convnet", *TINY, opt, v, "--out", f"out/train{opt}={v}", "--json"],
                flag.lstrip("-") if flag and opt not in ("--trials", "--nproc") else None)
    for opt, v in (("--image-size", "0"), ("--image-size", "axb"), ("--crop", "0"), ("--crop", "-3"), ("--opt", "dropout=abc"),
                   ("--opt", "dropout=1.5"), ("--opt", "nosuch=1"), ("--opt", "widths=(8,0)"), ("--opt", "=3"),
                   ("--optimizer", "nosuch"), ("--schedule", "nosuch"), ("--loss", "nosuch"), ("--augment", "nosuch"),
                   ("--init", "nosuch"), ("--freeze", "nosuch"), ("--class-weights", "abc"), ("--class-weights", "1,2"),
                   ("--class-weights", "-1,1,1,1"), ("--class-weights", "nan,1,1,1"), ("--switch", "bad"), ("--switch", "0:sgd"),
                   ("--device", "nosuch"), ("--precision", "nosuch"), ("--recipe", "nosuch"), ("--log", "nosuch"),
                   ("--weights", "nosuch.pt"), ("--weights", "afile"), ("--weights", "afolder"), ("--freeze", "backbone")):
        add(f"train{opt}={v}", ["train", "convnet", *TINY, opt, v, "--out", f"out/train{opt}={v}", "--json"])
    for id_, argv, frag in (
        ("train-model-nosuch", ["train", "nosuch", *TINY], "unknown model"),
        ("train-task-mismatch", ["train", "unet", *TINY], "segmentation"),
        ("train-dataset-nosuch", ["train", "convnet", "-d", "nosuch"], "unknown dataset"),
        ("train-folder-missing", ["train", "convnet", "-d", "folder:nope"], "does not exist"),
        ("train-folder-one-class", ["train", "convnet", "-d", "folder:oneclass"], "one class"),
        ("train-segfolder-noisy-masks", ["train", "unet", "-d", "segfolder:noisy"], "distinct values"),
        ("train-out-is-a-file", ["train", "convnet", *TINY, "--out", "afile"], "afile"),
        ("train-out-under-a-file", ["train", "convnet", *TINY, "--out", "afile/run"], "afile"),
        ("train-out-holds-a-run", ["train", "convnet", *TINY, "--out", RUN], "already holds a run"),
        ("train-resume-missing", ["train", "--resume", "nope"], "no such run"),
        ("train-resume-file", ["train", "--resume", "afile"], "afile"),
        ("train-resume-not-a-run", ["train", "--resume", "afolder"], "not a cnnkit run"),
        ("train-resume-finished", ["train", "--resume", RUN], "already finished"),
        ("train-resume-other-lr", ["train", "--resume", RUN, "--epochs", "3", "--lr", "0.3"], "lr"),
        ("train-resume-other-model", ["train", "resnet18", "--resume", RUN, "--epochs", "3"], "model"),
        ("train-resume-other-dataset", ["train", "--resume", RUN, "--epochs", "3", "-d", "mnist"], "dataset"),
        ("train-resume-fewer-epochs", ["train", "--resume", RUN, "--epochs", "0"], "epochs"),
        ("train-resume-other-out", ["train", "--resume", RUN, "--epochs", "3", "--out", "out/elsewhere"], "own folder"),
        ("train-no-model", ["train", *TINY], "model"),
    ):
        add(id_, [*argv, "--json"], frag)

    # ---- evaluate / predict
    for what, (path, frag) in BAD_CKPTS.items():
        add(f"evaluate-ckpt-{what}", ["evaluate", path, "--json"], frag)
        add(f"predict-ckpt-{what}", ["predict", path, IMG, "--json"], frag)
    for opt, v, frag in (("--split", "nosuch", "split"), ("--batch-size", "0", "batch"), ("--batch-size", "-1", "batch"),
                         ("--dataset", "nosuch", "unknown dataset"), ("--dataset", "shapes-seg", "segmentation"),
                         ("--device", "nosuch", None), ("--out", "afile/x", "afile")):
        add(f"evaluate{opt}={v}", ["evaluate", CLS, opt, v, "--json"], frag)
    for what, (path, frag) in BAD_FILES.items():
        add(f"predict-image-{what}", ["predict", CLS, path, "--json"], frag)
        add(f"predict-seg-image-{what}", ["predict", SEG, path, "--out", f"out/predict-seg-{what}", "--json"], frag)
    for v in ("0", "-1"):
        add(f"predict-top-k={v}", ["predict", CLS, IMG, "--top-k", v, "--json"], "top-k")
    add("predict-device-nosuch", ["predict", CLS, IMG, "--device", "nosuch", "--json"])

    # ---- from-scratch layers
    for what, (path, _) in BAD_FILES.items():
        add(f"gradcheck--impl={what}", ["gradcheck", "--impl", path.replace(".png", ".py") if what == "missing" else path, "--json"])
    add("gradcheck--layer=nosuch", ["gradcheck", "--layer", "nosuch", "--json"], "nosuch")
    add("gradcheck--impl=syntax-error", ["gradcheck", "--impl", "broken.py", "--json"], "broken.py")

    # ---- explore (each fails before the page is served)
    for what, (path, frag) in BAD_CKPTS.items():
        add(f"explore-ckpt-{what}", ["explore", path, "--no-browser"], frag)
    for what, (path, frag) in BAD_FILES.items():
        add(f"explore-image-{what}", ["explore", CLS, "--image", path, "--no-browser"], frag)
    for id_, argv, frag in (
        ("explore-model=nosuch", ["explore", "nosuch-net", "--no-browser"], "nosuch-net"),
        ("explore--port=abc", ["explore", CLS, "--port", "abc", "--no-browser"], "abc"),
        ("explore--port=70000", ["explore", CLS, "--port", "70000", "--no-browser"], "65535"),
        ("explore--port=-1", ["explore", CLS, "--port", "-1", "--no-browser"], "-1"),
        ("explore--host=nosuch", ["explore", CLS, "--host", "nosuch.invalid", "--port", "0", "--no-browser"], "nosuch.invalid"),
        ("explore--dataset=nosuch", ["explore", CLS, "--dataset", "nosuchdata", "--no-browser"], "nosuchdata"),
        ("explore--dataset=segmentation", ["explore", CLS, "--dataset", "shapes-seg:n=16,size=16", "--no-browser"], "segmentation"),
        ("explore--opt-on-checkpoint", ["explore", CLS, "--opt", "widths=(4,8)", "--no-browser"], "--opt"),
        ("explore-file-without-dataset", ["explore", "net.py:Net", "--no-browser"], "--dataset"),
    ):
        add(id_, argv, frag)

    # ---- visualisation
    for what, (path, frag) in BAD_CKPTS.items():
        if what in ("missing", "binary", "pickle", "no-normalization", "nan-weights", "pickled-model"):
            add(f"visualize-filters-ckpt-{what}", ["visualize", "filters", path, "--out", "out/vf.png", "--json"], frag)
    for what, (path, frag) in BAD_FILES.items():
        add(f"visualize-features-image-{what}", ["visualize", "features", CLS, path, "--out", "out/vfe.png", "--json"], frag)
        add(f"visualize-attribution-image-{what}", ["visualize", "attribution", CLS, path, "--out", "out/va.png", "--json"], frag)
        add(f"visualize-deconv-image-{what}", ["visualize", "deconv", CLS, path, "--layer", "features.act1", "--channel", "0",
                                                "--out", "out/vd.png", "--json"], frag)
    for id_, argv in (
        ("visualize-filters--layer=nosuch", ["visualize", "filters", CLS, "--layer", "nosuch"]),
        ("visualize-features--top=0", ["visualize", "features", CLS, IMG, "--top", "0"]),
        ("visualize-features--layer=nosuch", ["visualize", "features", CLS, IMG, "--layer", "nosuch"]),
        ("visualize-attribution--method=nosuch", ["visualize", "attribution", CLS, IMG, "--method", "nosuch"]),
        ("visualize-attribution--target=99", ["visualize", "attribution", CLS, IMG, "--target", "99"]),
        ("visualize-maximize--class=99", ["visualize", "maximize", CLS, "--class", "99"]),
        ("visualize-maximize--class=-1", ["visualize", "maximize", CLS, "--class", "-1"]),
        ("visualize-maximize--steps=0", ["visualize", "maximize", CLS, "--class", "1", "--steps", "0"]),
        ("visualize-maximize--seeds=0", ["visualize", "maximize", CLS, "--class", "1", "--seeds", "0"]),
        ("visualize-maximize-seg-class", ["visualize", "maximize", SEG, "--class", "1"]),
        ("visualize-maximize--channels=backwards", ["visualize", "maximize", CLS, "--layer", "features.act1", "--channels", "5-2"]),
        ("visualize-maximize--channels=words", ["visualize", "maximize", CLS, "--layer", "features.act1", "--channels", "all"]),
        ("visualize-deconv--channel=99", ["visualize", "deconv", CLS, IMG, "--layer", "features.act1", "--channel", "99"]),
        ("visualize-deconv--layer=nosuch", ["visualize", "deconv", CLS, IMG, "--layer", "nosuch", "--channel", "0"]),
        ("visualize-deconv-no-layer", ["visualize", "deconv", CLS, IMG, "--channel", "0"]),
        ("visualize-deconv--top=0", ["visualize", "deconv", CLS, "--layer", "features.act1", "--channel", "0", "--top", "0"]),
        ("visualize-deconv--split=nosuch", ["visualize", "deconv", CLS, "--layer", "features.act1", "--channel", "0", "--split", "x"]),
        ("visualize-curves-missing", ["visualize", "curves", "nope"]),
        ("visualize-curves-not-a-run", ["visualize", "curves", "afolder"]),
        ("visualize-curves--metric=nosuch", ["visualize", "curves", RUN, "--metric", "nosuch"]),
        ("visualize-segmentation-cls-ckpt", ["visualize", "segmentation", CLS, IMG]),
        ("visualize-segmentation--mask=binary", ["visualize", "segmentation", SEG, SEG_IMG, "--mask", "binary.png"]),
    ):
        add(id_, [*argv, "--out", "out/v.png", "--json"])

    # ---- experiments
    for id_, argv, frag in (
        ("sweep--trials=0", ["sweep", "convnet", *TINY, "--trials", "0"], "trials"),
        ("sweep--vary=bad", ["sweep", "convnet", *TINY, "--vary", "optimizer"], "key=v1,v2"),
        ("sweep--vary=nosuch", ["sweep", "convnet", *TINY, "--vary", "colour=red,blue"], "colour"),
        ("sweep--vary=lr-abc", ["sweep", "convnet", *TINY, "--vary", "lr=abc,0.1"], "lr"),
        ("sweep--vary=lr-negative", ["sweep", "convnet", *TINY, "--vary", "lr=0.1,-1"], "lr"),
        ("sweep--vary=dropout-2", ["sweep", "convnet", *TINY, "--vary", "dropout=0.1,2"], "dropout"),
        ("sweep--file=missing", ["sweep", "--file", "nope.toml"], "nope.toml"),
        ("sweep--file=binary", ["sweep", "--file", "binary.png"], "binary.png"),
        ("sweep--file=bad-toml", ["sweep", "--file", "bad.toml"], "bad.toml"),
        ("sweep--file=unknown-key", ["sweep", "--file", "unknown.toml"], "unknown"),
        ("sweep-unknown-train-option", ["sweep", "convnet", *TINY, "--colour", "red"], "colour"),
        ("sweep-train-option-not-a-number", ["sweep", "convnet", *TINY, "--lr", "abc"], "--lr"),
        ("sweep-train-option-out-of-range", ["sweep", "convnet", *TINY, "--momentum", "1.5"], "--momentum must be in [0, 1)"),
        ("sweep--vary=seed", ["sweep", "convnet", *TINY, "--vary", "seed=1,2"], "not a grid axis"),
        ("sweep-out-under-a-file", ["sweep", "convnet", *TINY, "--out", "afile/s"], "afile"),
        ("compare-missing", ["compare", "nope"], "nope"),
        ("compare-file", ["compare", "afile"], "afile"),
        ("compare-empty-folder", ["compare", "afolder"], "not a run"),
        ("compare-corrupt-summary", ["compare", "corrupt"], "corrupt"),
        ("compare--metric=nosuch", ["compare", RUN, "--metric", "nosuch"], "nosuch"),
        ("compare--baseline=nosuch", ["compare", RUN, "--baseline", "nosuch"], "nosuch"),
        ("report-missing", ["report", "nope"], "nope"),
        ("report-not-a-run", ["report", "afolder"], None),
        ("report-out-under-a-file", ["report", RUN, "--out", "afile/r.html"], "afile"),
    ):
        add(id_, [*argv, "--json"], frag)
    # ---- the student's own network: bad code is one line naming the file and the line
    net_data = ["-d", "shapes:n=48,size=16", "--epochs", "1", "--batch-size", "16"]
    for name, (_, frag) in BAD_NETS.items():
        add(f"train-own-net-{name}", ["train", f"nets/{name}.py:Net1", *net_data, "--out", f"out/own-{name}"], frag)
    add("summary-own-net-syntax", ["summary", "nets/syntax.py:Net1"], "syntax.py:4")
    add("summary-own-net-needs-args", ["summary", "nets/needs-args.py:Net1"], "--opt width=value")
    add("train-own-net-classification-on-seg", ["train", "nets/ten-outputs.py:Net1", "-d", "shapes-seg:n=32,size=16",
                                                "--epochs", "1", "--out", "out/own-seg"], "a classification network")
    add("train-own-net-missing-name", ["train", "nets/ten-outputs.py:Nope", *net_data], "it defines net1")
    add("train-own-net-missing-file", ["train", "nets/nope.py:Net1", *net_data], "does not exist")
    add("train-own-net-no-name", ["train", "nets/ten-outputs.py", *net_data], "path.py:name")
    add("train-own-net-unknown-opt", ["train", "nets/ten-outputs.py:Net1", *net_data, "--opt", "depth=3"], "takes no argument depth")
    add("train-spec-wrong-input", ["train", "1x28x28 | conv 4 | relu | flatten | linear 4", *net_data], "start the spec with 3x16x16")
    add("train-spec-wrong-classes", ["train", "3x16x16 | conv 4 | relu | flatten | linear 10", *net_data], "end the spec with 'linear 4'")
    add("summary-spec-opt", ["summary", "3x16x16 | conv 4 | relu | flatten | linear 10", "--opt", "a=1"], "--opt does not apply")
    # ---- read-only places (/sys refuses new files, for root too): every command that writes
    for id_, argv in (
        ("train", ["train", "convnet", *TINY, "--out", READ_ONLY + "/run"]),
        ("train-trials", ["train", "convnet", *TINY, "--trials", "2", "--out", READ_ONLY + "/trials"]),
        ("sweep", ["sweep", "convnet", *TINY, "--out", READ_ONLY + "/sweep"]),
        ("evaluate", ["evaluate", CLS, "--out", READ_ONLY + "/eval"]),
        ("predict-seg", ["predict", SEG, SEG_IMG, "--out", READ_ONLY + "/masks"]),
        ("report", ["report", RUN, "--out", READ_ONLY + "/report.html"]),
        ("visualize-filters", ["visualize", "filters", CLS, "--out", READ_ONLY + "/f.png"]),
        ("visualize-curves", ["visualize", "curves", RUN, "--out", READ_ONLY + "/c.png"]),
        ("draw-conv", ["draw", "conv", "--in", "5", "--k", "3", "--out", READ_ONLY + "/d.png"]),
    ):
        add(f"{id_}-read-only-out", [*argv, "--json"], READ_ONLY)
    return r


READ_ONLY = "/sys/cnnkit-hostile"
