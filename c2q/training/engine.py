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
- early stopping: a training stops at the first validation pass `patience`
  steps after its best one, or at `max_steps` (the cap), whichever comes first.
  Patience counts steps, not passes, so a training on a few images, whose
  every step is an epoch and a validation pass, gets as many steps to improve
  as one on the whole split. A stopped training leaves the stack, so the
  others go on at the cost of their own number.

Everything a step touches lives on `device` (fit's argument): weights, optimiser state, data, losses.
Batch orders are drawn on the CPU, with each training's own generator, and then moved, so a training's
batches are the same on every device. So are the random numbers a model draws in training: a module
that needs some per forward pass (a noise-aware circuit's Pauli errors, c2q.models.noise_injection) says
how many (`uniforms_per_pass`) and reads them from its `uniforms` buffer, which the engine fills for each
training from that training's generator; a training's draws never depend on the trainings beside it.

With `checkpoint`, the whole state is saved after a validation pass (the first,
then one at least CHECKPOINT_EVERY_S after the last save, and the last) and a
later call with the same `keys` resumes from it, ending with the same weights
as an uninterrupted run; a completed checkpoint hands back its results without
training. The caller deletes the checkpoint once the results are recorded.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap
from tqdm.auto import tqdm

from c2q.core.errors import NonFiniteLossError
from c2q.core.io import load_torch, save_torch
from c2q.core.schedules import SCHEDULES
from c2q.data.splits import Split

# loss(logits (K, B, C), labels (K, B), rows of the batch in the training split (K, B),
#      which of the trainings these K are (K,): indices into the list given to `fit`) -> (K,)
LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]
State = dict[str, torch.Tensor]
# Seconds between checkpoints. Saving holds every training's history and best weights, so after every pass
# it would cost more than the step itself where every step is a pass (a few images per class).
CHECKPOINT_EVERY_S = 30.0


@dataclass(frozen=True)
class Recipe:
    batch_size: int
    lr: float
    max_steps: int
    eval_every: int
    patience: int | None = None  # steps without a better validation accuracy before a training stops;
    # None: no early stopping (teachers train for a fixed number of epochs)
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
    """One of the K trainings: a name for messages, the seed of its batch order, its training rows, and
    a factor on the recipe's learning rate (the study tunes it for its baselines)."""

    name: str
    seed: int
    rows: torch.Tensor
    lr_scale: float = 1.0


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


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor, _rows: torch.Tensor | None = None,
                  _which: torch.Tensor | None = None) -> torch.Tensor:
    """K trainings' mean cross-entropies: logits (K, B, C), labels (K, B) -> (K,). Each row's softmax runs
    along its own contiguous classes, so a training's loss is the same bits whichever others sit beside it."""
    log_p = F.log_softmax(logits, dim=-1)
    return -log_p.gather(-1, labels.unsqueeze(-1)).squeeze(-1).mean(-1)


def learning_rate(recipe: Recipe, step: int) -> float:
    """The learning rate of optimiser step `step` (1, 2, ...): `constant` keeps lr; `cosine` decays it
    from lr to 0 at the cap (half a cosine period)."""
    if recipe.schedule not in SCHEDULES:
        raise ValueError(f"schedule {recipe.schedule!r} is not one of {SCHEDULES}")
    if recipe.schedule == "constant":
        return recipe.lr
    return recipe.lr * 0.5 * (1 + math.cos(math.pi * min(step - 1, recipe.max_steps) / recipe.max_steps))


def batch_starts(n: int, batch_size: int) -> list[int]:
    """Where each training batch starts. A last batch of a single sample joins the one before,
    since batch normalisation (the `fc` reduction before angle encodings) needs two; at batch size 1
    (the notebooks' own) every batch is a single sample, as asked."""
    starts = list(range(0, n, batch_size))
    if batch_size > 1 and len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    return starts


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    """torch.stack that keeps each tensor's memory layout (the teachers' channels-last weights: the plain
    model runs on copy 0 as it is, and convolutions are faster and give the same bits in that layout)."""
    first = tensors[0].detach()
    out = torch.empty_strided((len(tensors), *first.shape), (first.numel(), *first.stride()), dtype=first.dtype,
                              device=first.device)
    with torch.no_grad():
        for k, tensor in enumerate(tensors):
            out[k].copy_(tensor)
    return out


