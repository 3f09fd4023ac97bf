"""Stage evaluate: every trained student of one dataset, off the simulator and on paper.

It runs after the student stages, as a stage kind of its own, so that the
`evaluate` params (shot counts, noise device and model, subset, strengths)
rerun this evaluation and never a training. Per training, baseline and
distilled alike, it writes:
- its test-set confusion matrix (JSON counts and a PNG);
- for a quantum student: its trained circuit as OpenQASM 3, its test error when
  each image's <Z> comes from `evaluate.shots` sampled bitstrings (whole test
  set), and its noisy evaluation on one stratified subset of the test images
  shared by every student (c2q.offsim.hardware);
and one nested MLflow run. A quantum student is also evaluated on `noise.model_images_per_class` test
images under the device's noise by a batched density matrix (`noisy_model`: exact, noisy and mitigated
errors on those images): a `-chain` student under its calibrated channels (c2q.offsim.density, `model`
calibrated), any other of at most `noise.model_max_qubits` qubits as its compiled circuit under the whole
device model (c2q.offsim.many_images, `model` device). A `-classical` control has no circuit: no shots, no
noise, and a QASM file that says so. The paper notebooks' student (cnn-hadamard-q<Q>)
has a circuit per image and no trained one: its QASM file is the first test
image's circuit, its shots estimate its bitstring frequencies, and its confusion
matrix has a column more (`OTHER`: a highest score that is no class's).
"""

from __future__ import annotations

import argparse

import torch
from tqdm.auto import tqdm

from c2q.core import paths
from c2q.core.accelerator import resolve_device
from c2q.core.config import load_params, select
from c2q.core.io import atomic_path, load_json, save_json
from c2q.core.variants import parse_student
from c2q.data.splits import Split, load_splits, per_class_subset, take
from c2q.models.hybrid import HybridStudent
from c2q.offsim.hardware import Target, circuit_inputs, evaluate_chain_under_noise, evaluate_on_hardware, is_chain, \
    is_quantum
from c2q.offsim.many_images import evaluate_compiled_under_noise
from c2q.offsim.qasm import hybrid_qasm3, to_qasm3
from c2q.offsim.shots import errors_with_shots
from c2q.reporting.figures import plot_confusion
from c2q.serving.load import load_student
from c2q.tracking.runs import stage_run
from c2q.training.scoring import accuracy, confusion_matrix
from stages import run, stage_name

SUBSET_SEED = 0  # the same noisy test images for every student, seed and teacher
NESTED_ROLE = "evaluation"  # the `role` tag of each training's nested run (the stage's own: evaluate)
CLASSICAL_QASM = "OPENQASM 3.0;\n// classical control: this student has no circuit\n"
HYBRID_QASM_NOTE = "// the notebooks' student: its circuit for test image 0 (RY angles from its CNN)\n"
OTHER = "other"  # the confusion matrix's column for a student's outputs beyond the classes


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("dataset")
    return ap.parse_args(argv)


def run_name(args: argparse.Namespace) -> str:
    return stage_name("evaluate", args.dataset)


def params_read(args: argparse.Namespace) -> list[str]:
    return ["device", "students", "seeds", "distill.teachers", "evaluate"]


def write_confusion(title: str, path, logits: torch.Tensor, test: Split, class_names: list[str]) -> None:
    """The test-set confusion matrix as JSON counts at `path` and a PNG beside it. A student with more
    outputs than classes (the notebooks': 2^(Q+1) scores) gets a last column, OTHER, for the images whose
    highest score is none of the classes' (`predicted` names the columns)."""
    n, error = len(class_names), 1 - accuracy(logits, test.y)
    if wider := logits.shape[1] > n:
        logits = torch.cat([logits[:, :n], logits[:, n:].max(1, keepdim=True).values], dim=1)
    matrix = confusion_matrix(logits, test.y, n + wider)[:n]  # no image's true class is OTHER
    save_json({"classes": class_names, "matrix": matrix, **({"predicted": class_names + [OTHER]} if wider else {})},
              path)
    with atomic_path(path.with_suffix(".png")) as tmp:
        plot_confusion(matrix, class_names, f"{title}\ntest error {100 * error:.2f}%", tmp,
                       class_names + [OTHER] if wider else None)


def circuit_qasm(model, test: Split) -> str:
    """The OpenQASM 3 file of a student: its trained circuit, the notebooks' student's circuit for the
    first test image, or a classical control's note."""
    if isinstance(model, HybridStudent):
        _, angles = circuit_inputs(model, test.x[:1])
        header, rest = hybrid_qasm3(angles[0]).split("\n", 1)
        return f"{header}\n{HYBRID_QASM_NOTE}{rest}"
    if not is_quantum(model):
        return CLASSICAL_QASM
    return to_qasm3(model.core.theta.detach().double().numpy(), model.core.entangler)


def qubits_of(model) -> int:
    return model.qubits if isinstance(model, HybridStudent) else model.core.qubits


