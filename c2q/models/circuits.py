"""The student's quantum part: encoding, trainable circuit, PauliZ readout, two simulators.

Encodings (features -> state of Q qubits):
- amplitude: 2^Q features, L2-normalised, are the state's amplitudes.
- angle:     Q features, one RY(polar(x_w)) on each qubit w from |0>.
- qubit:     2Q features, RY(polar(x_2w)) then RZ(azimuth(x_2w+1)) on qubit w from |0>
             (dense encoding).
Angle and qubit encodings expect standardised features (mean 0, standard
deviation 1 over the training data) and map each to a bounded rotation angle:
polar(x) = pi/2 + atan(x) in (0, pi), azimuth(x) = 2 atan(x) in (-pi, pi).
Both maps are one-to-one, so no two feature values give the same state, and
feature 0 lands mid-range (the equator; no phase), where the state moves most
per unit of angle.

Circuit, `layers` times: RX, RY, RZ on every qubit (trainable angles theta[l, w]),
then the entangler: a ring of CNOTs 0->1, 1->2, ..., Q-1->0, or a chain without the
last (Q-1->0), which fits a line of a device's qubits. Readout: <Z> on every qubit.
A noise-aware student (c2q.models.noise_injection) trains with sampled Pauli errors
after every gate and the readout's confusion.
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

from c2q.core.names import SIMULATORS
from c2q.core.variants import ENTANGLERS, encoder_input_size
from c2q.models.noise_injection import NoiseInjection, PauliNoise


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


def polar_angle(features: torch.Tensor) -> torch.Tensor:
    """Standardised feature -> RY angle pi/2 + atan(x), in (0, pi)."""
    return math.pi / 2 + torch.atan(features)


def azimuth_angle(features: torch.Tensor) -> torch.Tensor:
    """Standardised feature -> RZ angle 2 atan(x), in (-pi, pi)."""
    return 2 * torch.atan(features)


def qubit_states(encoding: str, features: torch.Tensor) -> torch.Tensor:
    """A product encoding's one-qubit states (B, Q, 2): RY(polar(x_w))|0> (angle), or RZ(azimuth(x_2w+1))
    RY(polar(x_2w))|0> (qubit; complex amplitudes)."""
    if encoding == "angle":
        half = polar_angle(features) / 2
        return torch.stack([half.cos(), half.sin()], dim=-1)
    ry, rz = polar_angle(features[:, 0::2]) / 2, azimuth_angle(features[:, 1::2]) / 2
    phase = torch.polar(torch.ones_like(rz), rz)  # e^{i x/2}
    return torch.stack([ry.cos() * phase.conj(), ry.sin() * phase], dim=-1)


def encode(encoding: str, features: torch.Tensor) -> torch.Tensor:
    """Features -> state vectors (B, 2^Q); real dtype where the encoding has no phases."""
    if encoding == "amplitude":
        return amplitude_state(features)
    return _product_state(qubit_states(encoding, features))


# ---- fused simulator ----

def rotation_matrices(theta: torch.Tensor) -> torch.Tensor:
    """RZ(c) RY(b) RX(a) for every (layer, qubit): theta (L, Q, 3) -> complex (L, Q, 2, 2).

    The product is in SU(2), [[alpha, -conj(beta)], [beta, conj(alpha)]], so four
    real numbers per gate suffice; few tensor ops keep the backward pass cheap.
    """
    cos, sin = (theta / 2).cos(), (theta / 2).sin()
    ca, cb, cc = cos.unbind(-1)
    sa, sb, sc = sin.unbind(-1)
    p, q, r, t = cb * ca, sb * sa, sb * ca, cb * sa
    alpha = torch.complex(cc * p + sc * q, cc * q - sc * p)  # e^{-ic/2} (cb ca + i sb sa)
    beta = torch.complex(cc * r + sc * t, sc * r - cc * t)  # e^{+ic/2} (sb ca - i cb sa)
    return torch.stack([alpha, -beta.conj(), beta, alpha.conj()], -1).unflatten(-1, (2, 2))


def entangler_pairs(qubits: int, entangler: str) -> list[tuple[int, int]]:
    """The entangler's CNOTs (control wire, target wire), in the order they act."""
    if entangler not in ENTANGLERS:
        raise ValueError(f"entangler {entangler!r} is not one of {ENTANGLERS}")
    last = qubits if entangler == "ring" else qubits - 1
    return [(w, (w + 1) % qubits) for w in range(last)]


