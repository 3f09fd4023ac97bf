"""A trained student outside the simulator: exported to OpenQASM 3, read with finite shots, run under noise.

Real Qiskit throughout: the OpenQASM 3 importer, qiskit-aer's simulators, the
noise models of qiskit-aer and the offline fake devices of qiskit-ibm-runtime.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from c2q.offsim.noise import apply_readout, circuit_cost, compile_circuit, depolarising, device_noise, device_region, \
    fake_device, noisy_probabilities
from c2q.offsim.qasm import bind, encoding_angles, encoding_template, from_qasm3, student_template, \
    to_qasm3
from c2q.core.variants import encoder_input_size, parse_student
from c2q.models.student import Student
from c2q.offsim.shots import errors_with_shots, output_probabilities, sample_z, z_of


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
    template = encoding_template(encoding, qubits).compose(trained)
    template.save_statevector()
    angles = encoding_angles(encoding, features.double().numpy())
    circuits = [bind(template, row) for row in angles]
    result = AerSimulator(method="statevector").run(circuits).result()
    for i, want in enumerate(expected):
        p = np.abs(np.asarray(result.get_statevector(i))) ** 2
        np.testing.assert_allclose(z_of(p[None])[0], want, atol=1e-6)


@pytest.mark.parametrize("qubits", [2, 4, 8])
def test_amplitude_encoding_gates_prepare_the_normalised_features(qubits):
    """Signed features and empty blocks (zeros) included: the RY tree's state is the feature vector."""
    from qiskit.quantum_info import Statevector

    vectors = np.random.default_rng(qubits).normal(size=(3, 2**qubits))
    vectors[1, : 2 ** (qubits - 1)] = 0  # a whole half empty
    vectors[2, 1::2] = 0  # every last-wire pair half empty
    template = encoding_template("amplitude", qubits)
    assert template.count_ops()["cx"] == 2**qubits - 2
    for vector, angles in zip(vectors, encoding_angles("amplitude", vectors)):
        state = Statevector(bind(template, angles)).data
        np.testing.assert_allclose(state, vector / np.linalg.norm(vector), atol=1e-10)


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


def _compiled(model, backend=None):
    theta = model.core.theta.detach().double().numpy()
    return compile_circuit(student_template(model.core.encoding, theta), backend)


def _angles(model, features):
    return encoding_angles(model.core.encoding, features.double().numpy())


@pytest.mark.parametrize("encoding", ["amplitude", "angle"])
def test_parametrised_noise_at_strength_zero_is_exact_and_large_strength_mixes(encoding):
    model = _student(encoding, 4)
    features = _features(model, n=5)
    compiled, angles, exact = _compiled(model), _angles(model, features), _exact_z(model, features)

    def z_at(strength):
        return z_of(noisy_probabilities(compiled, angles, depolarising(0.001, 0.01, 0.02, strength)))

    np.testing.assert_allclose(z_at(0.0), exact, atol=1e-6)
    assert np.abs(z_at(1000.0)).max() < 1e-6
    z = z_at(1.0)
    # noise pulls the expectations towards 0 as a whole (not each one: an error mid-circuit can move one up)
    assert np.abs(z).sum() < np.abs(exact).sum() and np.abs(z - exact).max() > 1e-3


def test_device_noise_runs_on_the_device_layout_and_shrinks_expectations():
    model = _student("angle", 4)
    features = _features(model, n=3)
    backend = fake_device("fake_manila")
    compiled = _compiled(model, backend)
    assert set(compiled.circuit.count_ops()) <= set(backend.operation_names)  # native gates only
    cost = circuit_cost(compiled)
    assert cost["two_qubit_gates"] > 2 * 4 and cost["qubits_used"] == 4  # the ring needs swaps on manila's line
    p = noisy_probabilities(compiled, _angles(model, features), device_noise(backend))
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-9)
    z, exact = z_of(p), _exact_z(model, features)
    assert np.abs(z - exact).max() > 1e-3 and np.abs(z - exact).max() < 0.5  # noisy, but the same circuit


def test_a_large_device_runs_a_student_on_a_connected_region_of_its_size():
    backend = fake_device("fake_guadalupe")
    region = device_region(backend, 8)
    edges = [e for e in backend.coupling_map.get_edges() if set(e) <= set(region)]
    reached, frontier = {region[0]}, [region[0]]
    while frontier:
        q = frontier.pop()
        for a, b in edges:
            for n in ((b,) if a == q else (a,) if b == q else ()):
                if n not in reached:
                    reached.add(n)
                    frontier.append(n)
    assert len(set(region)) == 8 and reached == set(region)
    compiled = _compiled(_student("angle", 8), backend)
    assert circuit_cost(compiled)["qubits_used"] == 8 and set(compiled.measured) <= set(region)


def test_a_students_whole_circuit_for_one_input_gives_its_expectations():
    from qiskit.quantum_info import Statevector

    model = _student("qubit", 4)
    features = _features(model, n=3)
    theta = model.core.theta.detach().double().numpy()
    for row, want in zip(features.double().numpy(), _exact_z(model, features)):
        p = Statevector(bind(student_template("qubit", theta), encoding_angles("qubit", row[None])[0])).probabilities()
        np.testing.assert_allclose(z_of(p[None])[0], want, atol=1e-6)


def test_shot_errors_approach_the_exact_error_and_vary_with_few_shots():
    model = _student("amplitude", 4)
    x = torch.randn(400, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        labels = model(x).argmax(1)  # the exact student is right on every image
        labels[::4] = (labels[::4] + 1) % 10  # and wrong on every fourth
    errors = errors_with_shots(model, x, labels, [1, 10**7], seed=0)
    assert abs(errors[10**7] - 0.25) < 0.02 and errors[1] > 0.4
    assert errors_with_shots(model, x, labels, [1], seed=0)[1] == errors[1]  # seeded


def test_readout_confusion_flips_bits_per_qubit():
    p = np.zeros(4)
    p[0b01] = 1.0  # qubit 0 reads 1, qubit 1 reads 0
    m0 = np.array([[0.9, 0.2], [0.1, 0.8]])  # qubit 0: P(read 0 | 1) = 0.2
    identity = np.eye(2)
    out = apply_readout(p, np.stack([m0, identity]))
    np.testing.assert_allclose(out, [0.2, 0.8, 0, 0])


def test_the_notebooks_circuit_under_noise_keeps_its_bitstring_order():
    """Its index sum_k b_k 2^k: exact at strength 0, close on a device, and far from the reversed bit order."""
    from c2q.models.hybrid import bitstring_probabilities
    from c2q.offsim.qasm import hadamard_template

    angles = np.array([[-2.5, -0.4, 1.0, 2.9], [0.3, 2.0, -1.2, -3.0]])
    exact = bitstring_probabilities(torch.as_tensor(angles)).numpy()
    template = hadamard_template(4)
    at_zero = noisy_probabilities(compile_circuit(template), angles, depolarising(0.001, 0.01, 0.02, 0.0))
    np.testing.assert_allclose(at_zero, exact, atol=1e-6)
    backend = fake_device("fake_manila")
    on_device = noisy_probabilities(compile_circuit(template, backend), angles, device_noise(backend))
    reversed_bits = exact.reshape(2, 2, 2, 2, 2).transpose(0, 4, 3, 2, 1).reshape(2, 16)
    assert np.abs(on_device - exact).max() < 0.05 < np.abs(reversed_bits - exact).max()
