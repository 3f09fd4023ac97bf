"""Train the arms of one study cell: per (student, class subset), every loss side by side (c2q.training.engine).

Inputs are the main pipeline's normalised image splits (all classes) and the trained teachers'
logits on them, per teacher seed. A class subset keeps those classes' rows, relabelled 0..C-1 in
the given order, and those columns of each teacher's logits: the teacher's own preference among
the kept classes.

What stands in the teacher's place for a control (every one a (train rows, C) array of logits):
- onehot:   the label as logits, 1 for its class and 0 elsewhere;
- uniform:  zeros (under `standardised`, whose z-score of a constant row is 0, still uniform);
- permuted: the trained teacher's logits with the non-target entries shuffled per image (fixed
            per teacher seed): the same confidence in the label, the relations among the others gone;
- self:     a baseline student trained on the same images from another seed (SELF_SEED + student seed).
"""

from __future__ import annotations

import math
from itertools import groupby

import torch
import torch.nn.functional as F

from c2q.core.variants import parse_student
from c2q.data.splits import SPLITS, Split, per_class_subset, take
from c2q.models.student import make_student
from c2q.study.arms import BASELINE, LABEL_SMOOTHING, Arm
from c2q.training.distill import distillation_losses
from c2q.training.engine import Recipe, Training, fit, predict_states
from c2q.training.scoring import accuracy

Logits = dict[str, torch.Tensor]  # split -> (N, classes)
Teachers = dict[int, dict[str, Logits]]  # teacher seed -> teacher -> split -> logits
SELF_SEED = 1000  # the self-teacher of student seed s starts from, and shuffles with, seed SELF_SEED + s


def class_subset(splits: dict[str, Split], teachers: Teachers, classes: tuple[int, ...] | None):
    """The splits and teachers' logits restricted to `classes` (all when None), relabelled 0..C-1."""
    if classes is None:
        return splits, teachers
    relabel = torch.full((int(splits["train"].y.max()) + 1,), -1, dtype=torch.long)
    relabel[list(classes)] = torch.arange(len(classes))
    kept = {s: (relabel[splits[s].y] >= 0).nonzero().flatten() for s in SPLITS}
    out_splits = {s: Split(splits[s].x[kept[s]], relabel[splits[s].y[kept[s]]]) for s in SPLITS}
    out_teachers = {seed: {t: {s: logits[s][kept[s]][:, list(classes)] for s in SPLITS} for t, logits in by.items()}
                    for seed, by in teachers.items()}
    return out_splits, out_teachers


def first_per_class(labels: torch.Tensor, n: int) -> torch.Tensor:
    """Sorted indices of the first `n` samples of every class, in dataset order (the notebooks' test subset)."""
    return torch.cat([(labels == c).nonzero().flatten()[:n] for c in labels.unique(sorted=True)]).sort().values


def permute_non_target(logits: torch.Tensor, labels: torch.Tensor, seed: int) -> torch.Tensor:
    """Each row's non-target logits shuffled among the non-target positions; the target's stays."""
    n, c = logits.shape
    rows = torch.arange(n)[:, None]
    noise = torch.rand(n, c, generator=torch.Generator().manual_seed(seed))
    noise[rows[:, 0], labels] = 2.0  # the target sorts last in both orders below
    shuffled = noise.argsort(dim=1)[:, : c - 1]
    ordered = torch.where(torch.arange(c) == labels[:, None], c, torch.arange(c)).argsort(dim=1)[:, : c - 1]
    out = logits.clone()
    out[rows, ordered] = logits[rows, shuffled]
    return out


def validation_size(size: int | str, fraction: float, min_per_class: int) -> int:
    """Validation images per class for `size` training images per class."""
    return max(min_per_class, math.ceil(fraction * size))


def smoothed_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """K trainings' cross-entropies against labels smoothed by eps (K,): (1 - eps) CE + eps mean_c(-log p_c)."""
    log_p = F.log_softmax(logits, dim=-1)
    ce = -log_p.gather(-1, labels.unsqueeze(-1)).squeeze(-1).mean(-1)
    return (1 - eps) * ce + eps * (-log_p.mean(-1)).mean(-1)


def teacher_source(arm: Arm) -> tuple | None:
    """What an arm learns from, as a key of `teacher_sources`; None for cross-entropy arms."""
    if arm.family in (BASELINE, LABEL_SMOOTHING):
        return None
    return arm.family, arm.teacher, arm.teacher_seed


def teacher_sources(arms: list[Arm], teachers: Teachers, labels: torch.Tensor, n_classes: int,
                    self_logits: torch.Tensor | None) -> dict[tuple, torch.Tensor]:
    """Every distinct teacher of `arms` as (train rows, C) logits."""
    make = {
        "distill": lambda t, s: teachers[s][t]["train"],
        "permuted": lambda t, s: permute_non_target(teachers[s][t]["train"], labels, seed=s),
        "self": lambda t, s: self_logits,
        "onehot": lambda t, s: F.one_hot(labels, n_classes).float(),
        "uniform": lambda t, s: torch.zeros(len(labels), n_classes),
    }
    keys = dict.fromkeys(k for k in map(teacher_source, arms) if k is not None)
    return {k: make[k[0]](k[1], k[2]) for k in keys}


