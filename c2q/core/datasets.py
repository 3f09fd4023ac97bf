"""The datasets params.yaml may name: image shape, class names, size of the smallest class in the official
train set (what `data.val_fraction` can split).

A leaf module with no imports, so validating params never loads torch.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DatasetInfo:
    image_shape: tuple[int, int, int]  # (C, H, W)
    classes: tuple[str, ...]
    smallest_train_class: int  # images of the rarest class in the official train set


_TEN = tuple(str(i) for i in range(10))

DATASETS: dict[str, DatasetInfo] = {
    "mnist": DatasetInfo((1, 28, 28), _TEN, 5421),
    "fashion_mnist": DatasetInfo(
        (1, 28, 28),
        ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle boot"),
        6000,
    ),
    "cifar10": DatasetInfo(
        (3, 32, 32),
        ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"),
        5000,
    ),
    "digits": DatasetInfo((1, 8, 8), _TEN, 139),  # c2q's fixed 80 % of scikit-learn's digits (c2q.data.raw)
}
