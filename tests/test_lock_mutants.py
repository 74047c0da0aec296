"""The archive lock's judgements and messages, each pinned where a mutant changed it unseen.

Written for the mutation round on ``archive/lock`` (docs/testing.md): 129 of 311 mutants
lived through ``test_lock.py``, which takes and refuses locks through ``acquire`` and so
could not tell "refused now" from "refused after the wait", nor which record a message
named. Here each step of the take-over is asked on a real lock file on disk: one whose flock
a second real process holds (the run that made it, or another desk's), one with no flock at
all (a file system without flock), one whose write fails. No test sleeps: where the wait
matters, the lock's own pause is the moment the other process is told to act.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import time
import types
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import psutil
import pytest
from cardimage import require
from conftest import fill, immutable, tmpfs_on

import cardingest.archive.lock as lock_module
from cardingest.archive.backend import denied
from cardingest.archive.lock import ArchiveLock
from cardingest.errors import ArchiveError, ArchiveLockedError, InsufficientSpaceError
from cardingest.host import host_name

AGAIN = "Run the same command again once it has finished."
UNVERIFIABLE = (
    "It cannot be checked from here; if that cardingest is surely not running, "
    "delete the lock file and try again."
)
OTHER_DESK = {
    "pid": 4242,
    "host": "desk-2",
    "purpose": "ingest",
    "started": "2026-12-05T09:00:00+13:00",
}
OTHER_DESK_SAYS = "pid 4242 on desk-2, ingest since 2026-12-05T09:00:00+13:00"

HOLDER = textwrap.dedent(
    """
    import fcntl, os, sys
    fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    print("held", flush=True)
    for line in sys.stdin:
        os.write(fd, line.encode())
        print("written", flush=True)
    """
)
"""A second process that holds the flock on a file (a run that has just made its lock file
and not yet written it, or another desk's), and writes each line it is given into it."""


@contextmanager
def held_by_another_process(path: Path) -> Iterator[subprocess.Popen[str]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        yield holder
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)


def write_through(holder: subprocess.Popen[str], text: str) -> None:
    assert holder.stdin is not None and holder.stdout is not None
    holder.stdin.write(text + "\n")
    holder.stdin.flush()
    assert holder.stdout.readline().strip() == "written"


def locked(archive: Path, says: str) -> str:
    return f"Another cardingest ({says}) is using {archive}"


def test_an_empty_lock_a_live_process_holds_is_looked_at_again_then_refused(
    tmp_path: Path,
) -> None:
    """A lock file with nothing in it yet whose flock another process holds is a run between
    making its lock and writing it: it is looked at again (nothing written to it), and at the
    end of the wait refused with every part of the record unknown, never taken over."""
    archive = tmp_path / "archive"
    lock = ArchiveLock(archive, "verify")
    with held_by_another_process(lock.path):
        assert lock._take_over_if_stale(last_try=False) is False
        assert lock.path.read_bytes() == b"" and not lock.held
        with pytest.raises(ArchiveLockedError) as refused:
            lock._take_over_if_stale(last_try=True)
        assert refused.value.message == locked(archive, "pid ? on ?, ? since ?")
        assert refused.value.details == [f"lock file: {lock.path}", AGAIN]
        assert lock.path.read_bytes() == b"" and not lock.held


def test_a_lock_written_while_it_is_waited_for_names_its_owner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other run writes its record while ours waits: ours is refused naming that run (not
    "pid ?"), which it can only do if it waited rather than giving up at its first look."""
    archive = tmp_path / "archive"
    lock = ArchiveLock(archive, "verify")
    with held_by_another_process(lock.path) as holder:
        pauses: list[float] = []

        def pause(seconds: float) -> None:  # the lock's own pause: the other run writes now
            if not pauses:
                write_through(holder, json.dumps(OTHER_DESK))
            pauses.append(seconds)

        real = lock_module.time
        clock = types.SimpleNamespace(monotonic=real.monotonic, time=real.time, sleep=pause)
        monkeypatch.setattr(lock_module, "time", clock)
        with pytest.raises(ArchiveLockedError) as refused:
            lock.acquire()
    assert refused.value.message == locked(archive, OTHER_DESK_SAYS)
    assert pauses == [0.05]
    assert not lock.held


def test_without_flock_a_lock_is_judged_by_its_record_and_the_message_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where there is no flock (some shares), an empty lock file is looked at again, then
    refused; another desk's lock is refused naming it; both say it cannot be checked from
    here and what to do if it surely is not running."""
    monkeypatch.setattr(lock_module, "try_flock", lambda fd: None)
    archive = tmp_path / "archive"
    lock = ArchiveLock(archive, "ingest")
    lock.path.parent.mkdir(parents=True)
    lock.path.write_bytes(b"")
    os.utime(lock.path, (1, 1))  # old: not one being written this moment
    assert lock._take_over_if_stale(last_try=False) is False
    assert not lock.held
    with pytest.raises(ArchiveLockedError) as refused:
        lock._take_over_if_stale(last_try=True)
    assert refused.value.message == locked(archive, "pid ? on ?, ? since ?")
    assert refused.value.details == [f"lock file: {lock.path}", AGAIN, UNVERIFIABLE]
    lock.path.write_text(json.dumps(OTHER_DESK))
    with pytest.raises(ArchiveLockedError) as refused:
        lock._take_over_if_stale(last_try=False)
    assert refused.value.message == locked(archive, OTHER_DESK_SAYS)
    assert refused.value.details == [f"lock file: {lock.path}", AGAIN, UNVERIFIABLE]
    assert json.loads(lock.path.read_text()) == OTHER_DESK and not lock.held


def test_a_young_empty_lock_is_waited_for_an_old_one_taken_at_once(tmp_path: Path) -> None:
    """An empty lock file no one holds may be a run that made it a moment ago and has not
    taken its flock yet: while it is young it is looked at again (and left as it is, its
    flock not kept by our look), at the end of the wait taken. An old empty one (a run killed
    at that moment, long ago) is taken at once. No lock file (just removed) is no lock."""
    archive = tmp_path / "archive"
    lock = ArchiveLock(archive, "ingest")
    lock.path.parent.mkdir(parents=True)
    assert lock._take_over_if_stale(last_try=False) is False and not lock.held
    lock.path.write_bytes(b"")
    soon = time.time() + 60  # young however slowly the test runs
    os.utime(lock.path, (soon, soon))
    assert lock._take_over_if_stale(last_try=False) is False
    assert lock.path.read_bytes() == b"" and not lock.held
    assert lock._take_over_if_stale(last_try=True) is True
    assert lock.took_over_from == {}
    assert json.loads(lock.path.read_text())["pid"] == os.getpid()
    lock.release()
    lock.path.write_bytes(b"")
    os.utime(lock.path, (1, 1))
    assert lock._take_over_if_stale(last_try=False) is True
    assert lock.took_over_from == {}
    lock.release()
    assert not lock.path.exists()


def test_a_lock_record_that_is_not_an_object_is_unreadable(tmp_path: Path) -> None:
    """A lock file holding JSON that is not an object (a list) is an unreadable record: a
    stale one is taken over as ``{}``, not handed on as the record."""
    archive = tmp_path / "archive"
    lock = ArchiveLock(archive, "ingest")
    lock.path.parent.mkdir(parents=True)
    lock.path.write_text("[1, 2]\n")
    os.utime(lock.path, (1, 1))
    with lock:
        assert lock.took_over_from == {}


def test_the_lock_file_is_its_record_in_one_order(tmp_path: Path) -> None:
    """The record is written with its keys in order, one line: the same run writes the same
    bytes, whatever order the code built it in."""
    archive = tmp_path / "archive"
    with ArchiveLock(archive, "wipe") as lock:
        text = lock.path.read_text()
        info = json.loads(text)
        assert text == json.dumps(info, sort_keys=True) + "\n"
        assert list(info) == ["host", "pid", "purpose", "started"]
        with pytest.raises(RuntimeError) as twice:
            lock.acquire()
        assert str(twice.value) == f"{lock.path} is already held by this object"


def started_at(when: float, *, whole_seconds: bool) -> str:
    moment = datetime.fromtimestamp(when).astimezone()
    if whole_seconds:
        return moment.isoformat(timespec="seconds")
    return moment.isoformat(timespec="microseconds")


@pytest.mark.parametrize(
    ("record", "taken"),
    [
        # A pid that is not a number, or is JSON's true (pid 1), judges nothing: refused.
        ({"pid": True, "started": "2024-01-02T03:04:05+13:00"}, False),
        ({"pid": "1", "started": "2024-01-02T03:04:05+13:00"}, False),
        # A live pid whose process began long after the lock: the pid was reused. Taken.
        ({"pid": "me", "started": "2024-01-02T03:04:05+13:00"}, True),
        # A live pid with a start time that cannot be read: it may be the owner. Refused.
        ({"pid": "me", "started": "x"}, False),
        # The lock's start is written in whole seconds, after its process began: a process
        # that began within that second (or before) is the owner. Refused.
        ({"pid": "me", "started": "my second"}, False),
        # A process that began 1.5 s after the lock was written is not its owner. Taken.
        ({"pid": "me", "started": "1.5 s before me"}, True),
    ],
    ids=["pid-true", "pid-text", "reused-pid", "unreadable-start", "same-second", "younger"],
)
def test_without_flock_a_pid_here_is_judged_by_when_its_process_began(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, record: dict[str, object], taken: bool
) -> None:
    """With no flock a lock of this host is stale only if its pid is gone, or belongs to a
    process younger than the lock (by more than the second the record rounds down)."""
    monkeypatch.setattr(lock_module, "try_flock", lambda fd: None)
    mine = psutil.Process(os.getpid()).create_time()
    record = dict(record, host=host_name(), purpose="ingest")
    if record["pid"] == "me":
        record["pid"] = os.getpid()
    if record["started"] == "my second":
        record["started"] = started_at(mine, whole_seconds=True)
    elif record["started"] == "1.5 s before me":
        record["started"] = started_at(mine - 1.5, whole_seconds=False)
    archive = tmp_path / "archive"
    lock = ArchiveLock(archive, "wipe")
    lock.path.parent.mkdir(parents=True)
    lock.path.write_text(json.dumps(record))
    if taken:
        assert lock._take_over_if_stale(last_try=True) is True
        assert lock.took_over_from == record
        lock.release()
    else:
        with pytest.raises(ArchiveLockedError) as refused:
            lock._take_over_if_stale(last_try=True)
        assert refused.value.details[-1] == UNVERIFIABLE
        assert json.loads(lock.path.read_text()) == record


def test_without_flock_the_pid_judged_is_the_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The record's pid is the process looked at, not ours: pid 1 began before the lock
    said it started, so its lock is refused, though this (younger) process would make it
    look stale."""
    monkeypatch.setattr(lock_module, "try_flock", lambda fd: None)
    first = psutil.Process(1).create_time()
    require(psutil.Process(os.getpid()).create_time() > first + 2, "pid 1 began just now")
    record = {"pid": 1, "host": host_name(), "purpose": "ingest"}
    record["started"] = started_at(first, whole_seconds=True)
    lock = ArchiveLock(tmp_path, "wipe")
    lock.path.parent.mkdir(parents=True)
    lock.path.write_text(json.dumps(record))
    with pytest.raises(ArchiveLockedError):
        lock._take_over_if_stale(last_try=True)


def test_a_refusal_never_removes_the_lock_that_now_has_the_path(tmp_path: Path) -> None:
    """Our new lock file's flock is held by another process past the wait, and meanwhile our
    file is no longer the lock (another run's is): we are refused naming whoever wrote our
    file, and the other run's lock stays. Removing it (our file had no record) would let a
    third run in beside that one."""
    archive = tmp_path / "archive"
    ours = ArchiveLock(archive, "ingest")
    made = archive / ".cardingest" / "ours-before-it-was-replaced"
    with held_by_another_process(made) as holder, ArchiveLock(archive, "wipe"):
        with pytest.raises(ArchiveLockedError) as refused:
            ours._claim_new(os.open(made, os.O_RDWR), deadline=0.0)
        assert refused.value.message == locked(archive, "pid ? on ?, ? since ?")
        assert json.loads(ours.path.read_text())["purpose"] == "wipe"
        write_through(holder, json.dumps(OTHER_DESK))
        with pytest.raises(ArchiveLockedError) as refused:
            ours._claim_new(os.open(made, os.O_RDWR), deadline=0.0)
        assert refused.value.message == locked(archive, OTHER_DESK_SAYS)
        assert json.loads(ours.path.read_text())["purpose"] == "wipe"
        assert not ours.held


WRITE_LIMITED = textwrap.dedent(
    """
    import json, resource, signal, sys
    from pathlib import Path
    from cardingest.archive.lock import ArchiveLock
    from cardingest.errors import CardingestError
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (16, 16))
    try:
        ArchiveLock(Path(sys.argv[1]), "ingest").acquire()
    except CardingestError as exc:
        print(json.dumps([type(exc).__name__, exc.message]))
    """
)
"""A run whose writes stop at 16 bytes (``ulimit -f``): the lock's record cannot be written."""


@pytest.mark.parametrize("before", ["no lock", "a dead run's lock"])
def test_a_lock_that_cannot_be_written_is_a_message_and_no_lock_is_left(
    tmp_path: Path, before: str
) -> None:
    """The record's write fails (here: over the process's file size limit, EFBIG): the run
    stops with a message naming the lock file and why, and leaves no lock file of its own
    that would keep every later run out (a half-written record cannot be read, and would be
    "young" to each of them)."""
    archive = tmp_path / "archive"
    path = archive / ".cardingest" / "lock"
    if before != "no lock":
        path.parent.mkdir(parents=True)
        path.write_bytes(b"")
        os.utime(path, (1, 1))
    ran = subprocess.run(
        [sys.executable, "-c", WRITE_LIMITED, str(archive)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stderr
    said = json.loads(ran.stdout)
    assert said == ["ArchiveError", f"Cannot write the lock file {path}: File too large"]
    if before == "no lock":
        assert not path.exists()
        with ArchiveLock(archive, "ingest") as lock:  # nothing in the way of the next run
            assert lock.took_over_from is None


def test_a_full_disk_is_said_when_the_lock_is_written(tmp_path: Path) -> None:
    """No room for the lock's record: the disk is full, say so and what to do (exit 1), and
    leave no lock file behind."""
    disk = tmp_path / "disk"
    disk.mkdir()
    with tmpfs_on(disk, 1):
        archive = disk / "archive"
        (archive / ".cardingest").mkdir(parents=True)
        fill(disk)
        lock = ArchiveLock(archive, "ingest")
        with pytest.raises(InsufficientSpaceError) as full:
            lock.acquire()
        assert full.value.message == (
            f"Cannot write the lock file {lock.path}: the disk is full. Free some space on it "
            "and run the command again; nothing was changed"
        )
        assert not lock.path.exists() and not lock.held


def test_a_read_only_archive_names_what_could_not_be_created(tmp_path: Path) -> None:
    """An archive on a read-only file system: the folder or the lock file that could not be
    made is named, with the system's reason."""
    disk = tmp_path / "disk"
    disk.mkdir()
    with tmpfs_on(disk, 1):
        (disk / "made" / ".cardingest").mkdir(parents=True)
        (disk / "new").mkdir()
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        lock = ArchiveLock(disk / "made", "ingest")
        with pytest.raises(ArchiveError) as refused:
            lock.acquire()
        assert refused.value.message == f"Cannot create {lock.path}: Read-only file system"
        lock = ArchiveLock(disk / "new", "ingest")
        with pytest.raises(ArchiveError) as refused:
            lock.acquire()
        assert refused.value.message == f"Cannot create {lock.path.parent}: Read-only file system"


def test_a_lock_that_is_a_link_or_a_fifo_is_named(tmp_path: Path) -> None:
    """The lock file swapped for a link or a FIFO: the message names the lock file itself."""
    (tmp_path / ".cardingest").mkdir()
    lock = ArchiveLock(tmp_path, "verify")
    lock.path.symlink_to(tmp_path / "victim")
    says = re.escape(f"{lock.path} is a symbolic link or not a regular file")
    with pytest.raises(ArchiveError, match=f"^{says}"):
        lock._take_over_if_stale(last_try=True)
    lock.path.unlink()
    os.mkfifo(lock.path)
    with pytest.raises(ArchiveError, match=f"^{says}"):
        lock._take_over_if_stale(last_try=True)


def test_a_refused_run_removes_only_the_empty_folders_it_made(tmp_path: Path) -> None:
    """Taking the lock makes the archive's folders; a run refused after that (its map does
    not fit the card) removes those it made, ``.cardingest`` first, if they are still empty
    (in an archive folder that was there and empty too), and leaves alone a folder that was
    there before or that holds anything."""
    from cardingest.archive.lock import removed_if_left_empty

    archive = tmp_path / "new" / "deeper" / "archive"
    with (
        pytest.raises(KeyboardInterrupt),
        removed_if_left_empty(archive),
        ArchiveLock(archive, "ingest"),
    ):
        raise KeyboardInterrupt  # Ctrl-C while the map is checked
    assert sorted(p.name for p in tmp_path.iterdir()) == []
    with pytest.raises(ValueError), removed_if_left_empty(archive), ArchiveLock(archive, "ingest"):
        (archive.parent / "kept.txt").write_text("someone's\n")
        raise ValueError("the map does not fit the card")
    assert sorted(p.name for p in archive.parent.iterdir()) == ["kept.txt"]
    existing = tmp_path / "existing"
    existing.mkdir()
    with (
        pytest.raises(ValueError),
        removed_if_left_empty(existing),
        ArchiveLock(existing, "ingest"),
    ):
        raise ValueError("the map does not fit the card")
    assert existing.is_dir()
    assert list(existing.iterdir()) == [], "no empty .cardingest left in a folder that was empty"
    (existing / ".cardingest").mkdir()
    with (
        pytest.raises(ValueError),
        removed_if_left_empty(existing),
        ArchiveLock(existing, "ingest"),
    ):
        raise ValueError("the map does not fit the card")
    assert (existing / ".cardingest").is_dir(), "a .cardingest that was there stays"
    with removed_if_left_empty(tmp_path / "fine"), ArchiveLock(tmp_path / "fine", "ingest"):
        pass
    assert (tmp_path / "fine" / ".cardingest").is_dir(), "a run that went on keeps its archive"


def test_with_a_lock_file_the_run_is_the_archives_sole_writer(tmp_path: Path) -> None:
    """SQLite: the lock file keeps every other run out, so the run may sweep the whole tree
    for a dead run's temporary files."""
    from cardingest.archive.lock import sole_writer

    with sole_writer(tmp_path) as alone:
        assert alone is True


class Clock:
    """The lock's clock, where the wait is over at the first look (the deadline is long
    past) and each pause is counted: a lock that never gives up stops after 20 pauses."""

    def __init__(self) -> None:
        self.calls = 0
        self.pauses = 0
        self.time = lock_module.time.time

    def monotonic(self) -> float:
        self.calls += 1
        return 0.0 if self.calls == 1 else 1000.0

    def sleep(self, seconds: float) -> None:
        self.pauses += 1
        assert self.pauses < 20, "the lock waited for ever"


def test_at_the_end_of_the_wait_an_empty_lock_a_live_process_holds_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An empty lock file whose flock a living process keeps (a run stuck between making its
    lock and writing it) is refused once the wait is over, not waited for for ever."""
    archive = tmp_path / "archive"
    lock = ArchiveLock(archive, "ingest")
    clock = Clock()
    with held_by_another_process(lock.path):
        monkeypatch.setattr(lock_module, "time", clock)
        with pytest.raises(ArchiveLockedError) as refused:
            lock.acquire()
    assert refused.value.message == locked(archive, "pid ? on ?, ? since ?")
    assert clock.pauses == 0 and not lock.held


def test_a_lock_folder_removed_meanwhile_is_made_again_and_the_lock_taken(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between making ``.cardingest`` and creating the lock in it, a refused run removed the
    empty folder (`removed_if_left_empty`): the folder is made again and the lock taken;
    the lock is held, not handed back without it."""
    archive = tmp_path / "archive"
    real = lock_module.refuse_links

    def then_removed(root: Path) -> None:
        real(root)
        (root / ".cardingest").rmdir()

    monkeypatch.setattr(lock_module, "refuse_links", then_removed)
    lock = ArchiveLock(archive, "ingest")
    with lock as entered:
        assert entered is lock and lock.held
        assert json.loads(lock.path.read_text())["pid"] == os.getpid()


def test_a_lock_that_may_not_be_made_or_opened_says_what_and_where(tmp_path: Path) -> None:
    """A PermissionError at each step of taking the lock is a message naming the folder or
    the file and what could not be done to it, not a traceback."""
    require(os.geteuid() == 0, "needs root: chattr +i")
    archive = tmp_path / "archive"
    archive.mkdir()
    lock = ArchiveLock(archive, "ingest")
    with immutable(archive), pytest.raises(ArchiveError) as refused:
        lock.acquire()
    assert refused.value.message == denied(lock.path.parent, "create")
    assert refused.value.message.startswith(f"Cannot create {lock.path.parent}: permission")
    lock.path.parent.mkdir()
    with immutable(lock.path.parent), pytest.raises(ArchiveError) as refused:
        lock.acquire()
    assert refused.value.message == denied(lock.path, "create the lock file")
    assert refused.value.message.startswith(f"Cannot create the lock file {lock.path}: perm")
    lock.path.write_text(json.dumps(OTHER_DESK))
    with immutable(lock.path), pytest.raises(ArchiveError) as refused:
        lock.acquire()
    assert refused.value.message == denied(lock.path, "open the lock file")
    assert refused.value.message.startswith(f"Cannot open the lock file {lock.path}: perm")
    assert json.loads(lock.path.read_text()) == OTHER_DESK and not lock.held