def arms_loss(arms: list[Arm], sources: dict[tuple, torch.Tensor]):
    """The loss of the arms the engine passes (`which`: their indices in `arms`): cross-entropy arms by
    (smoothed) cross-entropy, each distillation method's arms in one vectorised call. `sources` holds
    each teacher's logits on the whole train split, whose rows the batches are."""
    kinds = [a.setting.method if teacher_source(a) else "ce" for a in arms]
    index = {k: i for i, k in enumerate(sources)}
    stacked = torch.stack(list(sources.values())) if sources else None
    teacher_of = torch.tensor([index.get(teacher_source(a), -1) for a in arms])
    temperature = torch.tensor([a.setting.temperature if a.setting else 1.0 for a in arms])
    alpha = torch.tensor([a.setting.alpha if a.setting else 0.0 for a in arms])
    smoothing = torch.tensor([a.smoothing for a in arms])

    def loss_fn(logits: torch.Tensor, labels: torch.Tensor, rows: torch.Tensor, which: torch.Tensor) -> torch.Tensor:
        parts: dict[str, list[int]] = {}
        for position, k in enumerate(which.tolist()):
            parts.setdefault(kinds[k], []).append(position)
        losses = []
        for kind, positions in parts.items():
            idx, arm = torch.tensor(positions), which[positions]
            if kind == "ce":
                losses.append((idx, smoothed_cross_entropy(logits[idx], labels[idx], smoothing[arm])))
                continue
            teacher = stacked[teacher_of[arm][:, None], rows[idx]]
            losses.append((idx, distillation_losses(logits[idx], teacher, labels[idx], kind, temperature[arm],
                                                    alpha[arm])))
        order = torch.cat([idx for idx, _ in losses]).argsort()
        return torch.cat([loss for _, loss in losses])[order]

    return loss_fn


def _errors(logits: torch.Tensor, split: Split) -> list[float]:
    return [1 - accuracy(lg, split.y) for lg in logits]


def self_teacher(student: str, splits: dict[str, Split], rows: torch.Tensor, val: Split, seed: int, make,
                 recipe: Recipe, desc: str) -> torch.Tensor:
    """The train-split logits of a baseline student trained on `rows` from seed SELF_SEED + seed (the
    `self` control's teacher of student seed `seed`)."""
    n_classes = int(splits["train"].y.max()) + 1
    torch.manual_seed(SELF_SEED + seed)
    model = make(n_classes)
    [(state, _)] = fit(model, [model.state_dict()], [Training("self-teacher", SELF_SEED + seed, rows)],
                       splits["train"], val, loss_fn=arms_loss([Arm(student, None, BASELINE)], {}), recipe=recipe,
                       desc=desc)
    return predict_states(model, [state], splits["train"].x)[0]


def train_arms(arms: list[Arm], splits: dict[str, Split], teachers: Teachers, *, size, seed: int, val_rows,
               hyper: dict, recipe_for, desc: str, pixel_stats, checkpoint=None, keys=None,
               monitor_per_class: int | None = None, self_logits=None) -> list[dict]:
    """Train arms of one student and class subset side by side; one result dict per arm, in order.

    `val_rows(val labels) -> indices` picks the validation subset; `hyper` holds the student's
    construction keys (layers, simulator, training_shots, shift) and `pixel_stats` the images'
    standardisation (the split file's mean and std); `recipe_for(n_train_rows)` gives the
    recipe; `self_logits(make, splits, rows, val, recipe) -> logits` trains or reads the self-teacher
    when an arm needs it. With `monitor_per_class`, the first that many test images
    per class are scored at every validation pass (the notebooks' choice of epoch on the test set).
    """
    student, classes = arms[0].student, arms[0].classes
    assert all((a.student, a.classes) == (student, classes) for a in arms)
    splits, teachers = class_subset(splits, teachers, classes)
    variant, shape = parse_student(student), tuple(splits["train"].x.shape[1:])
    flat = {s: Split(splits[s].x.flatten(1), splits[s].y) for s in SPLITS}
    rows = per_class_subset(flat["train"].y, size, seed)
    val = take(flat["val"], val_rows(flat["val"].y))
    n_classes = len(classes) if classes else int(flat["train"].y.max()) + 1

    def make(n: int):
        return make_student(variant, shape, n, **hyper, pixel_stats=pixel_stats)

    recipe = recipe_for(len(rows))
    torch.manual_seed(seed)
    model = make(n_classes)
    init = model.state_dict()
    selfs = self_logits(make, flat, rows, val, recipe) if any(a.family == "self" for a in arms) else None
    sources = teacher_sources(arms, teachers, flat["train"].y, n_classes, selfs)
    monitor = take(flat["test"], first_per_class(flat["test"].y, monitor_per_class)) if monitor_per_class else None
    trainings = [Training(a.name, seed, rows, lr_scale=a.lr_scale) for a in arms]
    results = fit(model, [init] * len(arms), trainings, flat["train"], val, loss_fn=arms_loss(arms, sources),
                  recipe=recipe, desc=desc, checkpoint=checkpoint, keys=keys, monitor=monitor)
    states = [state for state, _ in results]
    test_errors = _errors(predict_states(model, states, flat["test"].x), flat["test"])
    subset_errors = _errors(predict_states(model, states, monitor.x), monitor) if monitor is not None else None
    out = []
    for i, (arm, (_, result)) in enumerate(zip(arms, results)):
        record = {**arm.row(), "train_samples": len(rows), "val_samples": len(val), "best_step": result.best_step,
                  "steps": result.steps, "hit_cap": result.hit_cap, "best_val_accuracy": result.best_val_accuracy,
                  "test_error": test_errors[i], "curve": result.history}
        if monitor is not None:  # the notebooks' way: the best pass on these test images, scored on them
            record["test_subset_error"] = subset_errors[i]
            record["test_subset_error_chosen_on_test"] = 1 - max(r["monitor_accuracy"] for r in result.history)
        out.append(record)
    return out


def by_group(arms: list[Arm]) -> list[list[Arm]]:
    """Arms split into the groups that train together (same student and class subset), in order."""
    return [list(g) for _, g in groupby(arms, key=lambda a: (a.student, a.classes))]
