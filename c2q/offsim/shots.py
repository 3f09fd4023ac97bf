"""Finite-shot readout: <Z> estimated from sampled bitstrings instead of computed exactly.

A device returns bitstrings, not probabilities. With S shots, <Z_w> is
estimated as the mean of +1/-1 over the sampled bitstrings' bit w, an unbiased
estimate with standard error sqrt((1 - <Z_w>^2) / S). Sampling the S
bitstrings from the circuit's exact output distribution is what an ideal
(noise-free) device does, so no circuit is simulated twice.

The paper notebooks' student (c2q.models.hybrid) reads no <Z>: its scores are
the bitstrings' frequencies themselves (`Readout` says how each student reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable

import numpy as np
import torch

from c2q.models.circuits import QuantumLayer, unitary_before_last_entangler, encode, z_signs
from c2q.models.hybrid import HybridStudent, scores


@torch.inference_mode()
def output_probabilities(layer: QuantumLayer, features: torch.Tensor) -> torch.Tensor:
    """(B, 2^Q) probabilities of every basis state after the circuit, in float64."""
    states = encode(layer.encoding, features.double())
    u = unitary_before_last_entangler(layer.theta.detach().double(), layer.permutation)
    amplitudes = states.to(u.dtype) @ u.T
    return (amplitudes.abs() ** 2)[:, layer.permutation]  # the last CNOT ring permutes basis states


def sample_counts(probabilities: np.ndarray, shots: int, rng: np.random.Generator) -> np.ndarray:
    """(B, 2^Q) counts of `shots` bitstrings per row drawn from `probabilities` (B, 2^Q)."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 0, None)
    return rng.multinomial(shots, p / p.sum(axis=1, keepdims=True))


def sample_z(probabilities: np.ndarray, shots: int, rng: np.random.Generator) -> np.ndarray:
    """(B, Q) estimates of <Z_w> from `shots` bitstrings per row drawn from `probabilities` (B, 2^Q)."""
    counts = sample_counts(probabilities, shots, rng)
    qubits = int(np.log2(counts.shape[1]))
    return counts @ z_signs(qubits).double().numpy() / shots


def sample_frequencies(probabilities: np.ndarray, shots: int, rng: np.random.Generator) -> np.ndarray:
    """(B, 2^Q) frequencies of `shots` bitstrings per row drawn from `probabilities` (B, 2^Q)."""
    return sample_counts(probabilities, shots, rng) / shots


def z_of(probabilities: np.ndarray) -> np.ndarray:
    """(B, Q) exact <Z_w> of output distributions (B, 2^Q)."""
    qubits = int(np.log2(probabilities.shape[1]))
    return np.asarray(probabilities) @ z_signs(qubits).double().numpy()


@torch.inference_mode()
def head_error(head: torch.nn.Module, z: np.ndarray, labels: torch.Tensor) -> float:
    """Test error when the student's classical head reads the given <Z> values instead of exact ones."""
    logits = head(torch.as_tensor(z, dtype=head.weight.dtype))
    return (logits.argmax(1) != labels).double().mean().item()


@torch.inference_mode()
def hybrid_error(frequencies: np.ndarray, labels: torch.Tensor) -> float:
    """Test error of the notebooks' student when its scores come from these bitstring frequencies."""
    predicted = scores(torch.as_tensor(frequencies)).argmax(1)
    return (predicted != labels).double().mean().item()


@dataclass(frozen=True)
class Readout:
    """How a quantum student turns its circuit's output distributions (B, 2^Q) into a test error."""

    exact: Callable[[np.ndarray], np.ndarray]  # distributions -> what its classical part reads (<Z>, frequencies)
    sample: Callable[[np.ndarray, int, np.random.Generator], np.ndarray]  # the same from `shots` bitstrings
    error: Callable[[np.ndarray, torch.Tensor], float]  # what it read, labels -> test error


def readout(model) -> Readout:
    """A variational student reads <Z> into its head; the notebooks' student reads the frequencies."""
    if isinstance(model, HybridStudent):
        return Readout(lambda p: p, sample_frequencies, hybrid_error)
    return Readout(z_of, sample_z, partial(head_error, model.head))


@torch.inference_mode()
def exact_probabilities(model, x: torch.Tensor) -> torch.Tensor:
    """(B, 2^Q) exact output distributions of a quantum student's circuit for inputs x, in float64; basis
    index sum_k b_k 2^k over qiskit's qubits k (c2q.offsim.qasm)."""
    if isinstance(model, HybridStudent):
        return model.probabilities(x).double()
    return output_probabilities(model.core, model.reduce(x.flatten(1)))


@torch.inference_mode()
def errors_with_shots(model, x: torch.Tensor, labels: torch.Tensor, shots: list[int], seed: int,
                      chunk: int = 2048) -> dict[int, float]:
    """The quantum student's error when each image's readout is estimated from `shots` sampled bitstrings
    (one error per entry of `shots`); the draws are seeded by (`seed`, shots)."""
    model.eval()
    read, rngs = readout(model), {s: np.random.default_rng((seed, s)) for s in shots}
    wrong = dict.fromkeys(shots, 0.0)
    for start in range(0, len(x), chunk):
        p = exact_probabilities(model, x[start:start + chunk]).numpy()
        y = labels[start:start + chunk]
        for s in shots:
            wrong[s] += read.error(read.sample(p, s, rngs[s]), y) * len(y)
    return {s: wrong[s] / len(x) for s in shots}
