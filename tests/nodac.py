"""Run the cardingest CLI as a process that may not read files whose mode says no.

    python tests/nodac.py PROBE verify --archive ARCHIVE --json

Drops CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (capset(2)) first, so permission bits apply
to it as they do to every account but root's; then checks that PROBE (a file of mode 000)
really cannot be read, and runs the real CLI with the rest of the arguments. A fresh process,
not a fork of the test's: the CLI's reader threads must be its own. Exit 71: the capabilities
could not be dropped; 72: PROBE is still readable; anything else is the CLI's.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from pathlib import Path

CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 1, 2
VERSION_3 = 0x20080522  # _LINUX_CAPABILITY_VERSION_3


class _Header(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _Data(ctypes.Structure):
    _fields_ = [
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    ]


def give_up_reading_everything() -> bool:
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    header = _Header(VERSION_3, 0)
    data = (_Data * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        return False
    keep = ~((1 << CAP_DAC_OVERRIDE) | (1 << CAP_DAC_READ_SEARCH)) & 0xFFFFFFFF
    data[0].effective &= keep
    data[0].permitted &= keep
    data[0].inheritable &= keep
    return bool(libc.capset(ctypes.byref(header), data) == 0)


def main() -> int:
    probe, args = Path(sys.argv[1]), sys.argv[2:]
    if not give_up_reading_everything():
        return 71
    try:
        probe.read_bytes()
    except PermissionError:
        pass
    else:
        return 72
    from cardingest.cli import main as cardingest

    sys.argv = ["cardingest", *args]
    cardingest()
    return 0


if __name__ == "__main__":
    sys.exit(main())
