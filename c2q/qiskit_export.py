"""A trained student's circuit in Qiskit and OpenQASM 3.

How each part becomes gates (our wire w is qiskit's qubit Q-1-w, so a basis
state's index, wire 0 most significant, is the same number in both):

- amplitude encoding: one `StatePreparation` instruction holding the 2^Q
  normalised features; a device runs its decomposition (CNOTs and rotations,
  about 2^Q two-qubit gates), which transpiling shows;
- angle encoding: RY(pi/2 + atan(x_w)) on every qubit;
- qubit (dense) encoding: RY(pi/2 + atan(x_2w)) then RZ(2 atan(x_2w+1));
- the trainable circuit, `layers` times: RX, RY, RZ on every qubit with the
  trained angles, then CNOTs w -> w+1 around the ring;
- readout: <Z> of every qubit; the student's linear head turns those into
  logits classically, as does its `fc` layer before the encoding.
"""

from __future__ import annotations

import math

import numpy as np
from qiskit import QuantumCircuit, qasm3
from qiskit.circuit.library import StatePreparation


def restore_qiskit_unitary() -> None:
    """Undo torchquantum's replacement of `QuantumCircuit.unitary`.

    Importing torchquantum (the reference simulator) replaces that method with
    one built on its own UnitaryGate, which qiskit 2's synthesis cannot invert,
    so state preparation fails to transpile in any process that imported
    torchquantum. This puts back a method that does what qiskit's does.
    """
    if getattr(QuantumCircuit.unitary, "__module__", "").startswith("torchquantum"):
        QuantumCircuit.unitary = _qiskit_unitary


def _qiskit_unitary(self, obj, qubits, label=None):
    from qiskit.circuit import Qubit, QuantumRegister
    from qiskit.circuit.library import UnitaryGate

    gate = UnitaryGate(obj, label=label)
    if isinstance(qubits, QuantumRegister):
        qubits = qubits[:]
    if gate.num_qubits == 1 and (isinstance(qubits, (int, Qubit)) or len(qubits) > 1):
        qubits = [qubits]
    return self.append(gate, qubits, [], copy=False)


def _qubit(qubits: int, wire: int) -> int:
    return qubits - 1 - wire


def trainable_circuit(theta: np.ndarray) -> QuantumCircuit:
    """The student's trainable part with its angles bound: theta (layers, qubits, 3) as RX, RY, RZ."""
    layers, qubits, _ = theta.shape
    circuit = QuantumCircuit(qubits, name="student")
    for layer in range(layers):
        for wire in range(qubits):
            q = _qubit(qubits, wire)
            circuit.rx(float(theta[layer, wire, 0]), q)
            circuit.ry(float(theta[layer, wire, 1]), q)
            circuit.rz(float(theta[layer, wire, 2]), q)
        for wire in range(qubits):
            circuit.cx(_qubit(qubits, wire), _qubit(qubits, (wire + 1) % qubits))
    return circuit


def encoding_circuit(encoding: str, features: np.ndarray, qubits: int) -> QuantumCircuit:
    """The gates that prepare one input's encoded state from |0...0>."""
    features = np.asarray(features, dtype=np.float64)
    circuit = QuantumCircuit(qubits, name=f"{encoding}_encoding")
    if encoding == "amplitude":
        restore_qiskit_unitary()  # its synthesis needs qiskit's own QuantumCircuit.unitary
        norm = np.linalg.norm(features)
        vector = features / norm if norm > 1e-12 else np.eye(2**qubits)[0]
        circuit.append(StatePreparation(vector), range(qubits))
        return circuit
    for wire in range(qubits):
        q = _qubit(qubits, wire)
        if encoding == "angle":
            circuit.ry(math.pi / 2 + math.atan(features[wire]), q)
        elif encoding == "qubit":
            circuit.ry(math.pi / 2 + math.atan(features[2 * wire]), q)
            circuit.rz(2 * math.atan(features[2 * wire + 1]), q)
        else:
            raise ValueError(f"unknown encoding {encoding!r}")
    return circuit


def student_circuit(encoding: str, features: np.ndarray, theta: np.ndarray, measure: bool = False) -> QuantumCircuit:
    """The whole circuit for one input: its encoding, then the trained circuit (then measurements)."""
    qubits = theta.shape[1]
    circuit = encoding_circuit(encoding, features, qubits).compose(trainable_circuit(theta))
    if measure:
        circuit.measure_all()
    return circuit


def to_qasm3(theta: np.ndarray) -> str:
    """OpenQASM 3 of the trained circuit (angles bound), for any tool that reads it."""
    return qasm3.dumps(trainable_circuit(theta))


def from_qasm3(text: str) -> QuantumCircuit:
    """Read an exported circuit back (qiskit's OpenQASM 3 importer)."""
    return qasm3.loads(text)
