"""Segmentation models: the segmentation coursework's encoder-decoder FCN and a configurable U-Net.

Both take any input size: the input is padded up to a multiple of the total
down-sampling factor and the logits are cropped back, so a 500x500 image gives
500x500 logits instead of a shape error at the skip connections.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F

from cnnkit.errors import CnnkitError
from cnnkit.models.layers import conv_bn_act
from cnnkit.registry import register_model


def pad_to_multiple(x: torch.Tensor, multiple: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad (N, C, H, W) on the bottom/right to multiples of `multiple`; return the original (H, W)."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph or pw:
        # replicate: no artificial dark border for the convs to learn from
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
    return x, (h, w)


class FCN(nn.Module):
    """The segmentation coursework's FCN: 4 encoder stages [conv3-bn-relu, maxpool 2] (64..512), 4 decoder stages
    [conv3-bn-relu, transposed conv 2x2/2] back to full resolution, 1x1 conv to class scores."""

    def __init__(self, num_classes: int = 2, in_channels: int = 3, widths: tuple[int, ...] = (64, 128, 256, 512)):
        super().__init__()
        enc: OrderedDict[str, nn.Module] = OrderedDict()
        c = in_channels
        for i, w in enumerate(widths, start=1):
            enc[f"stage{i}"] = nn.Sequential(*conv_bn_act(c, w), nn.MaxPool2d(2))
            c = w
        dec: OrderedDict[str, nn.Module] = OrderedDict()
        outs = list(widths[-2::-1]) + [widths[0]]  # 512 -> 256 -> 128 -> 64 -> 64
        for i, w in enumerate(outs, start=1):
            dec[f"stage{i}"] = nn.Sequential(*conv_bn_act(c, c), nn.ConvTranspose2d(c, w, 2, stride=2))
            c = w
        self.encoder = nn.Sequential(enc)
        self.decoder = nn.Sequential(dec)
        self.head = nn.Conv2d(c, num_classes, 1)
        self.factor = 2 ** len(widths)

    def forward(self, x):  # (N, C, H, W) -> (N, classes, H, W)
        x, (h, w) = pad_to_multiple(x, self.factor)
        return self.head(self.decoder(self.encoder(x)))[..., :h, :w]


def double_conv(c_in: int, c_out: int, act: str, batchnorm: bool) -> nn.Sequential:
    return nn.Sequential(*conv_bn_act(c_in, c_out, 3, batchnorm, act), *conv_bn_act(c_out, c_out, 3, batchnorm, act))


class Up(nn.Module):
    """Upsample x2 to the skip's width, concatenate the skip, double conv."""

    def __init__(self, c_in: int, c_skip: int, mode: str, act: str, batchnorm: bool):
        super().__init__()
        if mode == "transpose":
            self.up = nn.ConvTranspose2d(c_in, c_skip, 2, stride=2)
        else:
            align = {"align_corners": False} if mode == "bilinear" else {}
            self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode=mode, **align), nn.Conv2d(c_in, c_skip, 1))
        self.conv = double_conv(2 * c_skip, c_skip, act, batchnorm)

    def forward(self, x, skip):  # x (N, c_in, h, w), skip (N, c_skip, 2h, 2w)
        return self.conv(torch.cat([skip, self.up(x)], dim=1))


UPSAMPLING = ("bilinear", "nearest", "transpose")


class UNet(nn.Module):
    """U-Net (Ronneberger 2015) with same-padded convs: depth down-sampling steps,
    widths base*2^i, skip connections by concatenation."""

    def __init__(self, num_classes: int = 2, in_channels: int = 1, depth: int = 4, base_width: int = 32,
                 upsampling: str = "bilinear", activation: str = "relu", batchnorm: bool = True):
        super().__init__()
        if upsampling not in UPSAMPLING:
            raise CnnkitError(f"unknown upsampling {upsampling!r}; choose one of {', '.join(UPSAMPLING)}")
        if depth < 1:
            raise CnnkitError("U-Net depth must be >= 1")
        widths = [base_width * 2**i for i in range(depth + 1)]
        self.inc = double_conv(in_channels, widths[0], activation, batchnorm)
        self.down = nn.ModuleList(
            nn.Sequential(nn.MaxPool2d(2), double_conv(widths[i], widths[i + 1], activation, batchnorm))
            for i in range(depth - 1)
        )
        # The deepest stage has its own name so Grad-CAM / --layer can find it at any depth.
        self.bottleneck = nn.Sequential(nn.MaxPool2d(2), double_conv(widths[-2], widths[-1], activation, batchnorm))
        self.up = nn.ModuleList(Up(widths[i + 1], widths[i], upsampling, activation, batchnorm) for i in reversed(range(depth)))
        self.head = nn.Conv2d(widths[0], num_classes, 1)
        self.factor = 2**depth

    def forward(self, x):  # (N, C, H, W) -> (N, classes, H, W)
        x, (h, w) = pad_to_multiple(x, self.factor)
        skips = [self.inc(x)]
        for down in self.down:
            skips.append(down(skips[-1]))
        y = self.bottleneck(skips[-1])
        for up, skip in zip(self.up, reversed(skips)):
            y = up(y, skip)
        return self.head(y)[..., :h, :w]


register_model("fcn", task="segmentation", input_shape=(3, 64, 64), num_classes=2, builder=FCN,
               description="the segmentation coursework's encoder-decoder FCN: 4 conv-bn-relu-pool stages 64-512, 4 transposed-conv stages back",
               first_conv="encoder.stage1.0", gradcam_layer="encoder.stage4")
register_model("unet", task="segmentation", input_shape=(1, 128, 128), num_classes=2, builder=UNet,
               description="U-Net, as in the U-Net coursework's ablations: depth, base_width, upsampling bilinear|nearest|transpose, activation relu|elu",
               first_conv="inc.0", gradcam_layer="bottleneck")
