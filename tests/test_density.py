"""The calibrated noise model of a -chain student (c2q.offsim.calibration) and its batched density-matrix
simulator (c2q.offsim.density), against qiskit-aer's density matrix with the same model, and noise-aware
training's trajectories (c2q.models.noise_injection) against the twirled model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from c2q.models.circuits import QuantumLayer
from c2q.offsim.calibration import ChainNoise, chain_noise, logical_circuits, logical_noise_model, pauli_probabilities
from c2q.offsim.density import density_matrices, density_z
from c2q.offsim.noise import fake_device


@pytest.fixture(scope="module")
def guadalupe():
    return fake_device("fake_guadalupe")


def _layer(encoding: str, qubits: int, layers: int = 2, seed: int = 0, noise=None) -> QuantumLayer:
    torch.manual_seed(seed)
    return QuantumLayer(qubits, layers, encoding, entangler="chain", noise=noise).eval()


def _features(layer: QuantumLayer, n: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(n, layer.in_features, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("encoding,qubits", [("angle", 2), ("qubit", 3), ("angle", 4)])
def test_the_density_matrix_is_aers_with_the_same_noise_model_to_1e6(guadalupe, encoding, qubits):
    from qiskit_aer import AerSimulator

    layer = _layer(encoding, qubits)
    noise = chain_noise("fake_guadalupe", guadalupe, qubits)
    x = _features(layer, 4)
    circuits = logical_circuits(layer, x)
    for c in circuits:
        c.save_density_matrix()
    result = AerSimulator(method="density_matrix", noise_model=logical_noise_model(noise)).run(circuits).result()
    ours = density_matrices(layer, x, noise).numpy()
    for i in range(len(x)):
        np.testing.assert_allclose(ours[i], np.asarray(result.data(i)["density_matrix"]), atol=1e-6)
    assert np.abs(ours[0] - ours[0] @ ours[0]).max() > 1e-4  # mixed: the noise is there


def test_readout_goes_through_each_wires_confusion_as_aer_measures(guadalupe):
    from qiskit_aer import AerSimulator

    layer = _layer("angle", 3)
    noise = chain_noise("fake_guadalupe", guadalupe, 3)
    x = _features(layer, 2)
    circuits = logical_circuits(layer, x)
    for c in circuits:
        c.measure_all()
    shots = 200_000
    result = AerSimulator(method="density_matrix", noise_model=logical_noise_model(noise),
                          seed_simulator=0).run(circuits, shots=shots).result()
    for i, want in enumerate(density_z(layer, x, noise)):
        counts = result.get_counts(i)
        z = [sum(n * (1 - 2 * int(bits[w])) for bits, n in counts.items()) / shots for w in range(3)]
        np.testing.assert_allclose(z, want, atol=0.01)  # 200,000 shots: standard error under 0.0023


def test_the_line_is_coupled_and_has_the_lowest_error(guadalupe):
    noise = chain_noise("fake_guadalupe", guadalupe, 8)
    edges = set(guadalupe.coupling_map.get_edges())
    assert len(set(noise.physical)) == 8 and all((a, b) in edges for a, b in zip(noise.physical, noise.physical[1:]))
    with pytest.raises(ValueError, match="has 5 qubits, the student needs 8"):
        chain_noise("fake_manila", fake_device("fake_manila"), 8)


def test_the_twirl_keeps_the_channels_probabilities_and_their_identity_weight(guadalupe):
    noise = chain_noise("fake_guadalupe", guadalupe, 3)
    for ops in noise.cnot:
        p = pauli_probabilities(ops)
        assert p.shape == (16,) and abs(p.sum() - 1) < 1e-12 and 0.95 < p[0] < 1
    pauli = noise.pauli()
    assert pauli.rotation.shape == (3, 4) and pauli.cnot.shape == (2, 16)


def test_trajectories_average_to_the_twirled_channel(guadalupe):
    """Noise-aware training's sampled Paulis, averaged over many draws, give the density matrix of the
    Pauli-twirled model (a strong model: errors 30 times the device's, so the check has something to see)."""
    from c2q.models.noise_injection import PauliNoise

    base = chain_noise("fake_guadalupe", guadalupe, 3).pauli()
    strong = PauliNoise(*(_scaled(p, 30) for p in (base.rotation, base.cnot)), base.readout)
    layer = _layer("angle", 3, noise=strong)
    x = _features(layer, 3)
    layer.train()
    torch.manual_seed(0)
    with torch.no_grad():
        mean = torch.stack([layer(x).double() for _ in range(4000)]).mean(0).numpy()
    layer.eval()
    want = _twirled_z(layer, x, strong)
    np.testing.assert_allclose(mean, want, atol=0.03)
    with torch.no_grad():
        assert np.abs(layer(x).double().numpy() - want).max() > 0.05  # the noise moves <Z> that far


def _scaled(p: torch.Tensor, factor: float) -> torch.Tensor:
    errors = p[:, 1:] * factor
    return torch.cat([1 - errors.sum(1, keepdim=True), errors], dim=1)


def _twirled_z(layer: QuantumLayer, x: torch.Tensor, noise) -> np.ndarray:
    """<Z> of the Pauli channels of `noise` (Kraus operators sqrt(p_P) P) by the density-matrix simulator."""
    from c2q.models.noise_injection import PAULIS

    one = PAULIS.numpy()
    two = np.einsum("aij,bkl->abikjl", one, one).reshape(16, 4, 4)
    chain = ChainNoise("twirled", tuple(range(layer.qubits)),
                       tuple(np.sqrt(p.numpy())[:, None, None] * one for p in noise.rotation),
                       tuple(np.sqrt(p.numpy())[:, None, None] * two for p in noise.cnot), noise.readout.numpy())
    return density_z(layer, x, chain)


@pytest.mark.parametrize("qubits", [4, 8])
def test_a_chain_student_compiles_onto_its_line_with_no_swap_and_its_model_tracks_aers_full_one(guadalupe, qubits):
    """Compiled to the device on its line, a chain student keeps its 2 (Q - 1) CNOTs (a ring student gets
    SWAPs); aer's full device model on that compiled circuit (errors on every sx, where the transpiler put
    them) moves <Z> from exact by some amount, and the logical model of c2q.offsim.calibration lands much
    closer to aer than exact does."""
    from c2q.offsim.noise import circuit_cost, compile_circuit, device_noise, noisy_probabilities
    from c2q.offsim.qasm import encoding_angles, student_template
    from c2q.offsim.shots import z_of

    layer = _layer("angle", qubits)
    noise = chain_noise("fake_guadalupe", guadalupe, qubits)
    template = student_template("angle", layer.theta.detach().double().numpy(), "chain")
    compiled = compile_circuit(template, guadalupe, 0, list(noise.physical))
    assert circuit_cost(compiled)["two_qubit_gates"] == 2 * (qubits - 1)
    assert sorted(compiled.measured) == sorted(noise.physical)
    ring = _layer("angle", qubits)
    ring_template = student_template("angle", ring.theta.detach().double().numpy(), "ring")
    assert circuit_cost(compile_circuit(ring_template, guadalupe, 0))["two_qubit_gates"] > 2 * qubits
    x = _features(layer, 20)
    aer = z_of(noisy_probabilities(compiled, encoding_angles("angle", x.double().numpy()), device_noise(guadalupe)))
    with torch.no_grad():
        exact = layer(x).double().numpy()
    ours = density_z(layer, x, noise)
    assert np.abs(ours - aer).mean() < 0.35 * np.abs(exact - aer).mean()


def test_noise_aware_students_trained_side_by_side_draw_trajectories_of_their_own(guadalupe):
    from c2q.core.variants import parse_student
    from c2q.models.student import make_student
    from c2q.training.engine import Stack

    noise = chain_noise("fake_guadalupe", guadalupe, 4).pauli()
    strong = type(noise)(_scaled(noise.rotation, 100), _scaled(noise.cnot, 20), noise.readout)
    variant = parse_student("fc-angle-q4-chain-nat")
    model = make_student(variant, (16,), 3, 2, noise=strong)
    torch.manual_seed(0)
    state = make_student(variant, (16,), 3, 2, noise=strong).state_dict()
    stack = Stack(model, [state, state])  # two copies of the same weights, on the same inputs
    x = torch.randn(1, 6, 16).expand(2, 6, 16)
    model.train()
    torch.manual_seed(1)
    noisy = stack.logits(x)
    noisy.sum().backward()
    assert stack.params["core.theta"].grad.abs().sum() > 0
    assert (noisy[0] - noisy[1]).abs().max() > 1e-4  # each copy its own draws


@pytest.mark.parametrize("encoding,qubits", [("angle", 3), ("qubit", 4)])
def test_the_heisenberg_picture_gives_the_schrodinger_pictures_expectations(guadalupe, encoding, qubits):
    from c2q.models.circuits import z_signs
    from c2q.offsim.density import noisy_z

    layer = _layer(encoding, qubits, layers=3)
    noise = chain_noise("fake_guadalupe", guadalupe, qubits)
    x = _features(layer, 7)
    states = density_matrices(layer, x, noise)
    want = torch.diagonal(states, dim1=1, dim2=2).real.numpy() @ z_signs(qubits).double().numpy()
    np.testing.assert_allclose(noisy_z(layer, x, noise), want, atol=1e-10)
