import pytest
import torch

from c2q.variants import parse_student
from c2q.splits import Split
from c2q.student import Student
from c2q.errors import NonFiniteLossError
from c2q.train import batch_starts, fit, learning_rate_schedule
from stages.train_student import chance_warning


def _data(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    return Split(torch.randn(n, 1, 4, 4, generator=g), torch.randint(0, 3, (n,), generator=g))


def _train(epochs=3, student="fc-amplitude-q2", **kwargs):
    torch.manual_seed(0)
    model = Student(16, 3, parse_student(student), layers=1)
    result = fit(model, _data(), _data(32, 1), epochs=epochs, batch_size=16, lr=0.05, seed=0, **kwargs)
    return model, result


class Interrupt(Exception):
    pass


@pytest.mark.parametrize("schedule, student", [("constant", "fc-amplitude-q2"), ("cosine", "fc-angle-q2")])
def test_resuming_from_a_checkpoint_gives_the_same_weights_and_history(tmp_path, schedule, student):
    """The learning-rate schedule and batch normalisation's running statistics resume too."""
    ckpt = tmp_path / "stage.pt"
    reference_model, reference = _train(schedule=schedule, student=student)

    def stop_after_2(row):
        if row["epoch"] == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        _train(checkpoint=ckpt, checkpoint_key="k", on_epoch=stop_after_2, schedule=schedule, student=student)
    assert ckpt.is_file()
    resumed_model, resumed = _train(checkpoint=ckpt, checkpoint_key="k", schedule=schedule, student=student)
    assert resumed.history == reference.history and resumed.best_epoch == reference.best_epoch
    for (k, a), (_, b) in zip(reference_model.state_dict().items(), resumed_model.state_dict().items()):
        assert torch.equal(a, b), k


def test_a_checkpoint_of_another_training_is_ignored(tmp_path):
    ckpt = tmp_path / "stage.pt"
    with pytest.raises(Interrupt):
        _train(checkpoint=ckpt, checkpoint_key="old params", on_epoch=lambda row: (_ for _ in ()).throw(Interrupt))
    assert torch.load(ckpt, weights_only=True)["key"] == "old params"  # there was a checkpoint to ignore
    model, result = _train(checkpoint=ckpt, checkpoint_key="new params")
    reference_model, reference = _train()
    assert result.history == reference.history


def test_training_twice_is_bit_identical():
    a_model, a = _train()
    b_model, b = _train()
    assert a.history == b.history
    assert all(torch.equal(x, y) for x, y in zip(a_model.state_dict().values(), b_model.state_dict().values()))


def test_a_non_finite_loss_names_the_epoch_and_the_param():
    torch.manual_seed(0)
    model = Student(16, 3, parse_student("fc-amplitude-q2"), layers=1)
    with torch.no_grad():
        model.head.weight.fill_(float("nan"))
    with pytest.raises(NonFiniteLossError, match="in epoch 1; lower the learning rate \\(lr in params.yaml\\)"):
        fit(model, _data(), _data(32, 1), epochs=2, batch_size=16, lr=0.05, seed=0)


def test_cosine_schedule_decays_the_learning_rate_to_zero_and_constant_keeps_it():
    for schedule, last in (("constant", 0.05), ("cosine", 0.0)):
        model = torch.nn.Linear(2, 2)
        optimizer = torch.optim.Adam(model.parameters(), lr=0.05)
        scheduler = learning_rate_schedule(optimizer, schedule, total_steps=10)
        rates = []
        for _ in range(10):
            optimizer.step()
            scheduler.step()
            rates.append(optimizer.param_groups[0]["lr"])
        assert rates[-1] == pytest.approx(last, abs=1e-12)
        assert rates == sorted(rates, reverse=True)
    with pytest.raises(ValueError, match="schedule 'linear' is not one of"):
        learning_rate_schedule(optimizer, "linear", 10)


def test_a_last_batch_of_one_sample_joins_the_batch_before():
    assert batch_starts(512, 256) == [0, 256]
    assert batch_starts(513, 256) == [0, 256]  # batch normalisation cannot train on one sample
    assert batch_starts(514, 256) == [0, 256, 512]
    assert batch_starts(1, 256) == [0]
    _train(student="fc-angle-q2", epochs=1)  # 96 samples in batches of 16: runs
    model = Student(16, 3, parse_student("fc-angle-q2"), layers=1)
    fit(model, _data(97), _data(32, 1), epochs=1, batch_size=16, lr=0.05, seed=0)  # 97 = 6 x 16 + 1


def test_near_chance_students_are_flagged():
    val = Split(torch.zeros(100, 4), torch.arange(100) % 10)  # 10 balanced classes: chance is 10 %
    assert "within 5 points of chance (10.0%)" in chance_warning("s", 0.14, val, 10)
    assert chance_warning("s", 0.16, val, 10) is None
    skewed = Split(torch.zeros(100, 4), (torch.arange(100) >= 60).long())  # 60 % of class 0
    assert chance_warning("s", 0.62, skewed, 2) is not None
