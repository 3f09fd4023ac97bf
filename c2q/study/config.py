"""study/params.yaml as typed objects, checked like params.yaml (c2q.core.config): every problem named by key.

What the values mean for the trainings is c2q.study.arms's business; this module
only reads and checks them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from c2q.core.config import (Count, PerClass, PositiveNumber, Seed, _list, _Section, _student_name, read_yaml,
                             schema_problems)
from c2q.core.datasets import DATASETS
from c2q.core.errors import ParamsError
from c2q.core.methods import DISTILL_METHODS
from c2q.core.names import ENSEMBLE, TRAINED_TEACHERS
from c2q.core.variants import parse_student, reduction_problem

STUDY_PARAMS = Path("study/params.yaml")
Alpha = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
TeacherName = Literal[TRAINED_TEACHERS + (ENSEMBLE,)]


def _study_student(name: str) -> str:
    v = parse_student(name)
    if (v.reduction, v.encoding) != ("fc", "amplitude"):
        raise ValueError(f"{name}: the map trains fc-amplitude-q<N> students and their -classical controls "
                         "(the flattened image through a trainable linear layer), side by side")
    return name


def _notebooks_student(name: str) -> str:
    if not parse_student(name).hybrid:
        raise ValueError(f"{name}: the notebooks' regime trains their own student, cnn-hadamard-q<N>")
    return name


def _noise_student(name: str) -> str:
    v = parse_student(name)
    if not v.noise_aware or v.classical:
        raise ValueError(f"{name}: the noise question trains noise-aware students laid on a line of the device, "
                         "<reduction>-<encoding>-q<N>-chain-nat")
    return name


StudyStudent = Annotated[str, AfterValidator(_student_name), AfterValidator(_study_student)]
NoiseStudent = Annotated[str, AfterValidator(_student_name), AfterValidator(_noise_student)]
NotebooksStudent = Annotated[str, AfterValidator(_student_name), AfterValidator(_notebooks_student)]
Smoothing = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
CONTROL_TEACHERS = ("onehot", "uniform", "permuted", "self")  # what c2q.study.cells puts in the teacher's place


class Setting(_Section):
    method: Literal[DISTILL_METHODS]
    temperature: PositiveNumber
    alpha: Alpha


class Validation(_Section):
    fraction: Annotated[float, Field(gt=0, le=1, allow_inf_nan=False)]
    min_per_class: Count
    whole_split_sizes: list[PerClass]


class Baseline(_Section):
    lr_scales: _list(PositiveNumber)
    label_smoothing: _list(Smoothing)

    def settings(self) -> list[tuple[float, float]]:
        return [(lr, eps) for lr in self.lr_scales for eps in self.label_smoothing]


class StudyDistill(_Section):
    teacher: TeacherName
    methods: _list(Literal[DISTILL_METHODS])
    temperatures: _list(PositiveNumber)
    alphas: _list(Alpha)

    def settings(self, method: str) -> list[Setting]:
        return [Setting(method=method, temperature=t, alpha=a) for t in self.temperatures for a in self.alphas]

    @property
    def budget(self) -> int:
        """Settings per method, so the number every family of the map is chosen from."""
        return len(self.temperatures) * len(self.alphas)


class Controls(_Section):
    students: _list(StudyStudent)
    label_smoothing: _list(Smoothing)
    teachers: _list(Literal[CONTROL_TEACHERS])


class NotebooksConfiguration(_Section):
    """One of the notebooks' own runs: a class subset, their student on it, and its shot count."""

    classes: _list(Annotated[int, Field(ge=0)])
    student: NotebooksStudent
    shots: Count  # measurements per circuit run in that notebook (used by a regime with `shots: true`)


class Regime(_Section):
    """How the notebooks' student trains (lr, epochs and shift: params.yaml's `hybrid`)."""

    batch_size: Count
    shots: bool  # true: each configuration's shots in training (parameter shift) and at every evaluation
    seeds: _list(Seed)


class Regimes(_Section):
    batched: Regime
    as_run: Regime

    def of(self, name: str) -> Regime:
        return getattr(self, name)


class Notebooks(_Section):
    datasets: list[Literal[tuple(DATASETS)]]
    configurations: _list(NotebooksConfiguration)
    size: Count
    teachers: _list(TeacherName)
    setting: Setting
    regimes: Regimes


class NoiseQuestion(_Section):
    """The seventh question (c2q.study.noisy): distillation for students trained and tested under noise."""

    datasets: list[Literal[tuple(DATASETS)]]
    students: _list(NoiseStudent)
    size: PerClass  # training images per class
    test_per_class: PerClass  # test images per class under the device's noise


class StudyMlflow(_Section):
    experiment: Annotated[str, Field(min_length=1)]


class StudyParams(_Section):
    mlflow: StudyMlflow
    datasets: _list(Literal[tuple(DATASETS)])
    students: _list(StudyStudent)
    sizes: _list(PerClass)
    seeds: _list(Seed)
    teacher_seeds: _list(Seed)
    validation: Validation
    baseline: Baseline
    distill: StudyDistill
    controls: Controls
    notebooks: Notebooks
    noise: NoiseQuestion


def _cross_checks(p: StudyParams) -> list[str]:
    budget = p.distill.budget
    problems = [f"{key}: {n} settings; every family is chosen from as many as distillation's "
                f"{budget} (distill.temperatures x distill.alphas)"
                for key, n in [("baseline", len(p.baseline.settings())),
                               ("controls.label_smoothing", len(p.controls.label_smoothing))] if n != budget]
    problems += [f"controls.students: {s!r} is not in students {p.students}" for s in p.controls.students
                 if s not in p.students]
    problems += [f"validation.whole_split_sizes: {s!r} is not in sizes {p.sizes}"
                 for s in p.validation.whole_split_sizes if s not in p.sizes]
    problems += [f"noise.datasets: {d!r} is not in datasets {p.datasets} (their teachers train there)"
                 for d in p.noise.datasets if d not in p.datasets]
    configurations = p.notebooks.configurations
    problems += [f"notebooks.configurations[{i}]: {c.student} on classes {c.classes} is listed twice"
                 for i, c in enumerate(configurations) if (c.student, c.classes) in
                 [(d.student, d.classes) for d in configurations[:i]]]
    for dataset in p.notebooks.datasets:
        if dataset not in p.datasets:
            problems.append(f"notebooks.datasets: {dataset!r} is not in datasets {p.datasets} (their teachers train there)")
            continue
        n = len(DATASETS[dataset].classes)
        for i, c in enumerate(configurations):
            key, v = f"notebooks.configurations[{i}]", parse_student(c.student)
            if problem := reduction_problem(v.reduction, v.n_features, DATASETS[dataset].image_shape):
                problems.append(f"{key}: {c.student} on {dataset}: {problem}")
            if len(c.classes) < 2 or max(c.classes) >= n:
                problems.append(f"{key}.classes: {c.classes} must be 2 or more classes of {dataset} (0..{n - 1})")
            if len(c.classes) > 2 ** v.qubits:
                problems.append(f"{key}.student: {c.student} scores {2 ** v.qubits} bitstrings, fewer than the "
                                f"{len(c.classes)} classes {c.classes}")
    return problems


def load_study_params(path: Path = STUDY_PARAMS) -> StudyParams:
    """Read and validate the study's params; raise ParamsError listing every problem."""
    raw = read_yaml(path)
    problems = schema_problems(raw, StudyParams)
    if problems:
        raise ParamsError(problems, str(path))
    params = StudyParams.model_validate(raw)
    if problems := _cross_checks(params):
        raise ParamsError(problems, str(path))
    return params
