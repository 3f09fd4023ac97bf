"""Training throughput of the student's circuit with each simulator, side by side in one run.

Circuit: amplitude encoding, 2 repetitions of RX RY RZ on every qubit plus a
CNOT ring, <Z> on every qubit. One step = forward + backward + Adam step on
the circuit's parameters, for a batch of encoded states. Also: the full
student step (with the 784 -> 2^Q layer) and teacher training steps, in images
per second, with their FLOP counts against a measured matrix-product peak.

    python -m benchmarks.bench_simulators            # the table in docs/performance.md
    python -m benchmarks.bench_simulators --smoke    # seconds; what the test suite runs
    python -m benchmarks.bench_simulators --device cuda   # the same on a GPU (auto, cpu, cuda; C2Q_DEVICE)

PennyLane's default.qubit is measured when installed (pip install -e '.[bench]').
"""

from __future__ import annotations

import argparse
import math
import time
from typing import Callable

import torch
import torch.nn.functional as F

from c2q.core.accelerator import resolve_device
from c2q.core.runtime import keep_freed_memory
from c2q.core.variants import parse_student
from c2q.models.circuits import entangler_permutation, run_fused, run_torchquantum, z_signs
from c2q.models.student import Student
from c2q.models.teachers import build_teacher

LAYERS = 2


def throughput(step: Callable[[], None], batch: int, seconds: float, warmup: int = 2) -> float:
    """Samples per second of `step` (which processes `batch` samples), timed for about `seconds`; on a GPU,
    each step is waited for, so that the time is the work's and not the launch's."""
    wait = torch.cuda.synchronize if torch.get_default_device().type == "cuda" else (lambda: None)
    for _ in range(warmup):
        step()
    wait()
    n, start = 0, time.perf_counter()
    while True:
        step()
        wait()
        n += 1
        elapsed = time.perf_counter() - start
        if elapsed >= seconds and n >= 2:
            return n * batch / elapsed


def matmul_peak(seconds: float) -> float:
    """Measured single-precision matrix-product rate in GFLOP/s."""
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    rate = throughput(lambda: torch.mm(a, b), 1, seconds)
    return rate * 2 * 2048**3 / 1e9


def training_step(parameters, loss: Callable[[], torch.Tensor], lr: float = 0.01) -> Callable[[], None]:
    """One forward + backward + Adam step, as a closure."""
    opt = torch.optim.Adam(parameters, lr=lr)

    def step():
        value = loss()
        opt.zero_grad(set_to_none=True)
        value.backward()
        opt.step()

    return step


# ---- circuit simulators: each returns a step closure ----

def _circuit_step(expectations: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], qubits: int, batch: int):
    torch.manual_seed(0)
    states = F.normalize(torch.randn(batch, 2**qubits), dim=1)
    target = torch.rand(batch, qubits) * 2 - 1
    theta = torch.nn.Parameter(torch.rand(LAYERS, qubits, 3) * 2 * math.pi)
    return training_step([theta], lambda: F.mse_loss(expectations(states, theta), target))


def fused(qubits: int, batch: int):
    perm, signs = entangler_permutation(qubits), z_signs(qubits)
    return _circuit_step(lambda s, t: run_fused(s, t, perm, signs), qubits, batch)


def torchquantum_gates(qubits: int, batch: int):
    return _circuit_step(run_torchquantum, qubits, batch)


def torchquantum_static(qubits: int, batch: int, wires_per_block: int):
    """torchquantum's static mode: the gates are fused into unitaries of `wires_per_block` wires."""
    import torchquantum as tq

    class Gates(tq.QuantumModule):
        def __init__(self):
            super().__init__()
            self.ops = tq.QuantumModuleList()
            for _ in range(LAYERS):
                for wire in range(qubits):
                    for gate in (tq.RX, tq.RY, tq.RZ):
                        self.ops.append(gate(has_params=True, trainable=True, wires=[wire]))
                for wire in range(qubits):
                    self.ops.append(tq.CNOT(wires=[wire, (wire + 1) % qubits]))

        @tq.static_support
        def forward(self, qdev):
            self.q_device = qdev
            for op in self.ops:
                op(qdev)

    torch.manual_seed(0)
    gates, measure = Gates(), tq.MeasureAll(tq.PauliZ)
    gates.static_on(wires_per_block=wires_per_block)
    states = F.normalize(torch.randn(batch, 2**qubits), dim=1).to(torch.complex64)
    target = torch.rand(batch, qubits) * 2 - 1

    def loss():
        qdev = tq.QuantumDevice(n_wires=qubits, bsz=batch, device=states.device)
        qdev.set_states(states)
        gates(qdev)
        return F.mse_loss(measure(qdev), target)

    return training_step(gates.parameters(), loss)


def pennylane_default_qubit(qubits: int, batch: int):
    import pennylane as qml

    dev = qml.device("default.qubit", wires=qubits)

    @qml.qnode(dev, interface="torch", diff_method="backprop")
    def circuit(states, theta):
        qml.AmplitudeEmbedding(states, wires=range(qubits), normalize=False)
        for layer in range(LAYERS):
            for w in range(qubits):
                qml.RX(theta[layer, w, 0], wires=w)
                qml.RY(theta[layer, w, 1], wires=w)
                qml.RZ(theta[layer, w, 2], wires=w)
            for w in range(qubits):
                qml.CNOT(wires=[w, (w + 1) % qubits])
        return [qml.expval(qml.PauliZ(w)) for w in range(qubits)]

    return _circuit_step(lambda s, t: torch.stack(circuit(s, t), dim=1).float(), qubits, batch)


