"""The fused simulator against torchquantum, the reference implementation of the same circuit."""

import pytest
import torch

from c2q.core.variants import ENCODINGS
from c2q.core.variants import parse_student
from c2q.data.splits import Split
from c2q.models.circuits import QuantumLayer
from c2q.models.student import Student
from c2q.training.engine import Recipe, fit_one


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("qubits", [2, 3, 4, 5, 6, 7, 8])
@pytest.mark.parametrize("layers", [1, 3])
def test_fused_matches_torchquantum_outputs_and_gradients(encoding, qubits, layers):
    torch.manual_seed(100 * qubits + 10 * layers + len(encoding))
    fused = QuantumLayer(qubits, layers, encoding, "fused")
    reference = QuantumLayer(qubits, layers, encoding, "torchquantum")
    reference.load_state_dict(fused.state_dict())
    features = torch.randn(6, fused.in_features, requires_grad=True)
    weights = torch.randn(6, qubits)  # a random linear function of the outputs, for the gradients
    outputs, grads = [], []
    for layer in (fused, reference):
        out = layer(features)
        theta_grad, feature_grad = torch.autograd.grad((out * weights).sum(), [layer.theta, features])
        outputs.append(out)
        grads.append((theta_grad, feature_grad))
    torch.testing.assert_close(outputs[0], outputs[1], atol=1e-5, rtol=0)
    torch.testing.assert_close(grads[0][0], grads[1][0], atol=1e-5, rtol=0)
    torch.testing.assert_close(grads[0][1], grads[1][1], atol=1e-5, rtol=0)


def test_training_with_either_simulator_gives_the_same_student():
    g = torch.Generator().manual_seed(0)
    train = Split(torch.randn(128, 1, 6, 6, generator=g), torch.randint(0, 4, (128,), generator=g))
    val = Split(torch.randn(64, 1, 6, 6, generator=g), torch.randint(0, 4, (64,), generator=g))
    histories = []
    for simulator in ("fused", "torchquantum"):
        torch.manual_seed(3)
        model = Student(36, 4, parse_student("fc-amplitude-q3"), layers=2, simulator=simulator)
        histories.append(fit_one(model, train, val, recipe=Recipe.for_epochs(3, 32, 0.05, len(train)), seed=3).history)
    for a, b in zip(*histories):
        assert a["val_accuracy"] == b["val_accuracy"] and a["train_accuracy"] == b["train_accuracy"]
        assert a["train_loss"] == pytest.approx(b["train_loss"], abs=1e-4)
