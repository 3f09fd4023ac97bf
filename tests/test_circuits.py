import math

import numpy as np
import pytest
import torch

from c2q.core.variants import ENCODINGS
from c2q.core.variants import encoder_input_size, parse_student
from c2q.models.circuits import QuantumLayer, amplitude_state, azimuth_angle, encode, polar_angle
from c2q.models.student import Student
from tests.statevector import encoded_state, expectations_z


def test_amplitude_states_have_norm_one():
    features = torch.randn(64, 16) * torch.rand(64, 1) * 100
    states = amplitude_state(features)
    assert torch.allclose(states.abs().pow(2).sum(dim=1), torch.ones(64), atol=1e-6)


def test_amplitude_state_of_zero_features_is_finite():
    assert torch.isfinite(amplitude_state(torch.zeros(2, 8))).all()


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("qubits", [2, 3, 5])
def test_every_encoding_gives_normalised_states_matching_qiskit(encoding, qubits):
    torch.manual_seed(qubits)
    features = torch.randn(4, encoder_input_size(encoding, qubits)) * 2
    states = encode(encoding, features)
    assert states.shape == (4, 2**qubits)
    assert torch.allclose(states.abs().pow(2).sum(dim=1), torch.ones(4), atol=1e-6)
    for row, f in zip(states.numpy(), features.numpy().astype(np.float64)):
        np.testing.assert_allclose(row, encoded_state(encoding, f, qubits).data, atol=1e-6)


@pytest.mark.parametrize("simulator", ["fused", "torchquantum"])
@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("qubits,layers", [(2, 1), (3, 2), (4, 2), (5, 3)])
def test_pauli_z_expectations_match_qiskit_statevector(simulator, encoding, qubits, layers):
    torch.manual_seed(qubits * 10 + layers)
    layer = QuantumLayer(qubits, layers, encoding, simulator)
    features = torch.randn(5, layer.in_features)
    ours = layer(features).detach().numpy()
    theta = layer.theta.detach().numpy().astype(np.float64)
    reference = [
        expectations_z(encoded_state(encoding, f, qubits), theta)
        for f in features.numpy().astype(np.float64)
    ]
    np.testing.assert_allclose(ours, np.stack(reference), atol=1e-5)


def test_wrong_feature_count_stops_with_a_message():
    layer = QuantumLayer(4, 1, "angle")
    with pytest.raises(ValueError, match="angle encoding on 4 qubits takes 4 features per sample, got shape \\(3, 16\\)"):
        layer(torch.randn(3, 16))


def test_angle_maps_are_bounded_one_to_one_and_centred():
    x = torch.tensor([-1e6, -3.0, -1.0, 0.0, 1.0, 3.0, 1e6])
    polar, azimuth = polar_angle(x), azimuth_angle(x)
    assert (polar > 0).all() and (polar < math.pi).all() and (azimuth.abs() < math.pi).all()
    assert (polar.diff() > 0).all() and (azimuth.diff() > 0).all()  # one-to-one
    assert polar[3] == pytest.approx(math.pi / 2) and azimuth[3] == 0  # the mean lands mid-range


@pytest.mark.parametrize("encoding", ["angle", "qubit"])
def test_fc_reduction_hands_angle_encodings_standardised_features(encoding):
    """However large the trainable layer's weights grow, the encoding sees mean 0 and std 1."""
    torch.manual_seed(0)
    model = Student(64, 10, parse_student(f"fc-{encoding}-q3"), layers=1)
    with torch.no_grad():
        model.reduce[0].weight.mul_(1000)
    features = model.reduce(torch.randn(512, 64))
    assert torch.allclose(features.mean(0), torch.zeros(features.shape[1]), atol=1e-4)
    assert torch.allclose(features.std(0, unbiased=False), torch.ones(features.shape[1]), atol=1e-3)
    assert isinstance(Student(64, 10, parse_student("fc-amplitude-q3"), layers=1).reduce, torch.nn.Linear)


@pytest.mark.parametrize("qubits", [3, 4])
def test_notebooks_circuit_bitstring_probabilities_match_qiskit_statevector(qubits):
    """H then RY(x_k) on qubit k: the hybrid's product formula against Qiskit's state; Qiskit's key puts qubit 0
    rightmost, so the hybrid's index sum_k b_k 2^k is the key read as a binary number."""
    from qiskit import QuantumCircuit
    from qiskit.quantum_info import Statevector

    from c2q.models.hybrid import bitstring_probabilities

    angles = np.random.default_rng(qubits).uniform(-math.pi, math.pi, size=(5, qubits))
    ours = bitstring_probabilities(torch.as_tensor(angles)).numpy()
    for row, p in zip(angles, ours):
        circuit = QuantumCircuit(qubits)
        circuit.h(range(qubits))
        for k, x in enumerate(row):
            circuit.ry(x, k)
        want = np.zeros(2**qubits)
        for key, probability in Statevector(circuit).probabilities_dict().items():
            want[int(key, 2)] = probability
        np.testing.assert_allclose(p, want, atol=1e-12)
