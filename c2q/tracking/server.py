"""A shared MLflow tracking server on PostgreSQL, with proxied artifact storage (docs/team.md).

`python -m c2q.tracking.server` (`make tracking-server`) keeps a PostgreSQL
cluster in `<dir>/postgres` and the artifacts in `<dir>/artifacts`, starts
both, prints the MLFLOW_TRACKING_URI to export and stops both on Ctrl-C. Run
it again later and the same runs are there. A lab with a PostgreSQL of its
own runs only `mlflow server` (`mlflow_server_command`, docs/team.md).

PostgreSQL refuses to run as root; as root, the cluster runs as the system
user `postgres` that the distribution's package creates.
"""

from __future__ import annotations

import argparse
import glob
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

DATABASE = "mlflow"
SUPERUSER = "c2q"


class ServerError(RuntimeError):
    """PostgreSQL or MLflow could not be found or started; the message says what to do."""


def postgres_bin(name: str) -> str:
    """The path of a PostgreSQL server program (`initdb`, `postgres`): on PATH, or where Debian puts it."""
    found = shutil.which(name) or next(iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None)
    if found is None:
        raise ServerError(f"PostgreSQL's `{name}` is not installed: install the server (Debian/Ubuntu: "
                          "`apt-get install postgresql`), or point --backend-store-uri at a PostgreSQL you have")
    return found


