"""Classification models of the coursework (../shared/seeds), one builder per family.

Module names are stable (``features.conv1``, ``classifier.fc1``) whatever the
options, so `--layer` names and the registry's first-conv / Grad-CAM layers hold
for every variant.
"""

from __future__ import annotations

from collections import OrderedDict

import torch.nn as nn

from cnnkit.arith.geometry import conv_out, pool_out
from cnnkit.errors import CnnkitError
from cnnkit.models.init import init_weights
from cnnkit.models.layers import activation as make_activation
from cnnkit.registry import register_model


class FeatureClassifier(nn.Module):
    """features (spatial) -> flatten -> classifier, the shape of every coursework net."""

    def __init__(self, features: nn.Sequential, classifier: nn.Sequential):
        super().__init__()
        self.features = features
        self.flatten = nn.Flatten()
        self.classifier = classifier

    def forward(self, x):  # (N, C, H, W) -> (N, classes)
        return self.classifier(self.flatten(self.features(x)))


def _check_size(size: int, what: str) -> int:
    if size < 1:
        raise CnnkitError(f"input too small for {what}: the feature map would be empty; use a larger --input")
    return size


# ----------------------------------------------------------------------------- the CIFAR-10 coursework ConvNet


def convnet(
    num_classes: int = 10,
    in_channels: int = 3,
    widths: tuple[int, ...] = (32, 64, 128),
    kernel_size: int = 5,
    batchnorm: bool = False,
    head_batchnorm: bool = False,
    dropout: float = 0.0,
    activation: str = "relu",
    hidden: int = 64,
    input_size: int = 32,
    init: str = "default",
) -> nn.Module:
    """The CIFAR-10 coursework ConvNet family: per stage conv(k, same) -> [bn] -> act -> maxpool 2 -> [dropout],
    then linear(C*h*w -> hidden) -> [bn1d] -> act -> linear(hidden -> classes) -> [bn1d]."""
    feats: OrderedDict[str, nn.Module] = OrderedDict()
    c, size = in_channels, input_size
    for i, w in enumerate(widths, start=1):
        feats[f"conv{i}"] = nn.Conv2d(c, w, kernel_size, padding=kernel_size // 2)
        if batchnorm:
            feats[f"bn{i}"] = nn.BatchNorm2d(w)
        feats[f"act{i}"] = make_activation(activation)
        feats[f"pool{i}"] = nn.MaxPool2d(2)
        if dropout:
            feats[f"drop{i}"] = nn.Dropout(dropout)
        c, size = w, pool_out(size, 2)
    _check_size(size, "convnet")
    head: OrderedDict[str, nn.Module] = OrderedDict(fc1=nn.Linear(c * size * size, hidden))
    if head_batchnorm:
        head["bn_fc1"] = nn.BatchNorm1d(hidden)
    head["act_fc1"] = make_activation(activation)
    head["fc2"] = nn.Linear(hidden, num_classes)
    if head_batchnorm:
        head["bn_fc2"] = nn.BatchNorm1d(num_classes)  # as printed in the assignment's Net1
    return init_weights(FeatureClassifier(nn.Sequential(feats), nn.Sequential(head)), init)


_CIFAR = dict(task="classification", input_shape=(3, 32, 32), num_classes=10, first_conv="features.conv1",
              gradcam_layer="features")
register_model("convnet", description="the CIFAR-10 coursework ConvNet: 3 x [conv5-act-maxpool] 32/64/128 + linear 2048-64-classes",
               builder=convnet, **_CIFAR)
register_model("convnet-net1", description="the CIFAR-10 coursework's Net1: convnet with BatchNorm2d after every conv and BatchNorm1d in the head",
               builder=convnet, batchnorm=True, head_batchnorm=True, **_CIFAR)
register_model("convnet-net2", description="the CIFAR-10 coursework's Net2: convnet with Dropout(0.05) after every pooling",
               builder=convnet, dropout=0.05, **_CIFAR)


# ----------------------------------------------------------------------------- LeNet-5


@register_model("lenet5", task="classification", input_shape=(1, 28, 28), num_classes=10,
                description="LeNet-5 (LeCun 1998): conv6-pool-conv16-pool-fc120-fc84 for MNIST-sized digits",
                first_conv="features.conv1", gradcam_layer="features.act2")
def lenet5(num_classes: int = 10, in_channels: int = 1, activation: str = "tanh", pooling: str = "avg",
           input_size: int = 28, init: str = "auto") -> nn.Module:
    """LeNet-5; a 28x28 input gets padding 2 on the first conv so it sees 32x32 as in the paper.

    init "auto": Glorot (xavier-uniform) for tanh or sigmoid units, the initialisation made
    for them; PyTorch's default (kaiming-uniform with a = sqrt(5)) shrinks a tanh net's signal
    layer by layer, and LeNet-5 then sat near chance on `shapes` for two epochs (docs/benchmarks.md,
    "shapes as it is now")."""
    if init == "auto":
        init = "xavier-uniform" if activation in ("tanh", "sigmoid") else "default"
    if pooling not in ("avg", "max"):
        raise CnnkitError(f"pooling must be 'avg' or 'max', got {pooling!r}")
    pool = nn.AvgPool2d if pooling == "avg" else nn.MaxPool2d
    pad = 2 if input_size == 28 else 0
    size = pool_out(conv_out(pool_out(conv_out(input_size, 5, 1, pad), 2), 5), 2)
    _check_size(size, "lenet5")
    feats = nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(in_channels, 6, 5, padding=pad), act1=make_activation(activation), pool1=pool(2),
        conv2=nn.Conv2d(6, 16, 5), act2=make_activation(activation), pool2=pool(2),
    ))
    head = nn.Sequential(OrderedDict(
        fc1=nn.Linear(16 * size * size, 120), act_fc1=make_activation(activation),
        fc2=nn.Linear(120, 84), act_fc2=make_activation(activation), fc3=nn.Linear(84, num_classes),
    ))
    return init_weights(FeatureClassifier(feats, head), init)


