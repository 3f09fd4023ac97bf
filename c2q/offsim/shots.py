"""Finite-shot readout: <Z> estimated from sampled bitstrings instead of computed exactly.

A device returns bitstrings, not probabilities. With S shots, <Z_w> is
estimated as the mean of +1/-1 over the sampled bitstrings' bit w, an unbiased
estimate with standard error sqrt((1 - <Z_w>^2) / S). Sampling the S
bitstrings from the circuit's exact output distribution is what an ideal
(noise-free) device does, so no circuit is simulated twice.
"""

from __future__ import annotations

import numpy as np
import torch

from c2q.models.circuits import QuantumLayer, _unitary_before_last_ring, encode, z_signs


@torch.inference_mode()
def output_probabilities(layer: QuantumLayer, features: torch.Tensor) -> torch.Tensor:
    """(B, 2^Q) probabilities of every basis state after the circuit, in float64."""
    states = encode(layer.encoding, features.double())
    u = _unitary_before_last_ring(layer.theta.detach().double(), layer.permutation)
    amplitudes = states.to(u.dtype) @ u.T
    return (amplitudes.abs() ** 2)[:, layer.permutation]  # the last CNOT ring permutes basis states


def sample_z(probabilities: np.ndarray, shots: int, rng: np.random.Generator) -> np.ndarray:
    """(B, Q) estimates of <Z_w> from `shots` bitstrings per row drawn from `probabilities` (B, 2^Q)."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 0, None)
    counts = rng.multinomial(shots, p / p.sum(axis=1, keepdims=True))
    qubits = int(np.log2(p.shape[1]))
    return counts @ z_signs(qubits).double().numpy() / shots


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
def errors_with_shots(model, x: torch.Tensor, labels: torch.Tensor, shots: list[int], seed: int,
                      chunk: int = 2048) -> dict[int, float]:
    """The quantum student's error when each image's <Z> is estimated from `shots` sampled bitstrings
    (one error per entry of `shots`); the draws are seeded by (`seed`, shots)."""
    model.eval()
    rngs = {s: np.random.default_rng((seed, s)) for s in shots}
    wrong = dict.fromkeys(shots, 0.0)
    for start in range(0, len(x), chunk):
        features = model.reduce(x[start:start + chunk].flatten(1))
        p = output_probabilities(model.core, features).numpy()
        y = labels[start:start + chunk]
        for s in shots:
            wrong[s] += head_error(model.head, sample_z(p, s, rngs[s]), y) * len(y)
    return {s: wrong[s] / len(x) for s in shots}
