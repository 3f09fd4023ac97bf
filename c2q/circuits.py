"""The student's quantum part: encoding, trainable circuit, PauliZ readout.

Circuit (per repetition): RX, RY, RZ on every qubit, then a ring of CNOTs
(0->1, 1->2, ..., Q-1->0). Readout: <Z> on every qubit. Qubit 0 is the most
significant bit of a basis-state index (torchquantum's convention).
"""

from __future__ import annotations

import math

import torch
from torch import nn

ENCODER_INPUT = {"amplitude": lambda q: 2**q}


def encoder_input_size(encoding: str, qubits: int) -> int:
    """How many classical features the encoding consumes for `qubits` qubits."""
    return ENCODER_INPUT[encoding](qubits)


def amplitude_state(features: torch.Tensor, eps: float = 1e-12) -> torch.Tensor:
    """2^Q real features -> the L2-normalised state vector (complex64, shape (B, 2^Q))."""
    norm = features.norm(dim=1, keepdim=True).clamp_min(eps)
    return (features / norm).to(torch.complex64)


def encode(encoding: str, features: torch.Tensor) -> torch.Tensor:
    if encoding == "amplitude":
        return amplitude_state(features)
    raise ValueError(f"unknown encoding {encoding!r}")


def run_torchquantum(states: torch.Tensor, theta: torch.Tensor) -> torch.Tensor:
    """Apply the circuit gate by gate with torchquantum; return <Z> per qubit, shape (B, Q)."""
    import torchquantum as tq  # imported lazily: it takes seconds
    import torchquantum.functional as tqf

    layers, qubits, _ = theta.shape
    qdev = tq.QuantumDevice(n_wires=qubits, bsz=states.shape[0], device=states.device)
    qdev.set_states(states)
    for layer in range(layers):
        for wire in range(qubits):
            tqf.rx(qdev, wires=wire, params=theta[layer, wire, 0])
            tqf.ry(qdev, wires=wire, params=theta[layer, wire, 1])
            tqf.rz(qdev, wires=wire, params=theta[layer, wire, 2])
        for wire in range(qubits):
            tqf.cnot(qdev, wires=[wire, (wire + 1) % qubits])
    return tq.MeasureAll(tq.PauliZ)(qdev)


class QuantumLayer(nn.Module):
    """Encoded features -> circuit -> <Z> on every qubit, batched (no per-sample loop)."""

    def __init__(self, qubits: int, layers: int, encoding: str = "amplitude"):
        super().__init__()
        self.qubits, self.layers, self.encoding = qubits, layers, encoding
        self.theta = nn.Parameter(torch.empty(layers, qubits, 3).uniform_(0, 2 * math.pi))

    @property
    def in_features(self) -> int:
        return encoder_input_size(self.encoding, self.qubits)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return run_torchquantum(encode(self.encoding, features), self.theta)
