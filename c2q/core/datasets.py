"""The datasets params.yaml may name: image shape and class names.

A leaf module with no imports, so validating params never loads torch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetInfo:
    image_shape: tuple[int, int, int]  # (C, H, W)
    classes: tuple[str, ...]


_TEN = tuple(str(i) for i in range(10))

DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo((1, 28, 28), _TEN),
    "fashion_mnist": DatasetInfo(
        (1, 28, 28),
        ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"),
    ),
    "cifar10": DatasetInfo(
        (3, 32, 32),
        ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
    ),
    "digits": DatasetInfo((1, 8, 8), _TEN),
}