def circuit_flops(qubits: int, input_grad: bool = False) -> float:
    """FLOPs per sample of the batch products with U (real input, [Re U^T | Im U^T] of D x 2D).

    Forward and the gradient for U are one product each; the gradient for the
    input (in the student, where states come from a trainable layer) is a third.
    """
    dim = 2**qubits
    return (3 if input_grad else 2) * 2 * dim * 2 * dim


# ---- full student and teacher steps ----

def student_step(qubits: int, batch: int):
    torch.manual_seed(0)
    model = Student(784, 10, parse_student(f"fc-amplitude-q{qubits}"), LAYERS)
    x, y = torch.randn(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    # 784 -> D layer: forward + weight gradient (the images need none); head: forward + both gradients
    flops = 2 * 2 * 784 * 2**qubits + 3 * 2 * qubits * 10 + circuit_flops(qubits, input_grad=True)
    return training_step(model.parameters(), lambda: F.cross_entropy(model(x), y)), flops


def conv_linear_flops(model: torch.nn.Module, shape: tuple[int, ...]) -> float:
    """Forward multiply-add FLOPs of the convolutions and linear layers, per image."""
    total = 0

    def hook(module, inputs, output):
        nonlocal total
        if isinstance(module, torch.nn.Conv2d):
            total += 2 * output.numel() * module.in_channels * math.prod(module.kernel_size) // module.groups
        elif isinstance(module, torch.nn.Linear):
            total += 2 * output.numel() * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, *shape))
    for h in handles:
        h.remove()
    return total


def teacher_step(name: str, batch: int, **options):
    """The teacher's training step as the pipeline runs it (channels-last layout)."""
    torch.manual_seed(0)
    model = build_teacher(name, (1, 28, 28), 10, **options)
    flops = 3 * conv_linear_flops(model, (1, 28, 28))
    x, y = torch.randn(batch, 1, 28, 28), torch.randint(0, 10, (batch,))
    return training_step(model.parameters(), lambda: F.cross_entropy(model(x), y), lr=0.001), flops


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="tiny sizes and timings, to check that it runs")
    ap.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default=None, help="auto, cpu, cuda or cuda:<index> (default: C2Q_DEVICE, else auto)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = resolve_device(args.device)
    torch.set_default_device(device)  # every tensor and module the measurements make
    keep_freed_memory()  # as the stages do
    seconds = 0.05 if args.smoke else args.seconds
    sizes = [(2, 16)] if args.smoke else [(4, 256), (4, 4096), (8, 256), (8, 4096)]

    peak = matmul_peak(seconds)
    print(f"torch {torch.__version__}, device {device}, {torch.get_num_threads()} CPU threads; "
          f"measured float32 matrix-product peak: {peak:.0f} GFLOP/s\n")

    sims: list[tuple[str, Callable]] = [("c2q fused (ours)", fused), ("torchquantum, gate by gate", torchquantum_gates)]
    for k in ([2] if args.smoke else [2, 3, 4]):
        sims.append((f"torchquantum static, wires_per_block={k}",
                     lambda q, b, k=k: torchquantum_static(q, b, min(k, q))))
    try:
        import pennylane  # noqa: F401

        sims.append(("PennyLane default.qubit, backprop", pennylane_default_qubit))
    except ImportError:
        print("(PennyLane not installed: pip install -e '.[bench]' to include default.qubit)\n")

    header = "| simulator | " + " | ".join(f"{q}q, batch {b}" for q, b in sizes) + " |"
    print("Circuit training throughput, samples/s (x: ratio to torchquantum gate by gate)\n")
    print(header)
    print("|---|" + "---:|" * len(sizes))
    rates: dict[str, list[float]] = {}
    for name, make in sims:
        row = []
        for q, b in sizes:
            try:
                row.append(throughput(make(q, b), b, seconds))
            except Exception as e:  # a simulator that cannot run this size is reported, not fatal
                print(f"  ({name} failed at {q}q batch {b}: {type(e).__name__}: {e})")
                row.append(math.nan)
        rates[name] = row
    reference = rates["torchquantum, gate by gate"]
    for name, row in rates.items():
        cells = [f"{r:,.0f} ({r / ref:.1f}x)" if r == r else "failed" for r, ref in zip(row, reference)]
        print(f"| {name} | " + " | ".join(cells) + " |")
    fused_rates = rates["c2q fused (ours)"]
    print("\nFused circuit, achieved GFLOP/s of the batch product with U: " + ", ".join(
        f"{q}q b{b}: {r * circuit_flops(q) / 1e9:.0f}" for (q, b), r in zip(sizes, fused_rates)))

    print("\nFull student training step (784 -> 2^Q linear, fused circuit, head), images/s\n")
    print("| qubits | batch | images/s | GFLOP/image | GFLOP/s | share of peak |\n|---:|---:|---:|---:|---:|---:|")
    for q, b in sizes:
        step, flops = student_step(q, b)
        r = throughput(step, b, seconds)
        print(f"| {q} | {b} | {r:,.0f} | {flops / 1e9:.5f} | {r * flops / 1e9:.0f} | {r * flops / 1e9 / peak:.0%} |")

    print("\nTeacher training step, images/s\n")
    print("| teacher | batch | images/s | GFLOP/image | GFLOP/s | share of peak |\n|---|---:|---:|---:|---:|---:|")
    teachers = [("lenet", {}), ("alexnet", {"width": 0.25})] + ([] if args.smoke else [("alexnet", {"width": 1.0})])
    for name, options in teachers:
        for b in ([8] if args.smoke else [128, 256]):
            step, flops = teacher_step(name, b, **options)
            r = throughput(step, b, seconds)
            label = name + (f" (width {options['width']})" if options else "")
            print(f"| {label} | {b} | {r:,.0f} | {flops / 1e9:.4f} | {r * flops / 1e9:.0f} | {r * flops / 1e9 / peak:.0%} |")


if __name__ == "__main__":
    main()
