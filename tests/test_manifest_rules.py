"""Manifest refusals and odd bytes: whole messages, names that are not UTF-8, and escapes
read the way GNU coreutils writes and reads them."""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from cardimage import require

from cardingest.archive.manifest import format_line, manifest_path, read_manifest, write_manifest

DIGEST = hashlib.sha256(b"photo").hexdigest()


@pytest.mark.parametrize(
    ("relpath", "message"),
    [
        ("/abs/a.jpg", "Manifest path '/abs/a.jpg' is not a relative path"),
        ("", "Manifest path '' is not a relative path"),
        ("a\0b", "Manifest path 'a\\x00b' is not a relative path"),
        (
            "a/b\r.jpg",
            "Manifest path 'a/b\\r.jpg' has a carriage return, which coreutils releases escape "
            "differently",
        ),
        ("a//b.jpg", "Manifest path 'a//b.jpg' has an empty, '.' or '..' part"),
        ("a/../b.jpg", "Manifest path 'a/../b.jpg' has an empty, '.' or '..' part"),
    ],
)
def test_refused_paths_say_why(tmp_path: Path, relpath: str, message: str) -> None:
    with pytest.raises(ValueError) as error:
        write_manifest(tmp_path, "ING1", [(DIGEST, relpath)])
    assert str(error.value) == message
    with pytest.raises(ValueError) as error:
        format_line(DIGEST, relpath)
    assert str(error.value) == message


def test_refused_digests_and_ids_say_why(tmp_path: Path) -> None:
    with pytest.raises(ValueError) as error:
        write_manifest(tmp_path, "ING1", [("abc", "a.jpg")])
    assert str(error.value) == "'abc' is not a sha256 hex digest (for 'a.jpg')"
    with pytest.raises(ValueError) as error:
        format_line("abc", "a.jpg")
    assert str(error.value) == "'abc' is not a sha256 hex digest"
    with pytest.raises(ValueError) as error:
        manifest_path(tmp_path, "../x")
    assert str(error.value) == "Ingest ID '../x' cannot name a manifest file"


def test_a_name_that_is_not_utf8_round_trips_and_sha256sum_checks_it(tmp_path: Path) -> None:
    """A FAT card can hold names in a legacy code page: the bytes are kept as they are."""
    require(shutil.which("sha256sum") is not None, "sha256sum (GNU coreutils) missing")
    raw_name = b"caf\xe9.jpg"  # Latin-1, not UTF-8
    folder = tmp_path / "JBX3656"
    folder.mkdir()
    try:
        (folder / os.fsdecode(raw_name)).write_bytes(b"photo")
    except (OSError, UnicodeEncodeError):
        pytest.skip("this filesystem refuses names that are not UTF-8")
    relpath = "JBX3656/" + os.fsdecode(raw_name)
    path = write_manifest(tmp_path, "ING1", [(DIGEST, relpath)])
    assert path.read_bytes() == DIGEST.encode() + b"  JBX3656/" + raw_name + b"\n"
    assert read_manifest(path) == [(DIGEST, relpath)]
    done = subprocess.run(
        ["sha256sum", "--strict", "-c", str(path)], cwd=tmp_path, capture_output=True
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_escapes_read_like_coreutils(tmp_path: Path) -> None:
    manifest = tmp_path / "m.sha256"
    manifest.write_bytes(
        b"\\"
        + DIGEST.encode()
        + b"  a\\rb\\\\c\\nd.jpg\n"  # escaped line: \r, \\ and \n
        + DIGEST.encode()
        + b"  plain\\name.jpg\n"  # not escaped: the backslash is a backslash
    )
    assert read_manifest(manifest) == [(DIGEST, "a\rb\\c\nd.jpg"), (DIGEST, "plain\\name.jpg")]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\\" + DIGEST.encode() + b"  end\\\n", "line 1: bad escape \\ in the path"),
        (b"\\" + DIGEST.encode() + b"  a\\tb\n", "line 1: bad escape \\t in the path"),
        (DIGEST.encode() + b"  a.jpg\nnot a line\n", "line 2 is not a sha256sum line"),
    ],
)
def test_bad_lines_name_their_number(tmp_path: Path, content: bytes, message: str) -> None:
    manifest = tmp_path / "m.sha256"
    manifest.write_bytes(content)
    with pytest.raises(ValueError) as error:
        read_manifest(manifest)
    assert str(error.value).endswith(message)


def test_an_empty_manifest_has_no_entries(tmp_path: Path) -> None:
    manifest = tmp_path / "m.sha256"
    manifest.write_bytes(b"")
    assert read_manifest(manifest) == []


def test_a_last_line_without_its_newline_still_counts(tmp_path: Path) -> None:
    """sha256sum -c reads such a file (hand-edited manifests often end like this)."""
    manifest = tmp_path / "m.sha256"
    manifest.write_bytes(DIGEST.encode() + b"  a.jpg\n" + DIGEST.encode() + b"  b.jpg")
    assert read_manifest(manifest) == [(DIGEST, "a.jpg"), (DIGEST, "b.jpg")]


def test_a_manifest_of_many_lines_is_written_whole_a_chunk_at_a_time(tmp_path: Path) -> None:
    """Past the 512 lines written at a time, the bytes are still each line once, in path
    order, a name that is not UTF-8 kept as its bytes in every chunk (the first, a middle
    one, the last)."""
    names = [f"JBX3656/{n:05d}.jpg" for n in range(1100)]
    for n in (3, 700, 1099):
        names[n] = f"JBX3656/{n:05d}-" + os.fsdecode(b"caf\xe9.jpg")
    entries = [(hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest(), name)
               for name in names]  # fmt: skip
    path = write_manifest(tmp_path, "ING1", [*reversed(entries), entries[5]])
    expected = b"".join(
        format_line(sha256, name).encode("utf-8", "surrogateescape") for sha256, name in entries
    )
    assert path.read_bytes() == expected
    assert read_manifest(path) == entries


def test_a_symbolic_link_named_as_a_manifest_is_refused_with_its_path(tmp_path: Path) -> None:
    """Read, a manifest that is a symbolic link is an OSError that says so and names it."""
    target = tmp_path / "elsewhere.sha256"
    target.write_text(format_line(DIGEST, "a.jpg"))
    link = manifest_path(tmp_path, "ING1")
    link.parent.mkdir(parents=True)
    link.symlink_to(target)
    with pytest.raises(OSError) as raised:
        read_manifest(link)
    said = f"[Errno {errno.ELOOP}] a symbolic link, not a manifest file: '{link}'"
    assert str(raised.value) == said
    assert raised.value.errno == errno.ELOOP and raised.value.filename == str(link)