def off_simulator(model, test: Split, subsets: dict[str, torch.Tensor], seed: int, cfg, target: Target) -> dict:
    """A quantum student's finite-shot errors on the whole test set (the first count is the headline), its
    noisy evaluation on the shared subset and, for a -chain or small student, on the larger one (`subsets`:
    rows of the test split)."""
    errors = errors_with_shots(model, test.x, test.y, cfg.shot_counts, seed)
    shots, noisy, many = cfg.shot_counts[0], take(test, subsets["noisy"]), take(test, subsets["model"])
    out = {"test_error_shots": errors[shots], "test_error_by_shots": {str(s): e for s, e in errors.items()},
           "noisy_subset": evaluate_on_hardware(model, noisy.x, noisy.y, shots=shots, seed=seed, target=target,
                                                noise_cfg=cfg.noise)}
    if is_chain(model):
        out["noisy_model"] = {"model": "calibrated", **evaluate_chain_under_noise(
            model, many.x, many.y, shots=shots, seed=seed, noise=target.chain(model.core.qubits))}
    elif qubits_of(model) <= cfg.noise.model_max_qubits:
        out["noisy_model"] = evaluate_compiled_under_noise(model, many.x, many.y, shots=shots, seed=seed,
                                                           target=target)
    return out


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    params = load_params()
    cfg = params.evaluate
    logged = select(params, params_read(args))
    todo = params.trainings()  # (student, role, seed, teacher)
    ids = [(role, args.dataset, student, seed, teacher) for student, role, seed, teacher in todo]
    with stage_run(run_name(args), params.mlflow.experiment, logged, {"dataset": args.dataset,
                                                                       "role": "evaluate"}) as tracker:
        features = {s: paths.features_file(args.dataset, s) for s in dict.fromkeys(s for s, *_ in todo)}
        tracker.log_inputs([paths.meta_file(args.dataset), *features.values(),
                            *(paths.student_model(*i) for i in ids)])
        for folder in paths.evaluation_folders(args.dataset):
            folder.mkdir(parents=True, exist_ok=True)  # an out even with nothing to evaluate
        class_names = [c["name"] for c in load_json(paths.meta_file(args.dataset))["classes"]]
        target = Target(cfg.noise.device) if any(not parse_student(s).classical for s in features) else None
        device = resolve_device(params.device)
        tests, subsets = {}, {}
        for student, path in features.items():
            tests[student] = test = load_splits(path)["test"]
            subsets[student] = {"noisy": per_class_subset(test.y, cfg.noise.images_per_class, SUBSET_SEED),
                                "model": per_class_subset(test.y, cfg.noise.model_images_per_class, SUBSET_SEED)}
        for (student, role, seed, teacher), i in tqdm(list(zip(todo, ids)), desc=run_name(args), disable=None):
            test = tests[student]
            model = load_student(paths.student_model(*i), device).student
            name = f"{run_name(args)}/{role}/{paths.student_id(student, seed, teacher)}"
            with torch.inference_mode():
                logits = model(test.x.to(device)).cpu()
                model.cpu()  # shots and noise: Qiskit and numpy, on the CPU
                write_confusion(name, paths.student_confusion(*i), logits, test, class_names)
                qasm = circuit_qasm(model, test)
            with atomic_path(paths.student_qasm(*i)) as tmp:
                tmp.write_text(qasm)
            result = off_simulator(model, test, subsets[student], seed, cfg, target) if is_quantum(model) else \
                {"test_error_shots": None}
            record(tracker, name, logged, result, i, target)
            save_json(result, paths.evaluation_metrics(*i))


def record(tracker, name: str, logged: dict, result: dict, ids: tuple, target: Target | None) -> None:
    """One training's nested run: its off-simulator numbers, circuit and confusion matrix."""
    role, _, student, seed, teacher = ids
    metrics = dict(result)  # MLflow's names: test_error_shots, noisy_subset.test_error_device, ...
    if noisy := result.get("noisy_subset"):
        sweep = noisy["depolarising"]
        metrics.update({f"noisy_subset.test_error_depolarising_{s:g}": e
                        for s, e in zip(sweep["strengths"], sweep["test_error"])})
    confusion = paths.student_confusion(*ids)
    tracker.log_training(
        paths.student_id(student, seed, teacher), logged, metrics, curve=[],
        tags={"role": NESTED_ROLE, "trained": role, "student": student, "seed": seed, "teacher": teacher or "none",
              **({"device": target.name} if noisy else {})},
        artifacts=(paths.student_qasm(*ids), confusion, confusion.with_suffix(".png")))
    if noisy:
        print(f"{name}: {noisy['shots']} shots {result['test_error_shots']:.4f} on the test set; error exact "
              f"{noisy['test_error_exact']:.3f}, {target.name} {noisy['test_error_device']:.3f} on "
              f"{noisy['images']} images", flush=True)
    if many := result.get("noisy_model"):
        print(f"{name}: {many['device']} ({many['model']}) on {many['images']} images: error exact "
              f"{many['test_error_exact']:.3f}, noisy {many['test_error_noisy']:.3f}, mitigated "
              f"{many['test_error_noisy_mitigated']:.3f}", flush=True)


if __name__ == "__main__":
    run(main)
