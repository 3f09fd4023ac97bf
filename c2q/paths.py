"""Where every stage's files live; stages, dvc.yaml and the aggregate agree on these."""

from __future__ import annotations

from pathlib import Path


def raw_dir(dataset: str) -> Path:
    return Path("data/raw") / dataset


def reduced_dir(dataset: str) -> Path:
    return Path("data/reduced") / dataset


def split_file(dataset: str) -> Path:
    return reduced_dir(dataset) / "split.pt"


def teacher_id(dataset: str, teacher: str) -> str:
    return f"{dataset}-{teacher}"


def student_id(dataset: str, student: str, seed: int, teacher: str | None = None) -> str:
    middle = f"-{teacher}" if teacher else ""
    return f"{dataset}-{student}{middle}-s{seed}"


def teacher_model(dataset: str, teacher: str) -> Path:
    return Path("models/teachers") / f"{teacher_id(dataset, teacher)}.pt"


def teacher_metrics(dataset: str, teacher: str) -> Path:
    return Path("metrics/teachers") / f"{teacher_id(dataset, teacher)}.json"


def teacher_curve(dataset: str, teacher: str) -> Path:
    return Path("metrics/curves/teachers") / f"{teacher_id(dataset, teacher)}.json"


def logits_file(dataset: str, teacher: str) -> Path:
    return Path("data/logits") / f"{teacher_id(dataset, teacher)}.pt"


def student_model(role: str, dataset: str, student: str, seed: int, teacher: str | None = None) -> Path:
    return Path("models/students") / role / f"{student_id(dataset, student, seed, teacher)}.pt"


def student_metrics(role: str, dataset: str, student: str, seed: int, teacher: str | None = None) -> Path:
    return Path("metrics/students") / role / f"{student_id(dataset, student, seed, teacher)}.json"


def student_curve(role: str, dataset: str, student: str, seed: int, teacher: str | None = None) -> Path:
    return Path("metrics/curves/students") / role / f"{student_id(dataset, student, seed, teacher)}.json"


ERROR_TABLE_CSV = Path("metrics/error_table.csv")
ERROR_TABLE_MD = Path("metrics/error_table.md")
SUMMARY = Path("metrics/summary.json")
