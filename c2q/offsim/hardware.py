"""One trained quantum student off the simulator: compiled to a device and run under noise.

For a subset of test images it measures, each on the same images (the notebooks' student reads bitstring
frequencies where others read <Z>: c2q.offsim.shots.Readout):
- `test_error_exact`: exact <Z> (what the student stage reports on the whole test set);
- `test_error_shots`: <Z> from `shots` bitstrings of the exact distribution (an ideal device);
- `test_error_device`: the circuit compiled to the fake device and run with its noise, same shots;
- the depolarising model at every strength, same shots (compiled all-to-all);
- `test_error_noisy`: the device's error, or the depolarising model's at strength 1 (`noise.model`);
- `test_error_device_mitigated`, `test_error_noisy_mitigated`: the same once readout errors are mitigated
  (c2q.offsim.mitigation: the calibration-matrix method, calibrated with the same shot count);
and the compiled circuits' depth and two-qubit gates. A -chain student is compiled onto its line of the
device's qubits (no SWAP), and `evaluate_chain_under_noise` runs it on many more images under the same
device's calibrated noise (c2q.offsim.density).
"""

from __future__ import annotations

import numpy as np
import torch

from qiskit import QuantumCircuit
from torch import nn

from c2q.models.circuits import QuantumLayer
from c2q.models.hybrid import HybridStudent
from c2q.models.student import Student
from c2q.offsim.calibration import ChainNoise, chain_noise
from c2q.offsim.density import noisy_z, read_z
from c2q.offsim.mitigation import calibrate, mitigate, sampled_confusion
from c2q.offsim.noise import (Compiled, Noise, circuit_cost, compile_circuit, depolarising, device_noise, fake_device,
                              noisy_probabilities)
from c2q.offsim.qasm import encoding_angles, hadamard_template, student_template
from c2q.offsim.shots import exact_probabilities, readout, sample_frequencies

CALIBRATION_STREAM = 1  # the calibration's shots come from a stream of their own
MODEL_STREAM = 2  # and the density-matrix evaluation's


def is_quantum(model: nn.Module) -> bool:
    """Whether the student has a circuit to run (a `-classical` control has none)."""
    return isinstance(model, HybridStudent) or isinstance(model.core, QuantumLayer)


def circuit_inputs(model: nn.Module, x: torch.Tensor) -> tuple[QuantumCircuit, np.ndarray]:
    """A quantum student's circuit with its inputs' angles left as parameters, and every input's angles."""
    if isinstance(model, HybridStudent):
        angles = model.angles(x)
        return hadamard_template(model.qubits), angles.double().numpy()
    layer = model.core
    features = model.reduce(x.flatten(1))
    return (student_template(layer.encoding, layer.theta.detach().double().numpy(), layer.entangler),
            encoding_angles(layer.encoding, features.double().numpy()))


def is_chain(model: nn.Module) -> bool:
    """Whether the student's circuit is laid on a line of the device (its noise modelled by c2q.offsim.density)."""
    return isinstance(model, Student) and isinstance(model.core, QuantumLayer) and model.core.entangler == "chain"


class Target:
    """A device, compiled for once per evaluation: its backend, its noise, its lines of qubits."""

    def __init__(self, name: str):
        self.name = name
        self.backend = fake_device(name)
        self.noise = device_noise(self.backend)
        self._chains: dict[int, ChainNoise] = {}

    def chain(self, qubits: int) -> ChainNoise:
        """The calibrated noise on the device's best line of `qubits` qubits (c2q.offsim.calibration)."""
        if qubits not in self._chains:
            self._chains[qubits] = chain_noise(self.name, self.backend, qubits)
        return self._chains[qubits]


