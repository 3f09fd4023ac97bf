"""The trainings the study's params ask for: cells, arms and their names.

A *cell* is one (dataset, group, student seed). Its group is a training size of the map (images
per class, or `all`), that size with the whole validation split (`<size>.whole-val`, the
sensitivity row), or `notebooks` (the paper notebooks' regime). A cell trains, per student
(and class subset), its *arms*: one training per loss. All arms of a cell share initial weights,
training subset, validation subset and batch order, so they train side by side
(c2q.training.engine) and their errors pair by student seed.

An arm belongs to a *family*, and every family of a map cell offers the same number of settings,
from which the study picks one on validation (c2q.study.report):
- baseline:        cross-entropy, tuned over learning rate x label smoothing;
- distill:         a teacher's logits under a method, at every temperature x alpha, from every teacher
                   seed (student seeds crossed with teacher seeds);
- label_smoothing: cross-entropy against smoothed one-hot labels, at as many strengths;
- onehot, uniform, permuted, self: the distillation loss with something else in the teacher's place
  (c2q.study.cells), at every temperature x alpha. One each per student seed: permuted shuffles
  the logits of teacher seed teacher_seeds[s % n], self learns from a student of seed 1000 + s.
The controls train for the students `controls.students` names; every student trains the first two.
"""

from __future__ import annotations

from dataclasses import dataclass

from c2q.core.variants import parse_student
from c2q.study.config import Setting, StudyParams

ALL = "all"
NOTEBOOKS = "notebooks"
WHOLE_VAL = ".whole-val"  # suffix of a map group trained with the whole validation split
BASELINE, DISTILL, LABEL_SMOOTHING = "baseline", "distill", "label_smoothing"



def setting_label(s: Setting) -> str:
    """e.g. notebook-T3-a0.9, part of a training's file name."""
    return f"{s.method}-T{s.temperature:g}-a{s.alpha:g}"


@dataclass(frozen=True)
class Arm:
    """One training: a student (on a class subset), its family and its loss."""

    student: str
    classes: tuple[int, ...] | None  # None: every class
    family: str
    setting: Setting | None = None  # the distillation loss (teacher families)
    smoothing: float = 0.0  # label smoothing (baseline, label_smoothing)
    lr_scale: float = 1.0  # times params.yaml's student.lr (baseline)
    teacher: str | None = None  # the trained teacher (distill, permuted)
    teacher_seed: int | None = None  # distill, permuted, self

    @property
    def role(self) -> str:
        return {BASELINE: "baseline", DISTILL: "distilled"}.get(self.family, "control")

    @property
    def name(self) -> str:
        prefix = f"c{''.join(map(str, self.classes))}-" if self.classes else ""
        seed = f".t{self.teacher_seed}" if self.teacher_seed is not None else ""
        loss = {
            BASELINE: lambda: f"baseline-lr{self.lr_scale:g}-ls{self.smoothing:g}",
            LABEL_SMOOTHING: lambda: f"ls{self.smoothing:g}",
            DISTILL: lambda: f"{self.teacher}{seed}-{setting_label(self.setting)}",
            "permuted": lambda: f"permuted-{self.teacher}{seed}-{setting_label(self.setting)}",
        }.get(self.family, lambda: f"{self.family}{seed}-{setting_label(self.setting)}")()
        return f"{prefix}{self.student}-{loss}"

    def row(self) -> dict:
        """The arm's study axes, as its metrics file and MLflow tags hold them."""
        s, v = self.setting, parse_student(self.student)
        return {"student": self.student, "qubits": v.qubits, "classical": v.classical,
                "classes": ",".join(map(str, self.classes)) if self.classes else ALL, "role": self.role,
                "family": self.family, "teacher": self.teacher or "none", "teacher_seed": self.teacher_seed,
                "method": s.method if s else "none", "temperature": s.temperature if s else None,
                "alpha": s.alpha if s else None, "smoothing": self.smoothing, "lr_scale": self.lr_scale}


def baseline_arms(p: StudyParams, student: str, classes=None) -> list[Arm]:
    return [Arm(student, classes, BASELINE, smoothing=eps, lr_scale=lr) for lr, eps in p.baseline.settings()]


def teacher_seed(p: StudyParams, seed: int) -> int:
    """The teacher seed whose logits the `permuted` control of student seed `seed` shuffles."""
    return p.teacher_seeds[seed % len(p.teacher_seeds)]


def _teacher_family(p: StudyParams, student: str, family: str, seed: int) -> list[Arm]:
    d, arms = p.distill, []
    for method in d.methods:
        for s in d.settings(method):
            if family == DISTILL:
                arms += [Arm(student, None, family, s, teacher=d.teacher, teacher_seed=t) for t in p.teacher_seeds]
            elif family == "permuted":
                arms.append(Arm(student, None, family, s, teacher=d.teacher, teacher_seed=teacher_seed(p, seed)))
            else:
                arms.append(Arm(student, None, family, s))
    return arms


def map_arms(p: StudyParams, group: str, seed: int) -> list[Arm]:
    """Every arm of a map cell of student seed `seed`: per student, the tuned baseline and
    distillation; for the students `controls.students` names, every control too. A whole-validation
    sensitivity group trains only those students, and no control."""
    arms = []
    for student in p.students:
        controlled = student in p.controls.students
        if group.endswith(WHOLE_VAL) and not controlled:
            continue
        arms += baseline_arms(p, student) + _teacher_family(p, student, DISTILL, seed)
        if group.endswith(WHOLE_VAL) or not controlled:
            continue
        arms += [Arm(student, None, LABEL_SMOOTHING, smoothing=eps) for eps in p.controls.label_smoothing]
        for family in p.controls.teachers:
            arms += _teacher_family(p, student, family, seed)
    return arms


def notebook_arms(p: StudyParams, seed: int) -> list[Arm]:
    """Every arm of a notebooks cell of student seed `seed`: per class subset and student, the plain
    baseline and the notebooks' setting from every teacher of teacher seed teacher_seeds[s % n] (not
    crossed, for time: docs/study.md)."""
    arms, nb = [], p.notebooks
    for classes in nb.classes:
        for student in nb.students:
            arms.append(Arm(student, tuple(classes), BASELINE))
            arms += [Arm(student, tuple(classes), DISTILL, nb.setting, teacher=t, teacher_seed=teacher_seed(p, seed))
                     for t in nb.teachers]
    return arms


def cell_arms(p: StudyParams, group: str, seed: int) -> list[Arm]:
    return notebook_arms(p, seed) if group == NOTEBOOKS else map_arms(p, group, seed)


def groups(p: StudyParams) -> list[str]:
    """Every map group: the sizes, then the whole-validation sensitivity groups."""
    return [str(s) for s in p.sizes] + [f"{s}{WHOLE_VAL}" for s in p.validation.whole_split_sizes]


def cell_size(p: StudyParams, group: str) -> int | str:
    """Training images per class of a cell's group."""
    if group == NOTEBOOKS:
        return p.notebooks.size
    size = group.removesuffix(WHOLE_VAL)
    return size if size == ALL else int(size)


def whole_validation(group: str) -> bool:
    """Whether a group's trainings see the whole validation split (else a subset in proportion)."""
    return group.endswith(WHOLE_VAL) or group == ALL


def teachers_used(p: StudyParams) -> list[str]:
    """Every trained teacher (or ensemble) some arm learns from."""
    return list(dict.fromkeys([p.distill.teacher, *p.notebooks.teachers]))
