"""The student's quantum part: encoding, trainable circuit, PauliZ readout, two simulators.

Encodings (features -> state of Q qubits):
- amplitude: 2^Q features, L2-normalised, are the state's amplitudes.
- angle:     Q features, one RY(x_w) on each qubit w from |0>.
- qubit:     2Q features, RY(x_2w) then RZ(x_2w+1) on qubit w from |0> (dense encoding).

Circuit, `layers` times: RX, RY, RZ on every qubit (trainable angles theta[l, w]),
then a ring of CNOTs 0->1, 1->2, ..., Q-1->0. Readout: <Z> on every qubit.
Qubit 0 is the most significant bit of a basis-state index (torchquantum's order).

Simulators (same circuit, same parameters):
- fused: builds the circuit's unitary U(theta) once per forward pass by applying
  the gates to the 2^Q basis states as one batch (the CNOT ring is a fixed
  permutation), then applies U to the whole batch of states as one real matrix
  product.
- torchquantum: the reference, gate by gate on the batch with torchquantum.
"""

from __future__ import annotations

import math

import torch
from torch import nn

ENCODINGS = ("amplitude", "angle", "qubit")
SIMULATORS = ("fused", "torchquantum")


def encoder_input_size(encoding: str, qubits: int) -> int:
    """How many classical features the encoding consumes for `qubits` qubits."""
    return {"amplitude": 2**qubits, "angle": qubits, "qubit": 2 * qubits}[encoding]


# ---- encodings ----

