"""study/params.yaml as typed objects, checked like params.yaml (c2q.core.config): every problem named by key.

What the values mean for the trainings is c2q.study.arms's business; this module
only reads and checks them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from c2q.core.config import Count, PerClass, PositiveNumber, Seed, _list, _Section, _student_name, read_yaml, schema_problems
from c2q.core.datasets import DATASETS
from c2q.core.errors import ParamsError
from c2q.core.methods import DISTILL_METHODS
from c2q.core.names import ENSEMBLE, TRAINED_TEACHERS
from c2q.core.variants import parse_student

STUDY_PARAMS = Path("study/params.yaml")
Alpha = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
TeacherName = Literal[TRAINED_TEACHERS + (ENSEMBLE,)]


def _study_student(name: str) -> str:
    v = parse_student(name)
    if (v.reduction, v.encoding) != ("fc", "amplitude") or v.classical:
        raise ValueError(f"{name}: the study trains fc-amplitude-q<N> students (the flattened image through a "
                         "trainable linear layer into amplitude encoding), side by side")
    return name


StudyStudent = Annotated[str, AfterValidator(_student_name), AfterValidator(_study_student)]


class Setting(_Section):
    method: Literal[DISTILL_METHODS]
    temperature: PositiveNumber
    alpha: Alpha


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
    sizes: _list(PerClass)
    seeds: _list(Seed)
    teacher_seeds: _list(Seed)
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
