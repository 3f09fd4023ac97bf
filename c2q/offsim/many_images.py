"""A small student on many test images under the device's whole noise model.

Its circuit compiled to the device exactly as for aer's shared subset (c2q.offsim.hardware: same seed,
same region, so the same gates), simulated for every image at once by c2q.offsim.compiled_density (aer's
density matrix to 1e-6), then read with shots and mitigated as on aer's subset. A density matrix holds
4^Q numbers per image, so params.yaml's `evaluate.noise.model_max_qubits` bounds who gets this; a -chain
student gets its own many-image evaluation instead (c2q.offsim.hardware.evaluate_chain_under_noise).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from c2q.offsim.compiled_density import noisy_distributions
from c2q.offsim.hardware import Target, circuit_inputs
from c2q.offsim.mitigation import calibrate, mitigate
from c2q.offsim.noise import compile_circuit
from c2q.offsim.shots import exact_probabilities, readout, sample_frequencies

SHOT_STREAM = 3  # this evaluation's shots come from a stream of their own (hardware.py uses 1 and 2)
CALIBRATION_STREAM = 4  # and its calibration's


@torch.inference_mode()
def evaluate_compiled_under_noise(model: nn.Module, x: torch.Tensor, labels: torch.Tensor, *, shots: int,
                                  seed: int, target: Target) -> dict:
    """Exact, noisy (exact distribution of the noisy circuit, and `shots` bitstrings of it) and mitigated
    test errors on the images `x`, all on the same images."""
    model.eval()
    template, angles = circuit_inputs(model, x)
    read = readout(model)
    compiled = compile_circuit(template, target.backend, seed)
    noisy = noisy_distributions(compiled, angles, target.noise)
    frequencies = sample_frequencies(noisy, shots, np.random.default_rng((seed, shots, SHOT_STREAM)))
    calibration = calibrate(compiled, target.noise, shots, np.random.default_rng((seed, shots, CALIBRATION_STREAM)))

    def error(distributions: np.ndarray) -> float:
        return read.error(read.exact(distributions), labels)

    return {
        "images": len(labels), "shots": shots, "device": target.name, "model": "device",
        "test_error_exact": error(exact_probabilities(model, x).numpy()),
        "test_error_noisy_infinite_shots": error(noisy),
        "test_error_noisy": error(frequencies),
        "test_error_noisy_mitigated": error(mitigate(frequencies, calibration)),
    }
