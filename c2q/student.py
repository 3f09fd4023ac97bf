"""The quantum student: reduction layer + quantum layer + classical head, one nn.Module."""

from __future__ import annotations

import torch
from torch import nn

from c2q.circuits import QuantumLayer, encoder_input_size
from c2q.config import StudentVariant


class QuantumStudent(nn.Module):
    """input -> [fc: trainable linear layer] -> encoding + circuit -> <Z> per qubit -> linear head.

    With the `fc` reduction the input is the flattened image; with any other
    reduction it is already the encoder's input (made by the reduce stage).
    """

    def __init__(self, in_features: int, n_classes: int, variant: StudentVariant, layers: int, simulator: str = "fused"):
        super().__init__()
        width = encoder_input_size(variant.encoding, variant.qubits)
        if variant.reduction == "fc":
            self.reduce = nn.Linear(in_features, width)
        elif in_features == width:
            self.reduce = nn.Identity()
        else:
            raise ValueError(f"{variant.name} expects {width} input features, got {in_features}")
        self.quantum = QuantumLayer(variant.qubits, layers, variant.encoding, simulator)
        self.head = nn.Linear(variant.qubits, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.quantum(self.reduce(x.flatten(1))))

    def parameter_counts(self) -> dict[str, int]:
        quantum = sum(p.numel() for p in self.quantum.parameters())
        total = sum(p.numel() for p in self.parameters())
        return {"quantum": quantum, "classical": total - quantum}
