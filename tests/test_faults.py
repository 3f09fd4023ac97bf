"""Bad input stops early, in words, naming what to fix, and leaves no output behind."""

from __future__ import annotations

import gzip
import os
import shutil
import socket
import subprocess
import sys

import pytest
import yaml

from c2q.core.errors import DatasetFileError
from c2q.data import raw as data
from tests.conftest import REPO


def _mirror_copy(mirror, tmp_path):
    dest = tmp_path / "mirror"
    shutil.copytree(mirror / "MNIST", dest / "MNIST")
    return dest


def test_truncated_gzip_names_the_file(mirror, tmp_path):
    fake = _mirror_copy(mirror, tmp_path)
    gz = fake / "MNIST/raw/train-labels-idx1-ubyte.gz"
    gz.write_bytes(gz.read_bytes()[: gz.stat().st_size // 2])
    with pytest.raises(DatasetFileError, match="train-labels-idx1-ubyte"):
        data.fetch("mnist", tmp_path / "root", fake)


def test_wrong_idx_header_names_the_file(tmp_path):
    raw = tmp_path / "MNIST/raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "t10k-images-idx3-ubyte"):
        (raw / name).write_bytes(b"\x00\x00\x08\x03" + (1).to_bytes(4, "big") + (2).to_bytes(4, "big") * 2 + bytes(4))
    for name in ("train-labels-idx1-ubyte", "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"\x00\x00\x08\x03" + bytes(12))  # says 3 dimensions: an image file
    with pytest.raises(DatasetFileError, match="train-labels-idx1-ubyte: not a uint8 IDX file with 1 dimension"):
        data.load_raw("mnist", tmp_path)


def test_idx_length_mismatch_names_the_file(tmp_path):
    raw = tmp_path / "MNIST/raw"
    raw.mkdir(parents=True)
    (raw / "train-images-idx3-ubyte").write_bytes(
        b"\x00\x00\x08\x03" + (10).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + bytes(100))
    with pytest.raises(DatasetFileError, match="train-images-idx3-ubyte: header says \\[10, 28, 28\\]"):
        data.load_raw("mnist", tmp_path)


def _stage(args, cwd, **env_changes):
    env = dict(os.environ, PYTHONPATH=str(REPO), **env_changes)
    env.pop("DVC_ROOT", None)
    if "MLFLOW_TRACKING_URI" not in env_changes:
        env.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def _params(tmp_path, **changes):
    params = yaml.safe_load((REPO / "params.yaml").read_text())
    params.update(changes)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))


def test_bad_params_stop_every_stage_before_any_output(tmp_path):
    _params(tmp_path, datasets=["digits"], seeds=[])
    for args in (["stages.download", "digits"], ["stages.reduce", "digits"], ["stages.aggregate"]):
        proc = _stage(args, tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert "seeds: list should have at least 1 item" in proc.stderr and "Traceback" not in proc.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["params.yaml"]  # no data, no mlflow.db


def test_an_unreachable_tracking_server_stops_the_stage_before_work(tmp_path):
    with socket.socket() as s:  # a free port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    _params(tmp_path, datasets=["digits"])
    proc = _stage(["stages.download", "digits"], tmp_path, MLFLOW_TRACKING_URI=f"http://127.0.0.1:{port}",
                  C2Q_TRACKING_RETRY_S="2")
    assert proc.returncode == 2
    assert f"the MLflow tracking store http://127.0.0.1:{port} did not answer while connecting" in proc.stderr
    assert "retried for 2 s (C2Q_TRACKING_RETRY_S sets how long)" in proc.stderr
    assert "Nothing was trained" in proc.stderr and "Traceback" not in proc.stderr
    assert not (tmp_path / "data").exists()


def test_a_bad_retry_time_is_named(tmp_path):
    _params(tmp_path, datasets=["digits"])
    proc = _stage(["stages.download", "digits"], tmp_path, C2Q_TRACKING_RETRY_S="soon")
    assert proc.returncode == 2 and "C2Q_TRACKING_RETRY_S='soon': give the number of seconds" in proc.stderr
    assert not (tmp_path / "data").exists()


def test_a_mirror_that_is_not_a_directory_is_named(tmp_path):
    _params(tmp_path, datasets=["mnist"])
    proc = _stage(["stages.download", "mnist"], tmp_path, C2Q_DATA_MIRROR=str(tmp_path / "nowhere"))
    assert proc.returncode == 2 and "nowhere is not a directory" in proc.stderr
    assert not (tmp_path / "data/raw/mnist").exists()
