"""A student variant from its name, and what it asks of the data: how many features, on what grid.

Pure Python, no imports of torch: validation, the reduce stage and the student
all read a variant's shape, and the names its parts may take, from here.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

REDUCTIONS = ("fc", "avgpool", "maxpool", "center_crop", "pca")
GRID_REDUCTIONS = ("avgpool", "maxpool", "center_crop")  # reductions that keep an image grid
ENCODINGS = ("amplitude", "angle", "qubit")  # of the trainable circuit (c2q.models.circuits)
ENTANGLERS = ("ring", "chain")  # CNOTs w -> w+1 around a ring, or along a line (a path of a device's couplings)
PRODUCT_ENCODINGS = ("angle", "qubit")  # one rotation block per qubit: what noise-aware training models
HYBRID = ("cnn", "hadamard")  # the paper notebooks' student (c2q.models.hybrid): a reduction and encoding
# that only go together
MIN_QUBITS, MAX_QUBITS = 2, 10


def encoder_input_size(encoding: str, qubits: int) -> int:
    """How many classical features the encoding consumes for `qubits` qubits."""
    return {"amplitude": 2**qubits, "angle": qubits, "qubit": 2 * qubits, "hadamard": qubits}[encoding]


@dataclass(frozen=True)
class StudentVariant:
    """A student's shape, parsed from its name `<reduction>-<encoding>-q<qubits>[-chain][-nat][-classical]`.

    `-chain` lays the CNOTs on a line instead of a ring, so the circuit fits a
    path of a device's couplings with no SWAP. `-nat` trains it under the
    device's noise (`evaluate.noise.device`; c2q.offsim.calibration), QuantumNAT
    style. The `-classical` suffix names the classical control: the same
    student with the circuit replaced by a classical layer of the same input and
    output sizes. `cnn-hadamard-q<Q>` is the paper notebooks' hybrid student
    (c2q.models.hybrid).
    """

    reduction: str
    encoding: str
    qubits: int
    classical: bool = False
    entangler: str = "ring"
    noise_aware: bool = False

    @property
    def name(self) -> str:
        return (f"{self.reduction}-{self.encoding}-q{self.qubits}" + ("-chain" if self.entangler == "chain" else "")
                + ("-nat" if self.noise_aware else "") + ("-classical" if self.classical else ""))

    @property
    def hybrid(self) -> bool:
        """The paper notebooks' student: a CNN into a circuit without trainable angles."""
        return (self.reduction, self.encoding) == HYBRID

    @property
    def takes_images(self) -> bool:
        """Whether the student reduces whole images itself (no reduce-stage features)."""
        return self.reduction in ("fc", HYBRID[0])

    @property
    def n_features(self) -> int:
        """Size of the encoder's input, which the reduction must produce."""
        return encoder_input_size(self.encoding, self.qubits)


_VARIANT = re.compile(r"^(?P<reduction>[a-z_]+)-(?P<encoding>[a-z_]+)-q(?P<qubits>\d+)(?P<chain>-chain)?(?P<nat>-nat)?"
                      r"(?P<classical>-classical)?$")


def parse_student(name: str) -> StudentVariant:
    """Parse a student variant name, raising ValueError that says what is allowed."""
    m = _VARIANT.match(str(name))
    if not m:
        raise ValueError(
            f"{name!r} is not a student variant; write <reduction>-<encoding>-q<qubits>[-chain][-nat][-classical], "
            f"e.g. fc-amplitude-q4, fc-amplitude-q4-classical or fc-angle-q8-chain-nat"
        )
    variant = StudentVariant(m["reduction"], m["encoding"], int(m["qubits"]), bool(m["classical"]),
                             "chain" if m["chain"] else "ring", bool(m["nat"]))
    problems = []
    if variant.reduction not in REDUCTIONS + HYBRID[:1]:
        problems.append(f"reduction {variant.reduction!r} is not one of {list(REDUCTIONS + HYBRID[:1])}")
    if variant.encoding not in ENCODINGS + HYBRID[1:]:
        problems.append(f"encoding {variant.encoding!r} is not one of {list(ENCODINGS + HYBRID[1:])}")
    if not MIN_QUBITS <= variant.qubits <= MAX_QUBITS:
        problems.append(f"qubits {variant.qubits} is not in {MIN_QUBITS}..{MAX_QUBITS}")
    elif (variant.reduction == HYBRID[0]) != (variant.encoding == HYBRID[1]):
        problems.append(f"{HYBRID[0]} and {HYBRID[1]} go together: cnn-hadamard-q<N> is the paper notebooks' student")
    elif variant.hybrid and (variant.classical or m["chain"] or m["nat"]):
        problems.append("the notebooks' student has no trainable circuit: no classical control, -chain or -nat")
    elif variant.classical and (m["chain"] or m["nat"]):
        problems.append("a classical control has no circuit to lay out or to train under noise: drop -chain/-nat")
    elif variant.noise_aware and variant.entangler != "chain":
        problems.append("-nat trains under a device's noise, modelled on circuits laid on its couplings: write "
                        f"{variant.reduction}-{variant.encoding}-q{variant.qubits}-chain-nat")
    elif variant.noise_aware and variant.encoding not in PRODUCT_ENCODINGS:
        problems.append(f"-nat needs an encoding of one rotation per qubit ({' or '.join(PRODUCT_ENCODINGS)}): the "
                        f"noise of {variant.encoding} encoding's state preparation is not modelled")
    elif variant.name != name:  # one name per variant: q04 and q4 would be two stages of one student
        problems.append(f"write it as {variant.name!r}")
    if problems:
        raise ValueError(f"{name!r}: " + "; ".join(problems))
    return variant


def grid_shape(n: int) -> tuple[int, int]:
    """The most nearly square (rows, cols) with rows * cols = n and rows <= cols."""
    rows = max(d for d in range(1, math.isqrt(n) + 1) if n % d == 0)
    return rows, n // rows


# The notebooks' CNN (c2q.models.hybrid.NotebooksCNN): two 5x5 convolutions, each with a 2x2 pool, leave
# a 1x1 map of images this size.
MIN_CNN_SIDE = 16


def reduction_problem(reduction: str, n_features: int, image_shape: tuple[int, int, int]) -> str | None:
    """Why `reduction` cannot produce `n_features` from images of `image_shape`, or None."""
    c, h, w = image_shape
    if reduction == HYBRID[0] and min(h, w) < MIN_CNN_SIDE:
        return (f"the notebooks' CNN needs images of at least {MIN_CNN_SIDE}x{MIN_CNN_SIDE} pixels but images "
                f"are {h}x{w}")
    if reduction in GRID_REDUCTIONS:
        rows, cols = grid_shape(n_features)
        if rows > h or cols > w:
            return f"{reduction} needs a {rows}x{cols} grid for {n_features} features but images are {h}x{w}"
    if reduction == "pca" and n_features > c * h * w:
        return f"pca cannot make {n_features} components from {c * h * w} pixels"
    return None
