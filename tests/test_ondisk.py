"""`storage/ondisk.py`: whether a path is there, the same answer on Python 3.11 to 3.14.

Python 3.14's ``Path.exists()`` and ``is_*()`` answer False for any OSError, where 3.11 to
3.13 raised all but "not there" (ENOENT, ENOTDIR, EBADF, ELOOP): on 3.14 a pulled card or a
failed archive drive (EIO, ENOTCONN) would read as missing. ``src`` asks `ondisk` instead.
"""

from __future__ import annotations

import ast
import errno
import os
from pathlib import Path

import pytest
from test_detect_mutants import pulled

from cardingest.prepare import has_catalogue
from cardingest.storage import ondisk

SRC = Path(__file__).resolve().parent.parent / "src" / "cardingest"
CHECKS = ("exists", "is_dir", "is_file", "is_symlink")
DIR_ENTRIES = {"entry", "e"}
"""The names ``src`` gives an ``os.DirEntry``, whose ``is_dir()`` and the like stay: their
answers did not change in 3.14, and they come from the listing, with no second look."""


def test_src_asks_ondisk_rather_than_a_paths_own_checks() -> None:
    """A ``path.exists()`` (``is_dir``, ``is_file``, ``is_symlink``) in ``src`` would answer
    False for a pulled card on Python 3.14: every such check goes through `ondisk`."""
    found = []
    for file in sorted(SRC.rglob("*.py")):
        for node in ast.walk(ast.parse(file.read_text(), str(file))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in CHECKS
                and not node.args
                and not (
                    isinstance(node.func.value, ast.Name) and node.func.value.id in DIR_ENTRIES
                )
            ):
                found.append(f"{file.relative_to(SRC)}:{node.lineno}: .{node.func.attr}()")
    assert found == []


def test_what_is_not_there_is_false(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_bytes(b"x")
    loop = tmp_path / "loop"
    loop.symlink_to(loop)
    for path in (tmp_path / "none", file / "under-a-file", tmp_path / "a\0b"):  # ENOENT, ENOTDIR
        assert [getattr(ondisk, check)(path) for check in CHECKS] == [False] * 4
    assert [ondisk.exists(loop), ondisk.is_dir(loop), ondisk.is_file(loop)] == [False] * 3  # ELOOP
    assert ondisk.is_symlink(loop) and ondisk.exists(loop, follow_symlinks=False)


def test_what_is_there_is_said_so(tmp_path: Path) -> None:
    file = tmp_path / "file"
    file.write_bytes(b"x")
    link = tmp_path / "link"
    link.symlink_to(tmp_path)
    assert [getattr(ondisk, check)(file) for check in CHECKS] == [True, False, True, False]
    assert [getattr(ondisk, check)(link) for check in CHECKS] == [True, True, False, True]
    assert not ondisk.is_dir(link, follow_symlinks=False)
    assert ondisk.is_file(str(file))


@pytest.mark.parametrize("check", CHECKS)
def test_a_path_that_cannot_be_looked_at_is_an_error_not_absent(check: str) -> None:
    """ENAMETOOLONG stands for any error but "not there": raised, as ``Path`` did on 3.11."""
    with pytest.raises(OSError) as error:
        getattr(ondisk, check)(Path("/", "x" * 300))
    assert error.value.errno == errno.ENAMETOOLONG


@pytest.mark.card
@pytest.mark.parametrize("check", CHECKS)
def test_a_pulled_card_is_an_error_not_absent(tmp_path: Path, check: str) -> None:
    with pulled(tmp_path, "attr_timeout=0,entry_timeout=0") as mount:
        for path in (mount, mount / "DCIM"):
            with pytest.raises(OSError) as error:
                getattr(ondisk, check)(path)
            assert error.value.errno == errno.ENOTCONN
            assert not os.path.exists(path)  # what 3.14's Path.exists() answers


@pytest.mark.card
@pytest.mark.usefixtures("pathlib_of_314")
def test_an_archive_whose_drive_failed_is_not_taken_for_one_without_a_catalogue(
    tmp_path: Path,
) -> None:
    """With 3.14's ``Path.exists()`` the dead drive's ``catalogue.sqlite`` was "not there",
    so the archive looked new (its records then unchecked); the error is raised instead."""
    with pulled(tmp_path, "attr_timeout=0,entry_timeout=0") as archive:
        with pytest.raises(OSError) as error:
            has_catalogue(archive)
        assert error.value.errno == errno.ENOTCONN
