"""Students run under noise: a device's noise model or a parametrised one, on qiskit-aer.

A student's circuit (c2q.qiskit_export.student_template, the encoding's
angles left as parameters) is compiled once: to a device's native gates and
connectivity, or, for the parametrised model, to the gates rz, sx, x, cx with
every pair of qubits connected. Every input binds its angles into the
compiled circuit, which is simulated as a density matrix with the model's
gate errors; readout errors are then applied to the output distribution, one
2x2 confusion matrix per qubit. The result is each input's noisy output
distribution, from which `c2q.shots.sample_z` draws shots as a device would.

Models:
- `depolarising`: a depolarising channel of probability p1 * strength after
  every one-qubit gate and p2 * strength after every CNOT, readout flips with
  probability readout * strength (all capped at their fully-mixing value);
  strength 0 is the exact circuit;
- a device: `qiskit_aer.noise.NoiseModel.from_backend` of one of
  qiskit-ibm-runtime's offline fake devices (c2q.core.devices: calibration data of
  a real device), its native gates and coupling map; readout from its
  `measure` errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
from qiskit import QuantumCircuit, transpile

from c2q.core.devices import DEVICES
from c2q.offsim.qasm import bind

DEPOLARISING_GATES = ("rz", "sx", "x")


@dataclass(frozen=True)
class Noise:
    """A noise model and the readout confusion of the physical qubits a circuit is measured on."""
    model: object  # qiskit_aer.noise.NoiseModel
    readout: Callable[[list[int]], np.ndarray]  # physical qubits -> (Q, 2, 2) matrices[measured, prepared]


def fake_device(name: str):
    """One of qiskit-ibm-runtime's offline fake devices, by its short name (c2q.core.devices.DEVICES)."""
    import qiskit_ibm_runtime.fake_provider as provider

    if name not in DEVICES:
        raise ValueError(f"device {name!r} is not one of {sorted(DEVICES)}")
    return getattr(provider, DEVICES[name].fake_class)()


def depolarising(p1: float, p2: float, readout: float, strength: float) -> Noise:
    """The parametrised model at one strength."""
    from qiskit_aer.noise import NoiseModel, depolarizing_error

    model = NoiseModel(basis_gates=[*DEPOLARISING_GATES, "cx"])
    if strength > 0 and p1 > 0:
        model.add_all_qubit_quantum_error(depolarizing_error(min(p1 * strength, 4 / 3), 1), DEPOLARISING_GATES)
    if strength > 0 and p2 > 0:
        model.add_all_qubit_quantum_error(depolarizing_error(min(p2 * strength, 16 / 15), 2), ["cx"])
    r = min(readout * strength, 0.5)
    flip = np.array([[1 - r, r], [r, 1 - r]])
    return Noise(model, lambda physical: np.tile(flip, (len(physical), 1, 1)))


def device_noise(backend) -> Noise:
    """A fake device's calibrated gate and readout errors."""
    from qiskit_aer.noise import NoiseModel

    def readout(physical: list[int]) -> np.ndarray:
        errors = [backend.target["measure"][(q,)].error or 0.0 for q in physical]
        return np.array([[[1 - e, e], [e, 1 - e]] for e in errors])

    return Noise(NoiseModel.from_backend(backend), readout)


@dataclass(frozen=True)
class Compiled:
    """A student's circuit compiled for one target, and where each of its qubits is measured."""
    circuit: QuantumCircuit
    measured: list[int]  # physical qubit of the student's qubit k (qiskit's order) at the end


