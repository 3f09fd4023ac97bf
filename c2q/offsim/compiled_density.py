"""A compiled student under a qiskit-aer noise model, as density matrices batched over inputs.

What `c2q.offsim.noise.simulate` asks of qiskit-aer, one circuit per input, done for every input at once
in torch: the compiled circuit (c2q.offsim.noise.compile_circuit) on the qubits it touches, each gate
followed by the error the noise model attaches to that gate on those qubits (aer's lookup: the error on
exactly those qubits, else the model's error on every qubit), then the readout confusion on the measured
qubits. A gate whose angle is an expression of the encoding's angles (on the compiled circuit: `rz`) is
evaluated for every input from the expression's gradient, which transpiling leaves affine.

Each step is one superoperator, S[(i, j), (k, l)] on row-major vec(rho), built once: a fixed gate's unitary
then its error, or for an input's `rz` the per-input phase then the fixed error. The state is held as
(B, 2, ..., 2) with the row bits then the column bits, qubit n-1 first (qiskit's index, big-endian axes).
A density matrix of n qubits is 4^n complex128 numbers per input, so this is for small circuits: a
4-qubit student's 1,000 test images take about a second. The errors are read from the NoiseModel's own
tables (`_local_quantum_errors`, `_default_quantum_errors`: no public accessor; qiskit-aer is pinned in
constraints.txt). Held to qiskit-aer's density matrix to 1e-6 (tests/test_compiled_density.py).
"""

from __future__ import annotations

import numpy as np
import torch
from qiskit import QuantumCircuit
from qiskit.circuit import ParameterExpression
from qiskit.quantum_info import Kraus, Operator

from c2q.offsim.calibration import superoperator
from c2q.offsim.noise import Compiled, Noise, apply_readout

CHUNK_ENTRIES = 2**23  # complex entries per chunk of inputs (128 MiB of complex128)
SKIPPED = ("barrier",)


class Step:
    """One gate and its error on `qubits` (local indices, qiskit's order: qubits[0] the low bit)."""

    def __init__(self, qubits: list[int], superop: np.ndarray | None, angle: tuple | None = None,
                 error: np.ndarray | None = None):
        self.qubits, self.superop, self.angle, self.error = qubits, superop, angle, error

    def matrices(self, angles: np.ndarray) -> torch.Tensor:
        """(d^2, d^2) or, for an input's rz, (B, 4, 4) superoperators."""
        if self.angle is None:
            return torch.from_numpy(self.superop)
        offset, gradient = self.angle
        theta = offset + angles @ gradient  # (B,)
        phase = np.exp(-0.5j * theta[:, None] * np.array([1, -1]))  # rz = diag(e^{-i t/2}, e^{i t/2})
        diagonal = np.einsum("bi,bj->bij", phase, phase.conj()).reshape(-1, 4)
        gate = np.einsum("bk,kl->bkl", diagonal, np.eye(4))
        return torch.from_numpy(gate if self.error is None else np.einsum("ij,bjk->bik", self.error, gate))


def _error_superoperator(noise: Noise, name: str, physical: tuple[int, ...]) -> np.ndarray | None:
    """The noise model's error after `name` on the physical qubits, as aer looks it up, or None."""
    model = noise.model
    error = model._local_quantum_errors.get(name, {}).get(physical)
    if error is None:
        error = model._default_quantum_errors.get(name)
    return None if error is None else superoperator(np.array(Kraus(error.to_quantumchannel()).data))


def _affine(expression: ParameterExpression, vector) -> tuple[float, np.ndarray]:
    """An angle c + g . x of the encoding's angles x, from its gradient (checked to be constant)."""
    gradient = np.zeros(len(vector))
    for p in expression.parameters:
        g = expression.gradient(p)
        if isinstance(g, ParameterExpression) and g.parameters:
            raise ValueError(f"the compiled angle {expression} is not affine in the encoding's angles")
        gradient[p.index] = float(g)
    offset = float(expression.bind({p: 0.0 for p in expression.parameters}))
    return offset, gradient