def amplitude_state(features: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """2^Q real features -> the L2-normalised state (real, shape (B, 2^Q))."""
    return features / features.norm(dim=1, keepdim=True).clamp_min(eps)


def _product_state(qubit_states: torch.Tensor) -> torch.Tensor:
    """(B, Q, 2) single-qubit states -> (B, 2^Q) product state, qubit 0 most significant."""
    state = qubit_states[:, 0]
    for w in range(1, qubit_states.shape[1]):
        state = (state[:, :, None] * qubit_states[:, w, None, :]).flatten(1)
    return state


def angle_state(features: torch.Tensor) -> torch.Tensor:
    """Q features -> RY(x_w)|0> on every qubit (real amplitudes)."""
    half = features / 2
    return _product_state(torch.stack([half.cos(), half.sin()], dim=-1))


def qubit_state(features: torch.Tensor) -> torch.Tensor:
    """2Q features -> RZ(x_2w+1) RY(x_2w)|0> on every qubit (complex amplitudes)."""
    ry, rz = features[:, 0::2] / 2, features[:, 1::2] / 2
    phase = torch.polar(torch.ones_like(rz), rz)  # e^{i x/2}
    zero = ry.cos() * phase.conj()
    one = ry.sin() * phase
    return _product_state(torch.stack([zero, one], dim=-1))


def encode(encoding: str, features: torch.Tensor) -> torch.Tensor:
    """Features -> state vectors (B, 2^Q); real dtype where the encoding has no phases."""
    return {"amplitude": amplitude_state, "angle": angle_state, "qubit": qubit_state}[encoding](features)


# ---- fused simulator ----

def rotation_matrices(theta: torch.Tensor) -> torch.Tensor:
    """RZ(c) RY(b) RX(a) for every (layer, qubit): theta (L, Q, 3) -> complex (L, Q, 2, 2)."""
    a, b, c = (theta[..., i] / 2 for i in range(3))
    ca, sa, cb, sb = a.cos(), a.sin(), b.cos(), b.sin()
    # RY(b) RX(a) = [[cb ca + i sb sa, -sb ca - i cb sa], [sb ca - i cb sa, cb ca - i sb sa]]
    m00 = torch.complex(cb * ca, sb * sa)
    m01 = torch.complex(-sb * ca, -cb * sa)
    m10 = torch.complex(sb * ca, -cb * sa)
    m11 = torch.complex(cb * ca, -sb * sa)
    e_minus = torch.polar(torch.ones_like(c), -c)  # RZ(c) = diag(e^{-ic/2}, e^{ic/2})
    e_plus = e_minus.conj()
    return torch.stack(
        [torch.stack([e_minus * m00, e_minus * m01], -1), torch.stack([e_plus * m10, e_plus * m11], -1)], -2
    )


def cnot_ring_permutation(qubits: int) -> torch.Tensor:
    """Index map `source` with (ring applied to s)[j] = s[source[j]]."""
    index = torch.arange(2**qubits)
    final = index.clone()
    for w in range(qubits):
        control, target = qubits - 1 - w, qubits - 1 - (w + 1) % qubits  # bit positions
        final = final ^ (((final >> control) & 1) << target)
    source = torch.empty_like(final)
    source[final] = index
    return source


def z_signs(qubits: int) -> torch.Tensor:
    """(2^Q, Q) matrix of +-1: <Z_w> = probabilities @ z_signs."""
    index = torch.arange(2**qubits)[:, None]
    bits = (index >> (qubits - 1 - torch.arange(qubits))[None, :]) & 1
    return (1 - 2 * bits).float()


def _kron(gates: torch.Tensor) -> torch.Tensor:
    """Kronecker product of (k, 2, 2) gates -> (2^k, 2^k), the first gate on the most significant bit."""
    out = gates[0]
    for g in gates[1:]:
        out = (out[:, None, :, None] * g[None, :, None, :]).reshape(out.shape[0] * 2, out.shape[1] * 2)
    return out


def circuit_unitary(theta: torch.Tensor, permutation: torch.Tensor) -> torch.Tensor:
    """U(theta) as a (2^Q, 2^Q) complex matrix: the circuit applied to all basis states as one batch.

    Column k is the circuit applied to basis state k. A layer's single-qubit
    rotations act on two halves of the wires: the high wires' gates combine
    into one 2^h x 2^h matrix and the low wires' into one 2^l x 2^l (h + l = Q,
    at most 32 x 32 for 10 qubits), so a layer is two matrix products over all
    columns instead of Q passes, and no 2^Q x 2^Q Kronecker product is formed.
    The CNOT ring is a fixed permutation of rows.
    """
    layers, qubits, _ = theta.shape
    dim, high = 2**qubits, (qubits + 1) // 2
    n_high, n_low = 2**high, 2 ** (qubits - high)
    gates = rotation_matrices(theta)
    u = torch.eye(dim, dtype=gates.dtype, device=theta.device)
    for layer in range(layers):
        u = (_kron(gates[layer, :high]) @ u.reshape(n_high, n_low * dim)).reshape(n_high, n_low, dim)
        if n_low > 1:
            u = _kron(gates[layer, high:]) @ u  # the same 2^l x 2^l matrix on every high-wire block
        u = u.reshape(dim, dim)[permutation]
    return u


def run_fused(states: torch.Tensor, theta: torch.Tensor, permutation: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    """<Z> per qubit for a batch of states (B, 2^Q), via real matrix products with U's parts."""
    u = circuit_unitary(theta, permutation)
    ur, ui = u.real.T, u.imag.T  # states are rows: out = states @ U^T
    if states.is_complex():
        xr, xi = states.real, states.imag
        re, im = xr @ ur - xi @ ui, xr @ ui + xi @ ur
    else:
        re, im = states @ ur, states @ ui
    return (re * re + im * im) @ signs


# ---- torchquantum reference ----

def run_torchquantum(states: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Apply the circuit gate by gate with torchquantum; return <Z> per qubit, shape (B, Q)."""
    import torchquantum as tq  # imported lazily: it takes seconds
    import torchquantum.functional as tqf

    layers, qubits, _ = theta.shape
    qdev = tq.QuantumDevice(n_wires=qubits, bsz=states.shape[0], device=states.device)
    qdev.set_states(states.to(torch.complex64))
    for layer in range(layers):
        for wire in range(qubits):
            tqf.rx(qdev, wires=wire, params=theta[layer, wire, 0])
            tqf.ry(qdev, wires=wire, params=theta[layer, wire, 1])
            tqf.rz(qdev, wires=wire, params=theta[layer, wire, 2])
        for wire in range(qubits):
            tqf.cnot(qdev, wires=[wire, (wire + 1) % qubits])
    return tq.MeasureAll(tq.PauliZ)(qdev)


class QuantumLayer(nn.Module):
    """Features -> encoding -> circuit -> <Z> on every qubit, batched (no per-sample loop)."""

    def __init__(self, qubits: int, layers: int, encoding: str = "amplitude", simulator: str = "fused"):
        super().__init__()
        if simulator not in SIMULATORS:
            raise ValueError(f"simulator {simulator!r} is not one of {SIMULATORS}")
        self.qubits, self.layers, self.encoding, self.simulator = qubits, layers, encoding, simulator
        self.theta = nn.Parameter(torch.empty(layers, qubits, 3).uniform_(0, 2 * math.pi))
        self.register_buffer("permutation", cnot_ring_permutation(qubits), persistent=False)
        self.register_buffer("signs", z_signs(qubits), persistent=False)

    @property
    def in_features(self) -> int:
        return encoder_input_size(self.encoding, self.qubits)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        if features.dim() != 2 or features.shape[1] != self.in_features:
            raise ValueError(
                f"{self.encoding} encoding on {self.qubits} qubits takes {self.in_features} features per sample, "
                f"got shape {tuple(features.shape)}"
            )
        states = encode(self.encoding, features)
        if self.simulator == "torchquantum":
            return run_torchquantum(states, self.theta)
        return run_fused(states, self.theta, self.permutation, self.signs)