class Stack:
    """K copies of `model`'s weights and state buffers, stacked along a new first dimension.
    Buffers outside the state dict (constants such as a circuit's permutation) stay shared.

    A stack made of one copy runs as the plain model, without vmap (which refuses the teachers'
    channels-last layout, and costs them a third more time); a larger stack stays under vmap even when
    stopped trainings leave one copy, so that a training's arithmetic never depends on the others."""

    def __init__(self, model: nn.Module, states: list[State]):
        self.model, self.k = model, len(states)
        self.plain = self.k == 1
        params, buffers = dict(model.named_parameters()), model.state_dict().keys() - dict(model.named_parameters())
        self.params = {n: _stack([s[n] for s in states]).requires_grad_() for n in params}
        self.buffers = {n: _stack([s[n] for s in states]) for n in sorted(buffers)}
        self.device = next(iter(self.params.values())).device
        self.random = {f"{name}.uniforms": module.uniforms_per_pass for name, module in model.named_modules()
                       if hasattr(module, "uniforms_per_pass")}  # the model's random numbers per pass

    def draw(self, generators: list[torch.Generator]) -> State:
        """Each copy's random numbers for one training pass, copy k's from generators[k] (on the CPU, then
        moved): {buffer name: (K, n)}; empty for a model that draws none."""
        return {name: torch.stack([torch.rand(n, generator=g, dtype=torch.float64) for g in generators])
                .to(self.device) for name, n in self.random.items()}

    def keep(self, positions: list[int]) -> None:
        """Only these copies stay (new leaf tensors; the optimiser must follow, see `_Run.keep`)."""
        index = torch.tensor(positions, device=self.device)
        self.params = {n: p.detach()[index].clone().requires_grad_() for n, p in self.params.items()}
        self.buffers = {n: b[index].clone() for n, b in self.buffers.items()}
        self.k = len(positions)

    def _forward(self, params: State, buffers: State, x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.model, (params, buffers), (x,))

    def logits(self, x: torch.Tensor, shared_input: bool = False, random: State | None = None) -> torch.Tensor:
        """(K, B, C): each copy on its own batch x[k] (x of shape (K, B, ...)), or all on one x; `random`:
        each copy's random numbers for this pass (`draw`).
        """
        buffers = {**self.buffers, **(random or {})}
        if self.plain:
            one = {n: t[0] for n, t in self.params.items()}, {n: t[0] for n, t in buffers.items()}
            return self._forward(*one, x if shared_input else x[0])[None]
        return vmap(self._forward, in_dims=(0, 0, None if shared_input else 0), randomness="different")(
            self.params, buffers, x)

    @torch.no_grad()
    def predict(self, x: torch.Tensor, batch_size: int = 4096) -> torch.Tensor:
        """(K, N, C) logits of every copy for the same N inputs, in evaluation mode."""
        self.model.eval()
        return torch.cat([self.logits(x[i : i + batch_size].to(self.device), shared_input=True)
                          for i in range(0, len(x), batch_size)], dim=1)

    def state(self, k: int) -> State:
        """Copy k's weights and buffers as the model's state dict."""
        return {n: t[k].detach().clone() for n, t in {**self.params, **self.buffers}.items()}


def predict_states(model: nn.Module, states: list[State], x: torch.Tensor,
                   device: torch.device | str = "cpu") -> torch.Tensor:
    """(K, N, C) logits of K trained states of `model` on the same inputs, computed on `device`, on the CPU."""
    model.to(device)
    return Stack(model, [_on(s, device) for s in states]).predict(x).cpu()


def _on(state: State, device: torch.device | str) -> State:
    return {k: v.to(device) for k, v in state.items()}