# ----------------------------------------------------------------------------- the traffic-sign coursework net


def signnet(num_classes: int = 43, in_channels: int = 3, batchnorm: bool = False, activation: str = "relu",
            input_size: int = 28, init: str = "default") -> nn.Module:
    """The traffic-sign coursework net (GTSRB): conv5 64, conv5 32, maxpool, conv3 32, maxpool, linear 512 -> 43."""
    feats: OrderedDict[str, nn.Module] = OrderedDict()
    size = input_size
    plan = [("conv1", in_channels, 64, 5), ("conv2", 64, 32, 5), ("pool1",), ("conv3", 32, 32, 3), ("pool2",)]
    for item in plan:
        name = item[0]
        if name.startswith("pool"):
            feats[name] = nn.MaxPool2d(2)
            size = pool_out(size, 2)
            continue
        _, c_in, c_out, k = item
        i = name[-1]
        feats[name] = nn.Conv2d(c_in, c_out, k)
        if batchnorm:
            feats[f"bn{i}"] = nn.BatchNorm2d(c_out)
        feats[f"act{i}"] = make_activation(activation)
        size = conv_out(size, k)
    _check_size(size, "signnet")
    head = nn.Sequential(OrderedDict(fc=nn.Linear(32 * size * size, num_classes)))
    return init_weights(FeatureClassifier(nn.Sequential(feats), head), init)


_SIGN = dict(task="classification", input_shape=(3, 28, 28), num_classes=43, first_conv="features.conv1",
             gradcam_layer="features.act3")
register_model("signnet", description="the traffic-sign coursework net (GTSRB, 28x28, 43 signs): conv5 64, conv5 32, conv3 32, linear 512-43",
               builder=signnet, **_SIGN)
register_model("signnet-bn", description="the traffic-sign coursework net with batch norm after every conv",
               builder=signnet, batchnorm=True, **_SIGN)


# ----------------------------------------------------------------------------- the CIFAR-100 coursework VGG-style net


@register_model("vgg-cifar100", task="classification", input_shape=(3, 32, 32), num_classes=100,
                description="the CIFAR-100 coursework's VGG-style net: 4 conv-bn (64-512) + 3 fc-bn1d, 71.3M params",
                first_conv="features.conv1", gradcam_layer="features.act4")
