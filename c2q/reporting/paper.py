"""Reference numbers from Hasan & Mahdy (arXiv 2311.13810), for comparison columns.

Fig. 12: test error in percent of the distilled quantum students with all 10
classes, read from the paper's bar chart (about +-1 point), for 4 and 8 qubits.

NOTEBOOK_RUNS: what the paper's notebooks printed (best-epoch test accuracy in percent on
their first 150 test images per class), one row per notebook, with its defect where it has
one (../shared/PAPER.md). The paper's headline gains (+0.80 MNIST, +5.40 Fashion-MNIST) are
averages of these, distilled minus baseline over every (class subset, qubits, teacher).
"""

from __future__ import annotations

from dataclasses import dataclass

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


NO_KD_GRADIENT = "no distillation gradient"  # the KD term computed from the teacher's output against the label
SOFTMAX_READOUT = "softmax readout"  # a softmax over the frequencies instead of sigmoid and 1 - x


@dataclass(frozen=True)
class NotebookRun:
    dataset: str
    classes: int  # classes 0..classes-1
    qubits: int
    shots: int
    teacher: str  # "none" for a baseline
    best: float  # best-epoch accuracy, %
    defect: str | None = None


def _runs(dataset: str, classes: int, qubits: int, shots: int, **accuracy) -> list[NotebookRun]:
    return [NotebookRun(dataset, classes, qubits, shots, teacher, *(v if isinstance(v, tuple) else (v,)))
            for teacher, v in accuracy.items()]


NOTEBOOK_RUNS: list[NotebookRun] = [
    *_runs("mnist", 6, 3, 5000, none=96.56, lenet=97.89, alexnet=97.44, ensemble=97.33),
    *_runs("mnist", 8, 3, 3000, none=93.75, lenet=93.75, alexnet=94.92, ensemble=95.42),
    *_runs("mnist", 8, 4, 2000, none=93.83, lenet=(94.33, NO_KD_GRADIENT), alexnet=94.17, ensemble=94.00),
    *_runs("fashion_mnist", 6, 3, 5000, none=(65.00, SOFTMAX_READOUT), lenet=77.00, alexnet=83.44, ensemble=67.89),
    *_runs("fashion_mnist", 8, 3, 3000, none=(68.00, SOFTMAX_READOUT), lenet=(68.67, SOFTMAX_READOUT),
           alexnet=73.42, ensemble=74.42),
    *_runs("fashion_mnist", 8, 4, 2000, none=74.25, lenet=(75.83, NO_KD_GRADIENT), alexnet=75.42, ensemble=72.50),
]


def notebook_gains(dataset: str) -> list[tuple[NotebookRun, NotebookRun]]:
    """(baseline, distilled) pairs of the notebooks' runs on `dataset`, one per (classes, qubits, teacher)."""
    runs = [r for r in NOTEBOOK_RUNS if r.dataset == dataset]
    base = {(r.classes, r.qubits): r for r in runs if r.teacher == "none"}
    return [(base[(r.classes, r.qubits)], r) for r in runs if r.teacher != "none"]


def paper_average(dataset: str, without_defects: bool) -> tuple[float, int]:
    """The paper's average gain (points of accuracy) on `dataset` and how many comparisons it averages;
    `without_defects` leaves out every comparison whose baseline or distilled notebook has a defect."""
    pairs = [(b, d) for b, d in notebook_gains(dataset) if not without_defects or not (b.defect or d.defect)]
    return (sum(d.best - b.best for b, d in pairs) / len(pairs) if pairs else float("nan")), len(pairs)
