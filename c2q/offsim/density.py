"""The noisy output of a `-chain` student, exactly, for many images at once: a batched density matrix.

The student's logical circuit (c2q.models.circuits: product encoding, `layers`
of rotation blocks and a chain of CNOTs) runs on density matrices (B, 2^Q, 2^Q)
in complex128, each gate followed by its calibrated channel (c2q.offsim.calibration):
- the encoding is a product state, so each wire's 2x2 state takes its
  channel before the product is formed;
- a rotation block of wire w is one superoperator (4 x 4: the channel after the
  gate's unitary) on the row and column bits of w;
- a CNOT w -> w+1 with its channel is one 16 x 16 superoperator on the bits of
  both wires;
- readout: the diagonal, each wire's confusion, then <Z>.
An 8-qubit student's 1,000 images take seconds on a CPU, where qiskit-aer takes
a circuit per image. tests/test_density.py holds it to aer's density matrix with
the same model (`logical_noise_model`) to 1e-6.
"""

from __future__ import annotations

import numpy as np
import torch

from c2q.models.circuits import QuantumLayer, entangler_pairs, qubit_states, rotation_matrices, z_signs
from c2q.offsim.calibration import ChainNoise
from c2q.offsim.noise import apply_readout

MAX_ENTRIES = 2**23  # density-matrix entries per chunk of images (128 MiB of complex128)


def _apply(rho: torch.Tensor, superop: torch.Tensor, first: int, width: int) -> torch.Tensor:
    """A superoperator on `width` adjacent wires from wire `first` of rho (B, [2] * Q, [2] * Q) flattened as
    (B, 2^Q, 2^Q)."""
    b, dim, _ = rho.shape
    d, before = 2**width, 2**first
    after = dim // (before * d)
    view = rho.reshape(b, before, d, after, before, d, after)
    s = superop.reshape(d, d, d, d)
    return torch.einsum("ijkl,nakcblm->naicbjm", s, view).reshape(b, dim, dim)


def _gate_superoperator(unitary: np.ndarray) -> np.ndarray:
    d = unitary.shape[0]
    return np.einsum("ik,jl->ijkl", unitary, unitary.conj()).reshape(d * d, d * d)


def _cnot() -> np.ndarray:
    return np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=np.complex128)


def density_matrices(layer: QuantumLayer, features: torch.Tensor, noise: ChainNoise) -> torch.Tensor:
    """(B, 2^Q, 2^Q) noisy states before readout, basis index in our order (wire 0 most significant; the
    same number as qiskit's index)."""
    return torch.cat(list(_evolve(layer, features, noise)))


def density_probabilities(layer: QuantumLayer, features: torch.Tensor, noise: ChainNoise) -> np.ndarray:
    """(B, 2^Q) output distributions before readout, chunk by chunk of images."""
    return torch.cat([torch.diagonal(rho, dim1=1, dim2=2).real.clamp_min(0)
                      for rho in _evolve(layer, features, noise)]).numpy()


def _evolve(layer: QuantumLayer, features: torch.Tensor, noise: ChainNoise):
    """The noisy states of `features`, one chunk of images at a time."""
    if layer.entangler != "chain" or layer.encoding not in ("angle", "qubit"):
        raise ValueError(f"the density-matrix model covers chain students with a product encoding, not "
                         f"{layer.encoding} encoding with a {layer.entangler}")
    if noise.qubits != layer.qubits:
        raise ValueError(f"noise laid on {noise.qubits} qubits, the student has {layer.qubits}")
    q = layer.qubits
    rotation, cnot = noise.channels()
    gates = rotation_matrices(layer.theta.detach().double()).numpy()  # (L, Q, 2, 2)
    blocks = [[torch.from_numpy(rotation[w] @ _gate_superoperator(gates[l, w])) for w in range(q)]
              for l in range(layer.layers)]
    edges = [torch.from_numpy(s @ _gate_superoperator(_cnot())) for s in cnot]
    pairs = entangler_pairs(q, "chain")
    rotation = [torch.from_numpy(s) for s in rotation]
    chunk = max(1, MAX_ENTRIES // 4**q)
    for start in range(0, len(features), chunk):
        states = qubit_states(layer.encoding, features[start:start + chunk].detach().double()).to(torch.complex128)
        rho = _encode(torch.einsum("nqi,nqj->nqij", states, states.conj()), rotation)
        for l in range(layer.layers):
            for w in range(q):
                rho = _apply(rho, blocks[l][w], w, 1)
            for e, (c, _) in enumerate(pairs):
                rho = _apply(rho, edges[e], c, 2)
        yield rho


def _encode(rho: torch.Tensor, rotation: list[torch.Tensor]) -> torch.Tensor:
    """(B, Q, 2, 2) encoded one-qubit states -> each through its wire's channel -> the product (B, D, D)."""
    s = torch.stack([r.reshape(2, 2, 2, 2) for r in rotation])  # (Q, i, j, k, l)
    rho = torch.einsum("qijkl,nqkl->nqij", s, rho)
    full = rho[:, 0]
    for w in range(1, rho.shape[1]):
        full = torch.einsum("nab,ncd->nacbd", full, rho[:, w]).reshape(len(rho), full.shape[1] * 2, -1)
    return full


def density_z(layer: QuantumLayer, features: torch.Tensor, noise: ChainNoise) -> np.ndarray:
    """(B, Q) <Z> as the device reads it: the noisy distribution through each wire's readout confusion."""
    p = density_probabilities(layer, features, noise)
    q = layer.qubits
    # apply_readout works in qiskit's order (qubit k = bit k); our wire w is bit Q-1-w
    read = np.stack([apply_readout(row, noise.readout[::-1]) for row in p])
    return read @ z_signs(q).double().numpy()
