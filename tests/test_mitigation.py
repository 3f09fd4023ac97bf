"""Readout-error mitigation (c2q.offsim.mitigation) on qiskit-aer: calibration circuits run under the noise,
the tensored inverse applied to what the student's measured qubits read."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from c2q.core.variants import parse_student
from c2q.models.student import Student
from c2q.offsim.mitigation import calibrate, mitigate
from c2q.offsim.noise import compile_circuit, depolarising, device_noise, fake_device, noisy_probabilities
from c2q.offsim.qasm import encoding_angles, student_template
from c2q.offsim.shots import output_probabilities, sample_frequencies, z_of


def _circuit(qubits: int = 4, images: int = 12):
    """A random 4-qubit angle student's circuit, its inputs' angles and its exact output distributions."""
    torch.manual_seed(0)
    model = Student(16, 10, parse_student(f"fc-angle-q{qubits}"), layers=2).eval()
    with torch.no_grad():
        features = model.reduce(torch.randn(images, 16, generator=torch.Generator().manual_seed(1)))
    template = student_template("angle", model.core.theta.detach().double().numpy())
    exact = output_probabilities(model.core, features).numpy()
    return template, encoding_angles("angle", features.double().numpy()), exact


def test_the_inverse_of_the_true_confusion_undoes_readout_only_noise_exactly():
    template, angles, exact = _circuit()
    noise = depolarising(0.0, 0.0, 0.08, 1.0)  # readout flips only, no gate errors
    compiled = compile_circuit(template)
    noisy = noisy_probabilities(compiled, angles, noise)
    assert np.abs(noisy - exact).max() > 0.02  # the readout errors are there to undo
    np.testing.assert_allclose(mitigate(noisy, noise.readout(compiled.measured)), exact, atol=1e-9)


def test_calibration_estimates_each_measured_qubits_confusion_from_its_shots():
    backend = fake_device("fake_manila")
    template, _, _ = _circuit()
    compiled = compile_circuit(template, backend)
    noise = device_noise(backend)
    estimated = calibrate(compiled, noise, 200_000, np.random.default_rng(0))
    # the device's own readout errors, plus what its X gates add on the |1> side
    np.testing.assert_allclose(estimated, noise.readout(compiled.measured), atol=4e-3)


def test_mitigated_expectations_lose_the_readout_bias_that_raw_ones_carry():
    template, angles, exact = _circuit()
    noise = depolarising(0.0, 0.0, 0.1, 1.0)
    compiled = compile_circuit(template)
    rng = np.random.default_rng(0)
    measured = sample_frequencies(noisy_probabilities(compiled, angles, noise), 50_000, rng)
    matrices = calibrate(compiled, noise, 50_000, rng)
    raw, mitigated = (np.abs(z_of(p) - z_of(exact)).mean() for p in (measured, mitigate(measured, matrices)))
    assert raw > 0.02 and mitigated < raw / 3


def test_a_readout_that_carries_no_information_is_refused_with_the_qubits_named():
    template, _, _ = _circuit()
    with pytest.raises(ValueError, match=r"measured qubits \[0, 1, 2, 3\] cannot be mitigated"):
        calibrate(compile_circuit(template), depolarising(0.0, 0.0, 0.5, 1.0), 1000, np.random.default_rng(0))
