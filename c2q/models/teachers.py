"""Classical CNN teachers, as in the paper's code."""

from __future__ import annotations

import torch
from torch import nn

from c2q.core.names import TRAINED_TEACHERS

MIN_SIDE = 28


def input_adapter(in_shape: tuple[int, int, int]) -> nn.Module:
    """Images smaller than 28x28 (digits' 8x8) are upsampled bilinearly to 28x28 first."""
    _, h, w = in_shape
    if min(h, w) >= MIN_SIDE:
        return nn.Identity()
    return nn.Upsample(size=(max(h, MIN_SIDE), max(w, MIN_SIDE)), mode="bilinear", align_corners=False)


class LeNet5(nn.Module):
    """LeNet-5: conv 6 and 16 channels (5x5), tanh, 2x2 average pooling, FC 120 and 84.

    The first convolution pads by 2 so a 28x28 image keeps LeNet's 32x32 geometry
    (16 x 5 x 5 features before the fully connected layers).
    """

    def __init__(self, in_shape: tuple[int, int, int] = (1, 28, 28), n_classes: int = 10):
        super().__init__()
        channels = in_shape[0]
        self.features = nn.Sequential(
            input_adapter(in_shape),
            nn.Conv2d(channels, 6, kernel_size=5, padding=2),
            nn.Tanh(),
            nn.AvgPool2d(2),
            nn.Conv2d(6, 16, kernel_size=5),
            nn.Tanh(),
            nn.AvgPool2d(2),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_flat = self.features(torch.zeros(1, *in_shape)).shape[1]
        self.classifier = nn.Sequential(
            nn.Linear(n_flat, 120),
            nn.Tanh(),
            nn.Linear(120, 84),
            nn.Tanh(),
            nn.Linear(84, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x.contiguous(memory_format=torch.channels_last)))


class AlexNet(nn.Module):
    """The paper's small-image AlexNet: conv 64, 192, 384 (3x3, ReLU, 2x2 max pooling), FC 4096, 4096.

    `width` scales every channel and hidden-unit count (width 1 is the paper's
    network); the input shape adapts it to 1x28x28 or 3x32x32 images.
    """

    def __init__(self, in_shape: tuple[int, int, int] = (1, 28, 28), n_classes: int = 10, width: float = 1.0):
        super().__init__()
        c1, c2, c3, hidden = (max(1, round(n * width)) for n in (64, 192, 384, 4096))
        self.features = nn.Sequential(
            input_adapter(in_shape),
            nn.Conv2d(in_shape[0], c1, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(c1, c2, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(c2, c3, kernel_size=3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Flatten(),
        )
        with torch.no_grad():
            n_flat = self.features(torch.zeros(1, *in_shape)).shape[1]
        self.classifier = nn.Sequential(
            nn.Dropout(0.5),
            nn.Linear(n_flat, hidden),
            nn.ReLU(inplace=True),
            nn.Dropout(0.5),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.features(x.contiguous(memory_format=torch.channels_last)))


def build_teacher(name: str, in_shape: tuple[int, int, int], n_classes: int, width: float = 1.0) -> nn.Module:
    """A trained teacher by name; `width` scales AlexNet (`teacher.alexnet.width`).

    Weights and activations use the channels-last layout: on the 2-core
    reference machine LeNet and AlexNet trained 1.2-1.3x faster in it.
    """
    if name == "lenet":
        model = LeNet5(in_shape, n_classes)
    elif name == "alexnet":
        model = AlexNet(in_shape, n_classes, width=width)
    else:
        raise ValueError(f"unknown teacher {name!r}; trained teachers are {TRAINED_TEACHERS}")
    return model.to(memory_format=torch.channels_last)


def ensemble_logits(member_logits: list[torch.Tensor]) -> torch.Tensor:
    """The ensemble teacher: the mean of its members' logits (no training of its own)."""
    return torch.stack(member_logits).mean(dim=0)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
