"""The noisy output of a `-chain` student under its device's calibrated channels, exactly, for many images.

The student's logical circuit (c2q.models.circuits: product encoding, `layers`
of rotation blocks and a chain of CNOTs) with each gate followed by its channel
(c2q.offsim.calibration):
- the encoding is a product state, so each wire's 2x2 state takes its channel
  before the product is formed;
- a rotation block of wire w is one superoperator (4 x 4: the channel after the
  gate's unitary) on the row and column bits of w;
- a CNOT w -> w+1 with its channel is one 16 x 16 superoperator on both wires' bits;
- readout: each wire's confusion.

Two pictures of the same arithmetic, in complex128:
- `density_matrices`: the Schrodinger picture, every image's (2^Q, 2^Q) state
  evolved gate by gate; the reference, held to qiskit-aer's density matrix to
  1e-6 (tests/test_density.py);
- `noisy_z`: the Heisenberg picture, what evaluation uses. The circuit after the
  encoding is the same for every image, so each Z_w is evolved backwards through
  it once (Q evolutions instead of one per image), and an image's <Z_w> is the
  evolved observable contracted with its encoded product state, wire by wire.
  1,000 images of an 8-qubit student take about a second.
The readout confusion acts on each wire's marginal: <Z_w> reads as
(1 - a - b) <Z_w> + b - a (`read_z`).
"""

from __future__ import annotations

import numpy as np
import torch

from c2q.models.circuits import QuantumLayer, entangler_pairs, qubit_states, rotation_matrices
from c2q.offsim.calibration import ChainNoise

CHUNK_ENTRIES = 2**23  # complex entries per chunk of images (128 MiB of complex128)
CNOT = np.array([[1, 0, 0, 0], [0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]], dtype=np.complex128)


def _apply(rho: torch.Tensor, superop: torch.Tensor, first: int, width: int) -> torch.Tensor:
    """A superoperator on `width` adjacent wires from wire `first` of (B, 2^Q, 2^Q) matrices."""
    b, dim, _ = rho.shape
    d, before = 2**width, 2**first
    after = dim // (before * d)
    view = rho.reshape(b, before, d, after, before, d, after)
    s = superop.reshape(d, d, d, d)
    return torch.einsum("ijkl,nakcblm->naicbjm", s, view).reshape(b, dim, dim)


def _gate_superoperator(unitary: np.ndarray) -> np.ndarray:
    d = unitary.shape[0]
    return np.einsum("ik,jl->ijkl", unitary, unitary.conj()).reshape(d * d, d * d)


def _steps(layer: QuantumLayer, noise: ChainNoise) -> list[tuple[torch.Tensor, int, int]]:
    """The circuit after the encoding as (superoperator, first wire, width), in the order they act."""
    if layer.entangler != "chain" or layer.encoding not in ("angle", "qubit"):
        raise ValueError(f"the density-matrix model covers chain students with a product encoding, not "
                         f"{layer.encoding} encoding with a {layer.entangler}")
    if noise.qubits != layer.qubits:
        raise ValueError(f"noise laid on {noise.qubits} qubits, the student has {layer.qubits}")
    rotation, cnot = noise.channels()
    gates = rotation_matrices(layer.theta.detach().double()).numpy()  # (L, Q, 2, 2)
    steps = []
    for l in range(layer.layers):
        steps += [(torch.from_numpy(rotation[w] @ _gate_superoperator(gates[l, w])), w, 1) for w in range(layer.qubits)]
        steps += [(torch.from_numpy(cnot[e] @ _gate_superoperator(CNOT)), c, 2)
                  for e, (c, _) in enumerate(entangler_pairs(layer.qubits, "chain"))]
    return steps


def _encoded(layer: QuantumLayer, features: torch.Tensor, noise: ChainNoise) -> torch.Tensor:
    """(B, Q, 2, 2) each wire's encoded state after its rotation channel."""
    states = qubit_states(layer.encoding, features.detach().double()).to(torch.complex128)
    rho = torch.einsum("nqi,nqj->nqij", states, states.conj())
    s = torch.stack([torch.from_numpy(r).reshape(2, 2, 2, 2) for r in noise.channels()[0]])  # (Q, i, j, k, l)
    return torch.einsum("qijkl,nqkl->nqij", s, rho)


def density_matrices(layer: QuantumLayer, features: torch.Tensor, noise: ChainNoise) -> torch.Tensor:
    """(B, 2^Q, 2^Q) noisy states before readout, basis index in our order (wire 0 most significant; the
    same number as qiskit's index)."""
    wires = _encoded(layer, features, noise)
    rho = wires[:, 0]
    for w in range(1, layer.qubits):
        rho = torch.einsum("nab,ncd->nacbd", rho, wires[:, w]).reshape(len(wires), 2 ** (w + 1), -1)
    for superop, first, width in _steps(layer, noise):
        rho = _apply(rho, superop, first, width)
    return rho


def evolved_observables(layer: QuantumLayer, noise: ChainNoise) -> torch.Tensor:
    """(Q, 2^Q, 2^Q) the transposes of Z_w evolved backwards through the circuit after the encoding: with
    vec(rho') = S vec(rho), Tr(O rho') = <O^T, S rho> = <S^T O^T, rho> (entrywise, no conjugate)."""
    q, dim = layer.qubits, 2**layer.qubits
    bits = (torch.arange(dim)[:, None] >> (q - 1 - torch.arange(q))[None, :]) & 1
    observables = torch.diag_embed((1 - 2 * bits).T.to(torch.complex128))  # (Q, D, D): Z_w is diagonal
    for superop, first, width in reversed(_steps(layer, noise)):
        observables = _apply(observables, superop.T.contiguous(), first, width)
    return observables


def noisy_z(layer: QuantumLayer, features: torch.Tensor, noise: ChainNoise) -> np.ndarray:
    """(B, Q) exact <Z_w> of the noisy circuit, before readout (the Heisenberg picture)."""
    q = layer.qubits
    observables = evolved_observables(layer, noise)
    # (Q, rows r_0..r_{Q-1}, cols c_0..c_{Q-1}) -> (Q, (r_0 c_0), (r_1 c_1), ...): one axis of 4 per wire
    t = observables.reshape(q, *[2] * (2 * q)).permute(0, *[a for w in range(q) for a in (1 + w, 1 + q + w)])
    t = t.reshape(q, 4**q)
    wires = _encoded(layer, features, noise).reshape(len(features), q, 4)  # (B, Q, (row, col))
    chunk = max(1, CHUNK_ENTRIES // (q * 4 ** (q - 1)))
    out = []
    for start in range(0, len(features), chunk):
        w = wires[start:start + chunk]
        acc = t.T.reshape(4, -1)  # wire 0's axis first: (4, rest)
        acc = (w[:, 0] @ acc)  # (b, rest)
        for k in range(1, q):
            acc = torch.einsum("nk,nkr->nr", w[:, k], acc.reshape(len(w), 4, -1))
        out.append(acc.reshape(len(w), q).real)
    return torch.cat(out).numpy()


def read_z(z: np.ndarray, readout: np.ndarray) -> np.ndarray:
    """<Z_w> through each wire's readout confusion (Q, 2, 2) [measured, prepared]."""
    a, b = readout[:, 1, 0], readout[:, 0, 1]
    return (1 - a - b) * z + (b - a)


def density_z(layer: QuantumLayer, features: torch.Tensor, noise: ChainNoise) -> np.ndarray:
    """(B, Q) <Z> as the device reads it: the noisy circuit's <Z_w>, then each wire's readout confusion."""
    return read_z(noisy_z(layer, features, noise), noise.readout)
