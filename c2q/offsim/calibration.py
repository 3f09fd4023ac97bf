"""A device's calibrated noise on the line of qubits a `-chain` student is laid on.

The student's wires go on a path of the device's coupling map (`device_path`:
the Q qubits in a line with the lowest summed CNOT and readout error), so its
CNOTs w -> w+1 need no SWAP. Its noise is qiskit-aer's model of the device
(`basic_device_gate_errors`, what `NoiseModel.from_backend` is made of: each
gate's calibrated error as a depolarising channel composed with thermal
relaxation over the gate's duration, from the qubits' T1 and T2; readout flips
from the measure errors), written on the student's own gates:
- a rotation block (RX RY RZ of a layer, or the encoding's RY [RZ]) is one
  single-qubit unitary, which a device runs as two `sx` and virtual `rz`
  gates: it gets two `sx` errors;
- each CNOT gets the device's `cx` error on that ordered pair of qubits;
- each measured qubit its readout confusion.
How this differs from aer's full model on the transpiled circuit (where the
`sx` errors sit between the virtual `rz`s, what the transpiler merges) is
measured at evaluation on a sample of images (c2q.offsim.hardware).

`ChainNoise.channels()` gives these channels as superoperators for the density-
matrix simulator (c2q.offsim.density), `ChainNoise.pauli()` their Pauli twirl for
noise-aware training (c2q.models.noise_injection), and `logical_noise_model()`
the same model as a qiskit-aer NoiseModel on the student's logical circuit, which
the tests hold the simulator to.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from c2q.models.noise_injection import PAULIS, PauliNoise

ROTATION_SX = 2  # sx gates per rotation block on an IBM device (rz is virtual: no error, no time)


@dataclass(frozen=True)
class ChainNoise:
    """The calibrated errors of one device on a line of its qubits; wire w is physical qubit physical[w]."""
    device: str
    physical: tuple[int, ...]
    rotation: tuple[np.ndarray, ...]  # per wire: (K, 2, 2) Kraus operators of the error after a rotation block
    cnot: tuple[np.ndarray, ...]  # per w < Q - 1: (K, 4, 4) of cx(physical[w], physical[w + 1]), control first
    readout: np.ndarray  # (Q, 2, 2) [measured, prepared]

    @property
    def qubits(self) -> int:
        return len(self.physical)

    def channels(self) -> tuple[list[np.ndarray], list[np.ndarray]]:
        """Superoperators in our order (wire 0, the control, most significant): per wire (4, 4), per CNOT
        (16, 16); S[(i, j), (k, l)] maps rho[k, l] into rho[i, j]."""
        return [superoperator(k) for k in self.rotation], [superoperator(k) for k in self.cnot]

    def pauli(self) -> PauliNoise:
        """The channels' Pauli twirl, with the readout, for noise-aware training."""
        rotation = [pauli_probabilities(k) for k in self.rotation]
        cnot = [pauli_probabilities(k) for k in self.cnot]
        return PauliNoise(torch.tensor(np.array(rotation)), torch.tensor(np.array(cnot).reshape(-1, 16)),
                          torch.tensor(self.readout))


def kraus(error) -> np.ndarray:
    """(K, d, d) Kraus operators of a qiskit-aer QuantumError, in our order: qiskit's two-qubit matrices index
    the first qubit (here the control) as the least significant bit, ours as the most."""
    from qiskit.quantum_info import Kraus

    return _swap_qubits(np.array(Kraus(error.to_quantumchannel()).data))


def _swap_qubits(ops: np.ndarray) -> np.ndarray:
    """Two-qubit operators between qiskit's order and ours (its own inverse); one-qubit ones unchanged."""
    if ops.shape[1] == 2:
        return ops
    return ops.reshape(-1, 2, 2, 2, 2).transpose(0, 2, 1, 4, 3).reshape(-1, 4, 4)


def superoperator(ops: np.ndarray) -> np.ndarray:
    """S[(i, j), (k, l)] = sum_K K[i, k] conj(K[j, l]): rho' = sum_K K rho K^dagger on row-major vec(rho)."""
    d = ops.shape[1]
    return np.einsum("aik,ajl->ijkl", ops, ops.conj()).reshape(d * d, d * d)


def pauli_probabilities(ops: np.ndarray) -> np.ndarray:
    """The Pauli twirl of a channel: p_P = sum_K |Tr(P^dagger K) / d|^2, P over I, X, Y, Z (one qubit) or
    P_c (x) P_t in order 4 c + t (two)."""
    d = ops.shape[1]
    paulis = PAULIS.numpy()
    basis = paulis if d == 2 else np.einsum("aij,bkl->abikjl", paulis, paulis).reshape(16, 4, 4)
    p = np.abs(np.einsum("pji,kji->pk", basis.conj(), ops) / d) ** 2
    p = p.sum(1)
    return p / p.sum()


