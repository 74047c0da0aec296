"""Shared by the DICOM tests: a photo folder of real camera JPEGs, the real CLI in a
subprocess, and a real Orthanc PACS started from a config in a temporary folder.

Orthanc listens on free loopback ports chosen here; its HTTP API refuses other hosts, and
its DICOM side accepts only the calling AE ``CARDINGEST`` from 127.0.0.1. It is stopped when
the test ends. Readiness is a bounded number of tries of its REST ``/system``.
"""

from __future__ import annotations

import base64
import csv
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cardimage import require, require_binaries, require_samples

from cardingest.export.dicom import PhotoFacts

PATIENT = "JBX3656"
OTHER = "ACA31FM"
DICOMWEB_PLUGIN = Path("/usr/share/orthanc/plugins/libOrthancDicomWeb.so")
READY_TRIES = 300
READY_PAUSE = 0.1


@dataclass(frozen=True)
class Photo:
    """One file put in the source folder, and what the DICOM instance should hold."""

    card_name: str
    sample: str
    patient_id: str
    orientation: int | None = None
    expected_dto: str | None = None
    """exiftool's DateTimeOriginal for the sample (the oracle), ``YYYY:MM:DD HH:MM:SS``."""


PHOTOS: tuple[Photo, ...] = (
    Photo("IMG_0001.JPG", "22-canon_tags.jpg", PATIENT),  # 1600x1200, even length
    Photo("IMG_0002.JPG", "Pentax_K10D.jpg", PATIENT),  # odd length: the pad byte
    Photo("IMG_0003.JPG", "32-lens_data.jpeg", PATIENT),  # progressive JPEG
    Photo("IMG_0004.JPG", "Canon_40D.jpg", PATIENT),  # 4:4:4, no chroma subsampling
    Photo("IMG_0005.JPG", "22-canon_tags.jpg", PATIENT, orientation=6),  # turns losslessly
    Photo("IMG_0006.JPG", "Nikon_D70.jpg", PATIENT, orientation=3),  # 100x66: cannot
    Photo("IMG_0007.JPG", "Kodak_CX7530.jpg", OTHER),
    Photo("IMG_0008.HEIC", "IMG_5195.HEIC", OTHER),  # not sent
    Photo("IMG_0009.CR3", "../raw/Canon-R6-pruned.CR3", OTHER),  # RAW: not sent
)
JPEGS = [p for p in PHOTOS if p.card_name.endswith(".JPG")]
NOT_SENT = len(PHOTOS) - len(JPEGS)
MAP = (
    "files,id,diagnosis,site,consent\n"
    f"IMG_0001-IMG_0006,{PATIENT},naevus,left forearm,record\n"
    f"IMG_0007-IMG_0009,{OTHER},,behind the tattoo,\n"
)


def photo_facts(**given: Any) -> PhotoFacts:
    """The facts of a photo of PATIENT taken 2008-05-04 16:47:24, with ``given`` besides."""
    defaults: dict[str, Any] = {
        "patient_id": PATIENT,
        "sha256": "cd" * 32,
        "ingest_id": "20261130T010203Z-abc",
        "captured_at": datetime(2008, 5, 4, 16, 47, 24),
    }
    return PhotoFacts(**{**defaults, **given})


def require_dicom_tools(*names: str) -> None:
    require_binaries(*names)


