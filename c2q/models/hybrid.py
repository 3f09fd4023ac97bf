"""The paper notebooks' own student (`cnn-hadamard-q<Q>`): a small CNN into a circuit without trainable angles.

As the notebooks build it (../shared/PAPER.md):
- Inputs: the notebooks' pixels, ToTensor's [0, 1] without normalisation. c2q's splits hold images
  standardised with the train split's mean and std (c2q.data.splits), so the student undoes that first
  (`pixel_stats`). On standardised images (about 3x the range) its pi * tanh saturates within an epoch at
  batch 1 in most seeds: every angle at +-pi, every bitstring at 1/2^Q, no gradient left (CHANGELOG, #29).
- CNN: conv 1->10 (5x5), max-pool 2, ReLU; conv 10->20 (5x5), Dropout2d, max-pool 2, ReLU;
  flatten; FC -> 50, ReLU, dropout; FC 50 -> Q; then pi * tanh: one angle x_k per qubit.
- Circuit: H on every qubit, then RY(x_k) on qubit k, every qubit measured. Qubit k reads 1 with
  probability (1 + sin x_k) / 2, independently of the others, so the 2^Q bitstring probabilities
  are a product, which `bitstring_probabilities` computes exactly.
- Scores: the bitstring probabilities in the notebooks' order (itertools.product over Qiskit's count
  keys, which put qubit 0 rightmost: bitstring b has index sum_k b_k 2^k), then sigmoid, then
  concatenated with 1 minus themselves: 2^(Q+1) logits; class c's score is entry c.

Training sees the probabilities exactly (autograd), or, with `training_shots` N > 0 (params.yaml
`hybrid`), N-shot frequency estimates with parameter-shift gradients, as the notebooks did: the
derivative along x_k is f(x + s e_k) - f(x - s e_k), each term an N-shot estimate, with the
notebooks' shift s = pi/4 and no factor 1/2 (so it is not the exact gradient, only its direction
up to noise and scale). Evaluation is exact, or with `eval_shots` N > 0 (the study's notebooks' regime
as they ran, c2q.study) an N-shot estimate drawn afresh at every prediction, as the notebooks predicted.
"""

from __future__ import annotations

import math
import warnings

import torch
from torch import nn


def bitstring_probabilities(angles: torch.Tensor) -> torch.Tensor:
    """(B, Q) angles -> (B, 2^Q) probabilities of H-then-RY(x_k) on every qubit; index = sum_k b_k 2^k."""
    one = (1 + torch.sin(angles)) / 2
    per_qubit = torch.stack([1 - one, one], dim=-1)  # (B, Q, 2)
    probs = per_qubit[:, -1]  # qubit Q-1 is the most significant bit of the index
    for k in range(angles.shape[1] - 2, -1, -1):
        probs = (probs[:, :, None] * per_qubit[:, k, None, :]).flatten(1)
    return probs


def scores(probs: torch.Tensor) -> torch.Tensor:
    """(B, 2^Q) bitstring probabilities, or their shot estimates -> the (B, 2^(Q+1)) scores."""
    sigmoid = torch.sigmoid(probs)
    return torch.cat([sigmoid, 1 - sigmoid], dim=1)


def sample_frequencies(probs: torch.Tensor, shots: int) -> torch.Tensor:
    """Frequencies of `shots` measurements per row of `probs` (..., M): one multinomial draw per row, made as
    M - 1 binomials, each conditional on the counts before it, so its cost does not grow with the shots."""
    probs = probs.clamp_min(0)
    left = torch.full(probs.shape[:-1], float(shots), dtype=probs.dtype, device=probs.device)  # shots not yet placed
    mass = torch.ones_like(left)  # probability not yet placed
    counts = []
    with warnings.catch_warnings():  # torch.func.vmap's rule for torch.binomial resizes its output, and says so
        warnings.filterwarnings("ignore", "An output with one or more elements was resized", UserWarning)
        for j in range(probs.shape[-1] - 1):
            count = torch.binomial(left, (probs[..., j] / mass.clamp_min(1e-30)).clamp(0, 1))
            counts.append(count)
            left, mass = left - count, mass - probs[..., j]
    return torch.stack([*counts, left], dim=-1) / shots


