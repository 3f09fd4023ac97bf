"""The regime map's params (study/params.yaml) and the trainings they ask for.

A *cell* is one (dataset, group, student seed): group is a training size of the
map (an int per class, or `all`) or `notebooks` (the paper notebooks'
configurations). A cell trains, per student variant (and class subset), one
baseline and one distilled student per (teacher, setting): its *arms*. All arms
of a cell share initial weights, training subset and batch order, so they train
side by side (c2q.arms) and their errors pair by seed.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Literal, Union

from pydantic import AfterValidator, Field

from c2q.config import Count, PositiveNumber, Seed, _list, _Section, _student_name, read_yaml, schema_problems
from c2q.errors import ParamsError
from c2q.registry import DATASETS, DISTILL_METHODS, ENSEMBLE, TRAINED_TEACHERS
from c2q.variants import parse_student

STUDY_PARAMS = Path("study/params.yaml")
ALL = "all"
NOTEBOOKS = "notebooks"
Alpha = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
TeacherName = Literal[TRAINED_TEACHERS + (ENSEMBLE,)]


def _study_student(name: str) -> str:
    v = parse_student(name)
    if (v.reduction, v.encoding) != ("fc", "amplitude") or v.classical:
        raise ValueError(f"{name}: the study trains fc-amplitude-q<N> students (the flattened image through a "
                         "trainable linear layer into amplitude encoding), side by side")
    return name


StudyStudent = Annotated[str, AfterValidator(_student_name), AfterValidator(_study_student)]
Size = Union[Literal["all"], Count]


class Setting(_Section):
    method: Literal[DISTILL_METHODS]
    temperature: PositiveNumber
    alpha: Alpha

    @property
    def label(self) -> str:
        return f"{self.method}-T{self.temperature:g}-a{self.alpha:g}"


class Recipe(_Section):
    layers: Count
    steps: Count
    batch_size: Count
    lr: PositiveNumber
    evaluations: Count


class Sweep(_Section):
    methods: _list(Literal[DISTILL_METHODS])
    temperatures: _list(PositiveNumber)
    alphas: _list(Alpha)
    students: list[StudyStudent]

    def settings(self) -> list[Setting]:
        return [Setting(method=m, temperature=t, alpha=a)
                for m in self.methods for t in self.temperatures for a in self.alphas]


class CompareTeachers(_Section):
    teachers: _list(TeacherName)
    students: list[StudyStudent]


class StudyDistill(_Section):
    teacher: TeacherName
    reference: _list(Setting)
    sweep: Sweep
    compare_teachers: CompareTeachers


class Notebooks(_Section):
    classes: _list(_list(Annotated[int, Field(ge=0)]))
    students: _list(StudyStudent)
    size: Count
    teachers: _list(TeacherName)
    seeds: _list(Seed)
    setting: Setting


class StudyMlflow(_Section):
    experiment: Annotated[str, Field(min_length=1)]


class StudyParams(_Section):
    mlflow: StudyMlflow
    datasets: _list(Literal[tuple(DATASETS)])
    students: _list(StudyStudent)
    sizes: _list(Size)
    seeds: _list(Seed)
    teacher_seeds: _list(Seed)
    recipe: Recipe
    distill: StudyDistill
    notebooks: Notebooks


def _cross_checks(p: StudyParams) -> list[str]:
    problems = []
    for key, students in [("distill.sweep.students", p.distill.sweep.students),
                          ("distill.compare_teachers.students", p.distill.compare_teachers.students)]:
        problems += [f"{key}: {s!r} is not in students {p.students}" for s in students if s not in p.students]
    for dataset in p.datasets:
        n = len(DATASETS[dataset].classes)
        for classes in p.notebooks.classes:
            if len(classes) < 2 or max(classes) >= n:
                problems.append(f"notebooks.classes: {classes} must be 2 or more classes of {dataset} (0..{n - 1})")
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


# ---- the trainings of one cell ----

@dataclass(frozen=True)
class Arm:
    """One training: a student variant (on a class subset) and its loss."""

    student: str
    classes: tuple[int, ...] | None  # None: every class
    teacher: str | None  # None: the baseline
    setting: Setting | None

    @property
    def role(self) -> str:
        return "baseline" if self.teacher is None else "distilled"

    @property
    def name(self) -> str:
        prefix = f"c{''.join(map(str, self.classes))}-" if self.classes else ""
        loss = "baseline" if self.teacher is None else f"{self.teacher}-{self.setting.label}"
        return f"{prefix}{self.student}-{loss}"

    def row(self) -> dict:
        """The arm's study axes, as its metrics file and MLflow tags hold them."""
        s = self.setting
        return {"student": self.student, "qubits": parse_student(self.student).qubits,
                "classes": ",".join(map(str, self.classes)) if self.classes else ALL, "role": self.role,
                "teacher": self.teacher or "none", "method": s.method if s else "none",
                "temperature": s.temperature if s else None, "alpha": s.alpha if s else None}


def _distilled(student: str, classes, teachers, settings) -> list[Arm]:
    return [Arm(student, classes, t, s) for t in teachers for s in settings]


def map_arms(p: StudyParams) -> list[Arm]:
    """Every arm of a map cell: per student, the baseline, the reference settings from `distill.teacher`
    (from every compared teacher, for their students) and, for the sweep's students, the sweep's settings."""
    d, arms = p.distill, []
    for student in p.students:
        teachers = d.compare_teachers.teachers if student in d.compare_teachers.students else [d.teacher]
        arms.append(Arm(student, None, None, None))
        arms += _distilled(student, None, list(dict.fromkeys([*teachers, d.teacher])), d.reference)
        if student in d.sweep.students:
            arms += _distilled(student, None, [d.teacher], [s for s in d.sweep.settings() if s not in d.reference])
    return arms


def notebook_arms(p: StudyParams) -> list[Arm]:
    """Every arm of a notebooks cell: per class subset and student, the baseline and every teacher."""
    arms = []
    for classes in p.notebooks.classes:
        for student in p.notebooks.students:
            arms.append(Arm(student, tuple(classes), None, None))
            arms += _distilled(student, tuple(classes), p.notebooks.teachers, [p.notebooks.setting])
    return arms


def cell_arms(p: StudyParams, group: str) -> list[Arm]:
    return notebook_arms(p) if group == NOTEBOOKS else map_arms(p)


def cell_size(p: StudyParams, group: str) -> int | str:
    """Training images per class of a cell's group (a size of the map, or `notebooks`)."""
    if group == NOTEBOOKS:
        return p.notebooks.size
    return group if group == ALL else int(group)


def teachers_used(p: StudyParams) -> list[str]:
    """Every teacher some arm learns from."""
    d = p.distill
    return list(dict.fromkeys([d.teacher, *d.compare_teachers.teachers, *p.notebooks.teachers]))


def teacher_seed(p: StudyParams, seed: int) -> int:
    """The teacher seed that student seed `seed` learns from."""
    return p.teacher_seeds[seed % len(p.teacher_seeds)]


def arm_key(arm: Arm, recipe: Recipe, size: int | str, seed: int, inputs: dict[str, str]) -> str:
    """What one training's result depends on: if this is unchanged, its metrics file is reused."""
    blob = json.dumps([arm.name, recipe.model_dump(), size, seed, inputs], sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
