"""The trainings the regime map's params ask for: cells, arms, pairing and keys.

A *cell* is one (dataset, group, student seed): group is a training size of the
map (images per class, or `all`) or `notebooks` (the paper notebooks'
configurations). A cell trains, per student variant (and class subset), one
baseline and one distilled student per (teacher, setting): its *arms*. All arms
of a cell share initial weights, training subset and batch order, so they train
side by side (c2q.arms) and their errors pair by seed.
"""

from __future__ import annotations

from dataclasses import dataclass

from c2q.core.variants import parse_student
from c2q.study.config import Setting, StudyParams

ALL = "all"
NOTEBOOKS = "notebooks"


def setting_label(s: Setting) -> str:
    """e.g. notebook-T3-a0.9, part of a training's file name."""
    return f"{s.method}-T{s.temperature:g}-a{s.alpha:g}"


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
        loss = "baseline" if self.teacher is None else f"{self.teacher}-{setting_label(self.setting)}"
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
