"""Classical CNN teachers, as in the paper's code."""

from __future__ import annotations

import torch
from torch import nn


class LeNet5(nn.Module):
    """LeNet-5: conv 6 and 16 channels (5x5), tanh, 2x2 average pooling, FC 120 and 84.

    The first convolution pads by 2 so a 28x28 image keeps LeNet's 32x32 geometry
    (16 x 5 x 5 features before the fully connected layers).
    """

    def __init__(self, in_shape: tuple[int, int, int] = (1, 28, 28), n_classes: int = 10):
        super().__init__()
        channels = in_shape[0]
        self.features = nn.Sequential(
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
        return self.classifier(self.features(x))


TEACHERS = {"lenet": LeNet5}


def build_teacher(name: str, in_shape: tuple[int, int, int], n_classes: int) -> nn.Module:
    return TEACHERS[name](in_shape, n_classes)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
