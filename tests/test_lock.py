"""The archive lock: one ingest or wipe at a time, stale locks taken over."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cardingest.archive.lock import ArchiveLock
from cardingest.errors import EXIT_FAILURE, ArchiveLockedError


def lock_file(archive: Path) -> Path:
    return archive / ".cardingest" / "lock"


def dead_pid() -> int:
    child = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    return int(child.stdout)


def test_lock_file_holds_who_and_why(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    with ArchiveLock(archive, "ingest") as lock:
        info = json.loads(lock_file(archive).read_text())
        assert info["pid"] == os.getpid()
        assert info["host"] == socket.gethostname()
        assert info["purpose"] == "ingest"
        assert info["started"]
        assert lock.took_over_from is None
        assert lock.held
    assert not lock_file(archive).exists()
    assert not lock.held


def test_second_lock_on_same_archive_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    with ArchiveLock(archive, "ingest"):
        with pytest.raises(ArchiveLockedError) as caught, ArchiveLock(archive, "wipe"):
            pass
        message = caught.value.message
        assert f"pid {os.getpid()} on {socket.gethostname()}" in message
        assert "ingest since" in message
        assert str(archive) in message
        assert caught.value.exit_code == EXIT_FAILURE
        assert lock_file(archive).exists()
    with ArchiveLock(archive, "wipe"):
        assert json.loads(lock_file(archive).read_text())["purpose"] == "wipe"
    assert not lock_file(archive).exists()


def test_lock_held_by_another_process_is_refused(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
            import sys
            from pathlib import Path
            from cardingest.archive.lock import ArchiveLock
            with ArchiveLock(Path({str(archive)!r}), "ingest"):
                print("held", flush=True)
                sys.stdin.readline()
            """
            ),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(ArchiveLockedError, match=f"pid {holder.pid} "):
            ArchiveLock(archive, "ingest").acquire()
    finally:
        assert holder.stdin is not None
        holder.stdin.close()
        holder.wait(timeout=30)
    assert not lock_file(archive).exists()
    with ArchiveLock(archive, "ingest") as lock:
        assert lock.took_over_from is None


def left_by_a_dead_run(archive: Path) -> dict[str, str | int]:
    """A lock file of an ingest here whose process is gone; returns what it says."""
    stale: dict[str, str | int] = {
        "pid": dead_pid(),
        "host": socket.gethostname(),
        "started": "2024-01-02T03:04:05+13:00",
        "purpose": "ingest",
    }
    lock_file(archive).parent.mkdir(parents=True)
    lock_file(archive).write_text(json.dumps(stale))
    return stale


