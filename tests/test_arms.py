"""Students trained side by side (c2q.arms, c2q.cells) learn exactly what each would learn alone."""

import torch

from c2q.arms import Arms, fit_arms
from c2q.cells import arms_loss, class_subset, train_arms
from c2q.splits import Split
from c2q.student import Student
from c2q.study import Arm
from c2q.study_config import Recipe, Setting
from c2q.variants import parse_student

RECIPE = Recipe(layers=2, steps=12, batch_size=16, lr=0.05, evaluations=3)


def _data(n=120, classes=4, features=16, seed=0):
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


def test_side_by_side_equals_alone():
    splits, teachers = _data()
    together = train_arms(ARMS, splits, teachers, size="all", seed=3, recipe=RECIPE, desc="t")
    for arm, row in zip(ARMS, together):
        alone = train_arms([arm], splits, teachers, size="all", seed=3, recipe=RECIPE, desc="t")[0]
        assert alone["best_step"] == row["best_step"]
        assert abs(alone["test_error"] - row["test_error"]) < 1e-12
        for a, b in zip(alone["curve"], row["curve"]):
            assert abs(a["train_loss"] - b["train_loss"]) < 1e-4 * max(1, abs(a["train_loss"]))
    # the losses differ, so the arms must not have learnt the same thing
    assert len({round(r["curve"][-1]["train_loss"], 6) for r in together}) == len(ARMS)


def test_baseline_arm_is_plain_cross_entropy():
    splits, teachers = _data()
    loss_fn = arms_loss(ARMS[:2], {"t": teachers["t"]["train"]})
    logits = torch.randn(2, 8, 4)
    index = torch.arange(8)
    labels = splits["train"].y[index]
    got = loss_fn(logits, labels, index)
    assert torch.allclose(got[0], torch.nn.functional.cross_entropy(logits[0], labels))
    assert not torch.allclose(got[1], got[0])


def test_arms_start_equal_and_keep_their_own_best_weights():
    torch.manual_seed(0)
    model = Student(16, 4, parse_student("fc-amplitude-q3"), 2)
    arms = Arms(model, 3)
    assert all(torch.equal(p[0], p[2]) for p in arms.params.values())
    splits, _ = _data()
    flat = {s: Split(v.x.flatten(1), v.y) for s, v in splits.items()}
    scale = torch.tensor([0.0, 1.0, 5.0])  # arm 0 never moves: a zero loss
    best, result = fit_arms(arms, flat["train"], flat["val"],
                            loss_fn=lambda logits, y, i: scale * torch.stack(
                                [torch.nn.functional.cross_entropy(row, y) for row in logits]),
                            steps=9, batch_size=16, evaluations=3, lr=0.05, seed=0)
    assert all(torch.equal(best[name][0], p) for name, p in model.named_parameters())
    assert [len(h) for h in result.history] == [3, 3, 3]
    assert not torch.equal(best["head.weight"][1], best["head.weight"][2])


def test_class_subset_relabels_rows_and_teacher_columns():
    splits, teachers = _data(classes=4)
    sub, sub_teachers = class_subset(splits, teachers, (2, 0))
    assert set(sub["train"].y.tolist()) == {0, 1}
    kept = (splits["train"].y == 2) | (splits["train"].y == 0)
    assert torch.equal(sub["train"].y, torch.where(splits["train"].y[kept] == 2, 0, 1))
    assert torch.equal(sub_teachers["t"]["train"], teachers["t"]["train"][kept][:, [2, 0]])
