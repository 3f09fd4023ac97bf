"""The paper notebooks' student (cnn-hadamard-q<Q>) as a student of the main pipeline.

Its finite-shot training (parameter shift), then the reduce, train, evaluate and aggregate stages' own
functions on small MNIST-sized images in memory (the digits pipeline cannot hold it: its 8x8 images are
too small for the notebooks' CNN, and params validation refuses them, tests/test_config.py).
"""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
import yaml

from c2q.core.config import Params
from c2q.core.io import save_tensors, save_torch
from c2q.core.variants import parse_student
from c2q.data.splits import SPLITS, load_splits, normalise
from c2q.models.student import make_student
from c2q.models.hybrid import HybridStudent, _ShotEstimate, bitstring_probabilities
from c2q.offsim.hardware import Target, circuit_inputs
from c2q.offsim.noise import compile_circuit, noisy_probabilities
from c2q.offsim.qasm import from_qasm3
from c2q.serving.classifier import package
from c2q.serving.load import load_student
from c2q.offsim.shots import exact_probabilities, readout
from stages import aggregate, evaluate, reduce, train_student
from tests.conftest import REPO

STUDENT = "cnn-hadamard-q4"
CLASSES = 4
PIXELS = (torch.tensor([0.1307]), torch.tensor([0.3081]))  # MNIST-like standardisation (mean, std)


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return (a @ b / (a.norm() * b.norm())).item()


def test_parameter_shift_at_many_shots_is_sqrt2_times_the_exact_gradient():
    """The notebooks' rule f(x + pi/4) - f(x - pi/4), no 1/2: for (1 + sin x) / 2 that is cos(x) / sqrt(2),
    sqrt(2) times the derivative cos(x) / 2, whichever weights the loss puts on the bitstrings."""
    g = torch.Generator().manual_seed(0)
    angles = ((torch.rand(32, 3, generator=g) * 2 - 1) * math.pi).double()
    weights = torch.randn(32, 8, generator=g, dtype=torch.float64)
    exact = angles.clone().requires_grad_()
    (bitstring_probabilities(exact) * weights).sum().backward()
    torch.manual_seed(0)
    shot = angles.clone().requires_grad_()
    (_ShotEstimate.apply(shot, 200_000, math.pi / 4) * weights).sum().backward()
    want, got = exact.grad.flatten(), shot.grad.flatten()
    assert _cosine(got, want) > 0.999
    torch.testing.assert_close(got, math.sqrt(2) * want, atol=0.03, rtol=0)


def test_it_sees_the_notebooks_pixels_not_standardised_images():
    """The notebooks fed ToTensor's [0, 1] pixels; c2q's splits are standardised, and on them the CNN's
    pi * tanh saturates at batch 1 (CHANGELOG #29). The student undoes the standardisation it is given."""
    images = torch.randint(0, 256, (5, 1, 28, 28), dtype=torch.uint8)
    standardised = normalise(images, *PIXELS)
    model = HybridStudent((1, 28, 28), CLASSES, 4, PIXELS)
    torch.testing.assert_close(model.pixels(standardised.flatten(1)), images.float() / 255)
    assert "pixel_mean" not in model.state_dict()  # the split's statistics, not a weight
    with pytest.raises(ValueError, match="pixel_stats"):
        make_student(parse_student(STUDENT), (1, 28, 28), CLASSES)
    with pytest.raises(ValueError, match="one mean and one std per channel"):
        HybridStudent((1, 28, 28), CLASSES, 4, (torch.zeros(3), torch.ones(3)))


def test_finite_shot_training_gradients_point_the_exact_way():
    """The whole student in training mode (dropout alike, by seed): its CNN's gradients from 20000-shot
    estimates and parameter shift against autograd on the exact probabilities."""
    torch.manual_seed(0)
    exact_model = HybridStudent((1, 28, 28), CLASSES, 4, PIXELS)
    shot_model = HybridStudent((1, 28, 28), CLASSES, 4, PIXELS, training_shots=20_000)
    shot_model.load_state_dict(exact_model.state_dict())
    x, y = torch.randn(64, 1, 28, 28, generator=torch.Generator().manual_seed(1)), torch.arange(64) % CLASSES

    def gradient(model: HybridStudent) -> torch.Tensor:
        model.train()
        model.zero_grad()
        torch.manual_seed(2)  # the same dropout masks: they are drawn before any shot
        F.cross_entropy(model(x), y).backward()
        return torch.cat([p.grad.flatten() for p in model.parameters()])

    exact, shots = gradient(exact_model), gradient(shot_model)
    assert torch.isfinite(shots).all() and shots.abs().sum() > 0
    assert _cosine(shots, exact) > 0.9
    assert 1.2 < (shots.norm() / exact.norm()).item() < 1.7  # the rule's sqrt(2)


