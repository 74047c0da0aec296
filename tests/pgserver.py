"""A throwaway PostgreSQL server for the tests: ``initdb`` + ``pg_ctl`` in a temporary folder.

It listens only on a Unix socket inside that folder (no TCP port at all). ``initdb`` refuses
to run as root, so as root the server runs as the ``postgres`` user (Debian's package makes
it) through ``runuser``. Readiness is polled with ``pg_isready`` a bounded number of times.
Each test gets a database of its own (``fresh_database``).
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import subprocess
import tempfile
from itertools import count
from pathlib import Path
from urllib.parse import quote

from cardimage import require

_TOOLS = ("initdb", "pg_ctl", "pg_isready")
READY_POLLS = 120
"""pg_isready tries (each waits up to 1 s for the server): bounded, never a fixed sleep."""


def find_bindir() -> Path | None:
    """The folder with initdb, pg_ctl and pg_isready: PATH, else Debian's versioned folder."""
    on_path = [shutil.which(tool) for tool in _TOOLS]
    if all(on_path):
        return Path(os.path.realpath(str(on_path[0]))).parent
    for folder in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if all(Path(folder, tool).exists() for tool in _TOOLS):
            return Path(folder)
    return None


class PgServer:
    def __init__(self, bindir: Path, options: str = "") -> None:
        self.bindir = bindir
        self.options = options
        """More ``-c`` settings for the server (a test's own server)."""
        self.root = Path(tempfile.mkdtemp(prefix="cdpg-"))
        self.data = self.root / "data"
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "postgres"
            entry = pwd.getpwnam(self.user)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self.dbuser = self.user or pwd.getpwuid(os.geteuid()).pw_name
        self._names = count(1)

    def _as_owner(self, *args: str) -> list[str]:
        prefix = ["runuser", "-u", self.user, "--"] if self.user else []
        return prefix + list(args)

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self._as_owner(*args),
            capture_output=True,
            text=True,
            stdin=subprocess.DEVNULL,
            check=False,
            cwd=self.root,
        )

    def start(self) -> None:
        init = self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        )
        if init.returncode != 0:
            raise RuntimeError(f"initdb failed: {init.stderr or init.stdout}")
        options = (
            f"-c listen_addresses='' -k {self.root} -c fsync=off -c max_connections=100 "
            + self.options
        )
        started = self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "server.log"),
            "-o",
            options,
            "-w",
            "start",
        )
        if started.returncode != 0:
            log = (self.root / "server.log").read_text(errors="replace")
            raise RuntimeError(f"pg_ctl start failed: {started.stderr}\n{log}")
        for _ in range(READY_POLLS):
            ready = subprocess.run(
                [str(self.bindir / "pg_isready"), "-h", str(self.root), "-t", "1", "-q"],
                check=False,
            )
            if ready.returncode == 0:
                return
        raise RuntimeError(f"the test server at {self.root} never became ready")

    def url(self, database: str = "postgres", user: str | None = None) -> str:
        return (
            f"postgresql://{quote(user or self.dbuser)}@/{database}"
            f"?host={quote(str(self.root), safe='')}"
        )

    def admin(self, sql: str, database: str = "postgres") -> None:
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    def fresh_database(self) -> str:
        name = f"t{os.getpid()}_{next(self._names)}"
        self.admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def start_again(self) -> None:
        log = str(self.root / "server.log")
        options = (
            f"-c listen_addresses='' -k {self.root} -c fsync=off -c max_connections=100 "
            + self.options
        )
        self._run(
            str(self.bindir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            log,
            "-o",
            options,
            "-w",
            "start",
        )

    def close(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def require_postgres() -> Path:
    bindir = find_bindir()
    require(bindir is not None, "PostgreSQL server programs (initdb, pg_ctl) not found")
    assert bindir is not None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            require(False, "running as root needs a 'postgres' user to run the test server")
        require(shutil.which("runuser") is not None, "runuser (util-linux) not found")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        require(False, "psycopg is not installed (pip install 'psycopg[binary]')")
    return bindir
