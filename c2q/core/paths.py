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


def student_group(student: str, teacher: str | None = None) -> str:
    """The trainings of one student stage: every seed of a student, or of a student and its teacher."""
    return f"{student}-{teacher}" if teacher else student


def seed_stem(seed: int) -> str:
    """The name, without suffix, of every file of one seed's training in its stage's folders."""
    return f"s{seed}"


# The folders of one student stage's outs (kept between runs), each under <role>/<dataset>/<group>.
STUDENT_FOLDERS = {"models": Path("models/students"), "metrics": Path("metrics/students"),
                   "curves": Path("metrics/curves/students")}


def student_folders(role: str, dataset: str, student: str, teacher: str | None = None) -> list[Path]:
    """The folders one student stage writes: weights, metrics, learning curves."""
    return [root / role / dataset / student_group(student, teacher) for root in STUDENT_FOLDERS.values()]


def _seed_file(folder: Path, student: str, seed: int, teacher: str | None, suffix: str) -> Path:
    """One training's file in `folder`, which holds every student group's seeds."""
    return folder / student_group(student, teacher) / f"{seed_stem(seed)}{suffix}"


def _student_file(kind: str, suffix: str, role: str, dataset: str, student: str, seed: int,
                  teacher: str | None) -> Path:
    return _seed_file(STUDENT_FOLDERS[kind] / role / dataset, student, seed, teacher, suffix)


def student_model(role: str, dataset: str, student: str, seed: int, teacher: str | None = None) -> Path:
    return _student_file("models", ".pt", role, dataset, student, seed, teacher)


def student_metrics(role: str, dataset: str, student: str, seed: int, teacher: str | None = None) -> Path:
    return _student_file("metrics", ".json", role, dataset, student, seed, teacher)


def student_curve(role: str, dataset: str, student: str, seed: int, teacher: str | None = None) -> Path:
    return _student_file("curves", ".json", role, dataset, student, seed, teacher)


# The outs of stage evaluate@<dataset>, one folder each, under <role>/<group> per training.
EVALUATION_FOLDERS = {"evaluation": Path("metrics/evaluation"), "confusion": Path("metrics/confusion"),
                      "circuits": Path("models/circuits")}


def evaluation_folders(dataset: str) -> list[Path]:
    """The folders stage evaluate@<dataset> writes: off-simulator errors, confusion matrices, circuits."""
    return [root / dataset for root in EVALUATION_FOLDERS.values()]


def _evaluation_file(kind: str, suffix: str, role: str, dataset: str, student: str, seed: int,
                     teacher: str | None) -> Path:
    return _seed_file(EVALUATION_FOLDERS[kind] / dataset / role, student, seed, teacher, suffix)


def evaluation_metrics(role: str, dataset: str, student: str, seed: int, teacher: str | None = None) -> Path:
    """A trained student off the simulator: finite-shot errors on the test set, its noisy evaluation."""
    return _evaluation_file("evaluation", ".json", role, dataset, student, seed, teacher)


def student_confusion(role: str, dataset: str, student: str, seed: int, teacher: str | None = None) -> Path:
    """Test-set confusion matrix: `.json` counts and a `.png` beside it."""
    return _evaluation_file("confusion", ".json", role, dataset, student, seed, teacher)


def student_qasm(role: str, dataset: str, student: str, seed: int, teacher: str | None = None) -> Path:
    """The trained circuit (angles bound) in OpenQASM 3."""
    return _evaluation_file("circuits", ".qasm", role, dataset, student, seed, teacher)


def checkpoint(stage: str) -> Path:
    """Training state of a stage, kept until its results are recorded (git-ignored)."""
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
DEVICE_PLOT = Path("metrics/plots/error_on_device.png")


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


def study_noise_cell(dataset: str, seed: int) -> Path:
    """One metrics file per training of one cell of the noise question (outside study/runs, which the map's
    report reads whole)."""
    return STUDY / "noise" / dataset / f"s{seed}"


STUDY_RESULTS = STUDY / "results"
