"""Records which files a Python process opens, for tests that hold dvc.yaml to what stages really do.

Python imports `sitecustomize` at start-up from the first folder on its path
that has one; the tests put this folder on PYTHONPATH for `dvc repro`, so every
stage process it starts loads this file. With C2Q_IO_TRACE set to a folder, the
process records every file under its working directory that it opened, for
reading or for writing, and writes them to `<folder>/<pid>.json` when it exits.
Without C2Q_IO_TRACE it does nothing.
"""

import atexit
import json
import os
import re
import sys

_OUT = os.environ.get("C2Q_IO_TRACE")
# atomic_path writes `dir/name` as `dir/.name.<random>.tmp/name` and then moves it into place
_TEMPORARY = re.compile(r"(^|/)\.(?P<name>[^/]+)\.[^/]+\.tmp(/(?P=name))?(?=/|$)")
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def _install(out: str) -> None:
    root = os.getcwd()
    opened = {"reads": set(), "writes": set()}

    def hook(event, args):
        if event != "open":
            return
        path, mode, flags = args
        if isinstance(path, bytes):
            path = os.fsdecode(path)
        if not isinstance(path, str):
            return  # a file descriptor
        full = os.path.abspath(path)
        if not full.startswith(root + os.sep):
            return
        relative = _TEMPORARY.sub(r"\1\g<name>", os.path.relpath(full, root))
        writing = any(c in (mode or "") for c in "wax+") or bool((flags or 0) & _WRITE_FLAGS)
        if not writing and not os.path.lexists(full):
            return  # a name relative to another folder's descriptor (dir_fd: shutil.rmtree opens its subfolders so)
        opened["writes" if writing else "reads"].add(relative)

    def dump():
        record = {"argv": sys.argv, **{k: sorted(v) for k, v in opened.items()}}
        with open(os.path.join(out, f"{os.getpid()}.json"), "w") as f:
            json.dump(record, f)

    def forget():  # a child forked by the warm stage server (stages/warm.py) records only its own stage
        for files in opened.values():
            files.clear()

    sys.addaudithook(hook)
    atexit.register(dump)
    os.register_at_fork(after_in_child=forget)


if _OUT:
    _install(_OUT)
