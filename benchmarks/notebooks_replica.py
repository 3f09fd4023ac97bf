"""The paper notebooks' baseline student in plain PyTorch, outside c2q's engine: does their recipe learn?

    python -m benchmarks.notebooks_replica --classes 8 --qubits 3 --epochs 1 --seeds 0 1 2 3 4 5

As the notebooks run it (../shared/PAPER.md), except exact probabilities in place of shots: the first 150
training images of each class in dataset order, ToTensor's [0, 1] pixels, batch 1 shuffled, Adam at 1e-3,
cross-entropy over [sigmoid(p), 1 - sigmoid(p)] of the 2^Q bitstring probabilities, the best epoch on the first
150 test images per class. Only torch and torchvision: a check of c2q's notebooks' regime
(study_notebooks_as_run) that shares none of its code. Reads MNIST from the download stage's folder
(`dvc repro download@mnist`). Prints one line per seed: its accuracy after each epoch, and whether it collapsed
(never above twice chance: every bitstring at 1/2^Q).
"""

from __future__ import annotations

import argparse
import math

import torch
import torch.nn.functional as F
from torch import nn
from torchvision import datasets, transforms

ROOT = "data/raw/mnist"  # the download stage's torchvision folder


def first_per_class(train: bool, classes: int, n: int = 150) -> torch.utils.data.Dataset:
    data = datasets.MNIST(root=ROOT, train=train, download=False, transform=transforms.ToTensor())
    index = torch.cat([(data.targets == c).nonzero().flatten()[:n] for c in range(classes)])
    data.data, data.targets = data.data[index], data.targets[index]
    return data


class NotebooksNet(nn.Module):
    """Their CNN, pi * tanh, then H + RY(x_k) on each qubit read out exactly in the notebooks' order."""

    def __init__(self, qubits: int):
        super().__init__()
        self.qubits = qubits
        self.conv1, self.conv2 = nn.Conv2d(1, 10, 5), nn.Conv2d(10, 20, 5)
        self.conv2_drop, self.fc1, self.fc2 = nn.Dropout2d(), nn.Linear(320, 50), nn.Linear(50, qubits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(F.max_pool2d(self.conv1(x), 2))
        x = F.relu(F.max_pool2d(self.conv2_drop(self.conv2(x)), 2))
        x = F.dropout(F.relu(self.fc1(x.view(-1, 320))), training=self.training)
        one = (1 + torch.sin(math.pi * torch.tanh(self.fc2(x)))) / 2  # (B, Q): P(qubit k reads 1)
        bits = torch.tensor([[(b >> (self.qubits - 1 - k)) & 1 for k in range(self.qubits)]
                             for b in range(2**self.qubits)])  # itertools.product order: qubit 0 is the first bit
        # ... of the product's tuple, looked up in qiskit's keys, which put qubit 0 rightmost: key[Q-1-k]
        probs = torch.where(bits.flip(1).bool()[None], one[:, None, :], 1 - one[:, None, :]).prod(-1)
        s = torch.sigmoid(probs)
        return torch.cat([s, 1 - s], dim=1)


def train(seed: int, classes: int, qubits: int, epochs: int) -> list[float]:
    torch.manual_seed(seed)
    train_set, test_set = first_per_class(True, classes), first_per_class(False, classes)
    net = NotebooksNet(qubits)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    loader = torch.utils.data.DataLoader(train_set, batch_size=1, shuffle=True)
    test_x, test_y = torch.stack([x for x, _ in test_set]), torch.tensor([int(y) for _, y in test_set])
    accuracies = []
    for _ in range(epochs):
        net.train()
        for x, y in loader:
            optimizer.zero_grad()
            F.cross_entropy(net(x), y).backward()
            optimizer.step()
        net.eval()
        with torch.no_grad():
            accuracies.append((net(test_x).argmax(1) == test_y).double().mean().item())
    return accuracies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--classes", type=int, default=8)
    ap.add_argument("--qubits", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    args = ap.parse_args()
    for seed in args.seeds:
        accuracies = train(seed, args.classes, args.qubits, args.epochs)
        verdict = "collapsed" if max(accuracies) < 2 / args.classes else "learned"
        print(f"classes 0-{args.classes - 1}, {args.qubits} qubits, seed {seed}: accuracy per epoch (%) "
              f"{', '.join(f'{100 * a:.2f}' for a in accuracies)}; best {100 * max(accuracies):.2f}: {verdict}",
              flush=True)


if __name__ == "__main__":
    main()
