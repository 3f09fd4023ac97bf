"""The MLflow pyfunc model of a trained student: raw images in, one row of predictions per image out.

c2q.tracking.models logs it with every training (its code is pyfunc_student.py beside this file):

    mlflow.pyfunc.load_model("models:/c2q-mnist-fc-amplitude-q8-baseline@champion").predict(images)

Loading needs c2q installed (`pip install -e .` in a clone; `--env-manager local` when serving).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from c2q.serving.classifier import StudentClassifier
from c2q.serving.load import load_student


class StudentModel:
    """What mlflow.pyfunc calls (an mlflow.pyfunc.PythonModel, made by `python_model()`)."""

    def load_context(self, context) -> None:
        self.student = load_student(context.artifacts["student"])

    def predict(self, context, model_input, params=None) -> pd.DataFrame:
        with torch.inference_mode():
            logits = self.student(np.asarray(model_input)).cpu()
        return predictions(self.student, logits)


def python_model():
    """StudentModel as an mlflow.pyfunc.PythonModel (mlflow is imported here, when it is needed)."""
    import mlflow

    return type("StudentModel", (StudentModel, mlflow.pyfunc.PythonModel), {})()


def predictions(student: StudentClassifier, logits: torch.Tensor) -> pd.DataFrame:
    """One row per image: `label` (the class index), `class` (its name) and `logit_<i>` per output."""
    labels = logits.argmax(1)
    frame = pd.DataFrame(logits.double().numpy(), columns=[f"logit_{i}" for i in range(logits.shape[1])])
    frame.insert(0, "class", student.class_names(labels))
    frame.insert(0, "label", labels.numpy())
    return frame
