"""Activation maximisation: the input a channel (or class) responds to most.

Gradient ascent on the pixels, at the model's real input size and channels, with
the regularisers that keep the result image-like (Olah et al., "Feature
Visualization", 2017): random jitter each step, a light Gaussian blur every few
steps, L2 decay, and pixels kept inside the range real (normalised) images span.
"""

from __future__ import annotations

from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from cnnkit.errors import CnnkitError


def parse_channels(text) -> list[int]:
    """'0-15', '0,3,7-9' (or a list of ints) -> [0, 1, ..., 15]: the channels of one grid."""
    if isinstance(text, (list, tuple)):
        return [int(c) for c in text]
    out: list[int] = []
    for part in str(text).replace(" ", "").split(","):
        lo, sep, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise CnnkitError(f"--channels {text!r}: give channel numbers and ranges, e.g. 0-15 or 0,3,7-9") from None
        if last < first:
            raise CnnkitError(f"--channels {text!r}: the range {part} runs backwards; write {last}-{first}")
        out += [c for c in range(first, last + 1) if c not in out]
    if not out:
        raise CnnkitError("--channels is empty; give e.g. 0-15")
    return out


def _objective(model: nn.Module, layer: Optional[str], channel, class_index: Optional[int]):
    """A function x -> (N,) scores to maximise. channel: one int (every image scores it), or a
    list of N channels, image i scoring channel[i] (a grid optimised as one batch)."""
    if class_index is not None:
        return lambda x: model(x)[:, class_index]
    modules = dict(model.named_modules())
    if layer not in modules:
        raise CnnkitError(f"no layer {layer!r} in this model; give --layer with a conv/activation layer name")
    store = {}
    modules[layer].register_forward_hook(lambda _m, _i, y: store.__setitem__("y", y))

    def score(x):
        model(x)
        y = store["y"]
        if y.ndim != 4:
            raise CnnkitError(f"{layer} does not output a feature map; pick a conv or activation layer")
        wanted = channel if isinstance(channel, list) else [channel]
        bad = [c for c in wanted if not 0 <= c < y.shape[1]]
        if bad:
            flag = "--channels" if isinstance(channel, list) else "--channel"
            raise CnnkitError(f"{flag} {bad[0]} is out of range: {layer} has {y.shape[1]} channels (0..{y.shape[1] - 1})")
        if isinstance(channel, list):  # (N, C, h, w) -> image i's own channel: (N,)
            return y[torch.arange(len(y)), torch.tensor(channel)].mean(dim=(1, 2))
        return y[:, channel].mean(dim=(1, 2))

    return score


