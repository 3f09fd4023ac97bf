"""The knowledge-distillation loss (Hinton et al.), as the paper uses it."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    temperature: float,
    alpha: float,
) -> torch.Tensor:
    """(1 - alpha) * CE(student, y) + alpha * T^2 * KL(softmax(teacher/T) || softmax(student/T)).

    KL uses batchmean reduction; T^2 keeps the soft term's gradient scale
    independent of T. The teacher's logits are treated as constants.
    """
    ce = F.cross_entropy(student_logits, labels)
    if alpha == 0:
        return ce
    kl = F.kl_div(
        F.log_softmax(student_logits / temperature, dim=1),
        F.log_softmax(teacher_logits.detach() / temperature, dim=1),
        reduction="batchmean",
        log_target=True,
    )
    return (1 - alpha) * ce + alpha * temperature**2 * kl
