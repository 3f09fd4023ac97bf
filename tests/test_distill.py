import math

import torch
import torch.nn.functional as F

from c2q.variants import parse_student
from c2q.distill import distillation_loss
from c2q.student import Student


def _hand_kd(student, teacher, labels, T, alpha):
    """Plain-Python distillation loss, row by row."""
    n = len(labels)
    ce = kl = 0.0
    for s_row, t_row, y in zip(student.tolist(), teacher.tolist(), labels.tolist()):
        log_z = math.log(sum(math.exp(v) for v in s_row))
        ce += -(s_row[y] - log_z) / n
        p = [math.exp(v / T) for v in t_row]
        p = [v / sum(p) for v in p]
        q = [math.exp(v / T) for v in s_row]
        q = [v / sum(q) for v in q]
        kl += sum(pi * math.log(pi / qi) for pi, qi in zip(p, q)) / n
    return (1 - alpha) * ce + alpha * T * T * kl


def test_loss_equals_hand_computation():
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(6, 4, generator=g) * 3, torch.randn(6, 4, generator=g) * 3
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    for T, alpha in [(3.0, 0.9), (1.0, 0.5), (7.5, 1.0)]:
        got = distillation_loss(s, t, y, T, alpha).item()
        assert math.isclose(got, _hand_kd(s, t, y, T, alpha), rel_tol=1e-5)


def test_alpha_zero_is_exactly_cross_entropy():
    s, t, y = torch.randn(8, 10), torch.randn(8, 10), torch.randint(0, 10, (8,))
    assert torch.equal(distillation_loss(s, t, y, 3.0, 0.0), F.cross_entropy(s, y))


def test_distillation_term_reaches_the_quantum_parameters():
    """With alpha = 1 only the KL term is left: its gradient must reach the circuit."""
    torch.manual_seed(0)
    model = Student(784, 10, parse_student("fc-amplitude-q4"), layers=2)
    x, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
    teacher = torch.randn(16, 10) * 5
    loss = distillation_loss(model(x), teacher, y, temperature=3.0, alpha=1.0)
    loss.backward()
    grad = model.core.theta.grad
    assert grad is not None and grad.abs().sum() > 0
    assert model.reduce.weight.grad.abs().sum() > 0


def test_teacher_logits_get_no_gradient():
    t = torch.randn(4, 3, requires_grad=True)
    s = torch.randn(4, 3, requires_grad=True)
    distillation_loss(s, t, torch.tensor([0, 1, 2, 0]), 3.0, 0.9).backward()
    assert t.grad is None and s.grad is not None


def test_classical_control_replaces_only_the_circuit():
    torch.manual_seed(0)
    quantum = Student(784, 10, parse_student("fc-amplitude-q4"), layers=2)
    control = Student(784, 10, parse_student("fc-amplitude-q4-classical"), layers=2)
    assert quantum.parameter_counts() == {"quantum": 24, "classical": 784 * 16 + 16 + 4 * 10 + 10}
    assert control.parameter_counts() == {"quantum": 0, "classical": 784 * 16 + 16 + 16 * 4 + 4 + 4 * 10 + 10}
    out = control.core(torch.randn(5, 16) * 100)
    assert out.shape == (5, 4) and out.abs().max() <= 1  # PauliZ's range
