"""c2q's batched density matrix of a compiled student (c2q.offsim.compiled_density) against qiskit-aer's
density matrix with the same noise model, on the device's coupling map and all-to-all."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from c2q.core.variants import parse_student
from c2q.models.student import Student
from c2q.offsim.compiled_density import noisy_distributions
from c2q.offsim.noise import compile_circuit, depolarising, device_noise, fake_device, noisy_probabilities
from c2q.offsim.qasm import encoding_angles, student_template


@pytest.fixture(scope="module")
def guadalupe():
    return fake_device("fake_guadalupe")


def _inputs(name: str, n: int = 5):
    torch.manual_seed(0)
    model = Student(64, 10, parse_student(name), layers=2).eval()
    layer = model.core
    with torch.no_grad():
        features = model.reduce(torch.randn(n, 64, generator=torch.Generator().manual_seed(1)))
    template = student_template(layer.encoding, layer.theta.detach().double().numpy(), layer.entangler)
    return template, encoding_angles(layer.encoding, features.double().numpy())


@pytest.mark.parametrize("name", ["fc-amplitude-q3", "fc-qubit-q3", "fc-amplitude-q4"])
def test_the_compiled_circuit_on_the_device_is_aers_density_matrix_to_1e6(guadalupe, name):
    template, angles = _inputs(name)
    compiled = compile_circuit(template, guadalupe, seed=0)
    noise = device_noise(guadalupe)
    ours = noisy_distributions(compiled, angles, noise)
    np.testing.assert_allclose(ours, noisy_probabilities(compiled, angles, noise), atol=1e-6)
    exact = noisy_distributions(compiled, angles, depolarising(0, 0, 0, 0))
    assert np.abs(ours - exact).max() > 1e-3  # the noise is there


def test_all_to_all_under_the_depolarising_model_is_aers_to_1e6():
    template, angles = _inputs("fc-amplitude-q4")
    compiled = compile_circuit(template, seed=0)
    noise = depolarising(0.001, 0.01, 0.02, 4.0)
    np.testing.assert_allclose(noisy_distributions(compiled, angles, noise),
                               noisy_probabilities(compiled, angles, noise), atol=1e-6)


def test_a_chain_student_measured_on_its_line_keeps_aers_qubit_order(guadalupe):
    from c2q.offsim.calibration import chain_noise

    template, angles = _inputs("fc-angle-q4-chain")
    line = list(chain_noise("fake_guadalupe", guadalupe, 4).physical)
    compiled = compile_circuit(template, guadalupe, seed=0, line=line)
    noise = device_noise(guadalupe)
    np.testing.assert_allclose(noisy_distributions(compiled, angles, noise),
                               noisy_probabilities(compiled, angles, noise), atol=1e-6)


def test_the_notebooks_circuit_on_the_device_is_aers_density_matrix_to_1e6(guadalupe):
    from c2q.offsim.qasm import hadamard_template

    angles = np.random.default_rng(0).uniform(-np.pi, np.pi, (4, 4))
    compiled = compile_circuit(hadamard_template(4), guadalupe, seed=0)
    noise = device_noise(guadalupe)
    np.testing.assert_allclose(noisy_distributions(compiled, angles, noise),
                               noisy_probabilities(compiled, angles, noise), atol=1e-6)
