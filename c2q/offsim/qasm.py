"""A trained student's circuit in Qiskit and OpenQASM 3.

How each part becomes gates (our wire w is qiskit's qubit Q-1-w, so a basis
state's index, wire 0 most significant, is the same number in both):

- amplitude encoding: the features are real, so the state needs only RY
  rotations and CNOTs (Mottonen et al., quant-ph/0407010, real case): wire k
  gets one RY per value of wires 0..k-1, an RY controlled on all of them,
  which is 2^k plain RYs and 2^k CNOTs (Gray-code order). The angles split
  each block's norm between its two halves; the last wire's carry the signs.
  That is 2^Q - 1 rotations and 2^Q - 2 CNOTs, the same gates for every
  input, only the angles change;
- angle encoding: RY(pi/2 + atan(x_w)) on every qubit;
- qubit (dense) encoding: RY(pi/2 + atan(x_2w)) then RZ(2 atan(x_2w+1));
- the trainable circuit, `layers` times: RX, RY, RZ on every qubit with the
  trained angles, then CNOTs w -> w+1 around the ring (or along the chain);
- readout: <Z> of every qubit; the student's linear head turns those into
  logits classically, as does its `fc` layer before the encoding.

Because an encoding's gates do not depend on the input, each is a circuit
with parameters (`encoding_template`) and `encoding_angles` gives every
input's values: a device compiles a student once and binds each input.

The paper notebooks' student (c2q.models.hybrid) has no trained circuit: H on
every qubit, then RY(x_k) on qiskit's qubit k, x its CNN's angles for the input
(`hadamard_template`); its bitstring index sum_k b_k 2^k is qiskit's basis index.
"""

from __future__ import annotations

import numpy as np
from qiskit import QuantumCircuit, qasm3
from qiskit.circuit import ParameterVector

from c2q.models.circuits import entangler_pairs


def _qubit(qubits: int, wire: int) -> int:
    return qubits - 1 - wire


def _gray(m: int) -> int:
    return m ^ (m >> 1)


def _walsh(k: int) -> np.ndarray:
    """M[j, m] = (-1)^popcount(j & gray(m)): the rotation that control value j sees from the m-th RY."""
    j, m = np.arange(2**k)[:, None], np.array([_gray(i) for i in range(2**k)])[None, :]
    parity = np.vectorize(lambda v: bin(v).count("1") % 2)(j & m)
    return 1 - 2 * parity


def n_angles(encoding: str, qubits: int) -> int:
    """How many parameters an encoding's circuit has."""
    return {"amplitude": 2**qubits - 1, "angle": qubits, "qubit": 2 * qubits}[encoding]


def _uniformly_controlled_ry(circuit: QuantumCircuit, angles, wire: int, qubits: int) -> None:
    """RY(angles[j]) on `wire` when wires 0..wire-1 hold j (as `_amplitude_betas` transforms them)."""
    target = _qubit(qubits, wire)
    if wire == 0:
        circuit.ry(angles[0], target)
        return
    n = 2**wire
    for m in range(n):
        circuit.ry(angles[m], target)
        bit = (_gray(m) ^ _gray((m + 1) % n)).bit_length() - 1  # the control bit that flips next
        circuit.cx(_qubit(qubits, wire - 1 - bit), target)


def encoding_template(encoding: str, qubits: int) -> QuantumCircuit:
    """The encoding's gates with a parameter `x[i]` for every input-dependent angle."""
    x = ParameterVector("x", n_angles(encoding, qubits))
    circuit = QuantumCircuit(qubits, name=f"{encoding}_encoding")
    if encoding == "amplitude":
        start = 0
        for wire in range(qubits):
            _uniformly_controlled_ry(circuit, x[start:start + 2**wire], wire, qubits)
            start += 2**wire
        return circuit
    if encoding not in ("angle", "qubit"):
        raise ValueError(f"unknown encoding {encoding!r}")
    per_qubit = 1 if encoding == "angle" else 2
    for wire in range(qubits):
        circuit.ry(x[per_qubit * wire], _qubit(qubits, wire))
        if encoding == "qubit":
            circuit.rz(x[2 * wire + 1], _qubit(qubits, wire))
    return circuit


