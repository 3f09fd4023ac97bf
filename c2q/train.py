"""The one training engine: K trainings of one architecture side by side; K = 1 is the plain case.

Every teacher and student, in the pipeline and in the study, trains here. The
K trainings share an architecture and a recipe; they may differ in initial
weights, training rows and batch order (their seeds) and loss. They run as one
vectorised model (torch.func.vmap over K stacked copies of the weights and
buffers): one step updates all K, which costs a fraction of K separate steps
for small circuits. Adam is elementwise and the total loss is the sum of the K
losses, so each training gets the update it would get alone.

The recipe (`Recipe`, from params.yaml):
- Adam at `lr`, shaped per step by `schedule` (constant, or cosine decay to 0 at the cap);
- batches of `batch_size` rows, reshuffled every epoch with the training's own seed;
- the validation split every `eval_every` steps and at least once per epoch; each
  training keeps its weights of best validation accuracy (the test split is
  never seen here);
- early stopping: a training stops after `patience` validation passes without a
  better accuracy, or at `max_steps` (the cap), whichever comes first.

With `checkpoint`, the whole state is saved after every validation pass and a
later call with the same `key` resumes from it, ending with the same weights as
an uninterrupted run. The caller deletes the checkpoint once the results are
recorded.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap
from tqdm.auto import tqdm

from c2q.errors import NonFiniteLossError
from c2q.io import load_torch, save_torch
from c2q.registry import SCHEDULES
from c2q.splits import Split

# loss(logits (K, B, C), labels (K, B), rows of the batch in the training split (K, B)) -> (K,)
LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
State = dict[str, torch.Tensor]


@dataclass(frozen=True)
class Recipe:
    batch_size: int
    lr: float
    max_steps: int
    eval_every: int
    patience: int | None = None  # None: no early stopping (teachers train for a fixed number of epochs)
    schedule: str = "constant"

    @classmethod
    def of(cls, section) -> "Recipe":
        """The recipe a params section spells out (params.yaml's `student`)."""
        return cls(**{f.name: getattr(section, f.name) for f in fields(cls)})

    @classmethod
    def for_epochs(cls, epochs: int, batch_size: int, lr: float, n: int) -> "Recipe":
        """A fixed number of epochs over n rows, validated after each (the teachers' recipe)."""
        steps_per_epoch = len(batch_starts(n, batch_size))
        return cls(batch_size, lr, max_steps=epochs * steps_per_epoch, eval_every=steps_per_epoch)


@dataclass(frozen=True)
class Training:
    """One of the K trainings: a name for messages, the seed of its batch order, its training rows."""

    name: str
    seed: int
    rows: torch.Tensor


@dataclass
class Result:
    best_step: int = 0
    best_val_accuracy: float = -1.0
    steps: int = 0  # optimiser steps it ran
    stopped_early: bool = False  # False: it ran to the cap
    history: list[dict[str, float]] = field(default_factory=list)  # one row per validation pass

    @property
    def hit_cap(self) -> bool:
        return not self.stopped_early


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor, _rows: torch.Tensor | None = None) -> torch.Tensor:
    """K trainings' mean cross-entropies: logits (K, B, C), labels (K, B) -> (K,). Each row's softmax runs
    along its own contiguous classes, so a training's loss is the same bits whichever others sit beside it."""
    log_p = F.log_softmax(logits, dim=-1)
    return -log_p.gather(-1, labels.unsqueeze(-1)).squeeze(-1).mean(-1)


def learning_rate_schedule(optimizer, schedule: str, total_steps: int):
    """Per-step multiplier of the learning rate: `constant` keeps lr; `cosine` decays it from lr
    to 0 at `total_steps` (half a cosine period)."""
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule {schedule!r} is not one of {SCHEDULES}")
    if schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: 0.5 * (1 + math.cos(math.pi * min(step, total_steps) / total_steps)))


def batch_starts(n: int, batch_size: int) -> list[int]:
    """Where each training batch starts. A last batch of a single sample joins the one before,
    since batch normalisation (the `fc` reduction before angle encodings) needs two."""
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    return starts


class Stack:
    """K copies of `model`'s weights and state buffers, stacked along a new first dimension.
    Buffers outside the state dict (constants such as a circuit's permutation) stay shared."""

    def __init__(self, model: nn.Module, states: list[State]):
        self.model, self.k = model, len(states)
        params, buffers = dict(model.named_parameters()), model.state_dict().keys() - dict(model.named_parameters())
        self.params = {n: torch.stack([s[n] for s in states]).detach().requires_grad_() for n in params}
        self.buffers = {n: torch.stack([s[n] for s in states]).detach() for n in sorted(buffers)}

    def _forward(self, params: State, buffers: State, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.model, (params, buffers), (x,))

    def logits(self, x: torch.Tensor, shared_input: bool = False) -> torch.Tensor:
        """(K, B, C): each copy on its own batch x[k] (x of shape (K, B, ...)), or all on one x.
        One copy runs as the plain model, without vmap (which refuses the teachers' channels-last layout)."""
        if self.k == 1:
            one = {n: t[0] for n, t in self.params.items()}, {n: t[0] for n, t in self.buffers.items()}
            return self._forward(*one, x if shared_input else x[0])[None]
        return vmap(self._forward, in_dims=(0, 0, None if shared_input else 0), randomness="different")(
            self.params, self.buffers, x)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
        """(K, N, C) logits of every copy for the same N inputs, in evaluation mode."""
        self.model.eval()
        return torch.cat([self.logits(x[i : i + batch_size], shared_input=True)
                          for i in range(0, len(x), batch_size)], dim=1)

    def state(self, k: int) -> State:
        """Copy k's weights and buffers as the model's state dict."""
        return {n: t[k].detach().clone() for n, t in {**self.params, **self.buffers}.items()}


