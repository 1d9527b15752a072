# %% [markdown]
# # cnnkit in a notebook: a coursework task end to end
#
# A typical CNN assignment asks for the same things: work out layer output sizes by hand,
# count the parameters of a network, train it, evaluate it, plot the learning curves and
# look inside the trained model. This notebook does all of it on the built-in `shapes`
# data (circles, squares, triangles and crosses drawn with noise), so it runs offline in
# about a minute on a laptop CPU. Swap in `dataset="folder:PATH"` or `"cifar10"` for real data.
#
# Every function here has a command-line twin with the same name and defaults
# (`cnnkit shape`, `cnnkit train`, ...) and returns what that command prints with `--json`.

# %%
import numpy as np
from PIL import Image

import cnnkit

# %% [markdown]
# ## 1. Conv arithmetic
#
# Output size of a 5x5 convolution with padding 2 on a 32x32 input ("same" padding, p = (k - 1) / 2):

# %%
cnnkit.shape(32, k=5, p=2)["output"]

# %% [markdown]
# With `explanation`, the formula with your numbers substituted. Max-pooling with `ceil=True`
# is where hand calculations usually go wrong:

# %%
print("\n".join(cnnkit.shape(7, k=2, s=2, op="maxpool", ceil=True)["axes"][0]["explanation"]))

# %% [markdown]
# The reverse question: which kernel turns a 512x512 input into 504x504 with padding 1 and stride 1?

# %%
cnnkit.solve(504, size=512, p=1, s=1, d=1)["solutions"]

# %% [markdown]
# ## 2. The layers of a network
#
# A network written as one line: output shape, parameters (with the formula) and
# multiply-accumulates per layer. This is the small net trained below, on 16x16 images.

# %%
spec = ("3x16x16 | conv 8 k3 p1 | bn | relu | maxpool 2 | conv 16 k3 p1 | bn | relu | maxpool 2"
        " | flatten | linear 4")
net = cnnkit.layers(spec)
for row in net["layers"]:
    print(f"{row['layer']:<16} -> {'x'.join(map(str, row['output_shape'])):<8} params {row['params']:>5}  "
          f"{row['params_formula'] or ''}")
print("total parameters:", net["total_params"], " MACs per image:", net["total_macs"])

# %% [markdown]
# The same count for a model from the registry, measured on the real PyTorch module
# (`convnet` is the CIFAR-10 coursework ConvNet; here narrowed to 8 and 16 channels):

# %%
small = {"widths": (8, 16), "kernel_size": 3, "batchnorm": True}
cnnkit.summary("convnet", input="3x16x16", options=small)["total_params"]

# %% [markdown]
# ## 3. Train
#
# Three epochs on 2,400 small images. The live line under the cell shows the batch, loss and speed;
# interrupting the cell (the stop button) keeps the last finished epoch in `last.pt`, and
# `cnnkit.train(resume="runs/tutorial")` continues from there.

# %%
run = cnnkit.train("convnet", dataset="shapes:n=2400,size=16", epochs=3, out="runs/tutorial", overwrite=True,
                   model_options=small, optimizer="adam", lr=3e-3, batch_size=32)
run.summary["test_accuracy"]

# %% [markdown]
# Three epochs on 2,400 16x16 images take seconds and already learn the task well above
# chance (about 0.75, where chance is 0.25 for four classes). For a better result give
# the same call more epochs or the full-size images, e.g. `dataset="shapes", epochs=10`,
# and watch the curves below climb.
#
# `run` holds the run directory as plain data: `run.config`, `run.metrics` (one dict per
# epoch, as in metrics.csv), `run.summary`, and the checkpoints `run.best` / `run.last`.

# %%
for row in run.metrics:
    print(f"epoch {row['epoch']}: train loss {row['train_loss']:.3f}, val loss {row['val_loss']:.3f}, "
          f"val accuracy {row['val_accuracy']:.3f}")

# %% [markdown]
# ## 4. Evaluate
#
# Accuracy per class on the test split, from the best checkpoint (the confusion matrix is
# written next to it as CSV and PNG):

# %%
result = cnnkit.evaluate(run.best)
dict(zip(result["class_names"], result["per_class_accuracy"]))

# %% [markdown]
# ## 5. Learning curves
#
# Loss and accuracy per epoch, training dashed and validation solid:

# %%
run.curves()

# %% [markdown]
# ## 6. Look inside: predict an image and see its feature maps
#
# A circle drawn by hand, classified by the trained model (`cnnkit.load` gives the model
# with the preprocessing it was trained with):

# %%
yy, xx = np.mgrid[:16, :16]
circle = np.where(((yy - 8) ** 2 + (xx - 8) ** 2 < 25)[..., None], 230, 30).astype(np.uint8).repeat(3, axis=2)
Image.fromarray(circle).save("circle.png")
model = cnnkit.load(run.best)
model.predict("circle.png", top_k=2)

# %% [markdown]
# What the first conv layer and the last feature map respond to in that image:

# %%
cnnkit.visualize.features(run.best, "circle.png")

# %% [markdown]
# ## 7. Your own network
#
# Coursework networks are written by hand. Define one here, in the notebook, the way the
# course writes Net1 (a `feature_extractor` and a `classifier`), and give the class itself
# to `cnnkit.train`: `num_classes` comes from the data, `model_options` are its other arguments.

# %%
import torch.nn as nn  # noqa: E402 - a notebook imports where it first needs a name


class Net1(nn.Module):
    def __init__(self, num_classes=10, width=8):
        super().__init__()
        self.feature_extractor = nn.Sequential(
            nn.Conv2d(3, width, kernel_size=3, padding=1), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, kernel_size=3, padding=1), nn.BatchNorm2d(2 * width), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(2 * width * 4 * 4, num_classes))

    def forward(self, x):
        return self.classifier(self.feature_extractor(x))


mine = cnnkit.train(Net1, dataset="shapes:n=2400,size=16", epochs=2, out="runs/net1", overwrite=True,
                    model_options={"width": 8}, optimizer="adam", lr=3e-3, batch_size=32)
mine.summary["test_accuracy"], mine.summary["model_source"]["kind"]

# %% [markdown]
# The run keeps the class's source (`runs/net1/model-source.py`, and inside every
# checkpoint), so its checkpoint works later without the notebook: `cnnkit evaluate
# runs/net1/best.pt` on the command line, or here. The filters come from the first conv
# the network has, `feature_extractor.0`:

# %%
assert cnnkit.evaluate(mine.best)["accuracy"] == mine.summary["test_accuracy"]
cnnkit.visualize.filters(mine.best)
