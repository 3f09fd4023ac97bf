"""The student: reduction layer + quantum layer (or its classical control) + classical head."""

from __future__ import annotations

import math

import torch
from torch import nn

from c2q.core.variants import StudentVariant, encoder_input_size
from c2q.models.circuits import QuantumLayer
from c2q.models.hybrid import HybridStudent
from c2q.models.noise_injection import PauliNoise


class ClassicalControl(nn.Module):
    """Stands in for the circuit: linear (encoder input -> qubits) then tanh, so its readout has
    PauliZ's range [-1, 1]. Comparing against it shows what the quantum layer itself adds."""

    def __init__(self, in_features: int, qubits: int):
        super().__init__()
        self.linear = nn.Linear(in_features, qubits)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.linear(features))


def fc_reduction(in_features: int, width: int, encoding: str) -> nn.Module:
    """The `fc` reduction: a trainable linear layer; before an angle or qubit encoding, followed by
    batch standardisation without learnable scale (BatchNorm1d, affine=False), so the features are
    standardised as those encodings expect however the layer's weights grow. The linear layer has no
    bias there: the standardisation cancels it, so its gradient is rounding noise, which Adam would
    turn into steps of full size."""
    if encoding == "amplitude":  # amplitude encoding normalises the vector itself
        return nn.Linear(in_features, width)
    return nn.Sequential(nn.Linear(in_features, width, bias=False), nn.BatchNorm1d(width, affine=False))


class Student(nn.Module):
    """input -> [fc: trainable linear layer] -> core -> linear head, one nn.Module.

    core: encoding + circuit + <Z> per qubit, or the classical control for
    `-classical` variants. With the `fc` reduction the input is the flattened
    image; with any other reduction it is already the encoder's input.
    """

    def __init__(self, in_features: int, n_classes: int, variant: StudentVariant, layers: int, simulator: str = "fused",
                 noise: PauliNoise | None = None):
        super().__init__()
        width = encoder_input_size(variant.encoding, variant.qubits)
        if variant.reduction == "fc":
            self.reduce = fc_reduction(in_features, width, variant.encoding)
        elif in_features == width:
            self.reduce = nn.Identity()
        else:
            raise ValueError(f"{variant.name} expects {width} input features, got {in_features}")
        if variant.classical:
            self.core = ClassicalControl(width, variant.qubits)
        else:
            self.core = QuantumLayer(variant.qubits, layers, variant.encoding, simulator, variant.entangler, noise)
        self.head = nn.Linear(variant.qubits, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.core(self.reduce(x.flatten(1))))

    def parameter_counts(self) -> dict[str, int]:
        quantum = sum(p.numel() for p in self.core.parameters()) if isinstance(self.core, QuantumLayer) else 0
        total = sum(p.numel() for p in self.parameters())
        return {"quantum": quantum, "classical": total - quantum}


def make_student(variant: StudentVariant, sample_shape: tuple[int, ...], n_classes: int, layers: int | None = None,
                 simulator: str = "fused", training_shots: int = 0, shift: float = math.pi / 4,
                 eval_shots: int = 0, pixel_stats: tuple[torch.Tensor, torch.Tensor] | None = None,
                 noise: PauliNoise | None = None) -> nn.Module:
    """The student a variant names, for samples of `sample_shape` (an image, or a feature vector).
    `layers` and `simulator` shape the trainable circuit, `noise` the errors a `-nat` variant trains under
    (none: loaded to be evaluated); `training_shots`, `shift`, `eval_shots` and
    `pixel_stats` (the images' standardisation, mean and std per channel) the notebooks' hybrid student
    (c2q.models.hybrid), which has none."""
    if variant.hybrid:
        if pixel_stats is None:
            raise ValueError(f"{variant.name}: the notebooks' student needs the images' standardisation "
                             "(pixel_stats: the split file's mean and std) to see the notebooks' pixels")
        return HybridStudent(sample_shape, n_classes, variant.qubits, pixel_stats, training_shots, shift,
                             eval_shots)
    if layers is None:
        raise ValueError(f"{variant.name}: a variational student needs its number of layers")
    if noise is not None and not variant.noise_aware:
        raise ValueError(f"{variant.name}: only a -nat student trains under noise")
    return Student(math.prod(sample_shape), n_classes, variant, layers, simulator, noise)