class _ShotEstimate(torch.autograd.Function):
    """N-shot frequencies forward; parameter shift, itself by N-shot estimates, backward. Written in the
    form torch.func.vmap can batch (students trained side by side, each drawing its own shots)."""

    generate_vmap_rule = True

    @staticmethod
    def forward(angles: torch.Tensor, shots: int, shift: float) -> torch.Tensor:
        return sample_frequencies(bitstring_probabilities(angles), shots)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        angles, ctx.shots, ctx.shift = inputs
        ctx.save_for_backward(angles)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (angles,) = ctx.saved_tensors
        qubits = angles.shape[-1]
        steps = ctx.shift * torch.eye(qubits, dtype=angles.dtype, device=angles.device)[:, None, :]  # (Q, 1, Q)
        shifted = torch.cat([angles + steps, angles - steps])  # (2Q, B, Q): every +s, then every -s
        frequencies = sample_frequencies(bitstring_probabilities(shifted.flatten(0, 1)), ctx.shots)
        plus, minus = frequencies.unflatten(0, (2 * qubits, -1)).chunk(2)
        return ((plus - minus) * grad).sum(-1).T, None, None


class NotebooksCNN(nn.Module):
    """Images (B, C, H, W) -> Q angles in (-pi, pi): the notebooks' network before its circuit."""

    def __init__(self, image_shape: tuple[int, int, int], qubits: int):
        super().__init__()
        channels, height, width = image_shape
        self.conv1 = nn.Conv2d(channels, 10, kernel_size=5)
        self.conv2 = nn.Conv2d(10, 20, kernel_size=5)
        self.conv2_drop = nn.Dropout2d()
        side = lambda n: ((n - 4) // 2 - 4) // 2  # noqa: E731  two (5x5 conv, 2x2 pool) stages
        if side(height) < 1 or side(width) < 1:
            raise ValueError(f"the notebooks' CNN needs images of at least 16x16 pixels, got {height}x{width}")
        self.fc1 = nn.Linear(20 * side(height) * side(width), 50)
        self.dropout = nn.Dropout()
        self.fc2 = nn.Linear(50, qubits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.relu(nn.functional.max_pool2d(self.conv1(x), 2))
        x = torch.relu(nn.functional.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
        x = self.dropout(torch.relu(self.fc1(x.flatten(1))))
        return math.pi * torch.tanh(self.fc2(x))


class HybridStudent(nn.Module):
    """The notebooks' student: images -> pixels -> CNN -> angles -> circuit -> 2^(Q+1) scores (see the module
    doc). Takes standardised (B, C, H, W) images or the same flattened to (B, C*H*W); `pixel_stats` is the
    per-channel (mean, std) they were standardised with, in [0, 1] pixel units (a split file's `mean`, `std`)."""

    def __init__(self, image_shape: tuple[int, int, int], n_classes: int, qubits: int,
                 pixel_stats: tuple[torch.Tensor, torch.Tensor], training_shots: int = 0, shift: float = math.pi / 4,
                 eval_shots: int = 0):
        super().__init__()
        if n_classes > 2**qubits:
            raise ValueError(f"cnn-hadamard-q{qubits} scores {2**qubits} bitstrings, fewer than {n_classes} classes")
        self.image_shape, self.qubits = tuple(image_shape), qubits
        self.training_shots, self.shift, self.eval_shots = training_shots, shift, eval_shots
        mean, std = (torch.as_tensor(t, dtype=torch.float32).reshape(1, -1, 1, 1) for t in pixel_stats)
        if mean.shape[1] != self.image_shape[0] or std.shape != mean.shape:
            raise ValueError(f"pixel_stats: one mean and one std per channel of {self.image_shape} images, "
                             f"got {tuple(mean.shape[1:2])} and {tuple(std.shape[1:2])}")
        # Not in the state dict: the split's statistics, not learned; every copy of a stack shares them.
        self.register_buffer("pixel_mean", mean, persistent=False)
        self.register_buffer("pixel_std", std, persistent=False)
        self.reduce = NotebooksCNN(self.image_shape, qubits)

    def pixels(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised images -> the notebooks' ToTensor pixels in [0, 1]."""
        return x.reshape(-1, *self.image_shape) * self.pixel_std + self.pixel_mean

    def angles(self, x: torch.Tensor) -> torch.Tensor:
        """(B, Q) circuit inputs of standardised images x."""
        return self.reduce(self.pixels(x))

    def probabilities(self, x: torch.Tensor) -> torch.Tensor:
        angles = self.angles(x)
        if self.training and self.training_shots:
            return _ShotEstimate.apply(angles, self.training_shots, self.shift)
        return bitstring_probabilities(angles)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        probs = self.probabilities(x)
        if self.eval_shots and not self.training:  # a run of its own with fresh shots, as the notebooks predict
            probs = sample_frequencies(probs, self.eval_shots)
        return scores(probs)

    def parameter_counts(self) -> dict[str, int]:
        return {"quantum": 0, "classical": sum(p.numel() for p in self.parameters())}
