"""Trained students as models: load one from its file or MLflow (`load_student`), log it as an MLflow model."""

from c2q.serving.load import circuit, load_student

__all__ = ["circuit", "load_student"]
