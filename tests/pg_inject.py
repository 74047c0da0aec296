"""Run the real cardingest CLI with one fault at a chosen code point (PostgreSQL scenarios).

    python tests/pg_inject.py POINT ARGS...

POINT:
- ``die-after-first-copy``: SIGKILL itself once the first photo is copied, verified and
  queued for the catalogue (published on disk, no row yet): kill -9 of a workstation. The
  photos are copied one at a time, so that one alone is published, whatever the timing.
- ``run-after-first-copy``: at that moment run the command in ``$CARDINGEST_TEST_HOOK``
  (a JSON list, e.g. stopping the database server), then carry on.
- ``run-after-first-copy-alone``: the same, the photos copied one at a time: the next photo
  is read, claimed and published only after the command has run, whatever the timing.
- ``wait-after-first-copy``: at that moment print ``HOOK-REACHED`` on stderr and wait for a
  line on stdin (the test decides when the ingest goes on).
- ``wait-before-recording``: every photo copied, verified and published, none recorded (no
  batch before the last): print ``HOOK-REACHED`` and wait for a line on stdin.
- ``run-after-ingest-begun``: run the command in ``$CARDINGEST_TEST_HOOK`` once the
  ingest's record is begun in the catalogue, before any photo is copied (the server
  stopped then leaves it ``running``, having copied nothing).
- ``lose-ingest-begun``: the same hook once the ingest's record is committed, then the
  call fails as the server's lost reply would (the record left ``running``, nothing copied,
  the journal removed: a server stopped as it committed).
- ``die-as-it-closes``: SIGKILL as the ingest closes its record, every row committed
  and its journal removed (the record left ``running``).
- ``wait-before-copying``: planned, nothing copied yet: print ``HOOK-REACHED`` and wait.
- ``interrupt-after-first-copy``: Ctrl-C (a KeyboardInterrupt) once the first photo is
  copied, verified and queued: the run stops as ``interrupted``, every photo it named
  recorded, and removes its journal.
- ``interrupt-before-first-row``: a KeyboardInterrupt in place of queueing the first photo
  (published on disk, one at a time): the run stops with a photo named and not recorded,
  as a second Ctrl-C can leave it, and keeps its journal.
- ``die-in-migrate-copy``: SIGKILL inside the migration's transaction, rows inserted.
- ``die-before-migrate-mark``: SIGKILL after the copy is committed and checked, before the
  SQLite file is marked.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from typing import Any

from cardingest import ingest
from cardingest.archive import migrate
from cardingest.archive.catalogue import Catalogue
from cardingest.cli import app as cli


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _once(action: Callable[[], None]) -> Callable[..., Any]:
    original = ingest._Batcher.add
    done: list[bool] = []

    def add(self: Any, record: Any) -> None:
        original(self, record)
        if not done:
            done.append(True)
            action()

    return add


def _run_hook() -> None:
    subprocess.run(json.loads(os.environ["CARDINGEST_TEST_HOOK"]), check=True)


def _interrupt() -> None:
    raise KeyboardInterrupt


def _interrupting(self: Any, record: Any) -> None:
    raise KeyboardInterrupt


def _wait() -> None:
    sys.stderr.write("HOOK-REACHED\n")
    sys.stderr.flush()
    sys.stdin.readline()


def _before_first_flush() -> Callable[..., Any]:
    original = ingest._Batcher.flush
    done: list[bool] = []

    def flush(self: Any) -> None:
        if self.pending and not done:
            done.append(True)
            _wait()
        original(self)

    return flush


def _waiting_first(original: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _wait()
        return original(*args, **kwargs)

    return wrapper


def _one_at_a_time(original: Callable[..., Any]) -> Callable[..., Any]:
    """`transfer_many` with one worker: the next photo is copied only once the caller has
    taken the one before, so nothing else is published when the first is queued."""

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return original(*args, **{**kwargs, "workers": 1})

    return wrapper


def _after(original: Callable[..., Any], action: Callable[[], None]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        done = original(*args, **kwargs)
        action()
        return done

    return wrapper


def _after_then_lost(original: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        original(self, *args, **kwargs)
        _run_hook()
        self.ingests()  # the server is gone: the catalogue's own error for it
        raise AssertionError("the hook was to stop the server")

    return wrapper


def _before(original: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        die()
        return original(*args, **kwargs)

    return wrapper


def main() -> None:
    point, args = sys.argv[1], sys.argv[2:]
    if point == "die-after-first-copy":
        ingest._Batcher.add = _once(die)  # type: ignore[method-assign]
        ingest.transfer_many = _one_at_a_time(ingest.transfer_many)
    elif point == "run-after-first-copy":
        ingest._Batcher.add = _once(_run_hook)  # type: ignore[method-assign]
    elif point == "run-after-first-copy-alone":
        ingest._Batcher.add = _once(_run_hook)  # type: ignore[method-assign]
        ingest.transfer_many = _one_at_a_time(ingest.transfer_many)
    elif point == "interrupt-after-first-copy":
        ingest._Batcher.add = _once(_interrupt)  # type: ignore[method-assign]
    elif point == "interrupt-before-first-row":
        ingest._Batcher.add = _interrupting  # type: ignore[method-assign]
        ingest.transfer_many = _one_at_a_time(ingest.transfer_many)
    elif point == "wait-after-first-copy":
        ingest._Batcher.add = _once(_wait)  # type: ignore[method-assign]
    elif point == "wait-before-recording":
        ingest.BATCH_FILES, ingest.BATCH_SECONDS = 1 << 30, float("inf")
        ingest._Batcher.flush = _before_first_flush()  # type: ignore[method-assign]
    elif point == "run-after-ingest-begun":
        Catalogue.begin_ingest = _after(Catalogue.begin_ingest, _run_hook)  # type: ignore[method-assign]
    elif point == "lose-ingest-begun":
        Catalogue.begin_ingest = _after_then_lost(Catalogue.begin_ingest)  # type: ignore[method-assign]
    elif point == "die-as-it-closes":
        Catalogue.finish_ingest = _before(Catalogue.finish_ingest)  # type: ignore[method-assign]
    elif point == "wait-before-copying":
        cli.run_execute = _waiting_first(cli.run_execute)
    elif point == "die-in-migrate-copy":
        migrate._migrate_line = _before(migrate._migrate_line)  # type: ignore[assignment]
    elif point == "die-before-migrate-mark":
        migrate._mark = _before(migrate._mark)  # type: ignore[assignment]
    else:
        raise SystemExit(f"unknown point {point}")
    sys.argv = ["cardingest", *args]
    cli.main()


if __name__ == "__main__":
    main()
