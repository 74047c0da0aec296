"""Run the cardingest CLI with a fault at one chosen code point (scenarios 1c and 5).

    python tests/faults/inject.py POINT ingest SOURCE --id ID --archive DIR ...

POINT names the moment (see ``POINTS``). At most points the process sends itself SIGKILL, so
nothing after it runs: no ``finally``, no ``except``, exactly as with kill -9 or a power cut
of the process. ``fill-before-manifest`` instead fills the archive's file system (``dd``
until ENOSPC) just before the manifest is written, and the ``…-wait`` points pause: they
print ``HOOK-REACHED`` on stderr and wait for a line on stdin (a signal sent then lands in
that wait). Everything else is the real CLI, through the console script's own entry point
(``cardingest.cli.main``, which also makes SIGTERM and SIGHUP act as Ctrl-C).
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cardingest import abandon, ingest
from cardingest import move as move_module
from cardingest.archive import audit, catalogue, lock, manifest
from cardingest.card import watch
from cardingest.cli import common as cli_common
from cardingest.cli import main as console_script
from cardingest.storage import durable


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _after(original: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        die()
        return result

    return wrapper


def _before(original: Callable[..., Any]) -> Callable[..., Any]:
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        die()
        return original(*args, **kwargs)

    return wrapper


def _replace_into(suffix: str) -> None:
    """Die when something is renamed over a file whose name ends in ``suffix``."""
    real = os.replace

    def replace(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if Path(os.fsdecode(dst)).name.endswith(suffix):
            die()
        real(src, dst, *args, **kwargs)

    os.replace = replace


def _no_links() -> None:
    """A drive without hard links that can rename without replacing (exFAT or FAT in
    Linux's own drivers), played on this disk: every link refused with EPERM."""

    def no_links(*_args: Any, **_kwargs: Any) -> None:
        raise OSError(errno.EPERM, "Operation not permitted")

    os.link = no_links


def _no_links_renamed_into(suffix: str) -> None:
    """`_no_links`, and death at the first rename of a file to a name ending in ``suffix``:
    onto an empty file taking its name (`os.replace`), or straight to its name
    (`durable.rename_new`)."""
    _no_links()
    _replace_into(suffix)
    real = getattr(durable, "_renameat2_call", None)
    if real is None:  # the code before rename_new
        return

    def call() -> Callable[..., int] | None:
        found = real()
        if found is None:
            return None

        def renameat2(old_at: int, old: bytes, new_at: int, new: bytes, flags: int) -> int:
            if os.fsdecode(new).endswith(suffix):
                die()
            return found(old_at, old, new_at, new, flags)

        return renameat2

    durable._renameat2_call = call


def _link_then_die() -> None:
    real = os.link

    def link(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        real(src, dst, *args, **kwargs)
        die()

    os.link = link


def _repair_link(*, after: bool) -> None:
    """Die at the link that sets a damaged copy aside (``.cardingest/damaged/``)."""
    real = os.link

    def link(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        aside = "damaged" in Path(os.fsdecode(dst)).parts
        if aside and not after:
            die()
        real(src, dst, *args, **kwargs)
        if aside:
            die()

    os.link = link


def _card_unlink_then_die() -> None:
    """Die right after the wipe removes its first card file (a path under ``DCIM/``)."""
    real = os.unlink

    def unlink(path: Any, *args: Any, **kwargs: Any) -> None:
        real(path, *args, **kwargs)
        if "DCIM" in Path(os.fsdecode(path)).parts:
            die()

    os.unlink = unlink


def _after_event(name: str) -> None:
    """Die right after the audit log's first ``name`` event is written."""
    real = audit.AuditLog.append

    def append(self: audit.AuditLog, event: str, **fields: Any) -> dict:
        written = real(self, event, **fields)
        if event == name:
            die()
        return written

    audit.AuditLog.append = append  # type: ignore[method-assign]


def _at_link(suffix: str, action: Callable[[], None]) -> None:
    """Run ``action`` the first time a temporary is linked to a name ending in ``suffix``
    (a DICOM file, a shared copy): it is written and synced under its temporary name, not
    yet published."""
    real = os.link
    done: list[bool] = []

    def link(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if Path(os.fsdecode(dst)).suffix == suffix and not done:
            done.append(True)
            action()
        real(src, dst, *args, **kwargs)

    os.link = link


def _wait() -> None:
    sys.stderr.write("HOOK-REACHED\n")
    sys.stderr.flush()
    sys.stdin.readline()


def _wait_after_first_file() -> None:
    """Pause in the main thread once the ingest has settled its first photo (copied, verified,
    its row batched), while the copy workers carry on with the photos queued after it."""
    real = ingest.execute

    def execute(*args: Any, **kwargs: Any) -> ingest.IngestResult:
        told = kwargs.get("on_file")
        settled: list[bool] = []

        def on_file(outcome: Any) -> None:
            if told is not None:
                told(outcome)
            if not settled:
                settled.append(True)
                _wait()

        return real(*args, **{**kwargs, "on_file": on_file})

    ingest.execute = execute  # type: ignore[assignment]


def _wait_at_first_look() -> None:
    """Pause ``watch`` in its first look for a card, before any card is handled."""
    real = watch.find_cards
    looked: list[bool] = []

    def find_cards() -> Any:
        if not looked:
            looked.append(True)
            _wait()
        return real()

    watch.find_cards = find_cards


def _wait_once_a_card_is_found() -> None:
    """Pause ``watch`` between finding its first card and handing it to its ingest."""
    real = watch.Watcher.next_card
    found: list[bool] = []

    def next_card(self: watch.Watcher) -> Any:
        card = real(self)
        if not found:
            found.append(True)
            _wait()
        return card

    watch.Watcher.next_card = next_card  # type: ignore[method-assign]


def _wait_before_the_scan() -> None:
    """Pause once the source is found a card, the archive opened, before the card is scanned."""
    real = cli_common.scan_and_plan

    def scan_and_plan(*args: Any, **kwargs: Any) -> Any:
        _wait()
        return real(*args, **kwargs)

    cli_common.scan_and_plan = scan_and_plan  # type: ignore[assignment]


def _wait_after_the_first_slate_read() -> None:
    """Pause once the first photo was looked at for a slate, the others still to read."""
    from cardingest.card import slate

    real = slate._read_one
    waited: list[bool] = []

    def read_one(*args: Any, **kwargs: Any) -> Any:
        read = real(*args, **kwargs)
        if not waited:
            waited.append(True)
            _wait()
        return read

    slate._read_one = read_one  # type: ignore[assignment]


def _fill_before_manifest() -> None:
    """Fill the archive's file system as a manifest is written (`archive.manifest`, where
    the ingest's manifest writers look it up)."""
    real = manifest.write_manifest

    def write_manifest(archive: Path, *args: Any, **kwargs: Any) -> Path:
        filler = Path(archive) / "filler.bin"
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=64k"], capture_output=True)
        return real(archive, *args, **kwargs)

    manifest.write_manifest = write_manifest  # type: ignore[assignment]


POINTS: dict[str, Callable[[], None]] = {
    "after-lock": lambda: setattr(lock.ArchiveLock, "acquire", _after(lock.ArchiveLock.acquire)),
    "after-link": _link_then_die,
    "before-rows": lambda: setattr(catalogue.Catalogue, "add", _before(catalogue.Catalogue.add)),
    "manifest": lambda: _replace_into(".sha256"),
    "finish": lambda: setattr(
        catalogue.Catalogue, "finish_ingest", _before(catalogue.Catalogue.finish_ingest)
    ),
    "audit-line": lambda: setattr(
        audit.AuditLog, "_write_head", _before(audit.AuditLog._write_head)
    ),
    "audit-head": lambda: _replace_into("audit.head"),
    "xmp": lambda: _replace_into(".xmp"),
    # an archive without hard links: the verified copy renamed onto its empty placeholder
    "publish-rename": lambda: _replace_into(".jpg"),
    # one that renames without replacing: the verified copy renamed to its name
    "nolinks-publish-rename": lambda: _no_links_renamed_into(".jpg"),
    "no-links": _no_links,  # no fault: the whole run without hard links
    "fill-before-manifest": _fill_before_manifest,
    "repair-verified": lambda: _repair_link(after=False),
    "backup-recorded": lambda: setattr(
        catalogue.Catalogue, "set_backup_copy", _after(catalogue.Catalogue.set_backup_copy)
    ),
    "repair-set-aside": lambda: _repair_link(after=True),
    # cardingest move (scenario 14b); "after-link", "manifest" and "audit-line" apply too.
    "move-journal": lambda: setattr(
        move_module, "_write_journal", _after(move_module._write_journal)
    ),
    "move-rows": lambda: setattr(
        catalogue.Catalogue, "move_rows", _before(catalogue.Catalogue.move_rows)
    ),
    "move-rows-done": lambda: setattr(
        catalogue.Catalogue, "move_rows", _after(catalogue.Catalogue.move_rows)
    ),
    "move-unlink": lambda: setattr(move_module, "_unlink_old", _after(move_module._unlink_old)),
    "move-audited": lambda: setattr(audit.AuditLog, "append", _after(audit.AuditLog.append)),
    # cardingest move --abandon-journal: after its first path is settled (removed, put back
    # or left)
    "abandon-settled": lambda: setattr(abandon, "_settle", _after(abandon._settle)),
    # cardingest wipe (scenario 4b)
    "wipe-event": lambda: _after_event("wipe-remove"),
    "wipe-unlink": _card_unlink_then_die,
    # cardingest dicom export: its first file written under a temporary name, not published
    "dicom-temp": lambda: _at_link(".dcm", die),
    # --out without hard links: the written file renamed onto its empty placeholder
    "dicom-rename": lambda: _replace_into(".dcm"),
    "dicom-temp-wait": lambda: _at_link(".dcm", _wait),
    # cardingest share: its first copy written under a temporary name, not published
    "share-temp": lambda: _at_link(".jpg", die),
    "share-nolinks-rename": lambda: _no_links_renamed_into(".jpg"),
    # --out without hard links nor renameat2: the copy renamed onto its empty placeholder
    "share-rename": lambda: _replace_into(".jpg"),
    # a pause for a signal (SIGTERM, SIGHUP): mid-ingest, and in `watch` waiting for a card
    "ingest-file-wait": _wait_after_first_file,
    "watch-wait": _wait_at_first_look,
    "watch-found-wait": _wait_once_a_card_is_found,
    "scan-wait": _wait_before_the_scan,
    "slates-wait": _wait_after_the_first_slate_read,
}


def main() -> None:
    point, *args = sys.argv[1:]
    POINTS[point]()
    sys.argv = ["cardingest", *args]
    console_script()


if __name__ == "__main__":
    main()