def _amplitude_angles(features: np.ndarray) -> np.ndarray:
    """(N, 2^Q) real features -> (N, 2^Q - 1) RY angles of the amplitude template, level by level."""
    n, dim = features.shape
    qubits = dim.bit_length() - 1
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    vectors = np.where(norms > 1e-12, features / np.maximum(norms, 1e-12), np.eye(dim)[0])
    out = []
    for wire in range(qubits):
        blocks = vectors.reshape(n, 2**wire, 2, -1)  # (N, prefix j, bit of this wire, rest)
        if wire == qubits - 1:  # one amplitude per half: signed
            alpha = 2 * np.arctan2(blocks[:, :, 1, 0], blocks[:, :, 0, 0])
        else:
            halves = np.linalg.norm(blocks, axis=3)
            alpha = 2 * np.arctan2(halves[:, :, 1], halves[:, :, 0])
        # the uniformly controlled RY gives control value j the rotation (M @ beta)[j]; M.T M = 2^k I
        out.append(alpha @ _walsh(wire) / 2**wire)
    return np.concatenate(out, axis=1)


def encoding_angles(encoding: str, features: np.ndarray) -> np.ndarray:
    """(N, features) encoder inputs -> (N, n_angles) values of the template's parameters, in order."""
    features = np.asarray(features, dtype=np.float64)
    if encoding == "amplitude":
        return _amplitude_angles(features)
    polar = np.pi / 2 + np.arctan(features)
    if encoding == "angle":
        return polar
    if encoding == "qubit":
        angles = polar.copy()
        angles[:, 1::2] = 2 * np.arctan(features[:, 1::2])
        return angles
    raise ValueError(f"unknown encoding {encoding!r}")


def trainable_circuit(theta: np.ndarray, entangler: str = "ring") -> QuantumCircuit:
    """The student's trainable part with its angles bound: theta (layers, qubits, 3) as RX, RY, RZ, then the
    entangler's CNOTs."""
    layers, qubits, _ = theta.shape
    circuit = QuantumCircuit(qubits, name="student")
    for layer in range(layers):
        for wire in range(qubits):
            q = _qubit(qubits, wire)
            circuit.rx(float(theta[layer, wire, 0]), q)
            circuit.ry(float(theta[layer, wire, 1]), q)
            circuit.rz(float(theta[layer, wire, 2]), q)
        for control, target in entangler_pairs(qubits, entangler):
            circuit.cx(_qubit(qubits, control), _qubit(qubits, target))
    return circuit


def student_template(encoding: str, theta: np.ndarray, entangler: str = "ring") -> QuantumCircuit:
    """The whole circuit of a trained student, its encoding's angles left as parameters."""
    return encoding_template(encoding, theta.shape[1]).compose(trainable_circuit(theta, entangler))


def bind(template: QuantumCircuit, angles: np.ndarray) -> QuantumCircuit:
    """One input's circuit: the template's parameters `x` set to `angles`."""
    vector = next(iter(template.parameters)).vector
    return template.assign_parameters(dict(zip(vector, angles)), strict=False)


def hadamard_template(qubits: int) -> QuantumCircuit:
    """The notebooks' circuit: H on every qubit, then RY(x[k]) on qubit k."""
    x = ParameterVector("x", qubits)
    circuit = QuantumCircuit(qubits, name="hadamard_ry")
    circuit.h(range(qubits))
    for k in range(qubits):
        circuit.ry(x[k], k)
    return circuit


def hybrid_qasm3(angles: np.ndarray) -> str:
    """OpenQASM 3 of the notebooks' circuit for one input (its CNN's angles bound), every qubit measured."""
    circuit = bind(hadamard_template(len(angles)), np.asarray(angles, dtype=np.float64))
    circuit.measure_all()
    return qasm3.dumps(circuit)


def to_qasm3(theta: np.ndarray, entangler: str = "ring") -> str:
    """OpenQASM 3 of the trained circuit (angles bound), for any tool that reads it."""
    return qasm3.dumps(trainable_circuit(theta, entangler))


def from_qasm3(text: str) -> QuantumCircuit:
    """Read an exported circuit back (qiskit's OpenQASM 3 importer)."""
    return qasm3.loads(text)