def _blur(x: torch.Tensor, sigma: float = 0.5) -> torch.Tensor:
    k = torch.tensor([1.0, 2.0, 1.0]) if sigma <= 0.6 else torch.tensor([1.0, 4.0, 6.0, 4.0, 1.0])
    k = (k / k.sum()).to(x)
    c = x.shape[1]
    pad = len(k) // 2
    x = F.conv2d(F.pad(x, (pad, pad, 0, 0), mode="reflect"), k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    return F.conv2d(F.pad(x, (0, 0, pad, pad), mode="reflect"), k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)


def starts(seeds: int, shape, low: torch.Tensor, high: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """(S, C, H, W) starting images that really differ: seed s is uniform noise over the
    whole pixel range, smooth at its own scale (drawn at 2, 4, 8, ... pixels across and
    upsampled). Small noise around one grey image (as before) led every seed to the same
    optimum; different starts show which parts of the result are the unit's and which
    are the start's."""
    c, h, w = shape
    out = []
    for s in range(seeds):
        cells = min(2 ** (s % 5 + 1), h, w)  # 2, 4, 8, 16, 32 cells across, then again
        coarse = torch.rand(1, c, cells, max(1, round(cells * w / h)), generator=gen)
        img = F.interpolate(coarse, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)  # (1, C, H, W) in [0, 1]
        out.append(low + img * (high - low))
    return torch.cat(out)


def maximize(model: nn.Module, input_shape, normalization: dict, layer: Optional[str] = None, channel=None,
             class_index: Optional[int] = None, seeds: int = 3, steps: int = 128, lr: float = 0.1, jitter: int = 2,
             blur_every: int = 4, decay: float = 1e-3) -> dict:
    """{'images': (S, C, H, W) in [0, 1], 'scores': (S,), 'random_scores': (S,), 'similarity'} for S
    different random starts, each with its own jitter.

    channel may be a list of K channels (a grid): then one batch of K images is optimised
    together, image i for channel[i], all from the same start (so they differ only by
    their channel), one start each; images (K, C, H, W), similarity None. The images of a
    batch never interact (the copy is in eval mode), so this equals K separate runs."""
    import copy

    if (class_index is None) == (channel is None):
        raise CnnkitError("give either --channel (with --layer) or --class")
    grid = isinstance(channel, list)
    if grid and seeds != 1:
        raise CnnkitError("--channels draws one start per channel; leave out --seeds (or use --channel K --seeds N)")
    net = copy.deepcopy(model).eval()
    for p in net.parameters():
        p.requires_grad_(False)
    score = _objective(net, layer, channel, class_index)
    c, h, w = input_shape
    mean = torch.tensor(normalization["mean"]).view(1, -1, 1, 1)
    std = torch.tensor(normalization["std"]).view(1, -1, 1, 1)
    low, high = (0 - mean) / std, (1 - mean) / std  # where real, normalised pixels live
    gen = torch.Generator().manual_seed(0)
    x = starts(seeds, (c, h, w), low, high, gen)
    noise = torch.randn(seeds, c, h, w, generator=gen).clamp(low, high)
    if grid:  # the same start (and random image) for every channel: (K, C, H, W)
        x, noise = x.repeat(len(channel), 1, 1, 1), noise.repeat(len(channel), 1, 1, 1)
    seeds = len(x)
    with torch.no_grad():
        random_scores = score(noise)
    x.requires_grad_(True)
    opt = torch.optim.Adam([x], lr=lr)
    for step in range(steps):
        shifts = torch.randint(-jitter, jitter + 1, (seeds, 2), generator=gen).tolist()  # each start its own jitter
        opt.zero_grad()
        rolled = torch.cat([torch.roll(x[i : i + 1], shifts=tuple(shifts[i]), dims=(2, 3)) for i in range(seeds)])
        objective = score(rolled) - decay * (x**2).flatten(1).mean(1)
        (-objective.sum()).backward()
        opt.step()
        with torch.no_grad():
            if blur_every and (step + 1) % blur_every == 0 and min(h, w) >= 8:
                x.copy_(_blur(x))
            x.copy_(torch.max(torch.min(x, high), low))
    with torch.no_grad():
        final = score(x)
    images = (x.detach() * std + mean).clamp(0, 1)
    return {"images": images, "scores": final, "random_scores": random_scores, "similarity": None if grid else similarity(images)}


def similarity_words(r: float) -> str:
    """The mean correlation of the starts' results in words (0.86 is not "different")."""
    if r > 0.9:
        return "the starts end alike: one preferred pattern"
    if r >= 0.5:
        return "the starts end similar, not identical"
    return "the starts end differently"


def similarity(images: torch.Tensor) -> float | None:
    """Mean pairwise correlation of the (S, C, H, W) results: near 1 when every start ends
    at the same picture (the unit has one preferred input), lower when they differ."""
    if len(images) < 2:
        return None
    z = images.flatten(1) - images.flatten(1).mean(1, keepdim=True)
    z = z / z.norm(dim=1, keepdim=True).clamp_min(1e-12)
    c = z @ z.T  # (S, S) correlations
    n = len(images)
    return float((c.sum() - c.diagonal().sum()) / (n * (n - 1)))


@torch.no_grad()
def top_activating(model: nn.Module, images: torch.Tensor, normalization: dict, layer: Optional[str], channel: Optional[int],
                   class_index: Optional[int], k: int = 8, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The k images (uint8, (k, C, H, W)) of `images` that score highest, their scores (k,)
    and their indices into `images` (k,), strongest first."""
    import copy

    from cnnkit.data.augment import normalize

    net = copy.deepcopy(model).eval()
    score = _objective(net, layer, channel, class_index)
    mean, std = torch.tensor(normalization["mean"]), torch.tensor(normalization["std"])
    scores = torch.cat([score(normalize(images[i : i + batch], mean, std)) for i in range(0, len(images), batch)])
    top = scores.topk(min(k, len(scores)))
    return images[top.indices], top.values, top.indices


@torch.no_grad()
def strongest_per_channel(model: nn.Module, images: torch.Tensor, normalization: dict, layer: str, channels: list[int],
                          batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    """For each of the K channels, the index into `images` (N, C, H, W uint8) of the image
    with the largest mean activation of that channel, and that activation: (K,), (K,)."""
    import copy

    from cnnkit.data.augment import normalize

    net = copy.deepcopy(model).eval()
    store = {}
    dict(net.named_modules())[layer].register_forward_hook(lambda _m, _i, y: store.__setitem__("y", y))
    mean, std = torch.tensor(normalization["mean"]), torch.tensor(normalization["std"])
    acts = []
    for i in range(0, len(images), batch):
        net(normalize(images[i : i + batch], mean, std))
        acts.append(store["y"][:, channels].mean(dim=(2, 3)))  # (n, K)
    values, index = torch.cat(acts).max(dim=0)
    return index, values


def grid_figure(result: dict, channels: list[int], title: str, top_images: Optional[torch.Tensor] = None,
                top_scores: Optional[torch.Tensor] = None, top_labels: Optional[list[str]] = None, cols: int = 8):
    """One panel per channel, titled with its number and score (and a random image's score);
    with top_images, each channel's strongest training image under it."""
    from matplotlib.figure import Figure

    imgs = result["images"]
    k = len(channels)
    cols = min(cols, k)
    blocks = -(-k // cols)
    per = 1 if top_images is None else 2  # panel rows per block of channels
    fig = Figure(figsize=(1.6 * cols + 0.4, (1.9 * per) * blocks + 0.8), layout="constrained")
    axes = fig.subplots(blocks * per, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")

    def show(ax, img):
        grey = img.shape[0] == 1
        ax.imshow(img[0].numpy() if grey else img.permute(1, 2, 0).numpy(), cmap="gray" if grey else None,
                  interpolation="nearest", vmin=0, vmax=1)

    for i, ch in enumerate(channels):
        r, col = divmod(i, cols)
        ax = axes[r * per, col]
        show(ax, imgs[i])
        ax.set_title(f"channel {ch}\n{float(result['scores'][i]):.2f} (random {float(result['random_scores'][i]):.2f})", fontsize=7)
        if top_images is not None:
            below = axes[r * per + 1, col]
            show(below, top_images[i].float() / 255)
            label = f" {top_labels[i]}" if top_labels else ""
            below.set_title(f"strongest real: {float(top_scores[i]):.2f}\n{label.strip()}", fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig


def maximize_figure(result: dict, top_images: Optional[torch.Tensor], top_scores: Optional[torch.Tensor], title: str,
                    top_labels: Optional[list[str]] = None, pool: str = "training images"):
    """Row 1: the synthetic images (score; a random image's score). Row 2: the real images
    that score highest, each titled with its true label."""
    from matplotlib.figure import Figure

    imgs = result["images"]
    cols = max(len(imgs), 0 if top_images is None else len(top_images), 3)
    rows = 1 if top_images is None else 2
    fig = Figure(figsize=(1.8 * cols, 2.3 * rows + 0.5), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax in axes.flat:
        ax.axis("off")

    def show(ax, img):
        ax.imshow(img[0].numpy() if img.shape[0] == 1 else img.permute(1, 2, 0).numpy(), cmap="gray" if img.shape[0] == 1 else None,
                  interpolation="nearest", vmin=0, vmax=1)

    for i, img in enumerate(imgs):
        show(axes[0, i], img)
        axes[0, i].set_title(f"start {i + 1}: {float(result['scores'][i]):.2f}\n(random {float(result['random_scores'][i]):.2f})",
                             fontsize=7)
    if top_images is not None:
        for i, (img, s) in enumerate(zip(top_images, top_scores)):
            show(axes[1, i], img.float() / 255)
            label = f"\n{top_labels[i]}" if top_labels else ""
            axes[1, i].set_title(f"top {i + 1}: {float(s):.2f}{label}", fontsize=7)
        axes[1, 0].text(-0.15, 0.5, pool, transform=axes[1, 0].transAxes, rotation=90, ha="right", va="center", fontsize=7)
    axes[0, 0].text(-0.15, 0.5, "synthetic", transform=axes[0, 0].transAxes, rotation=90, ha="right", va="center", fontsize=7)
    fig.suptitle(title, fontsize=9)
    return fig
