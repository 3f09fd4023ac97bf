"""A trained student outside the simulator: exported to OpenQASM 3, read with finite shots, run under noise.

Real Qiskit throughout: the OpenQASM 3 importer, qiskit-aer's simulators, the
noise models of qiskit-aer and the offline fake devices of qiskit-ibm-runtime.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from c2q.noise import NoisyRunner, apply_readout
from c2q.qiskit_export import encoding_circuit, from_qasm3, student_circuit, to_qasm3
from c2q.shots import output_probabilities, sample_z
from c2q.student import Student
from c2q.variants import encoder_input_size, parse_student


def _student(encoding: str, qubits: int, seed: int = 0) -> Student:
    torch.manual_seed(seed)
    model = Student(64, 10, parse_student(f"fc-{encoding}-q{qubits}"), layers=2)
    model.eval()
    return model


def _features(model: Student, n: int = 20, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        return model.reduce(torch.randn(n, 64, generator=g))


@pytest.mark.parametrize("encoding", ["amplitude", "angle", "qubit"])
@pytest.mark.parametrize("qubits", [4, 8])
def test_exported_qasm_on_aer_statevector_gives_the_students_expectations(encoding, qubits, tmp_path):
    from qiskit_aer import AerSimulator

    model = _student(encoding, qubits)
    theta = model.core.theta.detach().double().numpy()
    path = tmp_path / "student.qasm"
    path.write_text(to_qasm3(theta))
    trained = from_qasm3(path.read_text())
    features = _features(model)
    with torch.no_grad():
        expected = model.core(features).double().numpy()
    simulator = AerSimulator(method="statevector")
    index = np.arange(2**qubits)
    circuits = []
    for row in features.double().numpy():
        circuit = encoding_circuit(encoding, row, qubits).compose(trained)
        circuit.save_statevector()
        circuits.append(circuit)
    from qiskit import transpile

    result = simulator.run(transpile(circuits, simulator)).result()
    for i, want in enumerate(expected):
        p = np.abs(np.asarray(result.get_statevector(i))) ** 2
        got = [np.sum(p * (1 - 2 * ((index >> (qubits - 1 - w)) & 1))) for w in range(qubits)]
        np.testing.assert_allclose(got, want, atol=1e-6)


def test_shot_estimates_are_unbiased_with_the_binomial_standard_error():
    model = _student("qubit", 4)
    features = _features(model, n=6)
    p = output_probabilities(model.core, features).numpy()
    with torch.no_grad():
        exact = model.core(features).double().numpy()
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-12)
    rng = np.random.default_rng(0)
    shots, repeats = 500, 400
    estimates = np.stack([sample_z(p, shots, rng) for _ in range(repeats)])  # (repeats, B, Q)
    standard_error = np.sqrt((1 - exact**2) / shots)
    # the mean over repeats is within 4 of its own standard errors of the exact value
    assert np.all(np.abs(estimates.mean(0) - exact) < 4 * standard_error / np.sqrt(repeats) + 1e-12)
    # the spread is the binomial standard error (a chi-square bound on 400 repeats: within 20%)
    ratio = estimates.std(0, ddof=1) / standard_error
    assert np.all((ratio > 0.8) & (ratio < 1.2)), ratio
    # a wrong estimator (say, bits counted the other way round) fails the first check
    flipped = -estimates.mean(0)
    assert not np.all(np.abs(flipped - exact) < 4 * standard_error / np.sqrt(repeats) + 1e-12)


def _exact_z(model, features):
    with torch.no_grad():
        return model.core(features).double().numpy()


def _z_of(probabilities: np.ndarray, qubits: int) -> np.ndarray:
    index = np.arange(2**qubits)
    signs = np.stack([1 - 2 * ((index >> (qubits - 1 - w)) & 1) for w in range(qubits)], axis=1)
    return probabilities @ signs


@pytest.mark.parametrize("encoding", ["amplitude", "angle"])
def test_parametrised_noise_at_strength_zero_is_exact_and_large_strength_mixes(encoding):
    model = _student(encoding, 4)
    features = _features(model, n=5)
    theta = model.core.theta.detach().double().numpy()
    circuits = [student_circuit(encoding, row, theta) for row in features.double().numpy()]
    exact = _exact_z(model, features)
    clean = NoisyRunner.depolarising(p1=0.001, p2=0.01, readout=0.02, strength=0.0, qubits=4).probabilities(circuits)
    np.testing.assert_allclose(_z_of(clean, 4), exact, atol=1e-6)
    mixed = NoisyRunner.depolarising(p1=0.001, p2=0.01, readout=0.02, strength=1000.0, qubits=4).probabilities(circuits)
    assert np.abs(_z_of(mixed, 4)).max() < 1e-6
    some = NoisyRunner.depolarising(p1=0.001, p2=0.01, readout=0.02, strength=1.0, qubits=4).probabilities(circuits)
    z = _z_of(some, 4)
    # noise pulls the expectations towards 0 as a whole (not each one: an error mid-circuit can move one up)
    assert np.abs(z).sum() < np.abs(exact).sum() and np.abs(z - exact).max() > 1e-3


def test_device_noise_runs_on_the_device_layout_and_shrinks_expectations():
    model = _student("angle", 4)
    features = _features(model, n=3)
    theta = model.core.theta.detach().double().numpy()
    circuits = [student_circuit("angle", row, theta) for row in features.double().numpy()]
    runner = NoisyRunner.device("fake_manila", qubits=4)
    p = runner.probabilities(circuits)
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-9)
    z, exact = _z_of(p, 4), _exact_z(model, features)
    assert np.abs(z - exact).max() > 1e-3 and np.abs(z - exact).max() < 0.5  # noisy, but the same circuit


def test_state_preparation_transpiles_after_torchquantum_was_imported():
    """torchquantum replaces QuantumCircuit.unitary on import; an amplitude-encoded student must still run."""
    import torchquantum  # noqa: F401  (the import is the point)
    from qiskit import transpile
    from qiskit.quantum_info import Statevector

    vector = np.random.default_rng(0).normal(size=16)
    circuit = transpile(encoding_circuit("amplitude", vector, 4), basis_gates=["rz", "sx", "x", "cx"])
    np.testing.assert_allclose(Statevector(circuit).data, vector / np.linalg.norm(vector), atol=1e-8)


def test_readout_confusion_flips_bits_per_qubit():
    p = np.zeros(4)
    p[0b01] = 1.0  # qubit 0 reads 1, qubit 1 reads 0
    m0 = np.array([[0.9, 0.2], [0.1, 0.8]])  # qubit 0: P(read 0 | 1) = 0.2
    identity = np.eye(2)
    out = apply_readout(p, np.stack([m0, identity]))
    np.testing.assert_allclose(out, [0.2, 0.8, 0, 0])