def predict_states(model: nn.Module, states: list[State], x: torch.Tensor) -> torch.Tensor:
    """(K, N, C) logits of K trained states of `model` on the same inputs."""
    return Stack(model, states).predict(x)


@dataclass
class _Progress:
    """Everything that changes during training besides weights, optimiser and generators."""

    step: int
    results: list[Result]
    best: list[State | None]
    since_best: list[int]  # validation passes since each training's last new best
    orders: torch.Tensor | None = None  # (K, n) this epoch's batch order per training, as rows
    loss_sum: torch.Tensor | None = None  # per training, since the last validation pass
    correct: torch.Tensor | None = None
    seen: int = 0

    def active(self) -> list[bool]:
        return [not r.stopped_early for r in self.results]


def _check_finite(losses: torch.Tensor, progress: _Progress, trainings: list[Training], desc: str,
                  epoch: int, what: str) -> None:
    for k, value in enumerate(losses.tolist()):
        if progress.active()[k] and not math.isfinite(value):
            raise NonFiniteLossError(f"{desc}: the {what} loss of {trainings[k].name} became {value} at step "
                                     f"{progress.step} (epoch {epoch}); lower the learning rate (lr in params.yaml)")


def _validate(stack: Stack, val: Split, progress: _Progress, trainings, recipe: Recipe, desc: str,
              steps_per_epoch: int) -> None:
    """One validation pass: a history row, a new best or one more pass without one, early stopping."""
    logits = stack.predict(val.x)
    val_loss = cross_entropy(logits, val.y.expand(stack.k, -1))
    epoch = math.ceil(progress.step / steps_per_epoch)
    _check_finite(val_loss, progress, trainings, desc, epoch, "validation")
    val_accuracy = [correct / len(val) for correct in (logits.argmax(-1) == val.y).sum(-1).tolist()]
    for k, result in enumerate(progress.results):
        if result.stopped_early:
            continue
        result.steps = progress.step
        result.history.append({
            "step": progress.step, "epoch": round(progress.step / steps_per_epoch, 6),
            "train_loss": progress.loss_sum[k].item() / max(progress.seen, 1),
            "train_accuracy": progress.correct[k].item() / max(progress.seen, 1),
            "val_loss": val_loss[k].item(), "val_accuracy": val_accuracy[k]})
        if val_accuracy[k] > result.best_val_accuracy:
            result.best_step, result.best_val_accuracy = progress.step, val_accuracy[k]
            progress.best[k], progress.since_best[k] = stack.state(k), 0
        else:
            progress.since_best[k] += 1
            result.stopped_early = recipe.patience is not None and progress.since_best[k] >= recipe.patience
    progress.loss_sum, progress.correct, progress.seen = torch.zeros(stack.k), torch.zeros(stack.k), 0


def _save(path: Path, keys: list[str], stack: Stack, optimizer, scheduler, generators, progress: _Progress,
          complete: bool) -> None:
    save_torch({
        "keys": keys, "complete": complete, "params": stack.params, "buffers": stack.buffers,
        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
        "generators": [g.get_state() for g in generators], "torch_rng": torch.get_rng_state(),
        "step": progress.step, "results": [asdict(r) for r in progress.results], "best": progress.best,
        "since_best": progress.since_best, "orders": progress.orders,
    }, path)


def _load(path: Path | None) -> dict | None:
    if path is None or not path.is_file():
        return None
    try:
        return load_torch(path)
    except Exception:  # a damaged checkpoint is only a lost shortcut: start over
        return None


def finished(path: Path | None, keys: list[str]) -> list[tuple[State, Result]] | None:
    """The results of trainings `keys` from a checkpoint of a completed run that trained them (and maybe
    others), else None: a stage whose recording failed after training records them without retraining."""
    saved = _load(path)
    if saved is None or not saved.get("complete") or not set(keys) <= set(saved["keys"]):
        return None
    where = [saved["keys"].index(k) for k in keys]
    return [(saved["best"][i], Result(**saved["results"][i])) for i in where]


