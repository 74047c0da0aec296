"""Scenario 12: hostile ID maps are refused (exit 2, with the line) before anything is written.

The source is a folder laid out like a card (two DCF folders); the archive folder must not
even be created, and the source must be untouched.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from cardimage import require_samples

from .checks import Source, photos_of
from .conftest import Checker
from .helpers import OTHER_PATIENT, PATIENT, Cli

HEADER = b"files,id,diagnosis,site\n"
ROW = f"100CANON/IMG_0001,{PATIENT},melanoma,left forearm\n".encode()


def row(files: str, patient: str, diagnosis: str = "", site: str = "") -> bytes:
    return f"{files},{patient},{diagnosis},{site}\n".encode()


def junk(seed: int) -> tuple[bytes, int]:
    """Random bytes after a good row, with a NUL; and the line the NUL is on."""
    data = bytearray(random.Random(seed).randbytes(4096))
    data[1500] = 0
    content = HEADER + ROW + bytes(data)
    return content, content[: content.index(b"\x00")].count(b"\n") + 1


def huge() -> bytes:
    return HEADER + ROW * (2 * 1024 * 1024 // len(ROW) + 10)


# name -> (map bytes, the line the error must name)
CASES: dict[str, tuple[bytes, int]] = {
    "path-like id ../x": (HEADER + b"100CANON/IMG_0001,../x,,\n", 2),
    "id climbing out after a good row": (
        HEADER + ROW + b"100CANON/IMG_0002,JBX3656/../../etc,,\n",
        3,
    ),
    "absolute path as id": (HEADER + b"100CANON/IMG_0001,/etc/passwd,,\n", 2),
    "windows path as id": (HEADER + b"100CANON/IMG_0001,..\\..\\Windows,,\n", 2),
    "map over 2 MiB": (huge(), 1),
    "binary junk": junk(12),
    "NUL byte on line 3": (HEADER + ROW + b"100CANON/IMG_0002,JBX\x003656,,\n", 3),
    "not UTF-8 on line 3": (HEADER + ROW + b"100CANON/IMG_0002,JBX3656,na\xefvus,\n", 3),
    "UTF-16 with BOM": ((HEADER + ROW).decode().encode("utf-16"), 1),
    "UTF-16 without BOM": ((HEADER + ROW).decode().encode("utf-16-le"), 1),
    "comments and no header": (b"# visit of 2 December\n\n# files,id\n", 4),
    "UTF-8 BOM, CRLF, bad check digit on line 3": (
        b"\xef\xbb\xbffiles,id\r\n100CANON/IMG_0001,JBX3656\r\n100CANON/IMG_0002,JBX3657\r\n",
        3,
    ),
    "CRLF, formula on line 4": (
        b"files,id,diagnosis\r\n100CANON/IMG_0001,JBX3656,\r\n100CANON/IMG_0002,JBX3656,\r\n"
        b"100CANON/IMG_0003,JBX3656,=cmd|' /C calc'!A0\r\n",
        4,
    ),
    "duplicate header": (b"files,id,id\n100CANON/IMG_0001,JBX3656,JBX3656\n", 1),
    "duplicate header in other case": (b"files,ID,Id\n100CANON/IMG_0001,JBX3656,JBX3656\n", 1),
    "formula in diagnosis": (HEADER + b"100CANON/IMG_0001,JBX3656,=cmd|' /C calc'!A0,\n", 2),
    "formula in site": (HEADER + b"100CANON/IMG_0001,JBX3656,,@SUM(1+1)*cmd|' /C calc'!A0\n", 2),
    "plus-formula in diagnosis": (HEADER + b"100CANON/IMG_0001,JBX3656,+1+cmd|' /C calc'!A0,\n", 2),
    "formula as id": (HEADER + b'100CANON/IMG_0001,"=HYPERLINK(""http://x"")",,\n', 2),
    "formula as files": (HEADER + b"=IMG_0001,JBX3656,,\n", 2),
    "range in a folder the card lacks": (
        HEADER + b"999CANON/IMG_0001-999CANON/IMG_0003,JBX3656,,\n",
        2,
    ),
    "bare range matching two folders": (HEADER + b"IMG_0001-IMG_0003,JBX3656,,\n", 2),
    "folder on one end of the range only": (HEADER + b"100CANON/IMG_0001-IMG_0003,JBX3656,,\n", 2),
    "range running backwards": (HEADER + b"100CANON/IMG_0005-100CANON/IMG_0001,JBX3656,,\n", 2),
    "test-range NHI": (HEADER + b"100CANON/IMG_0001,ZAC5361,,\n", 2),
    "control character in site": (HEADER + b"100CANON/IMG_0001,JBX3656,,left\x07arm\n", 2),
    "header only": (HEADER, 2),
    "empty file": (b"", 1),
}


@pytest.fixture(scope="module")
def folder_card(tmp_path_factory: pytest.TempPathFactory) -> Source:
    """A folder laid out like a card: 100CANON/IMG_0001-0005 and 101CANON/IMG_0001-0003."""
    root = tmp_path_factory.mktemp("hostile") / "card"
    base = (require_samples() / "real" / "Canon_40D.jpg").read_bytes()
    files: dict[str, bytes] = {}
    for folder, count in (("100CANON", 5), ("101CANON", 3)):
        for number in range(1, count + 1):
            files[f"DCIM/{folder}/IMG_{number:04d}.JPG"] = base + f"{folder}{number}".encode()
    for rel, data in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_bytes(data)
    # Meant as the control map below files them: 100CANON for PATIENT, 101CANON for the other.
    intent = {rel: PATIENT if "/100CANON/" in rel else OTHER_PATIENT for rel in files}
    return Source(root, photos_of(files, intent))


@pytest.mark.fault(12, "hostile ID maps: exit 2 with a line number, nothing written")
@pytest.mark.parametrize("case", list(CASES))
def test_hostile_map_is_refused_before_anything_is_written(
    case: str, cli: Cli, folder_card: Source, tmp_path: Path, check: Checker
) -> None:
    content, line = CASES[case]
    id_map = tmp_path / "map.csv"
    id_map.write_bytes(content)
    archive = tmp_path / "archive"
    done = cli.run("ingest", folder_card.root, "--map", id_map, "--archive", archive, "--json")
    assert done.returncode == 2, f"{case}: exit {done.returncode}\n{done.stderr[-2000:]}"
    assert "Traceback" not in done.stderr
    error = json.loads(done.stdout)["error"]
    said = "\n".join([error["message"], *error["details"]])
    assert f"line {line}" in said, f"{case}: expected line {line} in:\n{said}"
    assert not archive.exists(), f"{case}: the archive folder was created"
    check(archive, [folder_card], context=f"hostile map: {case}")


@pytest.mark.fault(12, "hostile ID maps: exit 2 with a line number, nothing written")
def test_spreadsheet_export_with_bom_crlf_and_semicolons_is_accepted(
    cli: Cli, folder_card: Source, tmp_path: Path, check: Checker
) -> None:
    """The control: what Excel writes (BOM, CRLF, ';') is a map like any other."""
    id_map = tmp_path / "map.csv"
    id_map.write_bytes(
        b"\xef\xbb\xbffiles;id;diagnosis\r\n"
        b"100CANON/IMG_0001-100CANON/IMG_0005;JBX3656;melanoma\r\n"
        b"101CANON/IMG_0001-101CANON/IMG_0003;MCJ1984;\r\n"
    )
    archive = tmp_path / "archive"
    done = cli.run("ingest", folder_card.root, "--map", id_map, "--archive", archive, "--json")
    assert done.returncode == 0, done.stderr
    findings = check(archive, [folder_card], context="spreadsheet export accepted")
    assert findings.archived == len(folder_card.photos)
