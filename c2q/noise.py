"""Students evaluated under noise: a device's noise model or a parametrised one, on qiskit-aer.

Every input's whole circuit (encoding and trained circuit, c2q.qiskit_export)
is transpiled to the model's gates (and, for a device, its connectivity) and
simulated as a density matrix with the model's gate errors; readout errors
are then applied to the output distribution, one 2x2 confusion matrix per
qubit. The result is each input's noisy output distribution, from which
`c2q.shots.sample_z` draws the same number of shots as an ideal device would.

Models:
- `depolarising`: a depolarising channel of probability p1 * strength after
  every one-qubit gate and p2 * strength after every CNOT, readout flips with
  probability readout * strength (all capped at their fully-mixing value);
  strength 0 is the exact circuit;
- a device: `qiskit_aer.noise.NoiseModel.from_backend` of one of
  qiskit-ibm-runtime's offline fake devices (calibration data of a real
  device), its basis gates and coupling map; readout from its `measure`
  errors.
"""

from __future__ import annotations

import numpy as np
from qiskit import QuantumCircuit, transpile

DEVICES = {"fake_manila": "FakeManilaV2", "fake_nairobi": "FakeNairobiV2", "fake_guadalupe": "FakeGuadalupeV2",
           "fake_cairo": "FakeCairoV2", "fake_washington": "FakeWashingtonV2"}
DEPOLARISING_GATES = ("rz", "sx", "x")


def fake_device(name: str):
    """One of qiskit-ibm-runtime's offline fake devices, by its short name (see DEVICES)."""
    import qiskit_ibm_runtime.fake_provider as provider

    if name not in DEVICES:
        raise ValueError(f"device {name!r} is not one of {sorted(DEVICES)}")
    return getattr(provider, DEVICES[name])()


def depolarising_model(p1: float, p2: float, strength: float = 1.0):
    """Gate noise of the parametrised model (readout is applied separately, `readout_matrices`)."""
    from qiskit_aer.noise import NoiseModel, depolarizing_error

    model = NoiseModel(basis_gates=[*DEPOLARISING_GATES, "cx"])
    if strength > 0 and p1 > 0:
        model.add_all_qubit_quantum_error(depolarizing_error(min(p1 * strength, 4 / 3), 1), DEPOLARISING_GATES)
    if strength > 0 and p2 > 0:
        model.add_all_qubit_quantum_error(depolarizing_error(min(p2 * strength, 16 / 15), 2), ["cx"])
    return model


class NoisyRunner:
    """Transpiles and simulates student circuits under one noise model; returns output distributions."""

    def __init__(self, noise_model, readout: np.ndarray, basis_gates=None, backend=None, seed: int = 0):
        self.noise_model, self.readout, self.backend, self.seed = noise_model, readout, backend, seed
        self.basis_gates = basis_gates

    @classmethod
    def depolarising(cls, p1: float, p2: float, readout: float, strength: float, qubits: int, seed: int = 0):
        r = min(readout * strength, 0.5)
        matrices = np.tile(np.array([[1 - r, r], [r, 1 - r]]), (qubits, 1, 1))
        return cls(depolarising_model(p1, p2, strength), matrices, basis_gates=[*DEPOLARISING_GATES, "cx"], seed=seed)

    @classmethod
    def device(cls, name: str, qubits: int, seed: int = 0):
        from qiskit_aer.noise import NoiseModel

        backend = fake_device(name)
        if backend.num_qubits < qubits:
            raise ValueError(f"device {name} has {backend.num_qubits} qubits, the student {qubits}")
        return cls(NoiseModel.from_backend(backend), None, backend=backend, seed=seed)

    def transpile(self, circuits: list[QuantumCircuit]) -> list[QuantumCircuit]:
        if self.backend is not None:
            return transpile(circuits, backend=self.backend, optimization_level=1, seed_transpiler=self.seed)
        return transpile(circuits, basis_gates=self.basis_gates, optimization_level=1, seed_transpiler=self.seed)

    def _readout(self, physical: list[int]) -> np.ndarray:
        if self.readout is not None:
            return self.readout
        target = self.backend.target
        errors = [target["measure"][(q,)].error or 0.0 for q in physical]
        return np.array([[[1 - e, e], [e, 1 - e]] for e in errors])

    def probabilities(self, circuits: list[QuantumCircuit]) -> np.ndarray:
        """(N, 2^Q) noisy output distributions, basis index in our order (wire 0 most significant)."""
        from qiskit_aer import AerSimulator

        simulator = AerSimulator(method="density_matrix", noise_model=self.noise_model, seed_simulator=self.seed)
        out = []
        for circuit, transpiled in zip(circuits, self.transpile(circuits)):
            # where each of the student's qubits ends up after layout and routing
            layout = transpiled.layout
            physical = layout.final_index_layout()[: circuit.num_qubits] if layout else list(range(circuit.num_qubits))
            transpiled.save_probabilities(physical)
            p = np.asarray(simulator.run(transpiled).result().data()["probabilities"])
            out.append(apply_readout(p, self._readout(physical)))
        return np.stack(out)


def apply_readout(probabilities: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Readout confusion on a 2^Q distribution in qiskit's order (qubit k = bit k of the index):
    matrices[k][measured, prepared] for qubit k."""
    qubits = len(matrices)
    p = probabilities.reshape([2] * qubits)  # axis 0 is the most significant bit, qubit Q-1
    for k, m in enumerate(matrices):
        axis = qubits - 1 - k
        p = np.moveaxis(np.tensordot(m, p, axes=([1], [axis])), 0, axis)
    return p.reshape(-1)
