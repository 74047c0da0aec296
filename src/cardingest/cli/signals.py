"""SIGTERM and SIGHUP stop a command as Ctrl-C does.

``timeout``, systemd (``cardingest watch`` as a service) and a closed terminal send these
rather than SIGINT. Python's default for them ends the process at once: no ``finally``, so
temporaries and the archive lock stay behind and a script gets no JSON. With `as_ctrl_c`
installed they go wherever SIGINT goes at that moment: Python's own handler (a
KeyboardInterrupt in the main thread, exit 130 through the commands' error handling) or the
one a command put in place (`interactive.stop_between_files`: the first stops between files).

Installed by the console script only (`cardingest.cli.main`), never on import, so a program
that uses cardingest as a library keeps its own handling of these signals.
"""

from __future__ import annotations

import signal
from types import FrameType

STOPPING: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)
"""The signals that ask a command to stop, besides SIGINT (Windows has no SIGHUP)."""


def as_ctrl_c(signum: int, frame: FrameType | None) -> None:
    """The handler of `STOPPING`: whatever SIGINT's handler does now (a KeyboardInterrupt by
    default); a KeyboardInterrupt all the same where SIGINT is ignored (a background job)."""
    current = signal.getsignal(signal.SIGINT)
    if callable(current):
        current(signum, frame)
        return
    raise KeyboardInterrupt


def stop_like_ctrl_c() -> None:
    """Install `as_ctrl_c` for each of `STOPPING` that has its default action. One ignored
    when the program starts (``nohup`` ignores SIGHUP) stays ignored, as Python leaves an
    ignored SIGINT. Outside the main thread, where handlers cannot be set, nothing changes."""
    for signum in STOPPING:
        try:
            if signal.getsignal(signum) == signal.SIG_DFL:
                signal.signal(signum, as_ctrl_c)
        except (ValueError, OSError):
            return


def stopped_by_now() -> None:
    """Ignore SIGINT and `STOPPING` from here on: the command has ended, and a signal now
    would only turn its exit code into a death by that signal."""
    for signum in (signal.SIGINT, *STOPPING):
        try:
            signal.signal(signum, signal.SIG_IGN)
        except (ValueError, OSError):
            return
