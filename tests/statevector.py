"""An independent reference for the student's encodings and circuit, computed with qiskit."""

from __future__ import annotations

import numpy as np
from qiskit import QuantumCircuit
from qiskit.quantum_info import Statevector


def _wire(qubits: int, wire: int) -> int:
    """Our wire w is the most significant bit of a basis index; qiskit's qubit k is bit k."""
    return qubits - 1 - wire


def encoded_state(encoding: str, features: np.ndarray, qubits: int) -> Statevector:
    """The encoded state, built the way docs/students.md defines each encoding."""
    if encoding == "amplitude":
        return Statevector(features / np.linalg.norm(features))
    circuit = QuantumCircuit(qubits)
    polar, azimuth = np.pi / 2 + np.arctan(features), 2 * np.arctan(features)
    for wire in range(qubits):
        if encoding == "angle":
            circuit.ry(polar[wire], _wire(qubits, wire))
        else:  # qubit (dense) encoding: RY then RZ, two features per qubit
            circuit.ry(polar[2 * wire], _wire(qubits, wire))
            circuit.rz(azimuth[2 * wire + 1], _wire(qubits, wire))
    return Statevector.from_label("0" * qubits).evolve(circuit)


def expectations_z(state: Statevector | np.ndarray, theta: np.ndarray) -> np.ndarray:
    """<Z_w> for every wire w after the student's circuit, starting from `state`."""
    layers, qubits, _ = theta.shape
    circuit = QuantumCircuit(qubits)
    for layer in range(layers):
        for wire in range(qubits):
            circuit.rx(theta[layer, wire, 0], _wire(qubits, wire))
            circuit.ry(theta[layer, wire, 1], _wire(qubits, wire))
            circuit.rz(theta[layer, wire, 2], _wire(qubits, wire))
        for wire in range(qubits):
            circuit.cx(_wire(qubits, wire), _wire(qubits, (wire + 1) % qubits))
    if not isinstance(state, Statevector):
        state = Statevector(np.asarray(state, dtype=np.complex128))
    probs = state.evolve(circuit).probabilities()
    index = np.arange(2**qubits)
    return np.array([np.sum(probs * (1 - 2 * ((index >> _wire(qubits, w)) & 1))) for w in range(qubits)])
