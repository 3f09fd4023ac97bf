"""Stages train_baseline and train_distilled: one student, one seed.

baseline:  cross-entropy only.
distilled: `distill.method`'s loss (c2q.distill) against the teacher's cached logits.
Both start from the same initial weights for the same seed, train on the same
`data.train_per_class` subset of the train split (drawn with the seed), select
their epoch on validation and are evaluated on test once.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import torch

from c2q import paths
from c2q.circuits import QuantumLayer
from c2q.config import Params, load_params, select
from c2q.distill import distillation_loss
from c2q.errors import StageInputError
from c2q.figures import plot_confusion
from c2q.io import atomic_path, load_json, load_tensors, save_json
from c2q.outputs import finish_training
from c2q.qiskit_export import to_qasm3
from c2q.shots import errors_with_shots
from c2q.splits import Split, load_splits, per_class_subset, take
from c2q.student import Student
from c2q.train import LossFn, accuracy, confusion_matrix, cross_entropy, fit, predict, training_key
from c2q.tracking import stage_run
from c2q.variants import parse_student
from stages import run, stage_name


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("role", choices=["baseline", "distilled"])
    ap.add_argument("dataset")
    ap.add_argument("student", help="variant name <reduction>-<encoding>-q<qubits>[-classical]")
    ap.add_argument("seed", type=int)
    ap.add_argument("--teacher", help="required for the distilled role")
    args = ap.parse_args(argv)
    if (args.role == "distilled") != (args.teacher is not None):
        ap.error("--teacher is required for distilled students and not allowed for baselines")
    return args


def run_name(args: argparse.Namespace) -> str:
    matrix = [args.dataset, args.student] + ([args.teacher] if args.teacher else []) + [args.seed]
    return stage_name(f"train_{args.role}", *matrix)


def params_read(args: argparse.Namespace) -> list[str]:
    return ["student", "data.train_per_class", "evaluate.shots"] + (
        ["distill.method", "distill.temperature", "distill.alpha"] if args.teacher else [])


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 of the weights, to show two students started from the same point."""
    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def input_paths(args: argparse.Namespace) -> list[Path]:
    files = [paths.features_file(args.dataset, args.student), paths.meta_file(args.dataset)]
    return files + ([paths.logits_file(args.dataset, args.teacher)] if args.teacher else [])


def loss_for(args: argparse.Namespace, params: Params, train: Split, subset: torch.Tensor) -> LossFn:
    """Cross-entropy for a baseline; the distillation loss against the cached teacher logits otherwise.
    `subset` holds the rows of the whole train split that the student trains on."""
    if not args.teacher:
        return cross_entropy
    logits_file = paths.logits_file(args.dataset, args.teacher)
    teacher_logits = load_tensors(logits_file)["train"]
    if len(teacher_logits) != len(train):
        raise StageInputError([str(logits_file), str(paths.features_file(args.dataset, args.student))],
                              f"the teacher's logits hold {len(teacher_logits)} training rows, the features "
                              f"{len(train)}")
    teacher_logits = teacher_logits[subset]
    cfg = params.distill

    def loss_fn(logits, labels, index):
        return distillation_loss(logits, teacher_logits[index], labels, cfg.temperature, cfg.alpha, cfg.method)

    return loss_fn


# A student whose selected validation accuracy is within this many points of chance has not learnt.
NEAR_CHANCE_POINTS = 5.0


def chance_warning(name: str, best_val_accuracy: float, val: Split, n_classes: int) -> str | None:
    """A warning when the selected epoch barely beats always guessing the most common class, else None."""
    chance = val.y.bincount(minlength=n_classes).max().item() / len(val)
    if 100 * (best_val_accuracy - chance) > NEAR_CHANCE_POINTS:
        return None
    return (f"{name}: best validation accuracy {100 * best_val_accuracy:.1f}% is within {NEAR_CHANCE_POINTS:g} "
            f"points of chance ({100 * chance:.1f}%): this student has not learnt; check its encoding's input "
            "scale and student.lr / student.schedule before reading its error")