def cnot_permutation(qubits: int, pairs: list[tuple[int, int]]) -> torch.Tensor:
    """Index map `source` with (the CNOTs applied to s)[j] = s[source[j]]."""
    index = torch.arange(2**qubits)
    final = index.clone()
    for c, t in pairs:
        control, target = qubits - 1 - c, qubits - 1 - t  # bit positions
        final = final ^ (((final >> control) & 1) << target)
    source = torch.empty_like(final)
    source[final] = index
    return source


def entangler_permutation(qubits: int, entangler: str = "ring") -> torch.Tensor:
    """The whole entangler layer as an index map (c2q.models.circuits.cnot_permutation)."""
    return cnot_permutation(qubits, entangler_pairs(qubits, entangler))


def z_signs(qubits: int) -> torch.Tensor:
    """(2^Q, Q) matrix of +-1: <Z_w> = probabilities @ z_signs."""
    index = torch.arange(2**qubits)[:, None]
    bits = (index >> (qubits - 1 - torch.arange(qubits))[None, :]) & 1
    return (1 - 2 * bits).float()


def _kron(gates: torch.Tensor) -> torch.Tensor:
    """Kronecker products of (N, k, 2, 2) gates -> (N, 2^k, 2^k), the first gate on the most significant bit."""
    out = gates[:, 0]
    for w in range(1, gates.shape[1]):
        g = gates[:, w]
        out = (out[:, :, None, :, None] * g[:, None, :, None, :]).flatten(3, 4).flatten(1, 2)
    return out


def unitary_before_last_entangler(theta: torch.Tensor, permutation: torch.Tensor) -> torch.Tensor:
    """U(theta) without its final CNOT ring, as a (2^Q, 2^Q) complex matrix; column k acts on basis state k.

    A layer's single-qubit rotations act on two halves of the wires: the high
    wires' gates combine into one 2^h x 2^h matrix and the low wires' into one
    2^l x 2^l (h + l = Q, at most 32 x 32 for 10 qubits), so a layer is two
    small matrix products over all columns; no 2^Q x 2^Q matrix is ever
    multiplied by U. A CNOT ring is a fixed permutation of rows; the last one
    is left to the caller, which folds it into the readout.
    """
    layers, qubits, _ = theta.shape
    dim, high = 2**qubits, (qubits + 1) // 2
    n_high, n_low = 2**high, 2 ** (qubits - high)
    gates = rotation_matrices(theta)
    high_gates, low_gates = _kron(gates[:, :high]), _kron(gates[:, high:])  # (L, 2^h, 2^h), (L, 2^l, 2^l)
    # Layer 0 acts on the identity: its unitary is high (x) low, D^2 products, the size of U itself.
    u = (high_gates[0][:, None, :, None] * low_gates[0][None, :, None, :]).reshape(dim, dim)
    for layer in range(1, layers):
        u = u[permutation]
        u = (high_gates[layer] @ u.reshape(n_high, n_low * dim)).reshape(n_high, n_low, dim)
        u = (low_gates[layer] @ u).reshape(dim, dim)  # the same 2^l x 2^l matrix on every high-wire block
    return u


def noisy_unitary(gates: torch.Tensor, permutation: torch.Tensor, noise: NoiseInjection) -> torch.Tensor:
    """The whole circuit's unitary (2^Q, 2^Q) for one sampled trajectory of `noise`: each wire's rotation
    gates (L, Q, 2, 2) with a Pauli before the first layer (the encoding's error) and after every block,
    each layer's CNOTs (`permutation`) followed by their errors. No CNOT is folded into the readout: the
    errors after the last ones matter."""
    layers, qubits = gates.shape[:2]
    dim, high = 2**qubits, (qubits + 1) // 2
    n_high, n_low = 2**high, 2 ** (qubits - high)
    rotation_uniforms, layer_uniforms = noise.draws()
    gates = noise.rotation_errors(gates, rotation_uniforms)
    high_gates, low_gates = _kron(gates[:, :high]), _kron(gates[:, high:])
    u = (high_gates[0][:, None, :, None] * low_gates[0][None, :, None, :]).reshape(dim, dim)
    for layer in range(layers):
        if layer:
            u = (high_gates[layer] @ u.reshape(n_high, n_low * dim)).reshape(n_high, n_low, dim)
            u = (low_gates[layer] @ u).reshape(dim, dim)
        u = noise.layer_errors(u[permutation], layer_uniforms[layer])
    return u


