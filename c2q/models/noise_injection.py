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
trajectories of their own. A pass's uniform numbers come from the `uniforms`
buffer, which the training engine fills from each training's own generator
(c2q.training.engine), so a training's errors never depend on the trainings
beside it; left empty (a forward pass outside the engine), they come from
torch's global generator.
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


def _one_hot_draws(cdf: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """(N, n) cumulative probabilities and (N, draws, 1) uniform numbers -> (N, draws, n) one-hot samples,
    by inverse transform."""
    codes = (u > cdf[:, None, :-1]).sum(-1, keepdim=True)
    return (codes == torch.arange(cdf.shape[1], device=cdf.device)).to(cdf.dtype)


def _code_bits() -> torch.Tensor:
    """(4, 16): the bits x_c, z_c, x_t, z_t of each two-qubit Pauli code 4 c + t (X^x Z^z up to phase)."""
    bits = torch.zeros(4, 16)
    for code in range(16):
        for j, one in enumerate(divmod(code, 4)):
            bits[2 * j, code] = one in (1, 2)  # X, Y flip
            bits[2 * j + 1, code] = one in (2, 3)  # Y, Z sign
    return bits


def _propagation(qubits: int, pairs: list[tuple[int, int]]) -> torch.Tensor:
    """(E, 2Q, 4): the x (first Q) and z (last Q) bits, after the rest of the layer's CNOTs, of a Pauli with
    bits x_c, z_c, x_t, z_t struck right after CNOT e. A CNOT c -> t maps X_c to X_c X_t and Z_t to Z_c Z_t,
    linear over GF(2), so a layer's errors add up (mod 2) to one Pauli after all its CNOTs."""
    out = torch.zeros(len(pairs), 2 * qubits, 4)
    for e, (c, t) in enumerate(pairs):
        for unit in range(4):
            x, z = [0] * qubits, [0] * qubits
            wire = (c, t)[unit // 2]
            (x if unit % 2 == 0 else z)[wire] = 1
            for c2, t2 in pairs[e + 1:]:
                x[t2] ^= x[c2]
                z[c2] ^= z[t2]
            out[e, :, unit] = torch.tensor(x + z, dtype=torch.float32)
    return out


class NoiseInjection(nn.Module):
    """A noise-aware circuit's errors, as buffers that follow the model to its device (none persisted)."""

    def __init__(self, qubits: int, layers: int, pairs: list[tuple[int, int]], noise: PauliNoise):
        super().__init__()
        if noise.rotation.shape != (qubits, 4) or noise.cnot.shape != (len(pairs), 16):
            raise ValueError(f"noise for {tuple(noise.rotation.shape)[0]} wires and {tuple(noise.cnot.shape)[0]} "
                             f"CNOTs does not fit a circuit of {qubits} wires and {len(pairs)} CNOTs")
        self.qubits, self.layers, self.cnots = qubits, layers, len(pairs)
        # one number per rotation block (L + 1 per wire, the encoding's included) and per CNOT of every layer
        self.uniforms_per_pass = qubits * (layers + 1) + layers * len(pairs)
        self.register_buffer("uniforms", torch.empty(0, dtype=torch.float64), persistent=False)
        self.register_buffer("rotation_cdf", noise.rotation.double().cumsum(1), persistent=False)
        self.register_buffer("cnot_cdf", noise.cnot.double().cumsum(1), persistent=False)
        self.register_buffer("readout", noise.readout.double(), persistent=False)
        self.register_buffer("propagation", (_propagation(qubits, pairs) @ _code_bits()).double(),
                             persistent=False)  # (E, 2Q, 16): each drawn code's bits after the layer
        index = torch.arange(2**qubits)
        self.register_buffer("index", index, persistent=False)
        self.register_buffer("index_bits", ((index[:, None] >> (qubits - 1 - torch.arange(qubits))) & 1).double(),
                             persistent=False)  # (D, Q), wire 0 the most significant bit
        self.register_buffer("powers", 2 ** (qubits - 1 - torch.arange(qubits)).double(), persistent=False)

    def draws(self) -> tuple[torch.Tensor, torch.Tensor]:
        """This pass's uniform numbers, (Q, L + 1, 1) for the rotation blocks and (L, E, 1) for each layer's
        CNOTs: the `uniforms` the engine gave, or fresh ones from torch's global generator."""
        given = self.uniforms.numel() > 0
        u = self.uniforms if given else torch.rand(self.uniforms_per_pass, dtype=torch.float64,
                                                   device=self.rotation_cdf.device)
        split = self.qubits * (self.layers + 1)
        return (u[:split].reshape(self.qubits, self.layers + 1, 1),
                u[split:].reshape(self.layers, self.cnots, 1))

    def rotation_errors(self, gates: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
        """Rotation gates (L, Q, 2, 2) with a sampled Pauli after each, and one before layer 0 (the encoding's
        error: the encoded state is the first thing it strikes); `u`: the (Q, L + 1, 1) uniform numbers."""
        draws = _one_hot_draws(self.rotation_cdf, u).to(gates.dtype)  # (Q, L + 1, 4)
        paulis = torch.einsum("qlc,cij->lqij", draws, PAULIS.to(gates))  # (L + 1, Q, 2, 2)
        gates = paulis[1:] @ gates
        return torch.cat([gates[:1] @ paulis[:1], gates[1:]])

    def layer_errors(self, u: torch.Tensor, uniforms: torch.Tensor) -> torch.Tensor:
        """P u for one layer's CNOT errors drawn with `uniforms` (E, 1), pushed past the layer's remaining
        CNOTs into one Pauli X^x Z^z (its phase is global): (P u)[k] = (-1)^(z . bits(k ^ x)) u[k ^ x]."""
        draws = _one_hot_draws(self.cnot_cdf, uniforms[:, :, None])[:, 0]  # (E, 16)
        bits = torch.einsum("ebc,ec->b", self.propagation, draws).remainder(2)  # (2Q,)
        q = self.index_bits.shape[1]
        x, z = bits[:q], bits[q:]
        source = torch.bitwise_xor(self.index, (x @ self.powers).round().long())
        parity = ((self.index_bits + x).remainder(2) @ z).remainder(2)  # bits of k ^ x, dotted with z
        return (1 - 2 * parity).to(u.dtype)[:, None] * u[source]

    def read(self, z: torch.Tensor) -> torch.Tensor:
        """Exact <Z> (B, Q) -> what the readout reports on average."""
        a, b = self.readout[:, 1, 0].to(z), self.readout[:, 0, 1].to(z)
        return (1 - a - b) * z + (b - a)
