"""This computer's name, as locks, audit entries and catalogue rows record it."""

from __future__ import annotations

import os


def host_name() -> str:
    """``socket.gethostname()`` without importing ``socket`` (some 4 ms of every start-up):
    where there is ``uname`` (Linux, macOS, the BSDs) the two are its node name."""
    if hasattr(os, "uname"):
        return os.uname().nodename
    import socket

    return socket.gethostname()
