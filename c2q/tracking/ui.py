"""`make ui`: `mlflow ui` on the repository's store, with the link that opens the pipeline's run list.

MLflow 3.17's UI opens an experiment on the tab of the browser's workflow type, the sidebar's "GenAI |
Model training" switch: the link's `workflowType`, else what the browser chose last, else GenAI, whose
Overview (traces, latency, tokens) is empty for c2q. The experiment's tag mlflow.experimentKind, which c2q
sets, does not decide it there. So this prints the experiment's Runs link with
workflowType=machine_learning, which opens on the runs and makes Model training the browser's choice.

    python -m c2q.tracking.ui [--port 5000]   # against MLFLOW_TRACKING_URI's server: prints its link only
"""

from __future__ import annotations

import argparse
import os
import sys
import urllib.parse

from c2q.core.config import load_params
from c2q.tracking.runs import tracking_uri


def runs_url(base: str, experiment_id: str, search: str | None = None) -> str:
    """The link that opens experiment `experiment_id`'s run list in the UI at `base`, filtered by `search`."""
    query = urllib.parse.urlencode({"workflowType": "machine_learning", "searchFilter": search or ""},
                                   quote_via=urllib.parse.quote)
    return f"{base.rstrip('/')}/#/experiments/{experiment_id}/runs?{query}"


def main(argv: list[str]) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=5000)
    args = ap.parse_args(argv)
    import mlflow

    uri, name = tracking_uri(), load_params().mlflow.experiment
    experiment = mlflow.MlflowClient(uri).get_experiment_by_name(name)
    if experiment is None:
        sys.exit(f"no experiment {name!r} in {uri} yet: run `dvc repro` first")
    served = uri.startswith(("http://", "https://"))
    base = uri if served else f"http://{args.host}:{args.port}"
    print(f"{name}'s runs: {runs_url(base, experiment.experiment_id)}", flush=True)
    if not served:
        os.execvp(sys.executable, [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", uri,
                                   "--host", args.host, "--port", str(args.port)])


if __name__ == "__main__":
    main(sys.argv[1:])
