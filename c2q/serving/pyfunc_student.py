"""The code of a trained student's MLflow model (MLflow's "models from code"): c2q.tracking.models logs
this file with each student, and MLflow runs it to load the model."""

import mlflow

from c2q.serving.mlflow_model import python_model

mlflow.models.set_model(python_model())
