import numpy as np
import pytest
import torch

from c2q.circuits import QuantumLayer, amplitude_state, encode
from c2q.registry import ENCODINGS
from c2q.variants import encoder_input_size
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
