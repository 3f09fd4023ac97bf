"""The trainings the study's params ask for: cells, arms and their names.

A *cell* is one (dataset, group, student seed). Its group is a training size of the map (images
per class, or `all`), that size with the whole validation split (`<size>.whole-val`, the
sensitivity row), or `notebooks-<regime>` (the paper notebooks' runs, trained the regime's way:
`notebooks-batched`, `notebooks-as_run`). A cell trains, per student
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
NOTEBOOKS = "notebooks"  # the study of the notebooks' regime; its groups are notebooks-<regime>
REGIMES = ("batched", "as_run")  # study/params.yaml notebooks.regimes
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
    shots: int = 0  # the notebooks' student: shots per circuit run in training and evaluation (0: exact)

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
                "alpha": s.alpha if s else None, "smoothing": self.smoothing, "lr_scale": self.lr_scale,
                "shots": self.shots}


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


def notebook_arms(p: StudyParams, regime: str, seed: int) -> list[Arm]:
    """Every arm of a notebooks cell of student seed `seed`: per configuration, the plain baseline and the
    notebooks' setting from every teacher of teacher seed teacher_seeds[s % n] (not crossed, for time:
    docs/study.md), with the configuration's shots where the regime trains with shots."""
    arms, nb = [], p.notebooks
    with_shots = nb.regimes.of(regime).shots
    for c in nb.configurations:
        classes, shots = tuple(c.classes), c.shots if with_shots else 0
        arms.append(Arm(c.student, classes, BASELINE, shots=shots))
        arms += [Arm(c.student, classes, DISTILL, nb.setting, teacher=t, teacher_seed=teacher_seed(p, seed),
                     shots=shots) for t in nb.teachers]
    return arms


def notebooks_group(regime: str) -> str:
    return f"{NOTEBOOKS}-{regime}"


def regime_of(group: str) -> str | None:
    """The notebooks' regime a group trains, or None for a group of the map."""
    prefix = f"{NOTEBOOKS}-"
    return group.removeprefix(prefix) if group.startswith(prefix) and group.removeprefix(prefix) in REGIMES else None


def cell_arms(p: StudyParams, group: str, seed: int) -> list[Arm]:
    regime = regime_of(group)
    return notebook_arms(p, regime, seed) if regime else map_arms(p, group, seed)


def cells(p: StudyParams) -> list[tuple[str, str, int]]:
    """Every (dataset, group, student seed) the params call for: the map's, then the notebooks' regimes'."""
    out = [(d, group, s) for d in p.datasets for group in groups(p) for s in p.seeds]
    return out + [(d, notebooks_group(r), s) for r in REGIMES for d in p.notebooks.datasets
                  for s in p.notebooks.regimes.of(r).seeds]


def groups(p: StudyParams) -> list[str]:
    """Every map group: the sizes, then the whole-validation sensitivity groups."""
    return [str(s) for s in p.sizes] + [f"{s}{WHOLE_VAL}" for s in p.validation.whole_split_sizes]


def cell_size(p: StudyParams, group: str) -> int | str:
    """Training images per class of a cell's group."""
    if regime_of(group):
        return p.notebooks.size
    size = group.removesuffix(WHOLE_VAL)
    return size if size == ALL else int(size)


def whole_validation(group: str) -> bool:
    """Whether a group's trainings see the whole validation split (else a subset in proportion)."""
    return group.endswith(WHOLE_VAL) or group == ALL


def teachers_used(p: StudyParams) -> list[str]:
    """Every trained teacher (or ensemble) some arm learns from."""
    return list(dict.fromkeys([p.distill.teacher, *p.notebooks.teachers]))