def _db_user() -> pwd.struct_passwd | None:
    """The account the server runs as: None for the current one; `postgres` when the current one is root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        raise ServerError("PostgreSQL cannot run as root and there is no `postgres` user: run as a normal "
                          "user, or install the distribution's postgresql package, which creates it") from None


def _as_db_user(user: pwd.struct_passwd | None) -> dict:
    return {} if user is None else {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []}


class Postgres:
    """One PostgreSQL cluster in `datadir`, listening on `host:port` over TCP only, trusting local logins."""

    def __init__(self, datadir: Path, port: int, host: str = "127.0.0.1"):
        self.datadir, self.port, self.host = Path(datadir).resolve(), port, host
        self.proc: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"postgresql://{SUPERUSER}@{self.host}:{self.port}/{DATABASE}"

    def start(self, timeout: float = 60) -> None:
        require_free_port(self.host, self.port, "PostgreSQL (--db-port)")
        user = _db_user()
        if not (self.datadir / "PG_VERSION").exists():
            self._initdb(user)
        with open(self.datadir.parent / "postgres.log", "ab") as log:
            self.proc = subprocess.Popen(
                [postgres_bin("postgres"), "-D", str(self.datadir), "-p", str(self.port),
                 "-c", f"listen_addresses={self.host}", "-c", "unix_socket_directories="],
                stdout=log, stderr=log, start_new_session=True, **_as_db_user(user))
        self._wait_and_create_database(timeout)

    def _initdb(self, user: pwd.struct_passwd | None) -> None:
        self.datadir.mkdir(parents=True, exist_ok=True)
        if user is not None:
            for path in (self.datadir.parent, self.datadir):
                os.chown(path, user.pw_uid, user.pw_gid)
        done = subprocess.run([postgres_bin("initdb"), "-D", str(self.datadir), "-U", SUPERUSER, "--auth=trust",
                               "-E", "UTF8", "--no-instructions"], capture_output=True, text=True, **_as_db_user(user))
        if done.returncode != 0:
            hint = ("\nAs root, PostgreSQL runs as the user `postgres`, which must be able to enter every folder "
                    f"above {self.datadir} (chmod o+x), or pick a --dir it can reach") if user is not None else ""
            raise ServerError(f"initdb {self.datadir} failed:\n{done.stderr.strip()}{hint}")

    def _wait_and_create_database(self, timeout: float) -> None:
        import psycopg

        deadline = time.monotonic() + timeout
        while True:
            try:  # autocommit: CREATE DATABASE cannot run inside a transaction
                conn = psycopg.connect(host=self.host, port=self.port, user=SUPERUSER, dbname="postgres",
                                       autocommit=True)
                break
            except psycopg.OperationalError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise ServerError(f"PostgreSQL did not start; see {self.datadir.parent / 'postgres.log'}") from None
                time.sleep(0.2)
        with conn:
            if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)).fetchone() is None:
                conn.execute(f"CREATE DATABASE {DATABASE}")

    def stop(self) -> None:
        """Fast shutdown: open transactions are rolled back, the cluster stays consistent."""
        stop_process(self.proc, signal.SIGINT)


def mlflow_server_command(backend_uri: str, artifacts: Path, host: str, port: int, workers: int) -> list[str]:
    """`mlflow server` on a database store, serving the artifacts itself: clients need no access to `artifacts`."""
    return [str(Path(sys.executable).parent / "mlflow"), "server", "--backend-store-uri", backend_uri,
            "--artifacts-destination", str(artifacts), "--host", host, "--port", str(port),
            "--workers", str(workers)]


def start_mlflow(command: list[str], url: str, log: Path, timeout: float = 120) -> subprocess.Popen:
    """Start `mlflow server` and return it once it answers /health."""
    host, port = url.rsplit("/", 1)[-1].rsplit(":", 1)
    require_free_port(host, int(port), "the tracking server (--port)")
    with open(log, "ab") as out:
        # c2q logs no traces: MLflow's job runner (a scheduler and seven worker processes) stays off.
        proc = subprocess.Popen(command, stdout=out, stderr=out, start_new_session=True,
                                env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"})
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                urllib.request.urlopen(f"{url}/health", timeout=2)
                return proc
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise ServerError(f"mlflow server did not start; see {log}") from None
                time.sleep(0.3)
    except BaseException:  # not up, or Ctrl-C while starting: leave no server behind
        stop_process(proc, signal.SIGKILL)
        raise


def require_free_port(host: str, port: int, what: str) -> None:
    """Stop with a message if something already listens there: a client would reach it, not the new server."""
    import socket

    with socket.socket() as s:
        if s.connect_ex(("127.0.0.1" if host == "0.0.0.0" else host, port)) == 0:
            raise ServerError(f"port {port} for {what} is in use: another server is running there; stop it or "
                              "pick another port")


def stop_process(proc: subprocess.Popen | None, sig: int) -> None:
    """Send `sig` to the process group `proc` leads (a server and its workers); SIGKILL after 15 s."""
    if proc is None or proc.poll() is not None:
        return
    os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextmanager
def tracking_server(root: Path, port: int, db_port: int, host: str, workers: int) -> Iterator[str]:
    """PostgreSQL and `mlflow server` on it, both kept in `root`; yields the tracking URI, stops both after."""
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    database = Postgres(root / "postgres", db_port)
    try:
        database.start()
        url = f"http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}"
        server = start_mlflow(mlflow_server_command(database.uri, root / "artifacts", host, port, workers), url,
                              root / "mlflow-server.log")
        try:
            yield url
        finally:
            stop_process(server, signal.SIGTERM)
    finally:
        database.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m c2q.tracking.server", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=Path(".tracking"), help="where the database and artifacts live")
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to let other machines log to it")
    parser.add_argument("--port", type=int, default=5000, help="the tracking server's port")
    parser.add_argument("--db-port", type=int, default=5433, help="PostgreSQL's port (on 127.0.0.1 only)")
    parser.add_argument("--workers", type=int, default=4, help="the tracking server's worker processes")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _exit_once)
    signal.signal(signal.SIGINT, _exit_once)
    try:
        with tracking_server(args.dir, args.port, args.db_port, args.host, args.workers) as url:
            print(f"MLflow on PostgreSQL is up at {url} (open it for the UI). In every shell that runs the "
                  f"pipeline:\n  export MLFLOW_TRACKING_URI={url}\nCtrl-C stops both.", flush=True)
            while True:
                time.sleep(3600)
    except ServerError as e:
        sys.exit(f"error: {e}")


def _exit_once(*_) -> None:
    """Leave through the `finally`s that stop both servers; a second Ctrl-C or SIGTERM must not cut them short."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.exit(0)


if __name__ == "__main__":
    main()
