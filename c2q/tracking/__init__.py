"""MLflow: a stage's run and its nested trainings' runs; the shared tracking server."""
