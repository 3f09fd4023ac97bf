"""Where every stage's files live; stages, dvc.yaml and the aggregate agree on these."""

from __future__ import annotations

from pathlib import Path


def raw_dir(dataset: str) -> Path:
    return Path("data/raw") / dataset


def reduced_dir(dataset: str) -> Path:
    return Path("data/reduced") / dataset


def split_file(dataset: str) -> Path:
    """Normalisable uint8 images of train/val/test: what teachers see."""
    return reduced_dir(dataset) / "split.pt"


def meta_file(dataset: str) -> Path:
    """Sizes, class names and every student variant's input shape."""
    return reduced_dir(dataset) / "meta.json"


def features_file(dataset: str, student: str) -> Path:
    """What one student variant sees: its reduction of every split."""
    return reduced_dir(dataset) / f"{student}.pt"


def teacher_model(dataset: str, teacher: str) -> Path:
    return Path("models/teachers") / dataset / f"{teacher}.pt"


def teacher_metrics(dataset: str, teacher: str) -> Path:
    return Path("metrics/teachers") / dataset / f"{teacher}.json"


def teacher_curve(dataset: str, teacher: str) -> Path:
    return Path("metrics/curves/teachers") / dataset / f"{teacher}.json"


def logits_dir(dataset: str) -> Path:
    return Path("data/logits") / dataset


def logits_file(dataset: str, teacher: str) -> Path:
    return logits_dir(dataset) / f"{teacher}.pt"


def logits_metrics(dataset: str) -> Path:
    """Every teacher's errors from its cached logits, the ensemble included."""
    return Path("metrics/logits") / f"{dataset}.json"


def student_id(student: str, seed: int, teacher: str | None = None) -> str:
    middle = f"-{teacher}" if teacher else ""
    return f"{student}{middle}-s{seed}"


def student_model(role: str, dataset: str, student: str, seed: int, teacher: str | None = None) -> Path:
    return Path("models/students") / role / dataset / f"{student_id(student, seed, teacher)}.pt"


def student_metrics(role: str, dataset: str, student: str, seed: int, teacher: str | None = None) -> Path:
    return Path("metrics/students") / role / dataset / f"{student_id(student, seed, teacher)}.json"


def student_curve(role: str, dataset: str, student: str, seed: int, teacher: str | None = None) -> Path:
    return Path("metrics/curves/students") / role / dataset / f"{student_id(student, seed, teacher)}.json"


def student_confusion(role: str, dataset: str, student: str, seed: int, teacher: str | None = None) -> Path:
    """Test-set confusion matrix: `.json` counts and a `.png` beside it."""
    return Path("metrics/confusion") / role / dataset / f"{student_id(student, seed, teacher)}.json"


def student_qasm(role: str, dataset: str, student: str, seed: int, teacher: str | None = None) -> Path:
    """The trained circuit (angles bound) in OpenQASM 3, beside the student's weights."""
    return student_model(role, dataset, student, seed, teacher).with_suffix(".qasm")


def noise_dir(dataset: str) -> Path:
    return Path("metrics/noise") / dataset


def noise_metrics(role: str, dataset: str, student: str, seed: int, teacher: str | None = None) -> Path:
    """One quantum student compiled and run under noise (stage evaluate_noise)."""
    return noise_dir(dataset) / role / f"{student_id(student, seed, teacher)}.json"


def checkpoint(stage: str) -> Path:
    """Per-epoch training state of a stage, kept only while it is unfinished (git-ignored)."""
    return Path(".checkpoints") / f"{stage.replace('@', '-')}.pt"


ERROR_TABLE_CSV = Path("metrics/error_table.csv")
ERROR_TABLE_MD = Path("metrics/error_table.md")
SUMMARY = Path("metrics/summary.json")
GAINS_CSV = Path("metrics/gains.csv")
ERRORS_PLOT = Path("metrics/plots/errors_by_method.png")
GAINS_PLOT = Path("metrics/plots/gains.png")
HARDWARE_CSV = Path("metrics/hardware_table.csv")
NOISE_GAINS_CSV = Path("metrics/noise_gains.csv")
NOISE_PLOT = Path("metrics/plots/error_vs_noise.png")


# ---- the regime-map study (study/dvc.yaml) ----

STUDY = Path("study")


def study_teacher_logits(dataset: str, seed: int) -> Path:
    """Every teacher's logits (lenet, alexnet and their ensemble) of one teacher seed, on every split."""
    return STUDY / "teachers" / dataset / f"s{seed}.pt"


def study_teacher_metrics(dataset: str, seed: int) -> Path:
    return STUDY / "teachers" / dataset / f"s{seed}.json"


def study_cell(dataset: str, group: str, seed: int) -> Path:
    """One metrics file per training of one cell (a size of the map, or `notebooks`)."""
    return STUDY / "runs" / dataset / str(group) / f"s{seed}"


STUDY_RESULTS = STUDY / "results"
