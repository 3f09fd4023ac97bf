"""Knowledge-distillation losses: the Hinton form, the paper notebooks' form, and logit standardisation.

Every loss is CE on the labels plus a KL term between the teacher's and the
student's softened distributions, KL(softmax(t/T) || softmax(s/T)) summed over
classes and averaged over the batch, scaled by T^2 so its gradient does not
shrink with T. The methods differ in how the two terms are weighed and in what
is softened:

- hinton:       (1 - alpha) CE + alpha T^2 KL                (Hinton et al. 2015; the pipeline's default)
- notebook:     CE + alpha T^2 KL                            (the paper's notebooks: `CE + KLDivLoss()(...)
                * (T * T * C * alpha)` at batch size 1, whose mean over C classes times C is the sum)
- standardised: (1 - alpha) CE + alpha T^2 KL on z-scored logits (Sun et al., CVPR 2024): each row of
                logits is standardised (mean 0, std 1) first, so the student matches the teacher's
                logit *relations* instead of their range, which a head on Q bounded <Z> values
                cannot reach. Its authors recommend T = 2 and weights CE 0.1, KD 9, i.e. alpha =
                9 / 9.1 (Adam is insensitive to the loss's overall scale).

`distillation_losses` computes K losses at once for K students trained side by
side (c2q.training.engine); `distillation_loss` is the single-student form.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from c2q.core.methods import DISTILL_METHODS


def standardise_logits(logits: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """Each row minus its mean, over its standard deviation (Sun et al.'s Z-score)."""
    mean = logits.mean(dim=-1, keepdim=True)
    return (logits - mean) / (logits.std(dim=-1, keepdim=True) + eps)


def _per_arm(values: torch.Tensor | float, like: torch.Tensor) -> torch.Tensor:
    """A number or K numbers as a (K, 1, 1) tensor that broadcasts over (K, B, C)."""
    return torch.as_tensor(values, dtype=like.dtype).reshape(-1, 1, 1)


def distillation_losses(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    method: str,
    temperature: torch.Tensor | float,
    alpha: torch.Tensor | float,
) -> torch.Tensor:
    """K students' losses under one method: logits (K, B, C), labels (K, B) or (B,), temperature and
    alpha scalars or (K,); returns (K,). The teacher's logits are treated as constants."""
    if method not in DISTILL_METHODS:
        raise ValueError(f"distillation method {method!r} is not one of {DISTILL_METHODS}")
    T, a = _per_arm(temperature, student_logits), _per_arm(alpha, student_logits)
    log_p = F.log_softmax(student_logits, dim=-1)
    ce = -log_p.gather(-1, labels.expand(student_logits.shape[:2]).unsqueeze(-1)).squeeze(-1).mean(-1)
    # a student with more outputs than classes (the notebooks' hybrid: 2^(Q+1) scores) is matched to the
    # teacher on its first C, as the notebooks do; cross-entropy runs over all of them
    student, teacher = student_logits[..., : teacher_logits.shape[-1]], teacher_logits.detach()
    if method == "standardised":
        student, teacher = standardise_logits(student), standardise_logits(teacher)
    log_q_teacher = F.log_softmax(teacher / T, dim=-1)
    log_q_student = F.log_softmax(student / T, dim=-1)
    kl = (log_q_teacher.exp() * (log_q_teacher - log_q_student)).sum(-1).mean(-1)
    soft = (a * T * T).flatten() * kl
    ce_weight = 1 if method == "notebook" else (1 - a).flatten()
    return ce_weight * ce + soft


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    labels: torch.Tensor,
    temperature: float,
    alpha: float,
    method: str = "hinton",
) -> torch.Tensor:
    """One student's loss: logits (B, C), labels (B,); a scalar. alpha = 0 under `hinton` or
    `standardised` is plain cross-entropy."""
    if alpha == 0 and method != "notebook":
        return F.cross_entropy(student_logits, labels)
    return distillation_losses(student_logits[None], teacher_logits[None], labels, method, temperature, alpha)[0]
