"""Noise-aware training (QuantumNAT, Wang et al., DAC 2022): Pauli errors sampled per batch, readout confusion.

A device's calibrated channels, Pauli-twirled (c2q.offsim.calibration), become
the probabilities of I, X, Y, Z after every rotation block of a wire (the
encoding's and each layer's) and of the 16 two-qubit Paulis after every CNOT.
Each training forward pass draws one trajectory, a Pauli for every place, for
the whole batch, and the circuit's unitary is built with those Paulis in place
(c2q.models.circuits.noisy_unitary); over draws its mean output is the twirled
channel's. The readout's confusion is applied exactly: <Z_w> reads as
(1 - a - b) <Z_w> + b - a, with a = P(1 | 0) and b = P(0 | 1).

Everything is written as tensor arithmetic on one-hot draws (no Python branch on
a sampled value), so students trained side by side under torch.func.vmap draw
trajectories of their own.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

PAULI_NAMES = ("I", "X", "Y", "Z")  # codes 0..3; a two-qubit Pauli is 4 * (control's) + (target's)
PAULIS = torch.tensor([[[1, 0], [0, 1]], [[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]],
                      dtype=torch.complex128)


@dataclass(frozen=True)
class PauliNoise:
    """Where errors strike a circuit of Q wires laid on a line, and how readout confuses them."""
    rotation: torch.Tensor  # (Q, 4) probabilities of I, X, Y, Z after a rotation block of wire w
    cnot: torch.Tensor  # (Q - 1, 16) probabilities of P_c (x) P_t after the CNOT w -> w + 1
    readout: torch.Tensor  # (Q, 2, 2) confusion [measured, prepared] of wire w


def _one_hot_draws(cdf: torch.Tensor, draws: int) -> torch.Tensor:
    """(N, n) cumulative probabilities -> (N, draws, n) one-hot samples, by inverse transform."""
    u = torch.rand(cdf.shape[0], draws, 1, dtype=cdf.dtype, device=cdf.device)
    codes = (u > cdf[:, None, :-1]).sum(-1, keepdim=True)
    return (codes == torch.arange(cdf.shape[1], device=cdf.device)).to(cdf.dtype)


def _pauli_tables(qubits: int, pair: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """For the 16 Paulis P on `pair` (wire 0 the most significant bit): (P u)[k] = phase[k] u[k ^ flips].
    Returns the 4 row sources (by which of the two bits flip), the (16, 2^Q) phases and the (4, 16) 0/1
    matrix of which Pauli flips which."""
    index = torch.arange(2**qubits)
    sources, phases, groups = [], [], torch.zeros(4, 16)
    bits = [(index >> (qubits - 1 - w)) & 1 for w in pair]
    for flips in range(4):
        source = index.clone()
        for j, wire in enumerate(pair):
            if (flips >> (1 - j)) & 1:
                source = source ^ (1 << (qubits - 1 - wire))
        sources.append(source)
    for code in range(16):
        phase, flips = torch.ones(2**qubits, dtype=torch.complex128), 0
        for j, one in enumerate(divmod(code, 4)):
            if one in (1, 2):  # X, Y flip the bit
                flips |= 1 << (1 - j)
            if one == 3:  # Z|b> = (-1)^b |b>
                phase = phase * (1 - 2 * bits[j])
            elif one == 2:  # Y|b> = i (-1)^b |1 - b>: row k (bit b) gets i (2b - 1) from row k ^ 1
                phase = phase * (1j * (2 * bits[j] - 1))
        phases.append(phase)
        groups[flips, code] = 1
    return torch.stack(sources), torch.stack(phases), groups


class NoiseInjection(nn.Module):
    """A noise-aware circuit's errors, as buffers that follow the model to its device (none persisted)."""

    def __init__(self, qubits: int, pairs: list[tuple[int, int]], noise: PauliNoise):
        super().__init__()
        if noise.rotation.shape != (qubits, 4) or noise.cnot.shape != (len(pairs), 16):
            raise ValueError(f"noise for {tuple(noise.rotation.shape)[0]} wires and {tuple(noise.cnot.shape)[0]} "
                             f"CNOTs does not fit a circuit of {qubits} wires and {len(pairs)} CNOTs")
        self.qubits = qubits
        self.register_buffer("rotation_cdf", noise.rotation.double().cumsum(1), persistent=False)
        self.register_buffer("cnot_cdf", noise.cnot.double().cumsum(1), persistent=False)
        self.register_buffer("readout", noise.readout.double(), persistent=False)
        tables = [_pauli_tables(qubits, pair) for pair in pairs]
        self.register_buffer("sources", torch.stack([t[0] for t in tables]), persistent=False)  # (E, 4, D)
        self.register_buffer("phases", torch.stack([t[1] for t in tables]), persistent=False)  # (E, 16, D)
        self.register_buffer("groups", tables[0][2] if tables else torch.zeros(4, 16), persistent=False)

    def rotation_errors(self, gates: torch.Tensor) -> torch.Tensor:
        """Rotation gates (L, Q, 2, 2) with a sampled Pauli after each, and one before layer 0 (the encoding's
        error: the encoded state is the first thing it strikes)."""
        layers = gates.shape[0]
        draws = _one_hot_draws(self.rotation_cdf, layers + 1).to(gates.dtype)  # (Q, L + 1, 4)
        paulis = torch.einsum("qlc,cij->lqij", draws, PAULIS.to(gates))  # (L + 1, Q, 2, 2)
        gates = paulis[1:] @ gates
        return torch.cat([gates[:1] @ paulis[:1], gates[1:]])

    def cnot_draws(self, layers: int) -> torch.Tensor:
        """(E, L, 16) one-hot two-qubit Paulis, one after each CNOT of each layer."""
        return _one_hot_draws(self.cnot_cdf, layers)

    def after_cnot(self, u: torch.Tensor, edge: int, draw: torch.Tensor) -> torch.Tensor:
        """P u for the drawn Pauli (16,) one-hot of CNOT `edge`."""
        coefficients = (draw.to(self.phases.dtype)[None, :] * self.groups.to(self.phases.dtype)) @ self.phases[edge]
        return torch.einsum("fk,fkj->kj", coefficients.to(u.dtype), u[self.sources[edge]])

    def read(self, z: torch.Tensor) -> torch.Tensor:
        """Exact <Z> (B, Q) -> what the readout reports on average."""
        a, b = self.readout[:, 1, 0].to(z), self.readout[:, 0, 1].to(z)
        return (1 - a - b) * z + (b - a)