@torch.inference_mode()
def evaluate_on_hardware(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, *, shots: int, seed: int,
                         target: Target, noise_cfg) -> dict:
    """The numbers above for one student on the images `x`; `noise_cfg` is params' `evaluate.noise`."""
    model.eval()
    template, angles = circuit_inputs(model, x)
    read, rng = readout(model), np.random.default_rng((seed, shots))

    def error(frequencies: np.ndarray) -> float:
        return read.error(read.exact(frequencies), labels)

    def measure(probabilities: np.ndarray) -> np.ndarray:  # what `shots` bitstrings per image read
        return sample_frequencies(probabilities, shots, rng)

    def mitigated_error(compiled: Compiled, frequencies: np.ndarray, noise: Noise) -> float:
        """The error of the same bitstrings once readout is mitigated, calibrated with shots of its own."""
        return error(mitigate(frequencies, calibrate(compiled, noise, shots, calibration_rng)))

    exact = exact_probabilities(model, x).numpy()
    shots_error = error(measure(exact))
    line = list(target.chain(model.core.qubits).physical) if is_chain(model) else None
    on_device = compile_circuit(template, target.backend, seed, line)
    device_read = measure(noisy_probabilities(on_device, angles, target.noise, seed))
    all_to_all = compile_circuit(template, seed=seed)
    dep = noise_cfg.depolarising

    def at_strength(s: float) -> np.ndarray:  # strength 0 is the exact circuit (tests/test_hardware.py)
        return exact if s == 0 else noisy_probabilities(all_to_all, angles,
                                                        depolarising(dep.p1, dep.p2, dep.readout, s), seed)

    strength_read = [measure(at_strength(s)) for s in dep.strengths]
    sweep = [error(f) for f in strength_read]
    calibration_rng = np.random.default_rng((seed, shots, CALIBRATION_STREAM))
    device_mitigated = mitigated_error(on_device, device_read, target.noise)
    out = {
        "images": len(labels),
        "shots": shots,
        "test_error_exact": read.error(read.exact(exact), labels),
        "test_error_shots": shots_error,
        "device": target.name,
        "test_error_device": error(device_read),
        "test_error_device_mitigated": device_mitigated,
        "device_circuit": circuit_cost(on_device),
        "depolarising": {"strengths": list(dep.strengths), "test_error": sweep, "circuit": circuit_cost(all_to_all)},
    }
    if noise_cfg.model == "device":
        out["noise"], out["test_error_noisy"] = target.name, out["test_error_device"]
        out["test_error_noisy_mitigated"] = device_mitigated
    else:  # params' check makes sure strength 1 is swept
        one = list(dep.strengths).index(1.0)
        out["noise"], out["test_error_noisy"] = "depolarising x1", sweep[one]
        out["test_error_noisy_mitigated"] = mitigated_error(
            all_to_all, strength_read[one], depolarising(dep.p1, dep.p2, dep.readout, 1.0))
    return out


@torch.inference_mode()
def evaluate_chain_under_noise(model: Student, x: torch.Tensor, labels: torch.Tensor, *, shots: int, seed: int,
                               noise: ChainNoise) -> dict:
    """A -chain student on many test images under its device's calibrated noise (c2q.offsim.density): exact,
    noisy (exact <Z> of the noisy circuit, and `shots` bitstrings' estimate) and mitigated, on the same images.
    Its head reads each qubit's <Z> alone, so the shots are drawn per qubit from its marginal (the correlation
    of shot noise between qubits is left out); mitigation inverts each qubit's confusion, calibrated with
    `shots` shots per prepared value, and clips to [-1, 1]."""
    model.eval()
    read, rng = readout(model), np.random.default_rng((seed, shots, MODEL_STREAM))
    noisy = read_z(noisy_z(model.core, model.reduce(x.flatten(1)), noise), noise.readout)  # (B, Q)
    measured = 1 - 2 * rng.binomial(shots, (1 - noisy) / 2) / shots
    confusion = sampled_confusion(noise.readout, shots, rng)
    a, b = confusion[:, 1, 0], confusion[:, 0, 1]
    mitigated = np.clip((measured - (b - a)) / (1 - a - b), -1, 1)
    return {
        "images": len(labels), "shots": shots, "device": noise.device, "line": list(noise.physical),
        "test_error_exact": read.error(read.exact(exact_probabilities(model, x).numpy()), labels),
        "test_error_noisy_infinite_shots": read.error(noisy, labels),
        "test_error_noisy": read.error(measured, labels),
        "test_error_noisy_mitigated": read.error(mitigated, labels),
    }
