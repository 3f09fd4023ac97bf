"""Train the arms of one study cell: per (student, class subset), every loss side by side.

Inputs are the main pipeline's normalised image splits (all classes) and the
teachers' logits on them. A class subset keeps those classes' rows, relabelled
0..C-1 in the given order, and those columns of each teacher's logits: the
teacher's own preference among the kept classes.
"""

from __future__ import annotations

from itertools import groupby

import torch
import torch.nn.functional as F

from c2q.arms import Arms, fit_arms
from c2q.distill import distillation_losses
from c2q.splits import SPLITS, Split, per_class_subset, take
from c2q.student import Student
from c2q.study import Arm
from c2q.study_config import Recipe
from c2q.train import accuracy
from c2q.variants import parse_student

Logits = dict[str, torch.Tensor]  # split -> (N, classes)


def class_subset(splits: dict[str, Split], teachers: dict[str, Logits], classes: tuple[int, ...] | None):
    """The splits and teachers' logits restricted to `classes` (all when None), relabelled 0..C-1."""
    if classes is None:
        return splits, teachers
    relabel = torch.full((int(splits["train"].y.max()) + 1,), -1, dtype=torch.long)
    relabel[list(classes)] = torch.arange(len(classes))
    kept = {s: (relabel[splits[s].y] >= 0).nonzero().flatten() for s in SPLITS}
    out_splits = {s: Split(splits[s].x[kept[s]], relabel[splits[s].y[kept[s]]]) for s in SPLITS}
    out_teachers = {t: {s: logits[s][kept[s]][:, list(classes)] for s in SPLITS} for t, logits in teachers.items()}
    return out_splits, out_teachers


def arms_loss(arms: list[Arm], teacher_train: dict[str, torch.Tensor]):
    """The loss of K arms at once: each method's arms in one vectorised call. A baseline arm is the
    Hinton form at alpha = 0, i.e. exactly cross-entropy (its KL term gets weight 0)."""
    teacher = None
    if teacher_train:
        zeros = torch.zeros_like(next(iter(teacher_train.values())))
        teacher = torch.stack([teacher_train[a.teacher] if a.teacher else zeros for a in arms])
    methods = {}
    for k, arm in enumerate(arms):
        s = arm.setting
        method, T, alpha = (s.method, s.temperature, s.alpha) if s else ("hinton", 1.0, 0.0)
        methods.setdefault(method, []).append((k, T, alpha))
    groups = [(m, torch.tensor([k for k, _, _ in rows]), torch.tensor([t for _, t, _ in rows]),
               torch.tensor([a for _, _, a in rows])) for m, rows in methods.items()]
    order = torch.cat([idx for _, idx, _, _ in groups]).argsort()

    def loss_fn(logits: torch.Tensor, labels: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
        if teacher is None:  # baselines only
            return torch.stack([F.cross_entropy(row, labels) for row in logits])
        batch_teacher = teacher[:, index]
        parts = [distillation_losses(logits[idx], batch_teacher[idx], labels, m, T, a) for m, idx, T, a in groups]
        return torch.cat(parts)[order]

    return loss_fn


def train_arms(arms: list[Arm], splits: dict[str, Split], teachers: dict[str, Logits], *, size, seed: int,
               recipe: Recipe, desc: str) -> list[dict]:
    """Train arms of one student and class subset side by side; one result dict per arm, in order."""
    student, classes = arms[0].student, arms[0].classes
    assert all((a.student, a.classes) == (student, classes) for a in arms)
    splits, teachers = class_subset(splits, teachers, classes)
    subset = per_class_subset(splits["train"].y, size, seed)
    flat = {s: Split(splits[s].x.flatten(1), splits[s].y) for s in SPLITS}
    train = take(flat["train"], subset)
    n_classes = len(classes) if classes else int(splits["train"].y.max()) + 1
    torch.manual_seed(seed)
    model = Student(train.x.shape[1], n_classes, parse_student(student), recipe.layers, "fused")
    side_by_side = Arms(model, len(arms))
    used = {a.teacher for a in arms if a.teacher}
    loss_fn = arms_loss(arms, {t: teachers[t]["train"][subset] for t in used})
    best, result = fit_arms(side_by_side, train, flat["val"], loss_fn=loss_fn, steps=recipe.steps,
                            batch_size=recipe.batch_size, evaluations=recipe.evaluations, lr=recipe.lr, seed=seed,
                            desc=desc)
    test_logits = side_by_side.predict(flat["test"].x, best)
    out = []
    for k, arm in enumerate(arms):
        test_accuracy = accuracy(test_logits[k], flat["test"].y)
        out.append({**arm.row(), "train_samples": len(train), "best_step": result.best_step[k],
                    "best_val_accuracy": result.best_val_accuracy[k], "test_error": 1 - test_accuracy,
                    "curve": result.history[k]})
    return out


def by_group(arms: list[Arm]) -> list[list[Arm]]:
    """Arms split into the groups that train together (same student and class subset), in order."""
    return [list(g) for _, g in groupby(arms, key=lambda a: (a.student, a.classes))]