# ---- the stages' functions, on images the notebooks' CNN can read ----

def _images(n_per_class: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 28x28 images: class c is a bright 10x10 square in quadrant c on noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(CLASSES).repeat_interleave(n_per_class)
    x = torch.randint(0, 60, (len(y), 1, 28, 28), generator=g, dtype=torch.uint8)
    for i, c in enumerate(y.tolist()):
        top, left = 2 + 14 * (c // 2), 2 + 14 * (c % 2)
        x[i, 0, top:top + 10, left:left + 10] = 230
    return x, y


def _splits() -> dict[str, torch.Tensor]:
    """What c2q.data.splitting.make_splits hands the reduce stage."""
    out = {}
    for seed, s in enumerate(SPLITS):
        out[f"{s}_x"], out[f"{s}_y"] = _images({"train": 40, "val": 10, "test": 10}[s], seed)
    pixels = out["train_x"].float() / 255
    out["mean"], out["std"] = pixels.mean(dim=(0, 2, 3)), pixels.std(dim=(0, 2, 3))
    return out


def _params(training_shots: int) -> Params:
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    raw.update(datasets=["mnist"], students=[STUDENT], seeds=[0, 1])
    raw["data"]["classes"] = list(range(CLASSES))
    raw["hybrid"].update(epochs=3, batch_size=16, lr=0.003, training_shots=training_shots)
    raw["evaluate"].update(shots=[200_000, 10])
    raw["evaluate"]["noise"].update(device="fake_manila", images_per_class=2)
    return Params.model_validate(raw)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Both seeds of the baseline trained by the stage's own function, exactly (the pipeline's default)."""
    root = tmp_path_factory.mktemp("hybrid")
    features = reduce.student_features(_splits(), STUDENT, seed=0)
    save_tensors(features, root / f"{STUDENT}.pt")
    params, args = _params(0), train_student.parse_args(["baseline", "mnist", STUDENT])
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(root)  # the engine's checkpoint
        model, done = train_student.train_seeds(args, params, [0, 1], ["k0", "k1"], load_splits(root / f"{STUDENT}.pt"),
                                                CLASSES, (features["mean"], features["std"]))
    return root, features, params, done


def test_reduce_keeps_whole_images_for_the_notebooks_student(trained):
    _, features, _, _ = trained
    assert features["train_x"].dtype == torch.uint8 and features["train_x"].shape[1:] == (1, 28, 28)
    assert {"mean", "std"} <= set(features)


def test_the_stage_trains_it_with_the_hybrid_recipe_and_keys_it_by_that_section(trained):
    _, _, params, done = trained
    for t in done:  # 160 images in batches of 16: 10 steps an epoch, a validation pass after each of 3
        assert t.result.steps == 30 and [row["step"] for row in t.result.history] == [10, 20, 30]
        assert t.result.best_val_accuracy > 0.5  # the squares are easy: chance is 0.25
    assert done[0].init_digest != done[1].init_digest
    logged = {"student": {"lr": 1}, "hybrid": {"lr": 2}, "seeds": [0], "data": {"train_per_class": "all"}}
    assert train_student.key_params(parse_student(STUDENT), logged) == {"hybrid": {"lr": 2},
                                                                        "data": {"train_per_class": "all"}}
    assert train_student.key_params(parse_student("fc-amplitude-q4"), logged) == {"student": {"lr": 1},
                                                                                  "data": {"train_per_class": "all"}}


def test_finite_shot_training_trains_the_seeds_side_by_side(trained, monkeypatch):
    """Each seed draws its own shots under vmap (_ShotEstimate's vmap rule)."""
    root, features, _, _ = trained
    params, args = _params(50), train_student.parse_args(["baseline", "mnist", STUDENT])
    monkeypatch.chdir(root)
    _, done = train_student.train_seeds(args, params, [0, 1], ["s0", "s1"], load_splits(root / f"{STUDENT}.pt"),
                                        CLASSES, (features["mean"], features["std"]))
    assert [t.result.steps for t in done] == [30, 30] and all(t.result.best_val_accuracy > 0 for t in done)


@pytest.fixture(scope="module")
def evaluated(trained):
    """Seed 0 through the evaluate stage's functions: confusion matrix, QASM, shots and noise."""
    root, features, params, done = trained
    names = [f"class {c}" for c in range(CLASSES)]
    card = {"dataset": "mnist", "student": STUDENT, "classes": names, "image_shape": [1, 28, 28]}
    save_torch(package(card, done[0].state, features, {"layers": 1, "training_shots": 0, "shift": math.pi / 4}),
               root / "s0.pt")
    test = load_splits(root / f"{STUDENT}.pt")["test"]
    model = load_student(root / "s0.pt").student
    with torch.inference_mode():
        logits = model(test.x)
        evaluate.write_confusion("hybrid", root / "confusion.json", logits, test, names)
        qasm = evaluate.circuit_qasm(model, test)
    every_fifth = torch.arange(0, len(test), 5)
    result = evaluate.off_simulator(model, test, {"noisy": every_fifth, "model": every_fifth}, 0, params.evaluate,
                                    Target("fake_manila"))
    return root, model, test, logits, qasm, result


def test_its_confusion_matrix_has_a_column_for_outputs_of_no_class(evaluated):
    root, _, test, logits, _, _ = evaluated
    saved = json.loads((root / "confusion.json").read_text())
    matrix = np.array(saved["matrix"])
    assert matrix.shape == (CLASSES, CLASSES + 1) and saved["predicted"][-1] == evaluate.OTHER
    assert matrix.sum() == len(test) and (matrix.sum(1) == test.y.bincount().numpy()).all()
    assert np.trace(matrix) == (logits.argmax(1) == test.y).sum().item()
    assert (root / "confusion.png").read_bytes()[:4] == b"\x89PNG"


def test_its_qasm_is_the_first_test_images_circuit(evaluated):
    from qiskit.quantum_info import Statevector

    _, model, test, _, qasm, _ = evaluated
    circuit = from_qasm3(qasm)
    assert circuit.count_ops()["measure"] == 4 and circuit.count_ops()["h"] == 4
    circuit.remove_final_measurements()
    want = exact_probabilities(model, test.x[:1])[0].numpy()
    np.testing.assert_allclose(Statevector(circuit).probabilities(), want, atol=1e-6)


def test_its_shot_and_noisy_errors_are_the_notebooks_scores(evaluated):
    _, model, test, logits, _, result = evaluated
    exact_error = (logits.argmax(1) != test.y).double().mean().item()
    by_shots = result["test_error_by_shots"]
    assert result["test_error_shots"] == by_shots["200000"] and abs(by_shots["200000"] - exact_error) <= 0.05
    noisy = result["noisy_subset"]
    with torch.inference_mode():
        subset_error = (model(test.x[::5]).argmax(1) != test.y[::5]).double().mean().item()
    assert noisy["images"] == 8 and noisy["test_error_exact"] == subset_error
    assert noisy["device"] == "fake_manila" and noisy["device_circuit"]["two_qubit_gates"] == 0
    assert 0 <= noisy["test_error_device"] <= 1 and len(noisy["depolarising"]["test_error"]) == 3
    many = result["noisy_model"]  # 4 qubits: its compiled circuit under the device's whole model, same images
    assert many["model"] == "device" and many["images"] == 8 and many["test_error_exact"] == subset_error
    with torch.inference_mode():
        template, angles = circuit_inputs(model, test.x[::5])
    target, read = Target("fake_manila"), readout(model)
    aer = noisy_probabilities(compile_circuit(template, target.backend, 0), angles, target.noise, 0)
    assert many["test_error_noisy_infinite_shots"] == read.error(read.exact(aer), test.y[::5])


def test_the_error_table_shows_no_paper_number_for_it(evaluated, tmp_path, monkeypatch):
    _, _, _, _, _, result = evaluated
    params = _params(0)
    monkeypatch.chdir(tmp_path)
    teacher_files, student_files = aggregate.metrics_files(params)
    for path in teacher_files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({t: {"parameters": 1, "test_error": 0.01, "val_error": 0.01}
                                    for t in params.distill.teachers}))
    for record, path in student_files:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"test_error": 0.1, "quantum_parameters": 0, "classical_parameters": 21000,
                                    "near_chance": False, "hit_cap": True, "best_val_accuracy": 0.9, "key": "k"}))
        record["evaluation_file"].parent.mkdir(parents=True, exist_ok=True)
        record["evaluation_file"].write_text(json.dumps(result))
    aggregate.write_tables(*aggregate.collect(params.datasets, teacher_files, student_files))
    table = pd.read_csv(tmp_path / "metrics/error_table.csv")
    assert table["student"].tolist() == [STUDENT] and table["paper_error"].isna().all()
    assert "–" in (tmp_path / "metrics/error_table.md").read_text()
