"""Readout-error mitigation: the calibration-matrix method, one 2x2 matrix per measured qubit.

A device is calibrated with two circuits on the qubits a student is measured
on: all |0> and all |1> (an X on each). How often qubit k reads the other value
gives its confusion matrix M_k[measured, prepared], estimated from the same
number of shots as the students get. Mitigation applies the inverse of every
M_k to the measured frequencies, one qubit at a time (the tensored inverse:
readout errors taken as independent across qubits), which undoes readout
errors on average; gate errors stay. Shot noise can leave small negative
entries: they are clipped to 0 and the rest renormalised (M3, Nation et al.,
PRX Quantum 2021, solves the same system in the subspace of the bitstrings seen;
on a handful of qubits the full inverse is as cheap and exact).
"""

from __future__ import annotations

import numpy as np
from qiskit import QuantumCircuit

from c2q.offsim.noise import Compiled, Noise, apply_readout, simulate
from c2q.offsim.shots import sample_counts

SINGULAR_SIGMAS = 5  # |det M_k| within this many standard errors of 0: no information to invert


def calibration_circuits(compiled: Compiled) -> list[QuantumCircuit]:
    """All |0> and all |1> on the student's measured qubits, on the compiled circuit's register."""
    zeros = QuantumCircuit(compiled.circuit.num_qubits, name="calibrate_0")
    ones = zeros.copy(name="calibrate_1")
    for q in compiled.measured:
        ones.x(q)
    return [zeros, ones]


def calibrate(compiled: Compiled, noise: Noise, shots: int, rng: np.random.Generator) -> np.ndarray:
    """(Q, 2, 2) confusion matrices [measured, prepared] of the measured qubits (qiskit's order), estimated
    from `shots` runs of each calibration circuit under `noise`."""
    counts = sample_counts(simulate(calibration_circuits(compiled), compiled.measured, noise), shots, rng)
    bits = (np.arange(counts.shape[1])[:, None] >> np.arange(len(compiled.measured))[None, :]) & 1
    from_zero, from_one = counts @ bits / shots  # per qubit: the fraction of shots that read 1
    matrices = np.stack([[[1 - a, 1 - b], [a, b]] for a, b in zip(from_zero, from_one)])
    # det M_k = P(1|1) - P(1|0), each estimated from `shots` draws: standard error at most sqrt(0.5 / shots)
    if (bad := np.abs(np.linalg.det(matrices)) < SINGULAR_SIGMAS * np.sqrt(0.5 / shots)).any():
        raise ValueError(f"readout of measured qubits {np.asarray(compiled.measured)[bad].tolist()} cannot be "
                         f"mitigated: they read 0 and 1 alike whatever was prepared")
    return matrices


def sampled_confusion(matrices: np.ndarray, shots: int, rng: np.random.Generator) -> np.ndarray:
    """The calibration of a model whose readout confusion is known (`matrices`, (Q, 2, 2) [measured,
    prepared]): each qubit's flips counted in `shots` draws per prepared value, as calibration circuits
    would count them."""
    flips = rng.binomial(shots, [[m[1, 0], m[0, 1]] for m in matrices]) / shots  # P(1 | 0), P(0 | 1)
    return np.stack([[[1 - a, b], [a, 1 - b]] for a, b in flips])


def mitigate(frequencies: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """(B, 2^Q) measured frequencies (qiskit's order) -> readout-mitigated distributions."""
    inverse = np.linalg.inv(matrices)
    p = np.stack([apply_readout(row, inverse) for row in np.asarray(frequencies, dtype=np.float64)])
    p = np.clip(p, 0, None)
    return p / p.sum(axis=1, keepdims=True)
