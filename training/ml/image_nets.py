"""ImageNet CNNs in plain torch for the mel_image family: ResNet-18/34 (He et al. 2016) and
VGG-16/19 (Simonyan & Zisserman 2015, with or without batch norm).

Module and parameter names are torchvision's (`torchvision.models.resnet18`, `vgg19_bn`, ...), so
a local ImageNet state dict saved from torchvision (`torch.save(model.state_dict(), path)`) loads
into these nets with `load_imagenet_state_dict`, except the classifier, which is replaced by the
fully connected block of Chakhtouna et al. (paper 001, Table 1: dense 512 + ReLU, dropout 0.5,
dense 256 + ReLU, dense n_classes). torchvision itself is not a dependency (not installable on
the lab machines). `base_width` scales every layer's channels (64 = torchvision's ResNet, whose
ImageNet weights need it; VGG's first block has `base_width` channels too, 64 in torchvision).
VGG ends in a global average pool (torchvision: a 7x7 pool into 25088 features for its 4096-unit
classifier, far too many parameters for SER-sized data).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

ARCHS = ("resnet18", "resnet34", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn")
_RESNET_LAYERS = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3)}
_VGG_CFG = {
    "vgg16": (2, 2, 3, 3, 3),  # convolutions per block (torchvision cfg "D")
    "vgg19": (2, 2, 4, 4, 4),  # cfg "E"
}


MIN_SIDE = 32  # five halvings: smaller images are zero-padded (bottom / right) to this size


def _pad_to_min(x: torch.Tensor) -> torch.Tensor:
    h, w = x.shape[-2:]
    if h >= MIN_SIDE and w >= MIN_SIDE:
        return x
    return nn.functional.pad(x, (0, max(0, MIN_SIDE - w), 0, max(0, MIN_SIDE - h)))


def paper_head(in_features: int, n_classes: int, dropout: float) -> nn.Sequential:
    """Paper 001's fully connected block: Linear(in, 512), ReLU, Dropout(`dropout`), Linear(512,
    256), ReLU, Linear(256, n_classes) (logits; the softmax is in the loss)."""
    return nn.Sequential(
        nn.Linear(in_features, 512),
        nn.ReLU(inplace=True),
        nn.Dropout(dropout),
        nn.Linear(512, 256),
        nn.ReLU(inplace=True),
        nn.Linear(256, n_classes),
    )


class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock: conv1/bn1/relu, conv2/bn2, + identity or `downsample`."""

    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(
                nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """torchvision's ResNet-18/34 layout (`layers` BasicBlocks per stage) at `base_width` x (1, 2,
    4, 8) channels, with `paper_head` as `fc`. Input float (B, 3, H, W); output logits (B, n)."""

    def __init__(self, *, layers: tuple[int, ...], base_width: int, n_classes: int, dropout: float):
        super().__init__()
        w = base_width
        self.conv1 = nn.Conv2d(3, w, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        c_in = w
        for i, n in enumerate(layers):
            c_out = w * 2**i
            blocks = [BasicBlock(c_in, c_out, 1 if i == 0 else 2)]
            blocks += [BasicBlock(c_out, c_out, 1) for _ in range(n - 1)]
            setattr(self, f"layer{i + 1}", nn.Sequential(*blocks))
            c_in = c_out
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = paper_head(c_in, n_classes, dropout)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = _pad_to_min(x)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


class VGG(nn.Module):
    """torchvision's VGG `features` (3x3 convolutions with bias, optional batch norm, ReLU, 2x2
    max-pools after each of the five blocks) at `base_width` x (1, 2, 4, 8, 8) channels, a global
    average pool and `paper_head` as `classifier`. Input (B, 3, H >= 32, W >= 32); logits (B, n)."""

    def __init__(
        self, *, convs: tuple[int, ...], batch_norm: bool, base_width: int, n_classes: int, dropout: float
    ):
        super().__init__()
        layers: list[nn.Module] = []
        c_in = 3
        for i, n in enumerate(convs):
            c_out = base_width * min(2**i, 8)
            for _ in range(n):
                layers.append(nn.Conv2d(c_in, c_out, 3, padding=1))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(c_out))
                layers.append(nn.ReLU(inplace=True))
                c_in = c_out
            layers.append(nn.MaxPool2d(2, 2))
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = paper_head(c_in, n_classes, dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(torch.flatten(self.avgpool(self.features(_pad_to_min(x))), 1))


def make_image_net(*, arch: str, base_width: int, n_classes: int, dropout: float) -> nn.Module:
    """A fresh `ResNet` or `VGG` named by `arch` (one of `ARCHS`); ValueError for another name."""
    if arch in _RESNET_LAYERS:
        return ResNet(
            layers=_RESNET_LAYERS[arch], base_width=base_width, n_classes=n_classes, dropout=dropout
        )
    name = arch.removesuffix("_bn")
    if name not in _VGG_CFG:
        raise ValueError(f"arch must be one of {', '.join(ARCHS)}, not {arch!r}")
    return VGG(
        convs=_VGG_CFG[name],
        batch_norm=arch.endswith("_bn"),
        base_width=base_width,
        n_classes=n_classes,
        dropout=dropout,
    )


def head_prefix(model: nn.Module) -> str:
    """The name prefix of the classifier that replaces torchvision's: 'fc.' or 'classifier.'."""
    return "fc." if isinstance(model, ResNet) else "classifier."


def load_imagenet_state_dict(model: nn.Module, path: Path | str) -> list[str]:
    """Load a torchvision state dict (.pth of `state_dict()` tensors, torchvision key names) into
    every layer but the classifier; returns the loaded key names.

    Raises ValueError when the file is not a dict of tensors, when a tensor's shape differs
    (another architecture or `base_width`), or when a non-classifier parameter of `model` is
    absent from the file (not the state dict of this architecture).
    """
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ValueError(f"{path} is not a state dict (a dict of tensors saved by torch.save)")
    prefix = head_prefix(model)
    own = model.state_dict()
    kept = {k: v for k, v in state.items() if not k.startswith(prefix)}
    for key, value in kept.items():
        if key in own and own[key].shape != value.shape:
            raise ValueError(
                f"{path}: {key} has shape {tuple(value.shape)}, this network {tuple(own[key].shape)} "
                "(another architecture or base_width?)"
            )
    result = model.load_state_dict(kept, strict=False)
    missing = [k for k in result.missing_keys if not k.startswith(prefix)]
    if missing:
        raise ValueError(
            f"{path} lacks {len(missing)} weights of this network (first: {missing[0]}): "
            "not a torchvision state dict of this architecture"
        )
    return sorted(k for k in kept if k in own)
