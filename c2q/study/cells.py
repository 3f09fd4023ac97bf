"""Train the arms of one study cell: per (student, class subset), every loss side by side (c2q.training.engine).

Inputs are the main pipeline's normalised image splits (all classes) and the
teachers' logits on them. A class subset keeps those classes' rows, relabelled
0..C-1 in the given order, and those columns of each teacher's logits: the
teacher's own preference among the kept classes.
"""

from __future__ import annotations

from itertools import groupby
from pathlib import Path

import torch

from c2q.core.variants import parse_student
from c2q.data.splits import SPLITS, Split, per_class_subset
from c2q.models.student import Student
from c2q.study.arms import Arm
from c2q.training.distill import distillation_losses
from c2q.training.engine import Recipe, Training, cross_entropy, fit, predict_states
from c2q.training.scoring import accuracy

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
    """The loss of the arms the engine passes (`which`: their indices in `arms`): baselines by plain
    cross-entropy (the main pipeline's own), each distillation method's arms in one vectorised call.
    `teacher_train` holds each teacher's logits on the whole train split, whose rows the batches are."""
    methods = [arm.setting.method if arm.setting else "baseline" for arm in arms]
    teachers = {t: i for i, t in enumerate(dict.fromkeys(a.teacher for a in arms if a.teacher))}
    stacked = torch.stack([teacher_train[t] for t in teachers]) if teachers else None
    teacher_of = torch.tensor([teachers.get(a.teacher, -1) for a in arms])
    temperature = torch.tensor([a.setting.temperature if a.setting else 1.0 for a in arms])
    alpha = torch.tensor([a.setting.alpha if a.setting else 0.0 for a in arms])

    def loss_fn(logits: torch.Tensor, labels: torch.Tensor, rows: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
        parts = {}
        for position, k in enumerate(which.tolist()):
            parts.setdefault(methods[k], []).append(position)
        losses = []
        for method, positions in parts.items():
            idx, arm = torch.tensor(positions), which[positions]
            if method == "baseline":
                losses.append((idx, cross_entropy(logits[idx], labels[idx])))
                continue
            teacher = stacked[teacher_of[arm][:, None], rows[idx]]
            losses.append((idx, distillation_losses(logits[idx], teacher, labels[idx], method, temperature[arm],
                                                    alpha[arm])))
        order = torch.cat([idx for idx, _ in losses]).argsort()
        return torch.cat([loss for _, loss in losses])[order]

    return loss_fn


def train_arms(arms: list[Arm], splits: dict[str, Split], teachers: dict[str, Logits], *, size, seed: int,
               layers: int, simulator: str, recipe: Recipe, desc: str, checkpoint: Path | None = None,
               keys: list[str] | None = None) -> list[dict]:
    """Train arms of one student and class subset side by side; one result dict per arm, in order."""
    student, classes = arms[0].student, arms[0].classes
    assert all((a.student, a.classes) == (student, classes) for a in arms)
    splits, teachers = class_subset(splits, teachers, classes)
    flat = {s: Split(splits[s].x.flatten(1), splits[s].y) for s in SPLITS}
    rows = per_class_subset(flat["train"].y, size, seed)
    n_classes = len(classes) if classes else int(splits["train"].y.max()) + 1
    torch.manual_seed(seed)
    model = Student(flat["train"].x.shape[1], n_classes, parse_student(student), layers, simulator)
    init = model.state_dict()
    used = {a.teacher for a in arms if a.teacher}
    loss_fn = arms_loss(arms, {t: teachers[t]["train"] for t in used})
    results = fit(model, [init] * len(arms), [Training(a.name, seed, rows) for a in arms], flat["train"],
                  flat["val"], loss_fn=loss_fn, recipe=recipe, desc=desc, checkpoint=checkpoint, keys=keys)
    test_logits = predict_states(model, [state for state, _ in results], flat["test"].x)
    out = []
    for arm, (_, result), logits in zip(arms, results, test_logits):
        out.append({**arm.row(), "train_samples": len(rows), "best_step": result.best_step, "steps": result.steps,
                    "hit_cap": result.hit_cap, "best_val_accuracy": result.best_val_accuracy,
                    "test_error": 1 - accuracy(logits, flat["test"].y), "curve": result.history})
    return out


def by_group(arms: list[Arm]) -> list[list[Arm]]:
    """Arms split into the groups that train together (same student and class subset), in order."""
    return [list(g) for _, g in groupby(arms, key=lambda a: (a.student, a.classes))]
