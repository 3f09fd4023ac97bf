"""Load a trained student to classify raw images: from its model file, or from MLflow.

    from c2q.serving import load_student
    student = load_student("models:/c2q-mnist-fc-amplitude-q8-baseline@champion")
    labels = student.predict(images)          # uint8 (N, 1, 28, 28) or (N, 28, 28) -> class indices
    logits = student(images)                  # a torch.nn.Module
    circuit(student, images[0])               # its Qiskit circuit for one image (from c2q.serving)

A source is a model file the student stages wrote (`models/students/.../s0.pt`), or any MLflow model
URI of one: `models:/<name>@<alias>`, `models:/<name>/<version>`, `models:/<model id>`,
`runs:/<run id>/model`, resolved against MLFLOW_TRACKING_URI (or the repository's mlflow.db).
"""

from __future__ import annotations

from pathlib import Path

from c2q.core.accelerator import resolve_device
from c2q.core.errors import ModelFileError
from c2q.core.io import load_torch
from c2q.serving.classifier import StudentClassifier, from_package
from c2q.tracking.models import MODEL_ARTIFACT

URI_SCHEMES = ("models:/", "runs:/", "mlflow-artifacts:/", "file:/")


def load_student(source: str | Path, device: str | None = None) -> StudentClassifier:
    """The trained student at `source` (a model file or MLflow model URI) on `device` (auto, cpu, cuda;
    default: C2Q_DEVICE, else auto), in evaluation mode."""
    path = _download(str(source)) if str(source).startswith(URI_SCHEMES) else Path(source)
    if not path.is_file():
        raise ModelFileError(f"no model file at {source}: give a model file the student stages wrote "
                             f"(models/students/...) or an MLflow model URI ({', '.join(URI_SCHEMES[:2])}...)")
    try:
        content = load_torch(path)
    except Exception as e:
        raise ModelFileError(f"{source} is not a c2q model file (torch.load: {str(e).splitlines()[0][:200]})") from None
    return from_package(content).to(resolve_device(device))


def circuit(student: StudentClassifier, image):
    """The whole Qiskit circuit of a quantum student for one raw image, its encoding's angles bound: the
    circuit stage evaluate compiles and runs on a device (c2q.offsim). A classical control has none."""
    import copy

    import torch

    from c2q.offsim.hardware import circuit_inputs, is_quantum
    from c2q.offsim.qasm import bind

    if not is_quantum(student.student):
        raise ValueError(f"{student.card['student']} is a classical control: it has no circuit")
    x = torch.as_tensor(image)
    with torch.inference_mode():
        features = student.features(x[None] if x.dim() == len(student.image_shape) or x.dim() == 2 else x[:1])
        model = student.student if features.device == next(student.student.parameters()).device else \
            copy.deepcopy(student.student).cpu()  # Qiskit's side is numpy: the CPU, leaving the student where it is
        template, angles = circuit_inputs(model, features)
    return bind(template, angles[0])


def _download(uri: str) -> Path:
    """The model file inside the MLflow model at `uri`, downloaded to a local cache."""
    import mlflow
    from mlflow.exceptions import MlflowException

    from c2q.tracking.runs import tracking_uri

    mlflow.set_tracking_uri(tracking_uri())
    try:
        local = Path(mlflow.artifacts.download_artifacts(artifact_uri=uri.rstrip("/")))
    except MlflowException as e:
        raise ModelFileError(f"no MLflow model at {uri} in the tracking store {tracking_uri()}: "
                             f"{e.message.splitlines()[0][:300]}\nList the registered students with "
                             "`mlflow ui` (Models) or docs/models.md") from None
    found = sorted(local.rglob(MODEL_ARTIFACT))
    if not found:
        raise ModelFileError(f"{uri} is an MLflow model, but not a c2q student (it holds no {MODEL_ARTIFACT})")
    return found[0]


__all__ = ["load_student", "StudentClassifier"]
