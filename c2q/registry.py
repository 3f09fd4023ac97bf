"""The names params.yaml may use, and the shapes that go with them.

A leaf module with no imports, so validating params never loads torch or the
models: datasets (image shape, class names), teachers, reductions, encodings,
simulators and the qubit range.
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

TRAINED_TEACHERS = ("lenet", "alexnet")
ENSEMBLE = "ensemble"  # the mean of trained teachers' logits; never trained itself

REDUCTIONS = ("fc", "avgpool", "maxpool", "center_crop", "pca")
GRID_REDUCTIONS = ("avgpool", "maxpool", "center_crop")
ENCODINGS = ("amplitude", "angle", "qubit")
SIMULATORS = ("fused", "torchquantum")
MIN_QUBITS, MAX_QUBITS = 2, 10
SCHEDULES = ("constant", "cosine")  # learning-rate schedules of student training (c2q.train)
DISTILL_METHODS = ("hinton", "notebook", "standardised")  # distillation losses (c2q.distill)
