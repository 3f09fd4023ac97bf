import numpy as np
import pytest
import torch

from c2q.circuits import QuantumLayer, amplitude_state
from tests.statevector import expectations_z


def test_amplitude_states_have_norm_one():
    features = torch.randn(64, 16) * torch.rand(64, 1) * 100
    states = amplitude_state(features)
    assert states.dtype == torch.complex64
    assert torch.allclose(states.abs().pow(2).sum(dim=1), torch.ones(64), atol=1e-6)


def test_amplitude_state_of_zero_features_is_finite():
    assert torch.isfinite(amplitude_state(torch.zeros(2, 8)).real).all()


@pytest.mark.parametrize("qubits,layers", [(2, 1), (3, 2), (4, 2), (5, 3)])
def test_pauli_z_expectations_match_qiskit_statevector(qubits, layers):
    torch.manual_seed(qubits * 10 + layers)
    layer = QuantumLayer(qubits, layers, "amplitude")
    features = torch.randn(5, 2**qubits)
    ours = layer(features).detach().numpy()
    states = amplitude_state(features).numpy()
    theta = layer.theta.detach().numpy().astype(np.float64)
    reference = np.stack([expectations_z(s, theta) for s in states])
    np.testing.assert_allclose(ours, reference, atol=1e-5)
