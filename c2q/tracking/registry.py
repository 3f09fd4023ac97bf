"""The Model Registry: one registered model per (dataset, student, role, teacher), its seed chosen on validation.

Stage aggregate registers, for every group of trainings that differ only in their seed, the one of best
validation accuracy (ties: the lowest seed) as a version of `c2q-<dataset>-<student>-<role>[-<teacher>]`,
with alias `champion`, and tags for the study axes and its test, shot and noisy errors:

    c2q.serving.load_student("models:/c2q-digits-pca-amplitude-q3-baseline@champion")

A version is the MLflow model its training's run logged (c2q.tracking.models), found by the training's
key (tag `c2q_key`, the key in its metrics file). Registering is idempotent: a training already registered
under the name gets no new version, only its tags refreshed and the alias pointed at it.
"""

from __future__ import annotations

import math

import pandas as pd

from c2q.tracking.models import MODEL_NAME

ALIAS = "champion"
GROUP = ["dataset", "student", "role", "teacher"]
TAGS = ("dataset", "student", "reduction", "encoding", "qubits", "classes", "role", "teacher", "seed",
        "best_val_accuracy", "test_error", "test_error_shots", "subset_noisy", "noise")
TAG_NAMES = {"subset_noisy": "test_error_noisy_subset"}  # named as the evaluation reports it


def registered_name(dataset: str, student: str, role: str, teacher: str) -> str:
    return "-".join(["c2q", dataset, student, role] + ([teacher] if teacher != "none" else []))


def chosen(records: pd.DataFrame) -> pd.DataFrame:
    """The training of best validation accuracy of every group (ties: the lowest seed)."""
    ordered = records.sort_values(GROUP + ["best_val_accuracy", "seed"], ascending=[True] * 4 + [False, True])
    return ordered.groupby(GROUP, sort=True).head(1).reset_index(drop=True)


def _tags(row: dict) -> dict[str, str]:
    tags = {TAG_NAMES.get(k, k): row[k] for k in TAGS if k in row}
    tags = {k: f"{v:.6g}" if isinstance(v, float) else str(v) for k, v in tags.items()
            if v is not None and not (isinstance(v, float) and math.isnan(v))}
    return {**tags, "c2q_key": row["key"]}


def register(client, experiment_id: str, row: dict) -> str:
    """Register one chosen training (a row of `chosen`); a line saying what was done."""
    import mlflow
    from mlflow.exceptions import MlflowException

    name, tags = registered_name(row["dataset"], row["student"], row["role"], row["teacher"]), _tags(row)
    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except MlflowException:
        versions = []
    version = next((v for v in versions if v.tags.get("c2q_key") == row["key"]), None)
    if version is None:
        runs = client.search_runs([experiment_id], f"tags.c2q_key = '{row['key']}'", max_results=1,
                                  order_by=["attributes.start_time DESC"])
        if not runs:
            return (f"{name}: not registered: no MLflow run in this store logged seed {row['seed']}'s model "
                    f"(trained against another store?); `dvc repro --force` its training stage to log it here")
        version = mlflow.register_model(f"runs:/{runs[0].info.run_id}/{MODEL_NAME}", name, tags=tags)
        what = f"registered as version {version.version}"
    else:
        for key, value in tags.items():
            if version.tags.get(key) != value:
                client.set_model_version_tag(name, version.version, key, value)
        what = f"already registered as version {version.version}"
    client.set_registered_model_alias(name, ALIAS, version.version)
    return f"models:/{name}@{ALIAS}: seed {row['seed']}, {what}"