def device_path(backend, qubits: int, errors: dict[tuple[int, int], float], readout: dict[int, float]) -> list[int]:
    """The line of `qubits` physical qubits, each coupled to the next, with the lowest summed CNOT error
    (in the direction the student uses) and readout error; ties: the first found from the lowest qubit."""
    neighbours: dict[int, list[int]] = {}
    for a, b in backend.coupling_map.get_edges():
        neighbours.setdefault(a, []).append(b)
    best: tuple[float, list[int]] | None = None

    def extend(path: list[int], cost: float) -> None:
        nonlocal best
        if best is not None and cost >= best[0]:
            return
        if len(path) == qubits:
            best = (cost, list(path))
            return
        for n in sorted(neighbours.get(path[-1], [])):
            if n not in path and (path[-1], n) in errors:
                extend(path + [n], cost + errors[(path[-1], n)] + readout[n])

    for start in range(backend.num_qubits):
        extend([start], readout[start])
    if best is None:
        raise ValueError(f"the device has no line of {qubits} coupled qubits")
    return best[1]


def chain_noise(name: str, backend, qubits: int) -> ChainNoise:
    """The calibrated noise of device `name` (its fake backend) on its best line of `qubits` qubits."""
    from qiskit_aer.noise.device.models import basic_device_gate_errors

    gate_errors = {(g, tuple(q)): e for g, q, e in basic_device_gate_errors(target=backend.target)}
    readout = {q: backend.target["measure"][(q,)].error or 0.0 for q in range(backend.num_qubits)}
    cx = {q: backend.target["cx"][q].error or 0.0 for q in backend.target["cx"]} if "cx" in backend.target else {}
    if not cx:
        raise ValueError(f"device {name!r} has no cx gate: -chain students are modelled on cx devices")
    if qubits > backend.num_qubits:
        raise ValueError(f"device {name!r} has {backend.num_qubits} qubits, the student needs {qubits}")
    path = device_path(backend, qubits, cx, readout)

    def rotation(q: int):
        sx = gate_errors[("sx", (q,))]
        error = sx
        for _ in range(ROTATION_SX - 1):
            error = error.compose(sx)
        return error

    matrices = np.array([[[1 - readout[q], readout[q]], [readout[q], 1 - readout[q]]] for q in path])
    return ChainNoise(name, tuple(path), tuple(kraus(rotation(q)) for q in path),
                      tuple(kraus(gate_errors[("cx", (a, b))]) for a, b in zip(path, path[1:])), matrices)


def logical_noise_model(noise: ChainNoise):
    """The same model as a qiskit-aer NoiseModel on the student's logical circuit (qiskit qubit Q-1-w is wire
    w; rotation blocks as `u` gates, CNOTs as `cx`) and its readout as aer ReadoutErrors."""
    from qiskit.quantum_info import Kraus
    from qiskit_aer.noise import NoiseModel, QuantumError, ReadoutError

    q = noise.qubits
    model = NoiseModel(basis_gates=["u", "cx"])
    for w, ops in enumerate(noise.rotation):
        model.add_quantum_error(QuantumError(Kraus(list(ops))), "u", [q - 1 - w])
    for w, ops in enumerate(noise.cnot):
        model.add_quantum_error(QuantumError(Kraus(list(_swap_qubits(ops)))), "cx", [q - 1 - w, q - 2 - w])
    for w, m in enumerate(noise.readout):
        model.add_readout_error(ReadoutError(m.T), [q - 1 - w])  # aer's rows: prepared
    return model


def logical_circuits(layer, features) -> list:
    """A chain student's logical circuit for each input, as `logical_noise_model` expects it: each
    rotation block (the encoding's, each layer's) one `u` gate, each CNOT a `cx`."""
    from qiskit import QuantumCircuit
    from qiskit.synthesis import OneQubitEulerDecomposer

    from c2q.models.circuits import entangler_pairs, qubit_states, rotation_matrices

    q, euler = layer.qubits, OneQubitEulerDecomposer("U")
    gates = rotation_matrices(layer.theta.detach().double()).numpy()
    states = qubit_states(layer.encoding, features.detach().double()).to(torch.complex128).numpy()  # (B, Q, 2)
    circuits = []
    for state in states:
        circuit = QuantumCircuit(q)
        for w in range(q):  # the unitary taking |0> to the wire's encoded state
            a, b = state[w]
            circuit.u(*euler.angles(np.array([[a, -np.conj(b)], [b, np.conj(a)]])), q - 1 - w)
        for l in range(layer.layers):
            for w in range(q):
                circuit.u(*euler.angles(gates[l, w]), q - 1 - w)
            for c, t in entangler_pairs(q, layer.entangler):
                circuit.cx(q - 1 - c, q - 1 - t)
        circuits.append(circuit)
    return circuits
