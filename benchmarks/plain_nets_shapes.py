"""Networks without normalisation layers on `shapes` for 2 epochs, over several seeds: which
training settings leave the initial plateau reliably?

    python benchmarks/plain_nets_shapes.py [--models convnet] [--seeds 0,1,2,3,4,5] [--variants defaults,clip2]
    python benchmarks/plain_nets_shapes.py --trace-norms 1      # convnet's gradient norm, step by step
    python benchmarks/plain_nets_shapes.py --models unet --dataset shapes-seg --opt batchnorm=false \
        --seeds 0,1 --variants "defaults,no clip,clip 2"            # a U-Net without batch norm (test Dice)

Each run is `cnnkit.train(MODEL, dataset="shapes", epochs=2, seed=S, **variant)` in this
process: the defaults (the data policy's choices) with the variant's options on top. The
table gives test accuracy, the median and the worst over the seeds: a setting is reliable
when its worst seed is far above chance (0.25). A run whose loss diverged counts as 0.

`--trace-norms SEED` trains convnet without clipping (`grad_clip=0`) and prints the total
gradient norm of every step, measured where the trainer would clip.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
import tempfile

VARIANTS = {  # name: options on top of the defaults
    "defaults": {},
    "no clip": {"grad_clip": 0.0},
    "clip 0.5": {"grad_clip": 0.5},
    "clip 1": {"grad_clip": 1.0},
    "clip 2": {"grad_clip": 2.0},
    "clip 5": {"grad_clip": 5.0},
    "no clip, lr 0.02": {"grad_clip": 0.0, "lr": 0.02},
    "no clip, lr 0.1": {"grad_clip": 0.0, "lr": 0.1},
    "no clip, no warm-up": {"grad_clip": 0.0, "warmup_epochs": 0.0},
    "no clip, no weight decay": {"grad_clip": 0.0, "weight_decay": 0.0},
    "no clip, batch 64": {"grad_clip": 0.0, "batch_size": 64},
    "no clip, fp32": {"grad_clip": 0.0, "precision": "fp32"},
    "no clip, onecycle": {"grad_clip": 0.0, "schedule": "onecycle"},
    "no clip, momentum 0.5, lr 0.2": {"grad_clip": 0.0, "momentum": 0.5, "lr": 0.2},
    "no clip, He init": {"grad_clip": 0.0, "init": "kaiming-normal"},
    "no clip, He init, lr 0.02": {"grad_clip": 0.0, "init": "kaiming-normal", "lr": 0.02},
    "no clip, He init, lr 0.01": {"grad_clip": 0.0, "init": "kaiming-normal", "lr": 0.01},
    "clip 1, He init": {"grad_clip": 1.0, "init": "kaiming-normal"},
    "adam": {"optimizer": "adam"},
    "no clip, adam": {"grad_clip": 0.0, "optimizer": "adam"},
}


def train_quietly(model: str, seed: int, cache: str, dataset: str = "shapes", **options) -> float:
    import cnnkit
    from cnnkit.errors import CnnkitError

    with tempfile.TemporaryDirectory() as d, contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        try:
            run = cnnkit.train(model, dataset=dataset, epochs=2, seed=seed, out=f"{d}/run", data_dir=cache, **options)
        except CnnkitError:  # a diverged run (NaN loss) counts as 0: a failure to learn
            return 0.0
    return run.summary["test_accuracy"] if "test_accuracy" in run.summary else run.summary["test_dice"]


def trace_norms(seed: int, cache: str) -> None:
    import torch.nn as nn

    norms: list[float] = []
    clip = nn.utils.clip_grad_norm_

    def record(params, max_norm, *args, **kwargs):  # measure only: clip at a norm never reached
        norm = clip(params, float("inf"), *args, **kwargs)
        norms.append(float(norm))
        return norm

    nn.utils.clip_grad_norm_ = record
    try:
        acc = train_quietly("convnet", seed, cache, grad_clip=1e30)
    finally:
        nn.utils.clip_grad_norm_ = clip
    print(f"convnet, seed {seed}, no effective clipping: test accuracy {acc:.3f}; gradient norm per step:")
    for i in range(0, len(norms), 10):
        print(f"{i:4d} " + " ".join(f"{n:6.2f}" for n in norms[i:i + 10]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default="convnet", help="comma-separated (e.g. convnet,convnet-net2,signnet,lenet5)")
    ap.add_argument("--seeds", default="0,1,2,3,4,5")
    ap.add_argument("--variants", default="defaults,no clip", help=f"comma-separated names from: {', '.join(VARIANTS)}")
    ap.add_argument("--dataset", default="shapes", help="shapes, or shapes-seg for a segmentation model (scored by test Dice)")
    ap.add_argument("--opt", action="append", default=[], metavar="KEY=VALUE", help="a model option, e.g. batchnorm=false")
    ap.add_argument("--trace-norms", type=int, default=None, metavar="SEED")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as cache:
        if args.trace_norms is not None:
            trace_norms(args.trace_norms, cache)
            return
        seeds = [int(s) for s in args.seeds.split(",")]
        opts = {k: {"true": True, "false": False}.get(v, v) for k, v in (o.split("=", 1) for o in args.opt)}
        print(f"{args.dataset}, 2 epochs{', ' + ', '.join(args.opt) if args.opt else ''}\n\n"
              "| model | setting | test score (median) | worst seed | per seed |\n|---|---|---|---|---|", flush=True)
        for model in args.models.split(","):
            for name in args.variants.split(","):
                options = dict(VARIANTS[name], **({"model_options": opts} if opts else {}))
                scores = [train_quietly(model, s, cache, args.dataset, **options) for s in seeds]
                print(f"| `{model}` | {name} | **{statistics.median(scores):.3f}** | {min(scores):.3f} | "
                      f"{', '.join(f'{v:.3f}' for v in scores)} |", flush=True)


if __name__ == "__main__":
    main()