class _Run:
    """One call of `fit` in progress: the stack of the trainings still going (`alive`, indices into
    the K trainings), its optimiser, every training's generator, result and best weights."""

    def __init__(self, model: nn.Module, inits: list[State], trainings: list[Training], recipe: Recipe):
        k, self.n = len(trainings), len(trainings[0].rows)
        self.trainings, self.recipe, self.step = trainings, recipe, 0
        self.starts = batch_starts(self.n, recipe.batch_size)
        self.alive = list(range(k))
        self.stack = Stack(model, inits)
        self.optimizer = torch.optim.Adam(self.stack.params.values(), lr=recipe.lr)
        self.generators = [torch.Generator().manual_seed(t.seed) for t in trainings]
        self.results, self.best = [Result() for _ in trainings], [None] * k
        self.orders: torch.Tensor | None = None  # this epoch's batch order of each live training, as rows
        self._reset_sums()

    def _reset_sums(self) -> None:
        zeros = torch.zeros(self.stack.k, device=self.stack.device)
        self.loss_sum, self.correct, self.seen = zeros, zeros.clone(), 0

    def keep(self, positions: list[int]) -> None:
        """Drop the stopped trainings from the stack, and their rows from the optimiser's state: the
        others go on with exactly the weights and moments they had."""
        old = [self.optimizer.state[p] for p in self.stack.params.values()]
        self.stack.keep(positions)
        index = torch.tensor(positions, device=self.stack.device)
        self.optimizer = torch.optim.Adam(self.stack.params.values(), lr=self.recipe.lr)
        for p, state in zip(self.stack.params.values(), old):
            self.optimizer.state[p] = {k: v if k == "step" else v[index].clone() for k, v in state.items()}
        self.alive = [self.alive[i] for i in positions]
        self.orders = self.orders[index] if self.orders is not None else None
        self._reset_sums()

    def check_finite(self, losses: torch.Tensor, desc: str, what: str) -> None:
        for k, value in zip(self.alive, losses.tolist()):
            if not math.isfinite(value):
                epoch = math.ceil(self.step / self.steps_per_epoch)
                raise NonFiniteLossError(f"{desc}: the {what} loss of {self.trainings[k].name} became {value} at "
                                         f"step {self.step} (epoch {epoch}); lower the learning rate (lr in "
                                         "params.yaml)")

    @property
    def steps_per_epoch(self) -> int:
        return len(self.starts)

    def train_step(self, train: Split, loss_fn: LossFn, desc: str) -> None:
        position = self.step % len(self.starts)
        if position == 0:
            self.orders = torch.stack([self.trainings[k].rows[torch.randperm(self.n, generator=self.generators[k])]
                                       for k in self.alive]).to(self.stack.device)
        end = self.starts[position + 1] if position + 1 < len(self.starts) else self.n
        rows = self.orders[:, self.starts[position] : end]
        self.stack.model.train()
        logits = self.stack.logits(train.x[rows], random=self.stack.draw([self.generators[k] for k in self.alive]))
        labels = train.y[rows]
        losses = loss_fn(logits, labels, rows, torch.tensor(self.alive, device=self.stack.device))
        self.step += 1
        self.check_finite(losses.detach(), desc, "training")
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.recipe, self.step)
        self.optimizer.zero_grad(set_to_none=True)
        losses.sum().backward()
        self._step_optimizer()
        self.loss_sum += losses.detach() * rows.shape[1]
        self.correct += (logits.detach().argmax(-1) == labels).sum(-1)
        self.seen += rows.shape[1]

    def _step_optimizer(self) -> None:
        """One Adam step; a training with lr_scale s moves s times as far (Adam's step is lr times a
        function of the gradients' moments, so this is the step it would take at lr * s)."""
        scales = torch.tensor([self.trainings[k].lr_scale for k in self.alive], device=self.stack.device)
        if bool((scales == 1).all()):
            self.optimizer.step()
            return
        before = [p.detach().clone() for p in self.stack.params.values()]
        self.optimizer.step()
        with torch.no_grad():
            for p, old in zip(self.stack.params.values(), before):
                p.copy_(old + scales.view(-1, *[1] * (p.dim() - 1)) * (p - old))

    def _accuracies(self, split: Split, logits: torch.Tensor | None = None) -> list[float]:
        logits = self.stack.predict(split.x) if logits is None else logits
        return [correct / len(split) for correct in (logits.argmax(-1) == split.y).sum(-1).tolist()]

    def validate(self, val: Split, desc: str, monitor: Split | None = None) -> None:
        """One validation pass: a history row per live training and maybe a new best; trainings `patience`
        steps past their best stop and leave the stack. A `monitor` split's accuracy is recorded in the
        history too, and nothing else: it never steers training or the choice of weights."""
        logits = self.stack.predict(val.x)
        val_loss = cross_entropy(logits, val.y.expand(self.stack.k, -1))
        self.check_finite(val_loss, desc, "validation")
        val_accuracy = self._accuracies(val, logits)
        monitored = self._accuracies(monitor) if monitor is not None else None
        going = []
        for position, k in enumerate(self.alive):
            result = self.results[k]
            result.steps = self.step
            result.history.append({
                "step": self.step, "epoch": round(self.step / self.steps_per_epoch, 6),
                "train_loss": self.loss_sum[position].item() / self.seen,
                "train_accuracy": self.correct[position].item() / self.seen,
                "val_loss": val_loss[position].item(), "val_accuracy": val_accuracy[position],
                **({"monitor_accuracy": monitored[position]} if monitored is not None else {})})
            if val_accuracy[position] > result.best_val_accuracy:
                result.best_step, result.best_val_accuracy = self.step, val_accuracy[position]
                self.best[k] = self.stack.state(position)
            patience = self.recipe.patience
            result.stopped_early = patience is not None and self.step - result.best_step >= patience
            if not result.stopped_early:
                going.append(position)
        if len(going) < self.stack.k and going:
            self.keep(going)
        elif not going:
            self.alive = []
        self._reset_sums()

    @property
    def complete(self) -> bool:
        return not self.alive or self.step >= self.recipe.max_steps

    def save(self, path: Path, keys: list[str]) -> None:
        save_torch({
            "keys": keys, "complete": self.complete, "step": self.step, "alive": self.alive,
            "params": self.stack.params, "buffers": self.stack.buffers, "optimizer": self.optimizer.state_dict(),
            "generators": [g.get_state() for g in self.generators], "torch_rng": torch.get_rng_state(),
            "results": [asdict(r) for r in self.results], "best": self.best, "orders": self.orders,
        }, path)

    def restore(self, saved: dict) -> None:
        """Continue from a checkpoint of the same trainings."""
        if saved["alive"] != self.alive:
            self.keep([self.alive.index(k) for k in saved["alive"]])
        with torch.no_grad():
            for group in ("params", "buffers"):
                for name, value in getattr(self.stack, group).items():
                    value.copy_(saved[group][name])
        self.optimizer.load_state_dict(saved["optimizer"])
        for g, state in zip(self.generators, saved["generators"]):
            g.set_state(state)
        torch.set_rng_state(saved["torch_rng"])
        self.step = saved["step"]
        self.orders = saved["orders"].to(self.stack.device) if saved["orders"] is not None else None
        self.results = [Result(**r) for r in saved["results"]]
        self.best = saved["best"]


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