def exiftool_dates(samples: Path) -> dict[str, str]:
    with open(samples / "expected-exiftool.tsv", encoding="utf-8", newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    key = next(k for k in rows[0] if k.lower().startswith("file"))
    return {row[key].rpartition("/")[2]: row["DateTimeOriginal"] for row in rows}


def make_source(folder: Path) -> Path:
    """A card-like folder of real camera files (copied at test time), and its ID map."""
    samples = require_samples()
    require_binaries("exiftool")
    camera = folder / "DCIM" / "100CANON"
    camera.mkdir(parents=True)
    for photo in PHOTOS:
        target = camera / photo.card_name
        shutil.copyfile(samples / "real" / photo.sample, target)
        if photo.orientation is not None:
            turn = f"-Orientation={photo.orientation}"
            subprocess.run(
                ["exiftool", "-q", "-n", "-overwrite_original", turn, str(target)],
                check=True,
                capture_output=True,
            )
    map_file = folder.parent / "map.csv"
    map_file.write_text(MAP, encoding="utf-8")
    return map_file


def cli(
    *args: str | Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The real ``cardingest`` command in its own process."""
    return subprocess.run(
        [sys.executable, "-m", "cardingest.cli", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        stdin=subprocess.DEVNULL,
        env={**os.environ, **(env or {})},
        timeout=600,
    )


def ingest(folder: Path, map_file: Path, archive: Path, *extra: str, env: dict[str, str]) -> dict:
    result = cli(
        "ingest", folder, "--map", map_file, "--archive", archive, "--json", *extra, env=env
    )
    assert result.returncode in (0, 3), result.stderr
    return json.loads(result.stdout)


def search(archive: Path, env: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Catalogue records by archive path, through ``cardingest search --json``."""
    result = cli("search", "--archive", archive, "--json", env=env)
    assert result.returncode == 0, result.stderr
    return {r["archive_path"]: r for r in json.loads(result.stdout)["results"]}


def stopped_move(archive: Path, path: str, to: str, env: dict[str, str], tmp: Path) -> None:
    """`cardingest move PATH --to TO` stopped as it refiles the rows, its catalogue lost (a
    PostgreSQL server gone): the photo is on disk under both patients, the journal waits."""
    database = archive / ".cardingest" / "catalogue.sqlite"
    stop = tmp / "stop.py"
    stop.write_text(
        "import runpy, sys\n"
        "from pathlib import Path\n"
        "from cardingest.archive.catalogue import Catalogue\n"
        "def lost(*a, **k):\n"
        f"    Path({str(database)!r}).rename({str(tmp / 'away')!r})\n"
        "    raise OSError(5, 'Input/output error')\n"
        "Catalogue.move_rows = lost\n"
        "sys.argv = ['cardingest', *sys.argv[1:]]\n"
        "runpy.run_module('cardingest.cli', run_name='__main__')\n"
    )
    stopped = subprocess.run(
        [sys.executable, stop, "move", path, "--to", to, "--archive", archive],
        env={**os.environ, **env}, capture_output=True, text=True,
    )  # fmt: skip
    (tmp / "away").rename(database)
    journal = archive / ".cardingest" / "move-journal.json"
    assert stopped.returncode == 1 and journal.exists(), stopped.stderr


def dicom_datetime(iso: str) -> str:
    return datetime.fromisoformat(iso).strftime("%Y%m%d%H%M%S")


def padded(data: bytes) -> bytes:
    """A JPEG as an encapsulated fragment holds it: even length, one 0x00 after an odd one."""
    return data + b"\x00" if len(data) % 2 else data


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that are free now (all held open while choosing)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class Orthanc:
    """A real Orthanc PACS in ``folder``; ``start()``/``stop()`` keep the same storage."""

    def __init__(
        self,
        folder: Path,
        *,
        lua: str | None = None,
        dicomweb: bool = False,
        allow_store: bool = True,
        allow_find: bool = True,
        users: dict[str, str] | None = None,
    ) -> None:
        """``users``: HTTP basic authentication on, with these users and passwords (the
        test's own requests log in as the first)."""
        require_binaries("Orthanc")
        if dicomweb:
            require(DICOMWEB_PLUGIN.is_file(), f"orthanc-dicomweb not found at {DICOMWEB_PLUGIN}")
        self.folder = folder
        self.folder.mkdir(parents=True, exist_ok=True)
        self.http_port, self.dicom_port = free_ports(2)
        self.started = False
        self.lua = lua
        self.dicomweb = dicomweb
        self.allow_store = allow_store
        self.allow_find = allow_find
        self.users = dict(users or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.log = folder / "orthanc.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    def config(self, *, lua: str | None) -> Path:
        scripts = []
        if lua:
            script = self.folder / "filter.lua"
            script.write_text(lua, encoding="utf-8")
            scripts.append(str(script))
        document: dict[str, Any] = {
            "Name": "cardingest-test",
            "StorageDirectory": str(self.folder / "db"),
            "IndexDirectory": str(self.folder / "db"),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": "TESTPACS",
            "DicomCheckCalledAet": True,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": bool(self.users),
            "RegisteredUsers": self.users,
            "DicomAlwaysAllowEcho": False,
            "DicomAlwaysAllowStore": False,
            "DicomAlwaysAllowFind": False,
            "DicomCheckModalityHost": True,
            "DicomModalities": {
                "cardingest": {
                    "AET": "CARDINGEST",
                    "Host": "127.0.0.1",
                    "Port": 1,
                    "AllowStore": self.allow_store,
                    "AllowFind": self.allow_find,
                    "AllowEcho": True,
                }
            },
            "LuaScripts": scripts,
            "Plugins": [str(DICOMWEB_PLUGIN)] if self.dicomweb else [],
            "DicomWeb": {"Enable": self.dicomweb, "Root": "/dicom-web/"},
        }
        path = self.folder / "orthanc.json"
        path.write_text(json.dumps(document, indent=1), encoding="utf-8")
        return path

    def start(self, *, lua: str | None = None) -> Orthanc:
        """Start Orthanc and wait until its REST API answers (a bounded number of tries).

        The first start takes new free ports if another process took the chosen ones
        between choosing and binding; a restart keeps them (the test's config names them).
        """
        for _attempt in range(1 if self.started else 3):
            if self._start_once(lua if lua is not None else self.lua):
                self.started = True
                return self
            self.http_port, self.dicom_port = free_ports(2)
        raise AssertionError(f"Orthanc exited at start:\n{self.log.read_text()[-3000:]}")

    def _start_once(self, lua: str | None) -> bool:
        config = self.config(lua=lua)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                ["Orthanc", str(config)], stdout=log, stderr=log, stdin=subprocess.DEVNULL
            )
        for _ in range(READY_TRIES):
            if self.process.poll() is not None:
                self.process = None
                return False
            try:
                if self.get("/system").get("DicomPort") == self.dicom_port:
                    return True
            except (urllib.error.URLError, OSError, ValueError):
                time.sleep(READY_PAUSE)
        self.stop()
        raise AssertionError(f"Orthanc did not answer /system:\n{self.log.read_text()[-3000:]}")

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def wait_exit(self) -> int:
        """After a Lua filter stopped it: reap the process, return its exit status."""
        assert self.process is not None
        code = self.process.wait(timeout=60)
        self.process = None
        return code

    def raw(self, path: str) -> bytes:
        request = urllib.request.Request(self.url + path)
        for user, password in list(self.users.items())[:1]:
            pair = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
            request.add_header("Authorization", f"Basic {pair}")
        with urllib.request.urlopen(request, timeout=30) as response:
            return bytes(response.read())

    def get(self, path: str) -> Any:
        return json.loads(self.raw(path))

    def instances(self) -> dict[str, dict[str, Any]]:
        """Every stored instance's tags, by SOP Instance UID."""
        found = {}
        for orthanc_id in self.get("/instances"):
            tags = self.get(f"/instances/{orthanc_id}/simplified-tags")
            found[tags["SOPInstanceUID"]] = {"orthanc_id": orthanc_id, **tags}
        return found

    def frame(self, orthanc_id: str) -> bytes:
        return self.raw(f"/instances/{orthanc_id}/frames/0/raw")

    def last_change(self) -> int:
        return int(self.get("/changes?last")["Last"])

    def config_toml(self, path: Path, *, stow: bool = False) -> Path:
        if stow:
            text = f'[pacs]\nstow_url = "{self.url}/dicom-web/studies"\n'
        else:
            text = (
                f'[pacs]\nhost = "127.0.0.1"\nport = {self.dicom_port}\nae_title = "TESTPACS"\n'
                'calling_ae_title = "CARDINGEST"\ntimeout = 60\n'
            )
        path.write_text(text, encoding="utf-8")
        return path