class _ZExpectations(torch.autograd.Function):
    """<Z> per qubit = ((x @ w) ** 2) @ signs, with a hand-written backward.

    x holds the states' real (and imaginary) parts side by side, w the matching
    real form of U^T, signs the +-1 readout over the same columns. Besides the
    matrix products, the backward pass makes one elementwise pass over the
    (B, 2D) outputs; autograd would also keep the squares and make three.
    Written in the form torch.func.vmap can batch (students trained side by
    side, c2q.arms): forward returns x @ w as a second, non-differentiable
    output so the backward can reuse it.
    """

    generate_vmap_rule = True

    @staticmethod
    def forward(x: torch.Tensor, w: torch.Tensor, signs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = x @ w
        return (out * out) @ signs, out

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:
        x, w, signs = inputs
        ctx.save_for_backward(x, w, output[1], signs)
        ctx.mark_non_differentiable(output[1])

    @staticmethod
    def backward(ctx, grad: torch.Tensor, _grad_out: torch.Tensor):
        x, w, out, signs = ctx.saved_tensors
        grad_out = ((2 * grad) @ signs.T) * out
        grad_x = grad_out @ w.T if ctx.needs_input_grad[0] else None
        grad_w = x.T @ grad_out if ctx.needs_input_grad[1] else None
        return grad_x, grad_w, None


def run_fused(states: torch.Tensor, theta: torch.Tensor, permutation: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    """<Z> per qubit for a batch of states (B, 2^Q), via one real matrix product with U's parts.

    The last CNOT ring only permutes amplitudes before |.|^2, so it is folded
    into the readout signs instead of applied to U.
    """
    folded = torch.empty_like(signs)
    folded[permutation] = signs  # sum_j |(P y)_j|^2 s_j = sum_k |y_k|^2 s_{P^-1 k}
    return run_unitary(states, unitary_before_last_entangler(theta, permutation), folded)


def run_unitary(states: torch.Tensor, u: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    """<Z> per qubit (readout `signs`, (2^Q, Q)) of a batch of states (B, 2^Q) after the unitary u."""
    dim = u.shape[0]
    # states are rows, out = states @ U^T: w = [Re U^T | Im U^T], one real (D, 2D) matrix
    w = torch.view_as_real(u).permute(1, 2, 0).reshape(dim, 2 * dim)
    if states.is_complex():
        x = torch.cat([states.real, states.imag], dim=1)
        w_imag = torch.view_as_real(1j * u).permute(1, 2, 0).reshape(dim, 2 * dim)  # [-Im U^T | Re U^T]
        w = torch.cat([w, w_imag], dim=0)
    else:
        x = states
    return _ZExpectations.apply(x, w, torch.cat([signs, signs], dim=0))[0]


# ---- torchquantum reference ----

def run_torchquantum(states: torch.Tensor, theta: torch.Tensor, entangler: str = "ring") -> torch.Tensor:
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
        for pair in entangler_pairs(qubits, entangler):
            tqf.cnot(qdev, wires=list(pair))
    return tq.MeasureAll(tq.PauliZ)(qdev)


class QuantumLayer(nn.Module):
    """Features -> encoding -> circuit -> <Z> on every qubit, batched (no per-sample loop). With `noise`
    (a noise-aware student), every training forward pass samples one Pauli-error trajectory for the batch
    and reads <Z> through the readout's confusion; evaluation stays exact."""

    def __init__(self, qubits: int, layers: int, encoding: str = "amplitude", simulator: str = "fused",
                 entangler: str = "ring", noise: PauliNoise | None = None):
        super().__init__()
        if simulator not in SIMULATORS:
            raise ValueError(f"simulator {simulator!r} is not one of {SIMULATORS}")
        if noise is not None and simulator != "fused":
            raise ValueError("noise-aware training runs in the fused simulator only")
        self.qubits, self.layers, self.encoding, self.simulator = qubits, layers, encoding, simulator
        self.entangler = entangler
        pairs = entangler_pairs(qubits, entangler)
        self.noise = None if noise is None else NoiseInjection(qubits, layers, pairs, noise)
        self.theta = nn.Parameter(torch.empty(layers, qubits, 3).uniform_(0, 2 * math.pi))
        self.register_buffer("permutation", entangler_permutation(qubits, entangler), persistent=False)
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
            return run_torchquantum(states, self.theta, self.entangler)
        if self.noise is not None and self.training:
            u = noisy_unitary(rotation_matrices(self.theta), self.permutation, self.noise)
            return self.noise.read(run_unitary(states, u, self.signs)).to(states.real.dtype)
        return run_fused(states, self.theta, self.permutation, self.signs)