def compile_circuit(circuit: QuantumCircuit, backend=None, seed: int = 0, line: list[int] | None = None) -> Compiled:
    """The circuit in a device's native gates on a connected region of its qubits (`device_region`), or on
    the physical qubits `line` (wire w on line[w]: a -chain student's, c2q.offsim.calibration), or (no
    backend) in rz, sx, x, cx with every pair of qubits connected."""
    if backend is None:
        out = transpile(circuit, basis_gates=[*DEPOLARISING_GATES, "cx"], optimization_level=3,
                        seed_transpiler=seed)
        return Compiled(out, list(range(circuit.num_qubits)))  # no coupling map: no layout, no routing
    if line is not None:  # wire w is qiskit's qubit Q-1-w
        region = sorted(line)
        layout = [region.index(line[circuit.num_qubits - 1 - k]) for k in range(circuit.num_qubits)]
    else:
        region, layout = device_region(backend, circuit.num_qubits), None
    gates = [g for g in backend.operation_names if g not in ("measure", "reset", "delay")]
    small = transpile(circuit, basis_gates=gates, coupling_map=backend.coupling_map.reduce(region),
                      initial_layout=layout, optimization_level=3, seed_transpiler=seed)
    full = QuantumCircuit(backend.num_qubits, name=circuit.name)
    full.compose(small, qubits=region, inplace=True)
    return Compiled(full, [region[q] for q in small.layout.final_index_layout()[: circuit.num_qubits]])


def device_region(backend, qubits: int) -> list[int]:
    """A connected set of `qubits` physical qubits with the most couplings among them (breadth-first from
    every qubit; ties: the lowest start). Routing stays inside it, so a student of Q qubits is simulated
    on Q qubits, however large the device."""
    coupling = backend.coupling_map
    edges = {tuple(sorted(e)) for e in coupling.get_edges()}
    best: tuple[int, list[int]] | None = None
    for start in range(backend.num_qubits):
        region, frontier = [start], [start]
        while frontier and len(region) < qubits:
            for n in sorted(coupling.neighbors(frontier.pop(0))):
                if n not in region and len(region) < qubits:
                    region.append(n)
                    frontier.append(n)
        inside = sum(1 for a, b in edges if a in region and b in region)
        if len(region) == qubits and (best is None or inside > best[0]):
            best = (inside, sorted(region))
    if best is None:
        raise ValueError(f"the device has no {qubits} connected qubits")
    return best[1]


def circuit_cost(compiled: Compiled) -> dict[str, int]:
    """Depth, two-qubit gates and qubits touched of a compiled circuit."""
    circuit = compiled.circuit
    touched = {circuit.find_bit(q).index for inst in circuit.data for q in inst.qubits}
    two_qubit = sum(1 for inst in circuit.data if len(inst.qubits) == 2)
    return {"depth": circuit.depth(), "two_qubit_gates": two_qubit, "qubits_used": len(touched)}


def noisy_probabilities(compiled: Compiled, angles: np.ndarray, noise: Noise, seed: int = 0) -> np.ndarray:
    """(N, 2^Q) noisy output distributions of the compiled student for N inputs' encoding angles (N, P),
    basis index in our order (wire 0 most significant)."""
    return simulate([bind(compiled.circuit, row) for row in angles], compiled.measured, noise, seed)


def simulate(circuits: list[QuantumCircuit], measured: list[int], noise: Noise, seed: int = 0) -> np.ndarray:
    """(N, 2^Q) distributions of the physical qubits `measured` after each circuit, with the noise model's
    gate errors (density matrix) and then its readout confusion."""
    from qiskit_aer import AerSimulator

    saved = []
    for circuit in circuits:
        circuit = circuit.copy()
        circuit.save_probabilities(measured)
        saved.append(circuit)
    # inputs run in parallel on all cores (0: Aer's choice), which alone would leave one idle for small circuits
    simulator = AerSimulator(method="density_matrix", noise_model=noise.model, seed_simulator=seed,
                             max_parallel_experiments=0)
    result = simulator.run(saved).result()
    matrices = noise.readout(measured)
    return np.stack([apply_readout(np.asarray(result.data(i)["probabilities"]), matrices)
                     for i in range(len(saved))])


def apply_readout(probabilities: np.ndarray, matrices: np.ndarray) -> np.ndarray:
    """Readout confusion on a 2^Q distribution in qiskit's order (qubit k = bit k of the index):
    matrices[k][measured, prepared] for qubit k."""
    qubits = len(matrices)
    p = probabilities.reshape([2] * qubits)  # axis 0 is the most significant bit, qubit Q-1
    for k, m in enumerate(matrices):
        axis = qubits - 1 - k
        p = np.moveaxis(np.tensordot(m, p, axes=([1], [axis])), 0, axis)
    return p.reshape(-1)
