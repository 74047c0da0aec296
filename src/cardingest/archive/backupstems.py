"""A shot's backup copies take one free stem together, in a backup folder archives may share.

Publishing never replaces a file: a copy whose name holds another file takes the next free
name, ``NAME-2.EXT`` (`transfer.candidate_names`). Two archives may share one backup folder
(`ingest --backup`). Taken file by file there, the copies of one RAW+JPEG shot went under
two stems: the JPEG took ``-2`` beside the other archive's JPEG, the RAW kept its own name,
and the RAW's keywords sidecar (``NAME.xmp``, named after the stem) was the other archive's,
written over by this archive's ingest and `tag`. So the stem is chosen for the whole shot
before anything is copied: the first of ``STEM``, ``STEM-2``, ``STEM-3``… that no file of
the backup folder is named as (``STEM`` itself, ``STEM.*``), but the shot's own backup
copies made before (and their sidecars), and no other shot of the run is named as. Each
copy of the shot then begins there (`Destination.first`), so each shot's sidecar is its own.

The backup's lock is held from the choice to the last copy (`ingest.execute`), so no other
cardingest run writes there meanwhile; a file put there by hand in between only moves that
one copy on to the next free name, as before.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path, PurePosixPath

from ..models import MAX_SUFFIX
from ..storage.transfer import numbered_name
from .xmp import sidecar_path


def _split(target: str) -> tuple[str, str]:
    """The folder and the stem of an archive-relative ``target``, as `candidate_names` reads
    the name (``stem-N`` then ends the name before its extension)."""
    folder, _, name = target.rpartition("/")
    return folder, PurePosixPath(name).stem


def _stems(name: str) -> Iterable[str]:
    """Every stem a file of this name is named as, lower-cased: the name, and each part of it
    before a dot (``a.b.jpg``: ``a``, ``a.b``, ``a.b.jpg``). Lower-cased, as a FAT or exFAT
    backup drive tells no case apart (where one does, two files passed over cost a ``-2``)."""
    lowered = name.lower()
    yield lowered
    at = lowered.find(".")
    while at > 0:
        yield lowered[:at]
        at = lowered.find(".", at + 1)


class _Folders:
    """The backup folders' names by stem, each folder listed once (on first use)."""

    def __init__(self, backup: Path) -> None:
        self.backup = backup
        self.listed: dict[str, dict[str, list[str]]] = {}

    def named_as(self, folder: str, stem: str) -> list[str]:
        """The names in ``folder`` (lower-cased) of the files named as ``stem``."""
        if folder not in self.listed:
            names: dict[str, list[str]] = {}
            try:
                entries = os.listdir(Path(self.backup, *(folder.split("/") if folder else ())))
            except OSError:  # not made yet, or unreadable: publishing finds out
                entries = []
            for entry in entries:
                for each in _stems(entry):
                    names.setdefault(each, []).append(entry.lower())
            self.listed[folder] = names
        return self.listed[folder].get(stem.lower(), [])


class BackupStems:
    """Where each new backup copy of a plan's photos begins: the number of the free stem
    its shot takes (1: the archive's own name), for `Destination.first`.

    ``targets``: the archive paths of the photos about to get a backup copy; ``planned``:
    every archive path of the plan (the shots' own names, never taken from another shot of
    the run); ``own_copies(target)``: the backup copy (a full path) the catalogue records for
    an archived file of the plan, if any. Only a shot whose stem is named in the backup
    folder is looked at further; the others begin at their own name.
    """

    def __init__(
        self,
        backup: Path,
        targets: Iterable[str],
        planned: Callable[[], Iterable[str]],
        own_copies: Callable[[str], str | None],
    ) -> None:
        self.backup = backup
        self.numbers: dict[tuple[str, str], int] = {}
        folders = _Folders(backup)
        named: set[tuple[str, str]] = set()
        for target in targets:
            folder, stem = _split(target)
            if folders.named_as(folder, stem):
                named.add((folder, stem.lower()))
        if not named:
            return
        shots: dict[tuple[str, str], list[str]] = {}
        bases: set[tuple[str, str]] = set()  # every shot's own stem, in the folders in question
        in_question = {folder for folder, _ in named}
        for target in planned():
            folder, stem = _split(target)
            if folder in in_question:
                bases.add((folder, stem.lower()))
                if (folder, stem.lower()) in named:
                    shots.setdefault((folder, stem.lower()), []).append(target)
        for (folder, lowered), files in sorted(shots.items()):
            own = self._own(files, own_copies)
            stem = _split(files[0])[1]
            number = self._free(folders, folder, stem, own, bases)
            self.numbers[(folder, lowered)] = number
            if number > 1:
                bases.add((folder, f"{stem}-{number}".lower()))

    def _own(self, files: Iterable[str], own_copies: Callable[[str], str | None]) -> set[str]:
        """The names (lower-cased) of the shot's backup copies made before, and their
        keywords sidecars'."""
        own: set[str] = set()
        for target in files:
            copy = own_copies(target)
            if copy is None:
                continue
            path = Path(copy)
            folder = _split(target)[0]
            if path.parent == Path(self.backup, *(folder.split("/") if folder else ())):
                own.update((path.name.lower(), sidecar_path(path).name.lower()))
        return own

    @staticmethod
    def _free(
        folders: _Folders, folder: str, stem: str, own: set[str], bases: set[tuple[str, str]]
    ) -> int:
        """The first number whose stem no other file in the backup folder, and no other shot
        of the run, is named as (the shot's own copies there, if any, are its own)."""
        for number in range(1, MAX_SUFFIX + 1):
            numbered = numbered_name(f"{stem}.x", number).removesuffix(".x")
            there = folders.named_as(folder, numbered)
            if there and all(name in own for name in there):
                return number  # beside the shot's own backup copies
            if not there and (number == 1 or (folder, numbered.lower()) not in bases):
                return number
        return 1  # none free: each copy takes the next free name of its own, as before

    def first(self, target: str) -> int:
        """The first of `candidate_names` the backup copy of ``target`` is published under."""
        folder, stem = _split(target)
        return self.numbers.get((folder, stem.lower()), 1)

    def relpath(self, target: str) -> str:
        """The backup-relative path of ``target``'s backup copy, as its shot's stem has it."""
        folder, _, name = target.rpartition("/")
        named = numbered_name(name, self.first(target))
        return f"{folder}/{named}" if folder else named