def fit(model: nn.Module, inits: list[State], trainings: list[Training], train: Split, val: Split, *,
        loss_fn: LossFn, recipe: Recipe, desc: str = "train", checkpoint: Path | None = None,
        keys: list[str] | None = None, after_validation: Callable[[int], None] | None = None,
        monitor: Split | None = None, device: torch.device | str = "cpu") -> list[tuple[State, Result]]:
    """Train K copies of `model`, copy k from `inits[k]` on `trainings[k]`; return each one's weights at its
    best validation accuracy and its result. Every training must have as many rows as the others.
    `keys` (one per training) identify the trainings in the checkpoint; `monitor`'s accuracy is recorded
    at every validation pass (Run.validate). Training runs on `device`; the weights come back on the CPU."""
    keys = keys or [t.name for t in trainings]
    if (done := finished(checkpoint, keys)) is not None:
        print(f"{desc}: already trained, results from {checkpoint}", flush=True)
        return done
    if len({len(t.rows) for t in trainings}) != 1:
        raise ValueError(f"{desc}: trainings side by side need training sets of one size, got "
                         f"{sorted({len(t.rows) for t in trainings})}")
    model.to(device)
    train, val = _split_on(train, device), _split_on(val, device)
    monitor = _split_on(monitor, device) if monitor is not None else None
    run = _Run(model, [_on(s, device) for s in inits], trainings, recipe)
    interval = min(recipe.eval_every, run.steps_per_epoch)  # at least once per epoch
    saved = _load(checkpoint)
    if saved is not None and saved.get("keys") == keys:
        run.restore(saved)
        print(f"{desc}: resuming at step {run.step} from {checkpoint}", flush=True)
    bar = tqdm(total=recipe.max_steps, initial=run.step, desc=desc, leave=False, disable=None)
    saved_at = -math.inf
    while not run.complete:
        run.train_step(train, loss_fn, desc)
        bar.update(1)
        if run.step % interval == 0 or run.step == recipe.max_steps:
            run.validate(val, desc, monitor)
            bar.set_postfix(training=len(run.alive))
            if checkpoint is not None and (run.complete or time.monotonic() - saved_at >= CHECKPOINT_EVERY_S):
                run.save(checkpoint, keys)
                saved_at = time.monotonic()
            if after_validation:
                after_validation(run.step)
    bar.close()
    return [(_on(best, "cpu"), result) for best, result in zip(run.best, run.results)]


def _split_on(split: Split, device: torch.device | str) -> Split:
    return Split(split.x.to(device), split.y.to(device))


def fit_one(model: nn.Module, train: Split, val: Split, *, recipe: Recipe, seed: int, desc: str = "train",
            checkpoint: Path | None = None, key: str = "", loss_fn: LossFn = cross_entropy,
            device: torch.device | str = "cpu") -> Result:
    """The plain case: one training of `model` on the whole train split; on return `model` holds its
    weights of best validation accuracy."""
    training = Training(desc, seed, torch.arange(len(train)))
    [(state, result)] = fit(model, [model.state_dict()], [training], train, val, loss_fn=loss_fn, recipe=recipe,
                            desc=desc, checkpoint=checkpoint, keys=[key or desc], device=device)
    model.load_state_dict(state)
    return result
