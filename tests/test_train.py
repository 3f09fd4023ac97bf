"""The one training engine (c2q.training.engine): K trainings side by side, early stopping, the cap, checkpoints."""

import pytest
import torch

from c2q.core.errors import NonFiniteLossError
from c2q.core.variants import parse_student
from c2q.data.splits import Split
from c2q.models.noise_injection import PauliNoise
from c2q.models.student import Student
from c2q.training.engine import Recipe, Training, batch_starts, cross_entropy, fit, fit_one, learning_rate
from stages.train_student import chance_warning

RECIPE = Recipe(batch_size=16, lr=0.05, max_steps=18, eval_every=4, patience=None)


def _data(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    return Split(torch.randn(n, 16, generator=g) + y[:, None].float(), y)


def _init(student: str, seed: int) -> dict:
    torch.manual_seed(seed)
    return Student(16, 3, parse_student(student), layers=1).state_dict()


def _train(seeds=(0, 1), student="fc-amplitude-q2", recipe=RECIPE, loss_fn=cross_entropy, n=96, noise=None,
           **kwargs):
    model = Student(16, 3, parse_student(student), layers=1, noise=noise)
    trainings = [Training(f"seed {s}", s, torch.arange(n)) for s in seeds]
    return fit(model, [_init(student, s) for s in seeds], trainings, _data(n), _data(32, 1), loss_fn=loss_fn,
               recipe=recipe, **kwargs)


def _same(a, b) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("schedule, student", [("constant", "fc-amplitude-q2"), ("cosine", "fc-angle-q2")])
def test_resuming_from_a_checkpoint_gives_the_same_weights_and_history(tmp_path, schedule, student):
    """The learning-rate schedule, early stopping and batch normalisation's running statistics resume too."""
    recipe = Recipe(batch_size=16, lr=0.05, max_steps=30, eval_every=4, patience=12, schedule=schedule)
    ckpt = tmp_path / "stage.pt"
    reference = _train(student=student, recipe=recipe)

    def stop_at_8(step):  # in the middle of the second epoch (6 steps each)
        if step == 8:
            raise Interrupt

    with pytest.raises(Interrupt):
        _train(student=student, recipe=recipe, checkpoint=ckpt, keys=["a", "b"], after_validation=stop_at_8)
    assert ckpt.is_file()
    resumed = _train(student=student, recipe=recipe, checkpoint=ckpt, keys=["a", "b"])
    for (state, result), (ref_state, ref_result) in zip(resumed, reference):
        assert result == ref_result
        assert _same(state, ref_state)


def test_a_checkpoint_of_other_trainings_is_ignored(tmp_path):
    ckpt = tmp_path / "stage.pt"
    with pytest.raises(Interrupt):
        _train(checkpoint=ckpt, keys=["old", "params"], after_validation=lambda step: (_ for _ in ()).throw(Interrupt))
    assert torch.load(ckpt, weights_only=True)["keys"] == ["old", "params"]  # there was a checkpoint to ignore
    assert [r for _, r in _train(checkpoint=ckpt, keys=["new", "params"])] == [r for _, r in _train()]


def test_a_completed_checkpoint_gives_its_results_without_training(tmp_path, capsys):
    """A stage whose MLflow record failed after training reruns without retraining, also for a subset."""
    ckpt = tmp_path / "stage.pt"
    trained = _train(checkpoint=ckpt, keys=["a", "b"])

    def never(*_):
        raise AssertionError("trained again")

    again = _train(seeds=(1,), checkpoint=ckpt, keys=["b"], loss_fn=never)
    assert "already trained" in capsys.readouterr().out
    assert again[0][1] == trained[1][1] and _same(again[0][0], trained[1][0])


def test_training_twice_is_bit_identical():
    a, b = _train(), _train()
    assert [r for _, r in a] == [r for _, r in b]
    assert all(_same(x, y) for (x, _), (y, _) in zip(a, b))


def test_side_by_side_equals_alone():
    """Each training learns what it would learn among any other trainings: its own init, rows and seed."""
    together = _train(seeds=(0, 1, 2))
    for seed, (state, result) in zip((0, 1, 2), together):
        [(alone_state, alone)] = _train(seeds=(seed, 5))[:1]
        assert alone == result and _same(alone_state, state)
    assert not _same(together[0][0], together[1][0])


def _strong_noise(qubits: int) -> PauliNoise:
    """Pauli errors and readout confusion far above a device's, so that a test sees them act."""
    rotation = torch.tensor([[0.85, 0.06, 0.05, 0.04]]).expand(qubits, 4)
    cnot = torch.cat([torch.tensor([0.7]), torch.full((15,), 0.02)]).expand(qubits - 1, 16)
    readout = torch.tensor([[0.95, 0.1], [0.05, 0.9]]).expand(qubits, 2, 2)
    return PauliNoise(rotation, cnot, readout)


def test_noise_aware_trainings_draw_their_own_errors_side_by_side():
    """A -nat training's Pauli errors come from its own generator, so among any other trainings it learns
    the same bits (they did not while the draws came from torch's global generator); and they act: without
    them the same seeds learn other weights."""
    noise, student = _strong_noise(2), "fc-angle-q2-chain-nat"
    together = _train(seeds=(0, 1, 2), student=student, noise=noise)
    for seed, (state, result) in zip((0, 1, 2), together):
        [(alone_state, alone)] = _train(seeds=(seed, 5), student=student, noise=noise)[:1]
        assert alone == result and _same(alone_state, state)
    exact = _train(seeds=(0, 1, 2), student=student)
    assert not _same(exact[0][0], together[0][0])


def test_students_with_batch_normalisation_train_side_by_side_with_their_own_statistics():
    (a, _), (b, _) = _train(student="fc-angle-q2")
    assert not torch.equal(a["reduce.1.running_mean"], b["reduce.1.running_mean"])
    assert a["reduce.1.num_batches_tracked"] == RECIPE.max_steps


def test_early_stopping_the_cap_and_what_each_training_records():
    recipe = Recipe(batch_size=16, lr=0.05, max_steps=60, eval_every=100, patience=12)
    scale = torch.tensor([0.0, 1.0])  # training 0 never moves: no new best after its first pass

    def loss_fn(logits, labels, rows, which):
        return scale[which] * cross_entropy(logits, labels)

    (still, stopped), (moving, learnt) = _train(recipe=recipe, loss_fn=loss_fn)
    assert [row["step"] for row in stopped.history] == [6, 12, 18]  # once per epoch of 6 steps: eval_every > epoch
    assert stopped.stopped_early and not stopped.hit_cap and stopped.steps == 18 and stopped.best_step == 6
    assert _same(still, _init("fc-amplitude-q2", 0))
    assert learnt.best_val_accuracy > stopped.best_val_accuracy
    assert learnt.steps > stopped.steps
    capped = _train(recipe=Recipe(batch_size=16, lr=0.05, max_steps=10, eval_every=4, patience=50))
    assert all(r.hit_cap and r.steps == 10 and r.history[-1]["step"] == 10 for _, r in capped)


def test_a_non_finite_loss_names_the_training_and_the_step():
    def loss_fn(logits, labels, rows, which):
        return cross_entropy(logits, labels) * torch.tensor([1.0, float("nan")])[which]

    with pytest.raises(NonFiniteLossError, match="the training loss of seed 1 became nan at step 1 \\(epoch 1\\); "
                                                 "lower the learning rate \\(lr in params.yaml\\)"):
        _train(loss_fn=loss_fn)


def test_trainings_side_by_side_need_training_sets_of_one_size():
    model = Student(16, 3, parse_student("fc-amplitude-q2"), layers=1)
    with pytest.raises(ValueError, match="training sets of one size"):
        fit(model, [model.state_dict()] * 2, [Training("a", 0, torch.arange(10)), Training("b", 0, torch.arange(9))],
            _data(), _data(), loss_fn=cross_entropy, recipe=RECIPE)


def test_one_training_on_its_own():
    torch.manual_seed(0)
    model = Student(16, 3, parse_student("fc-amplitude-q2"), layers=1)
    recipe = Recipe.for_epochs(3, 16, 0.05, n=96)
    result = fit_one(model, _data(), _data(32, 1), recipe=recipe, seed=0)
    assert recipe.max_steps == 18 and [row["step"] for row in result.history] == [6, 12, 18]
    assert model.state_dict()["head.weight"].shape == (3, 2)


def test_cosine_schedule_decays_the_learning_rate_to_zero_at_the_cap_and_constant_keeps_it():
    for schedule, last in (("constant", 0.05), ("cosine", 0.0)):
        recipe = Recipe(batch_size=16, lr=0.05, max_steps=10, eval_every=4, schedule=schedule)
        rates = [learning_rate(recipe, step) for step in range(1, 12)]
        assert rates[0] == 0.05 and rates[-1] == pytest.approx(last, abs=1e-12)
        assert rates == sorted(rates, reverse=True)
    with pytest.raises(ValueError, match="schedule 'linear' is not one of"):
        learning_rate(Recipe(batch_size=16, lr=0.05, max_steps=10, eval_every=4, schedule="linear"), 1)


def test_a_stopped_training_leaves_the_stack_and_the_others_go_on_as_alone():
    """Three trainings stopping at different steps: each ends as it would have alone (beside one other
    training that outlasts it), however many trainings still shared its stack."""
    recipe = Recipe(batch_size=16, lr=0.05, max_steps=60, eval_every=2, patience=4)
    together = _train(seeds=(0, 1, 2), recipe=recipe)
    assert len({r.steps for _, r in together}) > 1  # they did stop at different steps
    for seed, (state, result) in zip((0, 1, 2), together):
        [(alone_state, alone)] = _train(seeds=(seed, 9), recipe=recipe)[:1]
        assert alone == result and _same(alone_state, state)


def test_a_last_batch_of_one_sample_joins_the_batch_before():
    assert batch_starts(512, 256) == [0, 256]
    assert batch_starts(513, 256) == [0, 256]  # batch normalisation cannot train on one sample
    assert batch_starts(514, 256) == [0, 256, 512]
    assert batch_starts(1, 256) == [0]
    assert batch_starts(3, 1) == [0, 1, 2]  # batch size 1 (the notebooks'): every batch one sample, as asked
    _train(student="fc-angle-q2", n=97)  # 97 = 6 x 16 + 1: runs


def test_near_chance_students_are_flagged():
    val = Split(torch.zeros(100, 4), torch.arange(100) % 10)  # 10 balanced classes: chance is 10 %
    assert "within 5 points of chance (10.0%)" in chance_warning("s", 0.14, val, 10)
    assert chance_warning("s", 0.16, val, 10) is None
    skewed = Split(torch.zeros(100, 4), (torch.arange(100) >= 60).long())  # 60 % of class 0
    assert chance_warning("s", 0.62, skewed, 2) is not None
