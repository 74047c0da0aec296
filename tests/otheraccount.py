"""Checks run as another account, so what the kernel refuses that account is real, not
faked by setting ``os.geteuid``: a forked child of the test's process drops to nobody."""

from __future__ import annotations

import os
import pickle
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from cardimage import require

NOBODY = 65534


@contextmanager
def reachable_folder(prefix: str) -> Iterator[Path]:
    """A folder every account can reach (pytest's own temporary folders are root's alone)."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        folder.chmod(0o755)
        reachable = all(os.stat(parent).st_mode & 0o001 for parent in folder.parents)
        require(reachable, f"{folder.parent} cannot be entered by every account")
        yield folder
    finally:
        shutil.rmtree(folder)


def as_nobody(work: Callable[[], object]) -> tuple[object, ...]:
    """``("ok", result)`` or ``("raised", type name, message)`` of ``work()`` run as nobody
    (65534) in a forked child of this process, so what the kernel refuses it is real."""
    require(os.geteuid() == 0, "needs root to run a check as another account")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 1
        try:
            os.close(read)
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            result: tuple[object, ...]
            try:
                result = ("ok", work())
            except Exception as exc:
                result = ("raised", type(exc).__name__, getattr(exc, "message", str(exc)))
            with os.fdopen(write, "wb") as out:
                pickle.dump(result, out)
            code = 0
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as answer:
        data = answer.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    found = pickle.loads(data)
    assert isinstance(found, tuple)
    return found
