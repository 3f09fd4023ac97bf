"""Reference numbers from Hasan & Mahdy (arXiv 2311.13810), for comparison columns.

Fig. 12: test error in percent of the distilled quantum students with all 10
classes, read from the paper's bar chart (about +-1 point), for 4 and 8 qubits.
"""

from __future__ import annotations

# (reduction, encoding) -> dataset -> (error at 4 qubits, error at 8 qubits)
FIG12_ERRORS: dict[tuple[str, str], dict[str, tuple[float, float]]] = {
    ("fc", "amplitude"): {"mnist": (22.0, 9.5), "fashion_mnist": (22.4, 16.4), "cifar10": (74.1, 68.5)},
    ("fc", "qubit"): {"mnist": (24.6, 14.2), "fashion_mnist": (23.5, 18.6), "cifar10": (75.9, 72.1)},
    ("fc", "angle"): {"mnist": (37.3, 21.1), "fashion_mnist": (31.1, 28.4), "cifar10": (87.6, 84.1)},
    ("avgpool", "amplitude"): {"mnist": (53.7, 47.7), "fashion_mnist": (51.2, 50.3), "cifar10": (85.4, 79.4)},
    ("pca", "amplitude"): {"mnist": (68.3, 57.2), "fashion_mnist": (71.6, 68.1), "cifar10": (87.6, 87.8)},
    ("center_crop", "amplitude"): {"mnist": (80.3, 74.7), "fashion_mnist": (78.5, 81.6), "cifar10": (91.6, 90.3)},
    ("maxpool", "amplitude"): {"mnist": (84.7, 80.9), "fashion_mnist": (82.5, 81.9), "cifar10": (92.7, 92.1)},
}


def paper_error(dataset: str, reduction: str, encoding: str, qubits: int, all_classes: bool) -> float | None:
    """The paper's Fig. 12 error (%) for this configuration, or None where it reports none."""
    if not all_classes or qubits not in (4, 8):
        return None
    by_dataset = FIG12_ERRORS.get((reduction, encoding), {})
    if dataset not in by_dataset:
        return None
    return by_dataset[dataset][0 if qubits == 4 else 1]