def vgg_cifar(num_classes: int = 100, in_channels: int = 3, dropout: float = 0.5, input_size: int = 32,
              init: str = "default") -> nn.Module:
    """The assignment's torchsummary table layer by layer (ReLUs after conv+bn are functional there)."""
    feats: OrderedDict[str, nn.Module] = OrderedDict()
    c, size = in_channels, input_size
    for i, w in enumerate((64, 128, 256, 512), start=1):
        feats[f"conv{i}"] = nn.Conv2d(c, w, 3, padding=1)
        feats[f"bn{i}"] = nn.BatchNorm2d(w)
        feats[f"act{i}"] = nn.ReLU()
        if i in (2, 4):
            feats[f"pool{i // 2}"] = nn.MaxPool2d(2)
            size = pool_out(size, 2)
        c = w
    feats["drop"] = nn.Dropout(dropout)
    _check_size(size, "vgg-cifar100")
    head: OrderedDict[str, nn.Module] = OrderedDict()
    f = c * size * size
    for i, w in enumerate((2048, 1024, 512), start=1):
        head[f"fc{i}"] = nn.Linear(f, w)
        head[f"bn_fc{i}"] = nn.BatchNorm1d(w)
        head[f"act_fc{i}"] = nn.ReLU()
        f = w
    head["fc4"] = nn.Linear(f, num_classes)
    return init_weights(FeatureClassifier(nn.Sequential(feats), nn.Sequential(head)), init)


# ----------------------------------------------------------------------------- ResNet-18

STEMS = ("imagenet", "cifar", "strided")


def resnet18(num_classes: int = 1000, in_channels: int = 3, stem: str = "imagenet", pretrained: bool = False,
             freeze: bool = False) -> nn.Module:
    """torchvision's ResNet-18 with a choice of stem.

    stem='imagenet': 7x7/2 conv + 3x3/2 max-pool (torchvision's own);
    stem='cifar': 3x3/1 conv, no max-pool (keeps 32x32 inputs at full resolution);
    stem='strided': 7x7/2 conv, no max-pool, and the first stage strided (the ResNet-18 of the
    SGD-vs-Adam coursework on 32x32 images).
    pretrained: ImageNet weights through torchvision's weights API (stem layers that
    change shape stay random). freeze: only the final fc layer trains (feature extraction).
    """
    from torchvision.models import resnet18 as tv_resnet18

    if stem not in STEMS:
        raise CnnkitError(f"unknown stem {stem!r}; choose one of {', '.join(STEMS)}")
    model = tv_resnet18(weights=None)
    if pretrained:
        from cnnkit.models.pretrained import load_resnet18_imagenet

        model.load_state_dict(load_resnet18_imagenet())
    if stem == "cifar":
        model.conv1 = nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False)
        model.maxpool = nn.Identity()
    elif stem == "strided":
        model.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
        model.maxpool = nn.Identity()
        first = model.layer1[0]
        first.conv1.stride = (2, 2)
        first.downsample = nn.Sequential(nn.Conv2d(64, 64, 1, 2, bias=False), nn.BatchNorm2d(64))
    elif in_channels != 3:
        model.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
    if num_classes != 1000:
        model.fc = nn.Linear(512, num_classes)
    if freeze:
        for p in model.parameters():
            p.requires_grad = False
        for p in model.fc.parameters():
            p.requires_grad = True
    return model


_RESNET = dict(task="classification", first_conv="conv1", gradcam_layer="layer4")
register_model("resnet18", input_shape=(3, 224, 224), num_classes=1000, builder=resnet18,
               description="ResNet-18 (torchvision), ImageNet stem; --pretrained / --freeze for the transfer-learning coursework (feature extractor vs fine-tuning)",
               **_RESNET)
register_model("resnet18-cifar", input_shape=(3, 32, 32), num_classes=10, builder=resnet18, stem="cifar",
               description="ResNet-18 with a 3x3 stride-1 stem and no max-pool, for 32x32 CIFAR images", **_RESNET)
register_model("resnet18-strided", input_shape=(3, 32, 32), num_classes=10, builder=resnet18, stem="strided",
               description="the SGD-vs-Adam coursework's ResNet-18: 7x7 stride-2 stem, no max-pool, first stage strided",
               **_RESNET)


# ----------------------------------------------------------------------------- CIFAR speed runs


