#!/usr/bin/env python3
"""Plant each bug the suite once missed (issue 20), run the test that now catches it, restore.

    python tools/known_bugs.py            # all
    python tools/known_bugs.py a f1       # some, by the first letters of their names

Run it on a clean tree: each file is restored in a ``finally``, but check ``git diff`` after
an interrupted run. Prints one line per bug: the tests' summary with the bug, and without.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

BUGS = [
    (
        "a read-back off",
        "src/cardingest/storage/transfer.py",
        "if got_size != size or got_sha != sha256:",
        "if False:",
        "tests/test_readback.py -k bytes_changed",
    ),
    (
        "b forged tail accepted",
        "src/cardingest/archive/audit.py",
        "            if head.last == prev_of_last:\n",
        "            if True:\n",
        "tests/test_audit_forgery.py",
    ),
    (
        "c1 number before folder",
        "src/cardingest/plan/shots.py",
        "return (fraction, primary.folder, int(number or 0), primary.stem)",
        "return (fraction, int(number or 0), primary.folder, primary.stem)",
        "tests/test_naming_order.py",
    ),
    (
        "c2 subsec as integer",
        "src/cardingest/plan/shots.py",
        'fraction = float(f"0.{primary.subsec}") if primary.subsec else 0.0',
        "fraction = float(int(primary.subsec)) if primary.subsec else 0.0",
        "tests/test_naming_order.py",
    ),
    (
        "d IFD0 DateTime first",
        "src/cardingest/card/capture.py",
        '    ("EXIF DateTimeDigitized", "exif:DateTimeDigitized"),\n'
        '    ("Image DateTime", "exif:DateTime"),\n',
        '    ("Image DateTime", "exif:DateTime"),\n'
        '    ("EXIF DateTimeDigitized", "exif:DateTimeDigitized"),\n',
        "tests/test_capture_order.py",
    ),
    (
        "e NHI remainder 0 accepted",
        "src/cardingest/ids.py",
        "expected_check = _NHI_LETTERS[23 - remainder - 1] if remainder else None",
        "expected_check = _NHI_LETTERS[23 - remainder - 1]",
        "tests/test_nhi_vectors.py",
    ),
    (
        "f1 manifest lists other ingests",
        "src/cardingest/archive/catalogue.py",
        'sql = "SELECT sha256, archive_path, backup_path FROM files WHERE ingest_id = ?"',
        'sql = "SELECT sha256, archive_path, backup_path FROM files WHERE ? IS NOT NULL"',
        "tests/test_manifest_scope.py",
    ),
    (
        "f2 no backup manifest",
        "src/cardingest/ingest.py",
        "        backup_manifest = None\n        if backup is not None:",
        "        backup_manifest = None\n        if False:",
        "tests/test_manifest_scope.py",
    ),
    (
        "g duplicate by finishing order",
        "src/cardingest/ingest.py",
        "self._queues.setdefault(self._key(source, sha256), []).append(str(source))",
        "self._queues.setdefault(self._key(source, sha256), []).insert(0, str(source))",
        "tests/test_readback.py -k same_photo",
    ),
]


def _summary(tests: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *tests.split()],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=ROOT,
    )
    lines = done.stdout.strip().splitlines()
    return lines[-1] if lines else f"exit {done.returncode}"


def main() -> int:
    only = sys.argv[1:]
    for name, path, old, new, tests in BUGS:
        if only and not any(name.startswith(o) for o in only):
            continue
        target = ROOT / path
        text = target.read_text(encoding="utf-8")
        if text.count(old) != 1:
            print(f"{name}: the line to change is no longer in {path}; update this script")
            continue
        target.write_text(text.replace(old, new), encoding="utf-8")
        try:
            bad = _summary(tests)
        finally:
            target.write_text(text, encoding="utf-8")
        print(f"{name:34} with the bug: {bad}  |  without: {_summary(tests)}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