def test_lock_left_by_dead_process_is_taken_over(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    stale = left_by_a_dead_run(archive)

    with ArchiveLock(archive, "ingest") as lock:
        assert lock.took_over_from == stale
        assert json.loads(lock_file(archive).read_text())["pid"] == os.getpid()
        with pytest.raises(ArchiveLockedError):
            ArchiveLock(archive, "wipe").acquire()
    assert not lock_file(archive).exists()


def test_lock_of_killed_process_is_taken_over(tmp_path: Path) -> None:
    """kill -9 leaves the file behind, but its flock dies with the process."""
    archive = tmp_path / "archive"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(
                f"""
            import time
            from pathlib import Path
            from cardingest.archive.lock import ArchiveLock
            ArchiveLock(Path({str(archive)!r}), "ingest").acquire()
            print("held", flush=True)
            time.sleep(60)
            """
            ),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    holder.kill()
    holder.wait(timeout=30)
    assert lock_file(archive).exists()

    with ArchiveLock(archive, "wipe") as lock:
        assert lock.took_over_from is not None
        assert lock.took_over_from["pid"] == holder.pid
    assert not lock_file(archive).exists()


def test_unlocked_file_of_live_pid_is_stale(tmp_path: Path) -> None:
    """A live recorded pid without the flock is a reused pid (say after a reboot)."""
    archive = tmp_path / "archive"
    lock_file(archive).parent.mkdir(parents=True)
    lock_file(archive).write_text(
        json.dumps({"pid": os.getppid(), "host": "elsewhere", "started": "x", "purpose": "wipe"})
    )
    with ArchiveLock(archive, "ingest") as lock:
        assert lock.took_over_from is not None
        assert lock.took_over_from["host"] == "elsewhere"


def test_unreadable_old_lock_file_is_taken_over(tmp_path: Path) -> None:
    archive = tmp_path / "archive"
    lock_file(archive).parent.mkdir(parents=True)
    lock_file(archive).write_bytes(b"\x00garbage")
    os.utime(lock_file(archive), (1, 1))
    with ArchiveLock(archive, "ingest") as lock:
        assert lock.took_over_from == {}
    assert not lock_file(archive).exists()


def test_release_is_idempotent(tmp_path: Path) -> None:
    lock = ArchiveLock(tmp_path, "ingest").acquire()
    lock.release()
    lock.release()
    assert not lock_file(tmp_path).exists()


@pytest.mark.parametrize("target", ["a root-only file", "nothing"])
@pytest.mark.parametrize("command", ["verify", "ingest", "tag"])
def test_a_lock_or_record_that_is_a_symbolic_link_is_refused_not_followed(
    tmp_path: Path, target: str, command: str
) -> None:
    """Whoever may write an archive plants ``.cardingest/lock`` as a link to a file of
    root's: a run as root (`sudo cardingest verify`) wrote its lock into that file, and a
    link to nothing made every command wait for ever. Now the run stops at once (exit 2),
    names the link, and the file is as it was; so does a link to the manifests' folder."""
    from exif_bytes import exif_jpeg
    from typer.testing import CliRunner

    from cardingest.cli import app as cli_app
    from cardingest.errors import EXIT_USAGE

    card = tmp_path / "card" / "DCIM" / "100CANON"
    card.mkdir(parents=True)
    (card / "IMG_0001.JPG").write_bytes(exif_jpeg("2026:03:16 09:01:00"))
    archive = tmp_path / "a"
    runner = CliRunner()
    made = runner.invoke(cli_app.app, ["ingest", str(tmp_path / "card"), "--id", "JBX3656",
                                       "--archive", str(archive)])  # fmt: skip
    assert made.exit_code == 0, made.output
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    lock = archive / ".cardingest" / "lock"
    lock.symlink_to(victim if target != "nothing" else tmp_path / "nowhere")
    argv = {
        "verify": ["verify", "--archive", str(archive)],
        "ingest": ["ingest", str(tmp_path / "card"), "--id", "JBX3656", "--archive", str(archive)],
        "tag": ["tag", "JBX3656", "--diagnosis", "naevus", "--archive", str(archive)],
    }[command]
    result = runner.invoke(cli_app.app, argv)
    assert result.exit_code == EXIT_USAGE, result.output
    assert f"{lock} is a symbolic link" in " ".join(result.output.split())
    assert victim.read_text() == "precious\n"
    assert not (tmp_path / "nowhere").exists()
    lock.unlink()
    manifests = archive / ".cardingest" / "manifests"
    manifests.rename(tmp_path / "elsewhere")
    manifests.symlink_to(tmp_path / "elsewhere")
    before = sorted(p.name for p in (tmp_path / "elsewhere").iterdir())
    result = runner.invoke(cli_app.app, argv)
    assert result.exit_code == EXIT_USAGE, result.output
    assert f"{manifests} is a symbolic link" in " ".join(result.output.split())
    assert sorted(p.name for p in (tmp_path / "elsewhere").iterdir()) == before


def test_a_lock_made_a_link_after_the_check_is_not_followed(tmp_path: Path) -> None:
    """The link planted between the archive's check and the lock's open: the open does not
    follow it (O_NOFOLLOW), and a FIFO in its place is refused without waiting."""
    from cardingest.errors import ArchiveError

    (tmp_path / ".cardingest").mkdir()
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    lock = ArchiveLock(tmp_path, "verify")
    lock.path.symlink_to(victim)
    with pytest.raises(ArchiveError, match="is a symbolic link"):
        lock._take_over_if_stale(last_try=True)
    lock.path.unlink()
    os.mkfifo(lock.path)
    with pytest.raises(ArchiveError, match="not a regular file"):
        lock._take_over_if_stale(last_try=True)
    assert victim.read_text() == "precious\n"


@pytest.mark.parametrize("owner", ["another desk", "a live process here"])
def test_without_flock_a_lock_whose_owner_may_live_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, owner: str
) -> None:
    """On a file system with no flock (some network shares) a lock is judged by its record
    alone: another desk's pid cannot be looked up here, and a live pid here that started
    before the lock was written is its owner. Mutants that took either over passed every
    test (two ingests into one archive at once). A dead pid here is taken over."""
    monkeypatch.setattr("cardingest.archive.lock.try_flock", lambda fd: None)
    archive = tmp_path / "archive"
    lock_file(archive).parent.mkdir(parents=True)
    started = "2024-01-02T03:04:05+13:00"
    live = {"pid": os.getpid(), "host": socket.gethostname(), "started": "2999-01-01T00:00:00"}
    held = {"pid": dead_pid(), "host": "otherdesk", "started": started}
    lock_file(archive).write_text(json.dumps(held if owner == "another desk" else live))
    with pytest.raises(ArchiveLockedError):
        ArchiveLock(archive, "ingest").acquire()
    stale = {"pid": dead_pid(), "host": socket.gethostname(), "started": started}
    lock_file(archive).write_text(json.dumps(stale))
    with ArchiveLock(archive, "ingest") as lock:
        assert lock.took_over_from == stale


