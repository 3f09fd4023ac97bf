import math

import pytest
import torch
import torch.nn.functional as F

from c2q.core.variants import parse_student
from c2q.models.student import Student
from c2q.training.distill import distillation_loss, distillation_losses


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


def _hand_soft(student, teacher, T, standardise=False):
    """Mean over rows of KL(softmax(t/T) || softmax(s/T)), optionally on z-scored rows."""
    def z(row):
        m = sum(row) / len(row)
        sd = math.sqrt(sum((v - m) ** 2 for v in row) / (len(row) - 1))
        return [(v - m) / (sd + 1e-7) for v in row]

    total = 0.0
    for s_row, t_row in zip(student.tolist(), teacher.tolist()):
        if standardise:
            s_row, t_row = z(s_row), z(t_row)
        p = [math.exp(v / T) for v in t_row]
        p = [v / sum(p) for v in p]
        q = [math.exp(v / T) for v in s_row]
        q = [v / sum(q) for v in q]
        total += sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
    return total / len(student)


def _hand_ce(student, labels):
    rows = student.tolist()
    return sum(-(r[y] - math.log(sum(math.exp(v) for v in r))) for r, y in zip(rows, labels.tolist())) / len(rows)


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides")  # the notebooks' own KLDivLoss() default
def test_notebook_loss_keeps_cross_entropy_whole_and_sums_kl_over_classes():
    """The notebooks: CE + KLDivLoss()(log_softmax(s/T), softmax(t/T)) * (T * T * C * alpha) at batch size 1,
    where KLDivLoss's mean over the C classes times C is the sum over classes."""
    g = torch.Generator().manual_seed(1)
    s, t = torch.randn(5, 8, generator=g) * 2, torch.randn(5, 8, generator=g) * 2
    y = torch.tensor([0, 3, 7, 1, 2])
    T, alpha = 3.0, 0.9
    per_sample = [F.cross_entropy(s[i : i + 1], y[i : i + 1]) + torch.nn.KLDivLoss()(
        F.log_softmax(s[i : i + 1] / T, dim=1), F.softmax(t[i : i + 1] / T, dim=1)) * (T * T * 8 * alpha)
        for i in range(5)]
    notebook = torch.stack(per_sample).mean()  # batch size 1, averaged over an epoch's samples
    assert torch.allclose(distillation_loss(s, t, y, T, alpha, method="notebook"), notebook, rtol=1e-5)
    expected = _hand_ce(s, y) + alpha * T * T * _hand_soft(s, t, T)
    assert math.isclose(distillation_loss(s, t, y, T, alpha, method="notebook").item(), expected, rel_tol=1e-5)


def test_standardised_loss_compares_z_scored_logits():
    g = torch.Generator().manual_seed(2)
    s, t = torch.randn(6, 5, generator=g), torch.randn(6, 5, generator=g) * 10
    y = torch.tensor([0, 1, 2, 3, 4, 0])
    T, alpha = 2.0, 0.989
    expected = (1 - alpha) * _hand_ce(s, y) + alpha * T * T * _hand_soft(s, t, T, standardise=True)
    got = distillation_loss(s, t, y, T, alpha, method="standardised").item()
    assert math.isclose(got, expected, rel_tol=1e-5)
    # only the logits' relations count: shifting and scaling the teacher's rows changes nothing
    shifted = distillation_loss(s, 3 * t + 7, y, T, alpha, method="standardised").item()
    assert math.isclose(got, shifted, rel_tol=1e-5)
    assert not math.isclose(distillation_loss(s, 3 * t + 7, y, T, alpha).item(),
                            distillation_loss(s, t, y, T, alpha).item(), rel_tol=1e-3)


def test_losses_of_many_students_equal_each_alone():
    g = torch.Generator().manual_seed(3)
    s, t, y = torch.randn(4, 7, 6, generator=g), torch.randn(4, 7, 6, generator=g), torch.randint(0, 6, (7,))
    T, alpha = torch.tensor([1.0, 2.0, 3.0, 5.0]), torch.tensor([0.25, 0.5, 0.9, 0.0])
    for method in ("hinton", "notebook", "standardised"):
        together = distillation_losses(s, t, y, method, T, alpha)
        alone = [distillation_losses(s[k : k + 1], t[k : k + 1], y, method, T[k].item(), alpha[k].item())[0]
                 for k in range(4)]
        assert torch.allclose(together, torch.stack(alone), rtol=1e-6)


def test_unknown_method_names_the_known_ones():
    with pytest.raises(ValueError, match="hinton"):
        distillation_loss(torch.randn(2, 3), torch.randn(2, 3), torch.tensor([0, 1]), 3.0, 0.5, method="dkd")
