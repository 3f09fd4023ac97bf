"""A study cell's arms (c2q.study.cells): one student under many losses, side by side, each as it would train
alone; the controls' stand-in teachers; the engine's learning-rate factor and monitor split."""

import math

import torch
import torch.nn.functional as F

from c2q.data.splits import Split
from c2q.models.student import Student
from c2q.core.variants import parse_student
from c2q.study.arms import Arm
from c2q.study.cells import (arms_loss, class_subset, first_per_class, permute_non_target, smoothed_cross_entropy,
                             teacher_sources, train_arms)
from c2q.study.config import Setting
from c2q.training.engine import Recipe, Training, cross_entropy, fit

RECIPE = Recipe(batch_size=16, lr=0.05, max_steps=24, eval_every=4, patience=12)
HYPER = {"layers": 2, "simulator": "fused", "training_shots": 0, "shift": math.pi / 4}
S = "fc-amplitude-q3"


def _data(n=120, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.randn(n, 1, 4, 4, generator=g) + y.view(-1, 1, 1, 1).float()
    teacher = torch.randn(n, classes, generator=g) * 3
    splits = {s: Split(x, y) for s in ("train", "val", "test")}
    return splits, {0: {"t": {s: teacher for s in splits}}}


def _setting(method, t=2.0, a=0.5):
    return Setting(method=method, temperature=t, alpha=a)


ARMS = [Arm(S, None, "baseline"), Arm(S, None, "baseline", smoothing=0.1, lr_scale=0.5),
        Arm(S, None, "label_smoothing", smoothing=0.6),
        Arm(S, None, "distill", _setting("notebook", 3, 0.9), teacher="t", teacher_seed=0),
        Arm(S, None, "distill", _setting("standardised", 2, 0.99), teacher="t", teacher_seed=0),
        Arm(S, None, "onehot", _setting("standardised")), Arm(S, None, "uniform", _setting("hinton")),
        Arm(S, None, "permuted", _setting("hinton"), teacher="t", teacher_seed=0),
        Arm(S, None, "self", _setting("hinton"))]


def _self(make, flat, rows, val, recipe):
    return torch.randn(len(flat["train"].y), 4, generator=torch.Generator().manual_seed(5))


def _train(arms, monitor=None):
    splits, teachers = _data()
    return train_arms(arms, splits, teachers, size="all", seed=3, val_rows=lambda y: torch.arange(len(y)),
                      hyper=HYPER, recipe_for=lambda n: RECIPE, desc="t", pixel_stats=None, monitor_per_class=monitor,
                      self_logits=_self)


def test_side_by_side_equals_alone():
    together = _train(ARMS)
    for i, (arm, row) in enumerate(zip(ARMS, together)):
        alone = _train([arm, ARMS[(i + 1) % len(ARMS)]])[0]  # one other arm beside it
        assert alone == row, arm.name
    # the losses differ, so the arms must not have learnt the same thing
    assert len({round(r["curve"][-1]["train_loss"], 6) for r in together}) == len(ARMS)


def test_the_baseline_arm_is_plain_cross_entropy_and_smoothing_is_the_textbook_one():
    splits, teachers = _data()
    arms = [ARMS[0], ARMS[2], ARMS[3]]
    sources = teacher_sources(arms, teachers, splits["train"].y, 4, None)
    loss_fn = arms_loss(arms, sources)
    logits = torch.randn(3, 8, 4)
    rows = torch.arange(8).expand(3, -1)
    labels = splits["train"].y[rows]
    got = loss_fn(logits, labels, rows, torch.tensor([0, 1, 2]))
    assert torch.equal(got[0], cross_entropy(logits[:1], labels[:1])[0])
    assert torch.allclose(got[1], F.cross_entropy(logits[1], labels[1], label_smoothing=0.6))
    # the distilled arm alone, once the others have stopped: the same loss
    assert torch.equal(loss_fn(logits[2:], labels[2:], rows[2:], torch.tensor([2])), got[2:])
    assert torch.equal(smoothed_cross_entropy(logits, labels, torch.zeros(3)), cross_entropy(logits, labels))


def test_the_controls_stand_ins_for_the_teacher():
    splits, teachers = _data()
    y = splits["train"].y
    sources = teacher_sources(ARMS, teachers, y, 4, torch.ones(len(y), 4))
    assert torch.equal(sources[("onehot", None, None)], F.one_hot(y, 4).float())
    assert torch.equal(sources[("uniform", None, None)], torch.zeros(len(y), 4))
    assert torch.equal(sources[("self", None, None)], torch.ones(len(y), 4))
    original, permuted = teachers[0]["t"]["train"], sources[("permuted", "t", 0)]
    rows = torch.arange(len(y))
    assert torch.equal(permuted[rows, y], original[rows, y])  # the target's logit stays
    assert torch.equal(permuted.sort(1).values, original.sort(1).values)  # the same values, moved
    moved = (permuted != original).any(1)
    assert moved.float().mean() > 0.8  # 3 non-target logits: 5 of 6 orders move one
    assert torch.equal(permute_non_target(original, y, seed=0), permuted)  # fixed by the teacher seed
    assert not torch.equal(permute_non_target(original, y, seed=1), permuted)


def test_a_learning_rate_factor_is_the_step_at_that_rate():
    splits, _ = _data()
    train = Split(splits["train"].x.flatten(1), splits["train"].y)
    torch.manual_seed(0)
    model = Student(16, 4, parse_student(S), 2)
    init, rows = model.state_dict(), torch.arange(len(train))
    scaled = fit(model, [init, init], [Training("a", 1, rows), Training("b", 1, rows, lr_scale=0.5)], train, train,
                 loss_fn=cross_entropy, recipe=RECIPE)
    half = fit(model, [init], [Training("b", 1, rows)], train, train, loss_fn=cross_entropy,
               recipe=Recipe(**{**RECIPE.__dict__, "lr": RECIPE.lr * 0.5}))
    for name, value in scaled[1][0].items():
        other = half[0][0][name]
        if name == "core.theta":  # the last RZ before the readout has no gradient, only rounding noise that
            value, other = value[:-1], other[:-1]  # Adam turns into steps: those angles drift either way
        assert torch.allclose(value, other, atol=1e-4), name
    assert [r["val_accuracy"] for r in scaled[1][1].history] == [r["val_accuracy"] for r in half[0][1].history]
    assert not torch.equal(scaled[0][0]["head.weight"], scaled[1][0]["head.weight"])


def test_the_monitor_is_recorded_and_steers_nothing():
    plain = _train(ARMS[:2])
    monitored = _train(ARMS[:2], monitor=10)
    for a, b in zip(plain, monitored):
        assert [{k: v for k, v in row.items() if k != "monitor_accuracy"} for row in b["curve"]] == a["curve"]
        assert a["test_error"] == b["test_error"]
        assert b["test_subset_error_chosen_on_test"] == 1 - max(r["monitor_accuracy"] for r in b["curve"])
        assert b["test_subset_error_chosen_on_test"] <= b["test_subset_error"]


def test_first_per_class_is_in_dataset_order():
    y = torch.tensor([1, 0, 1, 1, 0, 2, 0])
    assert first_per_class(y, 2).tolist() == [0, 1, 2, 4, 5]


def test_class_subset_relabels_rows_and_teacher_columns():
    splits, teachers = _data(classes=4)
    sub, sub_teachers = class_subset(splits, teachers, (2, 0))
    assert set(sub["train"].y.tolist()) == {0, 1}
    kept = (splits["train"].y == 2) | (splits["train"].y == 0)
    assert torch.equal(sub["train"].y, torch.where(splits["train"].y[kept] == 2, 0, 1))
    assert torch.equal(sub_teachers[0]["t"]["train"], teachers[0]["t"]["train"][kept][:, [2, 0]])
