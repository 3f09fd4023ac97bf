"""Log a trained student's model file as an MLflow Model of its training's run.

The model is logged the MLflow 3 way, as code (c2q/serving/pyfunc_student.py, which MLflow runs to load
it; c2q.serving.mlflow_model is the model) plus the model file as an artifact, so loading it unpickles
nothing. Its signature says what it takes and gives (uint8 images of the dataset's shape in; class index,
class name and one column per logit out), and three test images are its input example. Everything comes
from the model file's content (c2q.serving.classifier.package); this module imports nothing of c2q.
"""

from __future__ import annotations

import shutil
import tempfile
from importlib import metadata
from pathlib import Path

import numpy as np

MODEL_NAME = "model"  # every student's MLflow model's name in its run: runs:/<run id>/model
MODEL_CODE = Path(__file__).parents[1] / "serving" / "pyfunc_student.py"
MODEL_ARTIFACT = "student.pt"  # the model file's name inside the MLflow model
REQUIREMENTS = ("torch", "mlflow", "numpy", "pandas", "scikit-learn", "qiskit")  # besides c2q itself


def signature(image_shape: list[int], n_outputs: int):
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, Schema, TensorSpec

    images = TensorSpec(np.dtype(np.uint8), (-1, *image_shape))
    outputs = [ColSpec("long", "label"), ColSpec("string", "class")]
    outputs += [ColSpec("double", f"logit_{i}") for i in range(n_outputs)]
    return ModelSignature(inputs=Schema([images]), outputs=Schema(outputs))


def log_student(run_id: str, model_file: Path, content: dict) -> str:
    """Log `model_file` (holding `content`) as the MLflow model of run `run_id`; returns its model URI."""
    import mlflow

    card = content["card"]
    with tempfile.TemporaryDirectory() as tmp, mlflow.start_run(run_id=run_id):
        copy = shutil.copyfile(model_file, Path(tmp) / MODEL_ARTIFACT)
        info = mlflow.pyfunc.log_model(
            name=MODEL_NAME, python_model=str(MODEL_CODE), artifacts={"student": str(copy)},
            signature=signature(card["image_shape"], card["outputs"]),
            input_example=content["example_images"].numpy(),
            pip_requirements=[f"{p}=={metadata.version(p)}" for p in REQUIREMENTS],
            metadata={"c2q_version": content["c2q_version"], "model_format": content["format"],
                      **{k: v for k, v in card.items() if k != "key"}},
            tags={"c2q_key": card["key"]})
    return info.model_uri
