"""Stages train_baseline and train_distilled: one student, one seed.

baseline:  cross-entropy only.
distilled: (1 - alpha) CE + alpha T^2 KL(teacher || student), from cached logits.
Both start from the same initial weights for the same seed, select their epoch
on validation and are evaluated on test once.
"""

from __future__ import annotations

import argparse
import hashlib

import torch

from c2q import paths
from c2q.config import load_params, parse_student
from c2q.data import DataError
from c2q.splits import load_splits
from c2q.distill import distillation_loss
from c2q.io import atomic_path, load_json, load_tensors, save_json, save_tensors
from c2q.figures import plot_confusion
from c2q.student import Student
from c2q.train import accuracy, confusion_matrix, cross_entropy, fit, predict, training_key
from c2q.tracking import stage_run
from stages import run, stage_name


def weights_digest(model: torch.nn.Module) -> str:
    """SHA-256 of the weights, to show two students started from the same point."""
    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().numpy().tobytes())
    return digest.hexdigest()[:16]


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("role", choices=["baseline", "distilled"])
    ap.add_argument("dataset")
    ap.add_argument("student", help="variant name <reduction>-<encoding>-q<qubits>[-classical]")
    ap.add_argument("seed", type=int)
    ap.add_argument("--teacher", help="required for the distilled role")
    args = ap.parse_args(argv)
    if (args.role == "distilled") != (args.teacher is not None):
        ap.error("--teacher is required for distilled students and not allowed for baselines")
    params = load_params()
    variant = parse_student(args.student)
    cfg = params["student"]
    teacher = args.teacher if args.role == "distilled" else None

    matrix = [args.dataset, args.student] + ([teacher] if teacher else []) + [args.seed]
    name = stage_name(f"train_{args.role}", *matrix)
    tags = {
        "dataset": args.dataset, "student": args.student, "reduction": variant.reduction,
        "encoding": variant.encoding, "qubits": variant.qubits, "teacher": teacher or "none",
        "seed": args.seed, "role": args.role, "core": "classical" if variant.classical else "quantum",
        "classes": params["data"]["classes"],
    }
    logged = {"student": cfg, "data": params["data"]}
    if teacher:
        logged["distill"] = {k: params["distill"][k] for k in ("temperature", "alpha")}
    ids = (args.role, args.dataset, args.student, args.seed, teacher)
    with stage_run(name, params["mlflow"]["experiment"], logged, tags) as tracker:
        inputs = [paths.features_file(args.dataset, args.student)]
        inputs += [paths.logits_file(args.dataset, teacher)] if teacher else []
        splits = load_splits(inputs[0])
        n_classes = int(splits["train"].y.max()) + 1
        in_features = splits["train"].x[0].numel()
        torch.manual_seed(args.seed)
        model = Student(in_features, n_classes, variant, cfg["layers"], cfg["simulator"])
        init_digest = weights_digest(model)

        loss_fn = cross_entropy
        if teacher:
            teacher_logits = load_tensors(paths.logits_file(args.dataset, teacher))["train"]
            if len(teacher_logits) != len(splits["train"]):
                raise DataError(f"{paths.logits_file(args.dataset, teacher)} does not match the train split; rerun dvc repro")
            T, alpha = params["distill"]["temperature"], params["distill"]["alpha"]

            def loss_fn(logits, labels, index):
                return distillation_loss(logits, teacher_logits[index], labels, T, alpha)

        result = fit(
            model, splits["train"], splits["val"], epochs=cfg["epochs"], batch_size=cfg["batch_size"],
            lr=cfg["lr"], seed=args.seed, loss_fn=loss_fn, on_epoch=tracker.log_epoch, desc=name,
            checkpoint=paths.checkpoint(name), checkpoint_key=training_key(logged, inputs),
        )
        test_logits = predict(model, splits["test"].x)
        test_accuracy = accuracy(test_logits, splits["test"].y)
        counts = model.parameter_counts()
        metrics = {
            "best_epoch": result.best_epoch,
            "val_accuracy": result.best_val_accuracy,
            "test_accuracy": test_accuracy,
            "test_error": 1 - test_accuracy,
            "quantum_parameters": counts["quantum"],
            "classical_parameters": counts["classical"],
            "init_digest": init_digest,
        }
        confusion = paths.student_confusion(*ids)
        class_names = [c["name"] for c in load_json(paths.reduced_dir(args.dataset) / "meta.json")["classes"]]
        save_json({"classes": class_names, "matrix": confusion_matrix(test_logits, splits["test"].y, n_classes)},
                  confusion)
        with atomic_path(confusion.with_suffix(".png")) as tmp:
            plot_confusion(load_json(confusion)["matrix"], class_names,
                           f"{name}\ntest error {100 * (1 - test_accuracy):.2f}%", tmp)
        save_tensors(model.state_dict(), paths.student_model(*ids))
        save_json(result.history, paths.student_curve(*ids))
        save_json(metrics, paths.student_metrics(*ids))  # last: its presence marks a finished student
        paths.checkpoint(name).unlink(missing_ok=True)
        tracker.log_metrics(metrics)
        for path in (paths.student_curve(*ids), confusion, confusion.with_suffix(".png")):
            tracker.log_artifact(path)
        print(f"{name}: best epoch {result.best_epoch}, val acc {result.best_val_accuracy:.4f}, test acc {test_accuracy:.4f}")


if __name__ == "__main__":
    run(main)
