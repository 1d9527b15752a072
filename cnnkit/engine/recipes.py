"""Named hyper-parameter presets (`--recipe`). Explicit flags override a recipe.

`cifar-fast` follows what the CIFAR-10 speed records do (Page's ResNet-9 runs,
hlb-CIFAR10, airbench): batch norm nets, large batches with Nesterov SGD, a
one-cycle (triangular) learning rate, label smoothing 0.2, flip + 2-pixel
translate augmentation with airbench's alternating flips, weight decay, and six-view
test-time augmentation, for 24 epochs: the length at which `speednet-cpu` reaches 88%
on CIFAR-10 within 15 minutes on a 2-core CPU (docs/benchmarks.md). It is the default
on CIFAR-like data (3x32x32 classification, at least 10,000 training images) for a
network with normalisation layers.

`cifar-speedrun` is airbench94's whole method (batch 1024, momentum 0.85, lr and weight
decay converted to a mean loss, its triangular schedule, 9.9 epochs, alternating flips,
whitening bias frozen after 3 epochs, lookahead averaging, 64x lr for batch-norm biases,
BN momentum 0.4, six-view TTA, fp16 weights on CUDA) for the `airbench` model on a GPU;
it runs eager: torch.compile costs more than it saves in one 10-epoch run. It runs on a
CPU too, slowly: there `cifar-fast` (which keeps the elements that suit any net) is better.
"""

from __future__ import annotations

from cnnkit.errors import CnnkitError

RECIPES: dict[str, dict] = {
    "plain": {  # what a coursework loop does: constant lr SGD, flip only
        "optimizer": "sgd", "lr": 0.05, "momentum": 0.0, "batch_size": 64, "schedule": "none",
        "augment": "flip", "label_smoothing": 0.0, "weight_decay": 0.0,
    },
    "default": {  # small images of any kind
        "optimizer": "sgd", "lr": 0.05, "momentum": 0.9, "nesterov": True, "batch_size": 128, "schedule": "cosine",
        "warmup_epochs": 0.5, "augment": "flip,translate=2", "weight_decay": 5e-4,
    },
    "cifar-fast": {
        "optimizer": "sgd", "lr": 0.4, "momentum": 0.9, "nesterov": True, "batch_size": 512, "schedule": "onecycle",
        "augment": "flip,translate=2", "label_smoothing": 0.2, "weight_decay": 5e-4,
        # the length at which speednet-cpu reaches 88% on CIFAR-10 on a 2-core CPU (docs/benchmarks.md, cifar-fast)
        "epochs": 24,
        "channels_last": True,  # faster for BN conv nets on CPU too (docs/benchmarks.md, cifar-fast)
        "alternating_flip": True,  # every image both ways round over two epochs (airbench)
        "tta": True, "tta_level": "mirror+translate",  # validation and test on six views (airbench)
    },
    "cifar-speedrun": {  # airbench94 (Jordan 2024) on the cnnkit loop; meant for `airbench` on a GPU
        # airbench sums the loss over batches of 1024 with SGD lr 11.5 / (1024 * (1 + 1/(1 - 0.85))) = 1.46e-3 and
        # a decay of 0.0153 * 1024 / (1024 * (1 + 1/(1 - 0.85))) = 2.0e-3 of every weight per step (its PyTorch
        # weight_decay is that divided by the lr). The same updates with a mean loss: lr x 1024 = 1.5 and
        # weight decay 2.0e-3 / 1.5 = 1.33e-3. Each element below can be switched off on its own (cnnkit sweep).
        "optimizer": "sgd", "lr": 1.5, "momentum": 0.85, "nesterov": True, "batch_size": 1024, "schedule": "triangle",
        "warmup_epochs": 0.0, "augment": "flip,translate=2", "label_smoothing": 0.2, "weight_decay": 1.33e-3,
        "epochs": 9.9, "channels_last": True, "tta": True, "eval_batch_size": 2000,
        "tta_level": "mirror+translate",  # test on 6 views: mirror x (none, 1 px down-right, 1 px up-left)
        "alternating_flip": True,  # every image both ways round over two epochs
        "whiten_bias_epochs": 3,  # the whitening layer's bias trains 3 epochs, then freezes
        "lookahead": True, "lookahead_every": 5, "lookahead_start": 3,  # weight averaging from epoch 3
        "bias_lr_scale": 64.0,  # batch-norm biases at 64x the lr, same decay per step
        "bn_momentum": 0.4,  # PyTorch convention for airbench's 0.6
        "model_dtype": "auto",  # fp16 weights on CUDA (no autocast casts), fp32 on CPU
    },
    "segmentation": {  # U-Net / FCN: Adam, CE + Dice, cosine decay, flips both ways
        "optimizer": "adam", "lr": 2e-3, "batch_size": 8, "schedule": "cosine", "warmup_epochs": 1,
        "augment": "flip,vflip", "loss": "ce+dice", "weight_decay": 0.0, "channels_last": True,
    },
}


# The learning rate an optimiser starts from when it is named without --lr. A recipe's lr
# belongs to the recipe's optimiser (SGD's 0.05 makes Adam diverge to chance); another
# optimiser takes its own usual rate instead: PyTorch's defaults for the adaptive ones.
OPTIMIZER_LR: dict[str, float] = {"sgd": 0.05, "adam": 1e-3, "adamw": 1e-3, "rmsprop": 1e-3, "rprop": 1e-2, "adagrad": 1e-2}


def lr_for(recipe_values: dict, optimizer: str) -> float:
    """The recipe's lr for its own optimiser, otherwise that optimiser's usual rate."""
    if optimizer == recipe_values.get("optimizer", "sgd") and "lr" in recipe_values:
        return recipe_values["lr"]
    return OPTIMIZER_LR.get(optimizer, recipe_values.get("lr", 0.05))


# recipes merged into another: runs that recorded the old name still resume
RENAMED = {"cifar-cpu": "cifar-fast"}


def recipe(name: str) -> dict:
    name = RENAMED.get(name, name)
    if name not in RECIPES:
        raise CnnkitError(f"unknown recipe {name!r}; choose one of {', '.join(RECIPES)}")
    return dict(RECIPES[name])


def default_recipe(task: str, input_shape, train_size: int, normalised: bool = True) -> str:
    """CIFAR-like = 3x32x32 classification with enough images for batches of 512, for a
    network with normalisation layers (cifar-fast's lr 0.4 sent the plain coursework
    convnet's loss to NaN in its first epoch; the default recipe trains it).

    train_size counts every training image before the validation split is held out."""
    if task == "segmentation":
        return "segmentation"
    cifar_like = tuple(input_shape) == (3, 32, 32) and train_size >= 10_000
    return "cifar-fast" if cifar_like and normalised else "default"
