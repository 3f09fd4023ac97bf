"""A study cell's arms (c2q.study.cells): one student under many losses, side by side, each as it would train alone."""

import torch

from c2q.data.splits import Split
from c2q.study.arms import Arm
from c2q.study.cells import arms_loss, class_subset, train_arms
from c2q.study.config import Setting
from c2q.training.engine import Recipe

RECIPE = Recipe(batch_size=16, lr=0.05, max_steps=24, eval_every=4, patience=12)


def _data(n=120, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % classes
    x = torch.randn(n, 1, 4, 4, generator=g) + y.view(-1, 1, 1, 1).float()
    teacher = torch.randn(n, classes, generator=g) * 3
    splits = {s: Split(x, y) for s in ("train", "val", "test")}
    return splits, {"t": {s: teacher for s in splits}}


ARMS = [Arm("fc-amplitude-q3", None, None, None),
        Arm("fc-amplitude-q3", None, "t", Setting(method="notebook", temperature=3, alpha=0.9)),
        Arm("fc-amplitude-q3", None, "t", Setting(method="hinton", temperature=2, alpha=0.5)),
        Arm("fc-amplitude-q3", None, "t", Setting(method="standardised", temperature=2, alpha=0.989))]


def _train(arms):
    splits, teachers = _data()
    return train_arms(arms, splits, teachers, size="all", seed=3, layers=2, simulator="fused", recipe=RECIPE,
                      desc="t")


def test_side_by_side_equals_alone():
    together = _train(ARMS)
    for arm, row in zip(ARMS, together):
        alone = _train([arm, ARMS[(ARMS.index(arm) + 1) % len(ARMS)]])[0]  # one other arm beside it
        assert alone == row
    # the losses differ, so the arms must not have learnt the same thing
    assert len({round(r["curve"][-1]["train_loss"], 6) for r in together}) == len(ARMS)


def test_baseline_arm_is_plain_cross_entropy():
    splits, teachers = _data()
    loss_fn = arms_loss(ARMS[:2], {"t": teachers["t"]["train"]})
    logits = torch.randn(2, 8, 4)
    rows = torch.arange(8).expand(2, -1)
    labels = splits["train"].y[rows]
    got = loss_fn(logits, labels, rows, torch.tensor([0, 1]))
    assert torch.allclose(got[0], torch.nn.functional.cross_entropy(logits[0], labels[0]))
    assert not torch.allclose(got[1], got[0])
    # the distilled arm alone, once the baseline has stopped: the same loss
    assert torch.equal(loss_fn(logits[1:], labels[1:], rows[1:], torch.tensor([1])), got[1:])


def test_class_subset_relabels_rows_and_teacher_columns():
    splits, teachers = _data(classes=4)
    sub, sub_teachers = class_subset(splits, teachers, (2, 0))
    assert set(sub["train"].y.tolist()) == {0, 1}
    kept = (splits["train"].y == 2) | (splits["train"].y == 0)
    assert torch.equal(sub["train"].y, torch.where(splits["train"].y[kept] == 2, 0, 1))
    assert torch.equal(sub_teachers["t"]["train"], teachers["t"]["train"][kept][:, [2, 0]])