def write_confusion(name: str, ids: tuple, test_logits: torch.Tensor, test: Split, class_names: list[str]) -> Path:
    """The test-set confusion matrix as JSON counts and a PNG beside it; returns the JSON path."""
    matrix = confusion_matrix(test_logits, test.y, len(class_names))
    path = paths.student_confusion(*ids)
    save_json({"classes": class_names, "matrix": matrix}, path)
    error = 1 - accuracy(test_logits, test.y)
    with atomic_path(path.with_suffix(".png")) as tmp:
        plot_confusion(matrix, class_names, f"{name}\ntest error {100 * error:.2f}%", tmp)
    return path


def off_simulator(model: Student, test: Split, shot_counts: list[int], seed: int, qasm_path: Path) -> dict:
    """Test errors with finite shots (the first count is the headline) and the trained circuit as OpenQASM 3.
    A `-classical` control has no circuit: no shot errors, and its QASM file says so."""
    if not isinstance(model.core, QuantumLayer):
        with atomic_path(qasm_path) as tmp:
            tmp.write_text("OPENQASM 3.0;\n// classical control: this student has no circuit\n")
        return {"test_error_shots": None}
    with atomic_path(qasm_path) as tmp:
        tmp.write_text(to_qasm3(model.core.theta.detach().double().numpy()))
    errors = errors_with_shots(model, test.x, test.y, shot_counts, seed)
    return {"test_error_shots": errors[shot_counts[0]], "test_error_by_shots": {str(s): e for s, e in errors.items()}}


def main(argv: list[str]) -> None:
    args = parse_args(argv)
    params = load_params()
    variant = parse_student(args.student)
    cfg, name = params.student, run_name(args)
    tags = {
        "dataset": args.dataset, "student": args.student, "reduction": variant.reduction,
        "encoding": variant.encoding, "qubits": variant.qubits, "teacher": args.teacher or "none",
        "seed": args.seed, "role": args.role, "core": "classical" if variant.classical else "quantum",
    }
    logged = select(params, params_read(args))
    ids = (args.role, args.dataset, args.student, args.seed, args.teacher)
    with stage_run(name, params.mlflow.experiment, logged, tags) as tracker:
        digests = tracker.log_inputs(input_paths(args))
        meta = load_json(paths.meta_file(args.dataset))
        classes = meta["class_subset"]
        tracker.set_tags({"classes": classes if classes == "all" else ",".join(map(str, classes))})
        splits = load_splits(paths.features_file(args.dataset, args.student))
        subset = per_class_subset(splits["train"].y, params.data.train_per_class, args.seed)
        train = take(splits["train"], subset)
        class_names = [c["name"] for c in meta["classes"]]
        torch.manual_seed(args.seed)
        model = Student(splits["train"].x[0].numel(), len(class_names), variant, cfg.layers, cfg.simulator)
        init_digest = weights_digest(model)
        result = fit(
            model, train, splits["val"], epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
            seed=args.seed, schedule=cfg.schedule, loss_fn=loss_for(args, params, splits["train"], subset),
            on_epoch=tracker.log_epoch,
            desc=name, checkpoint=paths.checkpoint(name), checkpoint_key=training_key(logged, digests),
        )
        test_logits = predict(model, splits["test"].x)
        test_accuracy = accuracy(test_logits, splits["test"].y)
        counts = model.parameter_counts()
        metrics = {
            "best_epoch": result.best_epoch,
            "best_val_accuracy": result.best_val_accuracy,
            "test_accuracy": test_accuracy,
            "test_error": 1 - test_accuracy,
            "quantum_parameters": counts["quantum"],
            "classical_parameters": counts["classical"],
            "init_digest": init_digest,
            "train_samples": len(train),
            **off_simulator(model, splits["test"], params.evaluate.shot_counts, args.seed, paths.student_qasm(*ids)),
        }
        warning = chance_warning(name, result.best_val_accuracy, splits["val"], len(class_names))
        metrics["near_chance"] = warning is not None
        tracker.set_tags({"near_chance": metrics["near_chance"]})
        if warning:
            print(f"warning: {warning}", file=sys.stderr, flush=True)
            tracker.set_tags({"warning": warning})
        confusion = write_confusion(name, ids, test_logits, splits["test"], class_names)
        finish_training(tracker, name, model, result, metrics,
                        model_path=paths.student_model(*ids), curve_path=paths.student_curve(*ids),
                        metrics_path=paths.student_metrics(*ids), checkpoint=paths.checkpoint(name),
                        artifacts=(confusion, confusion.with_suffix(".png"), paths.student_qasm(*ids)))


if __name__ == "__main__":
    run(main)
