from __future__ import annotations

import hashlib
import shutil
import subprocess
from pathlib import Path

import pytest

from cardingest.archive.manifest import format_line, manifest_path, read_manifest, write_manifest

needs_sha256sum = pytest.mark.skipif(
    shutil.which("sha256sum") is None, reason="GNU sha256sum not installed"
)


def put(archive: Path, relpath: str, data: bytes) -> tuple[str, str]:
    target = archive / relpath
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return hashlib.sha256(data).hexdigest(), relpath


def sha256sum_check(archive: Path, manifest: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["sha256sum", "-c", "--strict", str(manifest.relative_to(archive))],
        cwd=archive,
        capture_output=True,
        text=True,
        check=False,
    )


@needs_sha256sum
def test_sha256sum_checks_written_manifest(tmp_path: Path) -> None:
    entries = [
        put(tmp_path, "MCJ1984/MCJ1984-20080530-155601.jpg", b"b" * 5000),
        put(tmp_path, "JBX3656/JBX3656-20080530-155601.jpg", b"a" * 3000),
        put(tmp_path, "JBX3656/JBX3656-20080530-155601-2.jpg", b"c"),
        put(tmp_path, "ACA31FM/sub dir/with space é.jpg", b""),
    ]
    manifest = write_manifest(tmp_path, "20240101T000000Z-ab12", entries)
    assert manifest == tmp_path / ".cardingest" / "manifests" / "20240101T000000Z-ab12.sha256"
    result = sha256sum_check(tmp_path, manifest)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count(": OK") == 4


def test_format_is_sorted_coreutils_lines(tmp_path: Path) -> None:
    entries = [("B" * 64, "b/2.jpg"), ("a" * 64, "a/1.jpg")]
    manifest = write_manifest(tmp_path, "ing", entries)
    assert manifest.read_bytes() == (f"{'a' * 64}  a/1.jpg\n{'b' * 64}  b/2.jpg\n".encode())
    assert read_manifest(manifest) == [("a" * 64, "a/1.jpg"), ("b" * 64, "b/2.jpg")]


@needs_sha256sum
def test_tampered_file_fails_sha256sum(tmp_path: Path) -> None:
    entries = [put(tmp_path, "JBX3656/a.jpg", b"original")]
    manifest = write_manifest(tmp_path, "ing", entries)
    (tmp_path / "JBX3656/a.jpg").write_bytes(b"origina1")
    assert sha256sum_check(tmp_path, manifest).returncode != 0


@needs_sha256sum
def test_backslash_and_newline_are_escaped_like_coreutils(tmp_path: Path) -> None:
    entries = [
        put(tmp_path, "odd/back\\slash.jpg", b"one"),
        put(tmp_path, "odd/new\nline.jpg", b"two"),
        put(tmp_path, "odd/plain.jpg", b"three"),
    ]
    manifest = write_manifest(tmp_path, "ing", entries)
    text = manifest.read_text()
    assert f"\\{entries[0][0]}  odd/back\\\\slash.jpg\n" in text
    assert f"\\{entries[1][0]}  odd/new\\nline.jpg\n" in text
    assert f"{entries[2][0]}  odd/plain.jpg\n" in text
    result = sha256sum_check(tmp_path, manifest)
    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(read_manifest(manifest)) == sorted(entries)


@needs_sha256sum
def test_reads_what_coreutils_writes(tmp_path: Path) -> None:
    entries = [
        put(tmp_path, "x/back\\slash.jpg", b"1"),
        put(tmp_path, "x/new\nline.jpg", b"2"),
        put(tmp_path, "x/plain.jpg", b"3"),
    ]
    out = subprocess.run(
        ["sha256sum", "--", *[relpath for _, relpath in entries]],
        cwd=tmp_path,
        capture_output=True,
        check=True,
    ).stdout
    (tmp_path / "coreutils.sha256").write_bytes(out)
    assert read_manifest(tmp_path / "coreutils.sha256") == entries
    binary = tmp_path / "binary.sha256"
    binary.write_text(f"{entries[2][0]} *x/plain.jpg\n")
    assert read_manifest(binary) == [entries[2]]


@pytest.mark.parametrize(
    "relpath",
    ["/abs/a.jpg", "../up.jpg", "a/../b.jpg", "a//b.jpg", "./a.jpg", "", "a/b\r.jpg", "a\0b"],
)
def test_unsafe_paths_are_refused(tmp_path: Path, relpath: str) -> None:
    with pytest.raises(ValueError):
        write_manifest(tmp_path, "ing", [("a" * 64, relpath)])
    assert not manifest_path(tmp_path, "ing").exists()


@pytest.mark.parametrize("digest", ["a" * 63, "g" * 64, "a" * 65, ""])
def test_bad_digest_is_refused(tmp_path: Path, digest: str) -> None:
    with pytest.raises(ValueError):
        write_manifest(tmp_path, "ing", [(digest, "a.jpg")])
    with pytest.raises(ValueError):
        format_line(digest, "a.jpg")


@pytest.mark.parametrize("ingest_id", ["../x", "a/b", "", ".hidden", "a b"])
def test_bad_ingest_id_is_refused(tmp_path: Path, ingest_id: str) -> None:
    with pytest.raises(ValueError):
        write_manifest(tmp_path, ingest_id, [("a" * 64, "a.jpg")])


def test_duplicates(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, "ing", [("a" * 64, "a.jpg"), ("A" * 64, "a.jpg")])
    assert read_manifest(manifest) == [("a" * 64, "a.jpg")]
    with pytest.raises(ValueError, match="twice"):
        write_manifest(tmp_path, "ing2", [("a" * 64, "a.jpg"), ("b" * 64, "a.jpg")])


def test_atomic_replace_leaves_no_temporary_files(tmp_path: Path) -> None:
    write_manifest(tmp_path, "ing", [("a" * 64, "a.jpg")])
    manifest = write_manifest(tmp_path, "ing", [("b" * 64, "b.jpg")])
    assert read_manifest(manifest) == [("b" * 64, "b.jpg")]
    assert [p.name for p in manifest.parent.iterdir()] == ["ing.sha256"]


def test_generator_entries_and_empty_manifest(tmp_path: Path) -> None:
    manifest = write_manifest(tmp_path, "ing", ((s, p) for s, p in [("c" * 64, "c.jpg")]))
    assert read_manifest(manifest) == [("c" * 64, "c.jpg")]
    empty = write_manifest(tmp_path, "empty", [])
    assert empty.read_bytes() == b""
    assert read_manifest(empty) == []


@pytest.mark.parametrize(
    "content",
    [
        b"nonsense\n",
        b"aaaa  short.jpg\n",
        ("a" * 64 + "no-separator.jpg\n").encode(),
        ("\\" + "a" * 64 + "  bad\\escape\n").encode(),
    ],
)
def test_read_refuses_malformed_lines(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.sha256"
    path.write_bytes(("b" * 64 + "  ok.jpg\n").encode() + content)
    with pytest.raises(ValueError, match="line 2"):
        read_manifest(path)