def test_release_leaves_a_lock_that_replaced_ours(tmp_path: Path) -> None:
    """Our lock file removed by hand (or by a run that took it for stale) and another run's
    made in its place: our release must not remove that one, or a third run starts while it
    works (two ingests into one archive at once)."""
    archive = tmp_path / "archive"
    ours = ArchiveLock(archive, "ingest").acquire()
    lock_file(archive).unlink()
    theirs = ArchiveLock(archive, "wipe").acquire()
    try:
        ours.release()
        assert lock_file(archive).exists(), "our release removed the other run's lock"
        assert json.loads(lock_file(archive).read_text())["purpose"] == "wipe"
        with pytest.raises(ArchiveLockedError, match="wipe since"):
            ArchiveLock(archive, "verify").acquire()
    finally:
        theirs.release()
    assert not lock_file(archive).exists()


def test_a_stale_lock_replaced_while_it_is_looked_at_is_not_taken_over(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between our open of a dead run's lock file and our taking it over, another run took
    it, finished and removed it, and a third made a new lock: taking over the old file
    (unlinked, no longer the lock) would let us run beside the third. We look again, and
    find the third run's lock held."""
    import cardingest.archive.lock as lock_module

    archive = tmp_path / "archive"
    left_by_a_dead_run(archive)
    real = lock_module.try_flock
    others: list[ArchiveLock] = []

    def replaced_first(fd: int) -> bool | None:
        if not others:  # our first look at the dead run's file: it is replaced meanwhile
            lock_file(archive).unlink()
            others.append(ArchiveLock(archive, "wipe"))
            others[0].acquire()
        return real(fd)

    monkeypatch.setattr(lock_module, "try_flock", replaced_first)
    ours = ArchiveLock(archive, "ingest")
    try:
        with pytest.raises(ArchiveLockedError, match="wipe since"):
            ours.acquire()
        assert not ours.held
        assert json.loads(lock_file(archive).read_text())["purpose"] == "wipe"
    finally:
        ours.release()
        others[0].release()
    assert not lock_file(archive).exists()
