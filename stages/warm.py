"""Warm stage processes: import torch and MLflow once per pipeline run, not once per stage.

A stage command (`python -m stages <stage> ...`) is a light client. It asks a
server that has already imported torch, MLflow's SQL store and every stage
module to fork a child for it; the child takes the client's working directory,
environment, stdin, stdout and stderr (passed over a Unix socket), runs the
stage's `main` exactly as `python -m stages.<stage>` would, and its exit code
becomes the client's. Each stage still runs in a process of its own, so no
state passes from one stage to the next; only the imports are shared.

The first client starts the server; it exits after `C2Q_WARM_IDLE` seconds
(default 60) without a stage. A server serves one repository, one version of
the code (`c2q/` and `stages/`) and one environment: a change to any of them
gives a new address, so a stale server is never used. `C2Q_WARM=0` runs every
stage in the client's own process instead, as does any platform without
`fork` and Unix sockets, or a server that fails to start.
"""

from __future__ import annotations

import atexit
import gc
import hashlib
import importlib
import json
import os
import selectors
import signal
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

from c2q.core.invocation import pipeline_run_id

STAGES = ("download", "reduce", "train_teacher", "cache_logits", "train_student", "evaluate", "aggregate",
          "study_teachers", "study_train", "study_report", "study_noise", "study_noise_report")
# Imports that cost seconds and that every stage would otherwise repeat: torch._dynamo is imported
# by the first optimizer a process creates (2 s), matplotlib draws the confusion matrices and tables' figures.
PRELOAD = ("torch", "torch._dynamo", "mlflow", "mlflow.store.tracking.sqlalchemy_store", "mlflow.data.meta_dataset",
           "matplotlib.pyplot", *(f"stages.{s}" for s in STAGES))
# Set per invocation by DVC or the launcher; the child receives them, the server need not match them.
_PER_INVOCATION = ("DVC_", "C2Q_PIPELINE_RUN", "C2Q_PROFILE_")
_PACKAGES = ("c2q", "stages")


def run_stage(stage: str, argv: list[str]) -> int:
    """Run `stages.<stage>.main(argv)` in this process as `python -m stages.<stage>` would; its exit code."""
    from stages import run

    module = importlib.import_module(f"stages.{stage}")
    sys.argv = [module.__file__, *argv]
    try:
        run(module.main)
    except SystemExit as e:
        if isinstance(e.code, int) or e.code is None:
            return e.code or 0
        print(e.code, file=sys.stderr)  # sys.exit("message"), as the interpreter would print it
        return 1
    except BaseException:
        traceback.print_exc()
        return 1
    return 0


# ---- where the server listens ----

def code_digest(root: Path) -> str:
    """SHA-256 of every Python file of the project's packages, names and contents."""
    digest = hashlib.sha256()
    for package in _PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def server_address(root: Path, env: dict[str, str]) -> Path:
    """The socket of the server for this repository, code, interpreter and environment."""
    stable_env = sorted((k, v) for k, v in env.items() if not k.startswith(_PER_INVOCATION))
    key = json.dumps([sys.executable, str(root), code_digest(root), stable_env])
    folder = Path(tempfile.gettempdir()) / f"c2q-warm-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.sock"


def available() -> bool:
    return os.environ.get("C2Q_WARM", "1") != "0" and hasattr(os, "fork") and hasattr(socket, "AF_UNIX")


# ---- client ----

def launch(stage: str, argv: list[str]) -> int:
    """Run one stage through the warm server, or in this process where that is not possible."""
    if not available():
        return run_stage(stage, argv)
    root = Path.cwd()
    env = {**os.environ, "C2Q_PIPELINE_RUN": pipeline_run_id()}  # the child has no `dvc` ancestor to find it
    address = server_address(root, env)
    conn = _connect(address) or _start_server(address, root)
    if conn is None:
        print(f"note: no warm stage server ({address}.log says why); running {stage} in this process",
              file=sys.stderr)
        return run_stage(stage, argv)
    with conn:
        request = json.dumps({"stage": stage, "argv": argv, "cwd": str(root), "env": env}).encode() + b"\n"
        socket.send_fds(conn, [request], [0, 1, 2])
        return _await_exit(conn.makefile("r"))


def _connect(address: Path) -> socket.socket | None:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(address))
        return conn
    except OSError:
        conn.close()
        return None


