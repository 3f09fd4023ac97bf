import subprocess
import sys

from tests.conftest import REPO


def test_benchmark_runs_in_smoke_mode():
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_simulators", "--smoke"], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    for line in ("| c2q fused (ours) |", "| torchquantum, gate by gate |", "Full student training step",
                 "Teacher training step"):
        assert line in proc.stdout
