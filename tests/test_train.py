import pytest
import torch

from c2q.variants import parse_student
from c2q.splits import Split
from c2q.student import Student
from c2q.errors import NonFiniteLossError
from c2q.train import fit


def _data(n=96, seed=0):
    g = torch.Generator().manual_seed(seed)
    return Split(torch.randn(n, 1, 4, 4, generator=g), torch.randint(0, 3, (n,), generator=g))


def _train(epochs=3, **kwargs):
    torch.manual_seed(0)
    model = Student(16, 3, parse_student("fc-amplitude-q2"), layers=1)
    result = fit(model, _data(), _data(32, 1), epochs=epochs, batch_size=16, lr=0.05, seed=0, **kwargs)
    return model, result


class Interrupt(Exception):
    pass


def test_resuming_from_a_checkpoint_gives_the_same_weights_and_history(tmp_path):
    ckpt = tmp_path / "stage.pt"
    reference_model, reference = _train()

    def stop_after_2(row):
        if row["epoch"] == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        _train(checkpoint=ckpt, checkpoint_key="k", on_epoch=stop_after_2)
    assert ckpt.is_file()
    resumed_model, resumed = _train(checkpoint=ckpt, checkpoint_key="k")
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