def _start_server(address: Path, root: Path, wait_s: float = 300) -> socket.socket | None:
    """Start the server (once, under a lock shared by concurrent clients) and connect to it."""
    import fcntl

    with open(f"{address}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if conn := _connect(address):
            return conn
        address.unlink(missing_ok=True)
        with open(f"{address}.log", "w") as log:
            server = subprocess.Popen([sys.executable, "-m", "stages.warm", str(address)], cwd=root,
                                      stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        deadline = time.monotonic() + wait_s
        while server.poll() is None and time.monotonic() < deadline:
            if conn := _connect(address):
                return conn
            time.sleep(0.05)
        return None


def _await_exit(replies) -> int:
    """Forward interrupts to the stage's process until the server reports its exit code."""
    first = replies.readline()
    if not first:
        print("error: the warm stage server closed the connection before starting the stage", file=sys.stderr)
        return 1
    pid = json.loads(first)["pid"]
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda number, _frame: os.kill(pid, number))
    last = replies.readline()
    if not last:
        print("error: the warm stage server stopped while the stage ran", file=sys.stderr)
        return 1
    return json.loads(last)["exit"]


# ---- server ----

def serve(address: Path, idle_s: float) -> None:
    """Preload, then fork one child per request until idle for `idle_s` seconds."""
    import matplotlib

    matplotlib.use("Agg")  # the backend c2q.reporting.figures selects, before pyplot is imported
    for module in PRELOAD:
        importlib.import_module(module)
    gc.collect()
    gc.freeze()  # children share these pages instead of copying them when the collector touches them
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(address))
    listener.listen(16)
    identity = address.stat().st_ino
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    jobs: dict[int, socket.socket] = {}  # child pid -> its client's connection
    last_active = time.monotonic()
    while jobs or time.monotonic() - last_active < idle_s:
        for key, _ in selector.select(timeout=0.2):
            if key.fileobj is listener:
                _accept(listener, selector, jobs)
            else:  # the client went away (killed): stop its stage
                selector.unregister(key.fileobj)
                os.kill(key.data, signal.SIGTERM)
        _reap(selector, jobs)
        if jobs:
            last_active = time.monotonic()
    if address.exists() and address.stat().st_ino == identity:
        address.unlink()


def _accept(listener: socket.socket, selector, jobs: dict[int, socket.socket]) -> None:
    conn, _ = listener.accept()
    try:
        message, fds, _, _ = socket.recv_fds(conn, 1 << 16, 3)
        while message and not message.endswith(b"\n") and (more := conn.recv(1 << 16)):
            message += more
        request = json.loads(message)
    except (OSError, ValueError):  # a client that died while sending: nothing to run
        conn.close()
        return
    if len(fds) != 3:
        for fd in fds:
            os.close(fd)
        conn.close()
        return
    pid = os.fork()
    if pid == 0:  # the child keeps no socket: a client sees the server's end close when the server does
        for open_socket in (listener, conn, *jobs.values()):
            open_socket.close()
        _run_job(request, fds)
    for fd in fds:
        os.close(fd)
    conn.sendall(json.dumps({"pid": pid}).encode() + b"\n")
    selector.register(conn, selectors.EVENT_READ, pid)
    jobs[pid] = conn


def _reap(selector, jobs: dict[int, socket.socket]) -> None:
    for pid in list(jobs):
        done, status = os.waitpid(pid, os.WNOHANG)
        if not done:
            continue
        conn = jobs.pop(pid)
        code = os.waitstatus_to_exitcode(status)
        try:
            conn.sendall(json.dumps({"exit": code if code >= 0 else 128 - code}).encode() + b"\n")
        except OSError:
            pass  # the client is gone
        if conn.fileno() in selector.get_map():
            selector.unregister(conn)
        conn.close()


def _run_job(request: dict, fds: list[int]) -> None:
    """In the forked child: become the client's process, run the stage, exit with its code."""
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for stream, fd in ((sys.stdout, 1), (sys.stderr, 2)):
        stream.reconfigure(line_buffering=os.isatty(fd))
    code = run_stage(request["stage"], request["argv"])
    sys.stdout.flush()
    sys.stderr.flush()
    atexit._run_exitfuncs()  # what a normal interpreter exit would run; the rest of it is skipped
    os._exit(code)


if __name__ == "__main__":
    serve(Path(sys.argv[1]), float(os.environ.get("C2Q_WARM_IDLE", "60")))
