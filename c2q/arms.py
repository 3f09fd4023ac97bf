"""Train K copies of one student side by side: same initial weights, same batches, K losses.

A study trains the same student under many losses (baseline, every teacher and
distillation setting). Those trainings differ only in the loss, so they run as
one vectorised model (torch.func.vmap over stacked weights): one step updates
all K arms at once, which costs a fraction of K separate steps for small
circuits. Adam is elementwise and the total loss is the sum of the arms'
losses, so each arm's update is exactly the one it would get alone.

Training length is counted in optimiser steps, not epochs, so every training
size gets the same optimisation budget; the validation split is evaluated
`evaluations` times, evenly spaced, and each arm keeps its own best point.
The test split is not seen here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap
from tqdm.auto import tqdm

from c2q.errors import NonFiniteLossError
from c2q.splits import Split

# losses(logits (K, B, C), labels (B,), indices of the batch in the training split) -> (K,)
ArmsLossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class ArmsResult:
    best_step: list[int]
    best_val_accuracy: list[float]
    history: list[list[dict[str, float]]] = field(default_factory=list)  # per arm, one row per evaluation


class Arms:
    """K arms of `model`: its weights stacked K times (all equal at the start)."""

    def __init__(self, model: nn.Module, k: int):
        if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
            raise ValueError("students with batch normalisation (fc before angle or qubit encodings) cannot be "
                             "trained side by side; use amplitude encodings or a fixed reduction")
        self.model, self.k = model, k
        self.params = {name: p.detach().expand(k, *p.shape).clone().requires_grad_()
                       for name, p in model.named_parameters()}
        self.buffers = dict(model.named_buffers())

    def _forward(self, params: dict, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.model, (params, self.buffers), (x,))

    def logits(self, x: torch.Tensor, params: dict | None = None) -> torch.Tensor:
        """(K, B, C) logits of every arm for the same inputs."""
        return vmap(self._forward, in_dims=(0, None))(self.params if params is None else params, x)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, params: dict | None = None, batch_size: int = 2048) -> torch.Tensor:
        self.model.eval()
        return torch.cat([self.logits(x[i : i + batch_size], params) for i in range(0, len(x), batch_size)], dim=1)

    def arm_state(self, params: dict, arm: int) -> dict[str, torch.Tensor]:
        """One arm's weights as the model's state dict."""
        return {name: value[arm].detach().clone() for name, value in params.items()}


def _accuracies(logits: torch.Tensor, labels: torch.Tensor) -> list[float]:
    return ((logits.argmax(-1) == labels).sum(-1) / len(labels)).tolist()


def _val_losses(logits: torch.Tensor, labels: torch.Tensor) -> list[float]:
    return [F.cross_entropy(row, labels).item() for row in logits]


def fit_arms(arms: Arms, train: Split, val: Split, *, loss_fn: ArmsLossFn, steps: int, batch_size: int,
             evaluations: int, lr: float, seed: int, desc: str = "arms") -> tuple[dict, ArmsResult]:
    """Train every arm with Adam for `steps` steps of `batch_size` samples (the training split is
    reshuffled whenever it runs out); returns each arm's weights at its best validation
    accuracy (stacked, like `arms.params`) and the result."""
    generator = torch.Generator().manual_seed(seed)
    optimizer = torch.optim.Adam(arms.params.values(), lr=lr)
    every = max(1, steps // evaluations)
    k, n = arms.k, len(train)
    best = {name: p.detach().clone() for name, p in arms.params.items()}
    result = ArmsResult([0] * k, [-1.0] * k, [[] for _ in range(k)])
    order, position = torch.randperm(n, generator=generator), 0
    running, since = torch.zeros(k), 0  # sum of each arm's loss since the last evaluation
    for step in tqdm(range(1, steps + 1), desc=desc, leave=False, disable=None):
        if position + min(batch_size, n) > n:
            order, position = torch.randperm(n, generator=generator), 0
        index = order[position : position + batch_size]
        position += len(index)
        arms.model.train()
        losses = loss_fn(arms.logits(train.x[index]), train.y[index], index)
        total = losses.sum()
        if not math.isfinite(total.item()):
            raise NonFiniteLossError(f"{desc}: the training loss became {total.item()} at step {step}; lower the lr")
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        optimizer.step()
        running, since = running + losses.detach(), since + 1
        if step % every == 0 or step == steps:
            logits = arms.predict(val.x)
            accuracies, val_losses = _accuracies(logits, val.y), _val_losses(logits, val.y)
            for arm in range(k):
                result.history[arm].append({"step": step, "train_loss": running[arm].item() / since,
                                            "val_loss": val_losses[arm], "val_accuracy": accuracies[arm]})
                if accuracies[arm] > result.best_val_accuracy[arm]:
                    result.best_step[arm], result.best_val_accuracy[arm] = step, accuracies[arm]
                    for name, p in arms.params.items():
                        best[name][arm] = p.detach()[arm]
            running, since = torch.zeros(k), 0
    return best, result
