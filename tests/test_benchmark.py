import re
import subprocess
import sys

from tests.conftest import REPO

RATE = r"[\d,]+"


def test_benchmark_runs_in_smoke_mode_and_every_cell_is_a_measurement():
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_simulators", "--smoke"], cwd=REPO,
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "failed" not in out, out  # a simulator that raised is reported as failed, and must not pass here
    for simulator in ("c2q fused (ours)", "torchquantum, gate by gate", "torchquantum static, wires_per_block=2"):
        assert re.search(rf"^\| {re.escape(simulator)} \| {RATE} \(\d+\.\dx\) \|$", out, re.M), simulator
    assert re.search(rf"^\| torchquantum, gate by gate \| {RATE} \(1\.0x\) \|$", out, re.M)  # the reference
    assert re.search(rf"^\| 2 \| 16 \| {RATE} \| [\d.]+ \| \d+ \| \d+% \|$", out, re.M), "full student step"
    for teacher in ("lenet", r"alexnet \(width 0\.25\)"):
        assert re.search(rf"^\| {teacher} \| 8 \| {RATE} \| [\d.]+ \| \d+ \| \d+% \|$", out, re.M), teacher
    rates = [int(r.replace(",", "")) for r in re.findall(rf"^\| [^|]+ \| ({RATE}) \(", out, re.M)]
    assert rates and min(rates) > 0


def test_the_tracking_benchmark_logs_its_trainings_and_leaves_no_store_behind():
    checkpoints = REPO / ".checkpoints"
    before = set(checkpoints.iterdir()) if checkpoints.is_dir() else set()
    proc = subprocess.run([sys.executable, "-m", "benchmarks.bench_tracking", "--trainings", "3"], cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"^3 trainings logged: \d+\.\d ms each$", proc.stdout, re.M), proc.stdout
    assert set(checkpoints.iterdir()) == before