def steps(compiled: Compiled, noise: Noise) -> tuple[list[int], list[Step]]:
    """(the physical qubits the circuit touches, in order, and its steps on their local indices)."""
    circuit: QuantumCircuit = compiled.circuit
    touched = sorted({circuit.find_bit(q).index for inst in circuit.data for q in inst.qubits} |
                     set(compiled.measured))
    local = {p: i for i, p in enumerate(touched)}
    vector = next(iter(circuit.parameters)).vector if circuit.parameters else []
    out = []
    for inst in circuit.data:
        op = inst.operation
        if op.name in SKIPPED:
            continue
        physical = tuple(circuit.find_bit(q).index for q in inst.qubits)
        error = _error_superoperator(noise, op.name, physical)
        qubits = [local[p] for p in physical]
        if op.is_parameterized():
            if op.name != "rz":
                raise ValueError(f"a compiled gate {op.name} depends on the input; only rz may")
            out.append(Step(qubits, None, _affine(op.params[0], vector), error))
            continue
        gate = superoperator(np.asarray(Operator(op).data)[None])
        out.append(Step(qubits, gate if error is None else error @ gate))
    return touched, out


def _apply(rho: torch.Tensor, superop: torch.Tensor, qubits: list[int], n: int) -> torch.Tensor:
    """A superoperator on `qubits` of (B, 2^n row bits, 2^n column bits), one (d^2, d^2) for all inputs
    or (B, d^2, d^2) one per input."""
    m = len(qubits)
    axes = [1 + n - 1 - q for q in reversed(qubits)]  # the op's row bits, its high qubit first
    axes += [a + n for a in axes]  # and its column bits
    rest = [a for a in range(1, 2 * n + 1) if a not in axes]
    moved = rho.permute(0, *axes, *rest).reshape(rho.shape[0], 4**m, -1)
    out = superop @ moved  # (B, d^2, rest), broadcast over B for a shared superoperator
    out = out.reshape(rho.shape[0], *[2] * (2 * m), *[2] * (2 * n - 2 * m))
    return out.permute(0, *(np.argsort([*axes, *rest]) + 1).tolist())


def noisy_distributions(compiled: Compiled, angles: np.ndarray, noise: Noise) -> np.ndarray:
    """(N, 2^Q) noisy output distributions of the compiled student for N inputs' encoding angles (N, P),
    the same numbers as `c2q.offsim.noise.noisy_probabilities` (qiskit's order: measured[k] is bit k)."""
    touched, program = steps(compiled, noise)
    n = len(touched)
    measured = [touched.index(p) for p in compiled.measured]
    matrices = noise.readout(compiled.measured)
    chunk = max(1, CHUNK_ENTRIES // 4**n)
    out = []
    for start in range(0, len(angles), chunk):
        a = np.asarray(angles[start:start + chunk], dtype=np.float64)
        rho = torch.zeros(len(a), 4**n, dtype=torch.complex128)
        rho[:, 0] = 1
        rho = rho.reshape(len(a), *[2] * (2 * n))
        for step in program:
            rho = _apply(rho, step.matrices(a), step.qubits, n)
        diagonal = torch.diagonal(rho.reshape(len(a), 2**n, 2**n), dim1=1, dim2=2).real.numpy()
        out.append(_marginal(diagonal, measured, n))
    return np.stack([apply_readout(p, matrices) for p in np.concatenate(out)])


def _marginal(probabilities: np.ndarray, measured: list[int], n: int) -> np.ndarray:
    """(B, 2^Q) the distribution of the local qubits `measured` (measured[k] as bit k) of (B, 2^n)."""
    p = probabilities.reshape(len(probabilities), *[2] * n)  # axis 1 + n-1-q is qubit q
    keep = [1 + n - 1 - q for q in reversed(measured)]  # the highest measured bit first
    drop = tuple(a for a in range(1, n + 1) if a not in keep)
    p = p.sum(axis=drop) if drop else p
    order = sorted(keep)
    return np.transpose(p, [0, *[1 + order.index(a) for a in keep]]).reshape(len(p), -1)