def _resume(saved: dict | None, keys: list[str], stack: Stack, optimizer, scheduler, generators) -> _Progress | None:
    """The state of an interrupted run of the same trainings, restored; else None."""
    if saved is None or saved.get("keys") != keys:
        return None
    with torch.no_grad():
        for group in ("params", "buffers"):
            for name, value in getattr(stack, group).items():
                value.copy_(saved[group][name])
    optimizer.load_state_dict(saved["optimizer"])
    scheduler.load_state_dict(saved["scheduler"])
    for g, s in zip(generators, saved["generators"]):
        g.set_state(s)
    torch.set_rng_state(saved["torch_rng"])
    return _Progress(saved["step"], [Result(**r) for r in saved["results"]], saved["best"], saved["since_best"],
                     saved["orders"], torch.zeros(stack.k), torch.zeros(stack.k), 0)


def fit(model: nn.Module, inits: list[State], trainings: list[Training], train: Split, val: Split, *,
        loss_fn: LossFn, recipe: Recipe, desc: str = "train", checkpoint: Path | None = None,
        keys: list[str] | None = None, after_validation: Callable[[int], None] | None = None
        ) -> list[tuple[State, Result]]:
    """Train K copies of `model`, copy k from `inits[k]` on `trainings[k]`; return each one's weights at its
    best validation accuracy and its result. Every training must have as many rows as the others.
    `keys` (one per training) identify the trainings in the checkpoint."""
    keys = keys or [t.name for t in trainings]
    if (done := finished(checkpoint, keys)) is not None:
        print(f"{desc}: already trained, results from {checkpoint}", flush=True)
        return done
    n = len(trainings[0].rows)
    if any(len(t.rows) != n for t in trainings):
        raise ValueError(f"{desc}: trainings side by side need training sets of one size, got "
                         f"{sorted({len(t.rows) for t in trainings})}")
    starts = batch_starts(n, recipe.batch_size)
    steps_per_epoch = len(starts)
    interval = min(recipe.eval_every, steps_per_epoch)  # at least once per epoch
    stack = Stack(model, inits)
    optimizer = torch.optim.Adam(stack.params.values(), lr=recipe.lr)
    scheduler = learning_rate_schedule(optimizer, recipe.schedule, recipe.max_steps)
    generators = [torch.Generator().manual_seed(t.seed) for t in trainings]
    progress = _resume(_load(checkpoint), keys, stack, optimizer, scheduler, generators)
    if progress is None:
        k = len(trainings)
        progress = _Progress(0, [Result() for _ in trainings], [None] * k, [0] * k, None,
                             torch.zeros(k), torch.zeros(k), 0)
    else:
        print(f"{desc}: resuming at step {progress.step} from {checkpoint}", flush=True)
    bar = tqdm(total=recipe.max_steps, initial=progress.step, desc=desc, leave=False, disable=None)
    while progress.step < recipe.max_steps and any(progress.active()):
        position = progress.step % steps_per_epoch
        if position == 0:
            progress.orders = torch.stack([t.rows[torch.randperm(n, generator=g)]
                                           for t, g in zip(trainings, generators)])
        end = starts[position + 1] if position + 1 < steps_per_epoch else n
        rows = progress.orders[:, starts[position] : end]
        model.train()
        logits = stack.logits(train.x[rows])
        labels = train.y[rows]
        losses = loss_fn(logits, labels, rows)
        progress.step += 1
        _check_finite(losses.detach(), progress, trainings, desc, math.ceil(progress.step / steps_per_epoch),
                      "training")
        active = torch.tensor(progress.active())
        optimizer.zero_grad(set_to_none=True)
        torch.where(active, losses, torch.zeros_like(losses)).sum().backward()  # a stopped training learns nothing
        optimizer.step()
        scheduler.step()
        progress.loss_sum += losses.detach() * rows.shape[1]
        progress.correct += (logits.detach().argmax(-1) == labels).sum(-1)
        progress.seen += rows.shape[1]
        bar.update(1)
        if progress.step % interval == 0 or progress.step == recipe.max_steps:
            _validate(stack, val, progress, trainings, recipe, desc, steps_per_epoch)
            bar.set_postfix(training=sum(progress.active()))
            if checkpoint is not None:
                complete = progress.step == recipe.max_steps or not any(progress.active())
                _save(checkpoint, keys, stack, optimizer, scheduler, generators, progress, complete)
            if after_validation:
                after_validation(progress.step)
    bar.close()
    return list(zip(progress.best, progress.results))


def fit_one(model: nn.Module, train: Split, val: Split, *, recipe: Recipe, seed: int, desc: str = "train",
            checkpoint: Path | None = None, key: str = "", loss_fn: LossFn = cross_entropy) -> Result:
    """The plain case: one training of `model` on the whole train split; on return `model` holds its
    weights of best validation accuracy."""
    training = Training(desc, seed, torch.arange(len(train)))
    [(state, result)] = fit(model, [model.state_dict()], [training], train, val, loss_fn=loss_fn, recipe=recipe,
                            desc=desc, checkpoint=checkpoint, keys=[key or desc])
    model.load_state_dict(state)
    return result
