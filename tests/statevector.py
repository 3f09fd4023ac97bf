"""An independent reference for the student's circuit, computed with qiskit's Statevector."""

from __future__ import annotations

import numpy as np
from qiskit import QuantumCircuit
from qiskit.quantum_info import Statevector


def expectations_z(state: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """<Z_w> for every wire w after the student's circuit, starting from `state`.

    Our wire w is the most significant bit of a basis index; qiskit's qubit k is
    bit k, so wire w is qiskit qubit Q-1-w and the state vector is shared as is.
    """
    layers, qubits, _ = theta.shape
    q = lambda wire: qubits - 1 - wire  # noqa: E731
    circuit = QuantumCircuit(qubits)
    for layer in range(layers):
        for wire in range(qubits):
            circuit.rx(theta[layer, wire, 0], q(wire))
            circuit.ry(theta[layer, wire, 1], q(wire))
            circuit.rz(theta[layer, wire, 2], q(wire))
        for wire in range(qubits):
            circuit.cx(q(wire), q((wire + 1) % qubits))
    final = Statevector(state.astype(np.complex128)).evolve(circuit)
    probs = final.probabilities()
    index = np.arange(2**qubits)
    out = []
    for wire in range(qubits):
        bit = (index >> q(wire)) & 1
        out.append(np.sum(probs * (1 - 2 * bit)))
    return np.array(out)