class SpeedNet(nn.Module):
    """The network shape of the CIFAR-10 speed records (Page's ResNet-9 simplified by
    hlb-CIFAR10 and airbench): a stem conv, then per stage conv -> maxpool 2 -> BN ->
    GELU -> conv -> BN -> GELU, then a global max-pool and a bias-free linear head
    whose output is scaled down (airbench's 1/9 'temperature').

    airbench's further choices are options: a whitening 2x2 stem set from the data
    (`whiten`), batch norm with fast running statistics and no trained scale
    (`bn_momentum=0.4`, PyTorch's convention for airbench's 0.6; `bn_weight=False`), and convs that start as partial identities
    (`dirac`)."""

    def __init__(self, num_classes: int, in_channels: int, widths: tuple[int, ...], stem_width: int, scale: float,
                 whiten: bool = False, bn_momentum: float = 0.1, bn_weight: bool = True, dirac: bool = False):
        super().__init__()

        def bn(c: int) -> nn.BatchNorm2d:
            layer = nn.BatchNorm2d(c, momentum=bn_momentum, eps=1e-12 if not bn_weight else 1e-5)
            layer.weight.requires_grad_(bn_weight)  # frozen at 1: only the shift is learned
            return layer

        if whiten:
            from cnnkit.models.whitening import WhiteningConv

            stem = [WhiteningConv(in_channels, 2), nn.GELU()]  # (N, 2*4*C, H-1, W-1)
            stem_width = stem[0].out_channels
        else:
            stem = [nn.Conv2d(in_channels, stem_width, 3, padding=1, bias=False), bn(stem_width), nn.GELU()]
        stages: OrderedDict[str, nn.Module] = OrderedDict()
        c = stem_width
        for i, w in enumerate(widths, start=1):
            stages[f"stage{i}"] = nn.Sequential(
                nn.Conv2d(c, w, 3, padding=1, bias=False), nn.MaxPool2d(2), bn(w), nn.GELU(),
                nn.Conv2d(w, w, 3, padding=1, bias=False), bn(w), nn.GELU(),
            )
            c = w
        self.features = nn.Sequential(OrderedDict(stem=nn.Sequential(*stem), **stages))
        self.pool = nn.AdaptiveMaxPool2d(1)
        self.head = nn.Linear(c, num_classes, bias=False)
        self.scale = scale
        if dirac:  # each conv starts by passing its input through on the first in_channels outputs
            for m in self.features.modules():
                if type(m) is nn.Conv2d:
                    nn.init.dirac_(m.weight.data[: m.in_channels])

    def init_from_data(self, images) -> None:
        """Data-dependent initialisation (called by training before the first step):
        the whitening stem from normalised training images (N, C, H, W)."""
        stem = self.features.stem[0]
        if hasattr(stem, "init_from_data"):
            stem.init_from_data(images)

    def forward(self, x):  # (N, C, H, W) -> (N, classes)
        return self.head(self.pool(self.features(x)).flatten(1)) * self.scale


@register_model("speednet", task="classification", input_shape=(3, 32, 32), num_classes=10,
                description="CIFAR-10 speed-record shape (airbench94 widths 64/256/256): 7 convs, BN, GELU, max-pools",
                first_conv="features.stem.0", gradcam_layer="features.stage3")
def speednet(num_classes: int = 10, in_channels: int = 3, widths: tuple[int, ...] = (64, 256, 256), stem_width: int = 24,
             scale: float = 1 / 9, whiten: bool = False, bn_momentum: float = 0.1, bn_weight: bool = True, dirac: bool = False,
             init: str = "default") -> nn.Module:
    if not widths:
        raise CnnkitError("speednet needs at least one stage width")
    return init_weights(SpeedNet(num_classes, in_channels, tuple(widths), stem_width, scale, whiten, bn_momentum, bn_weight, dirac), init)


# airbench's "BN momentum 0.6" keeps 0.6 of the running statistics per step; PyTorch's momentum is
# the other side, the weight of the new batch: 0.4.
register_model("airbench", builder=speednet, whiten=True, bn_momentum=0.4, bn_weight=False, dirac=True,
               task="classification", input_shape=(3, 32, 32), num_classes=10, first_conv="features.stem.0",
               gradcam_layer="features.stage3",
               description="airbench94's network: speednet with a data-whitening 2x2 stem, fixed-scale BN, identity-start convs")
register_model("speednet-cpu", builder=speednet, widths=(32, 64, 128), stem_width=24, task="classification",
               input_shape=(3, 32, 32), num_classes=10, first_conv="features.stem.0", gradcam_layer="features.stage3",
               description="speednet narrowed to 32/64/128 (about 1/6 of the MACs) for CPU-only training")
