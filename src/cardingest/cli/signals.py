"""SIGTERM and SIGHUP stop a command as Ctrl-C does.

``timeout``, systemd (``cardingest watch`` as a service) and a closed terminal send these
rather than SIGINT. Python's default for them ends the process at once: no ``finally``, so
temporaries and the archive lock stay behind and a script gets no JSON. With `as_ctrl_c`
installed they go wherever SIGINT goes at that moment: Python's own handler (a
KeyboardInterrupt in the main thread, exit 130 through the commands' error handling) or the
one a command put in place (`interactive.stop_between_files`: the first stops between files).

Installed by the console script only (`cardingest.cli.main`), never on import, so a program
that uses cardingest as a library keeps its own handling of these signals. The console
script's run has three phases: until a command begins, a stop ends the process at once with
one line (nothing has been touched); while it runs, a stop is a KeyboardInterrupt that the
command turns into exit 130 once it has stopped cleanly; once it has ended, they are
ignored, so its exit code stands.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
from types import FrameType

STOPPING: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)
"""The signals that ask a command to stop, besides SIGINT (Windows has no SIGHUP)."""


_before: bool | None = None
"""None: handlers are the embedding program's (not the console script). True: no command
has begun, so a stop ends the process at once (`_quit_before`). False: one has."""
_as_json = False

BEFORE = "Interrupted before anything was done."


def as_ctrl_c(signum: int, frame: FrameType | None) -> None:
    """The handler of `STOPPING`: whatever SIGINT's handler does now (a KeyboardInterrupt by
    default); a KeyboardInterrupt all the same where SIGINT is ignored (a background job);
    before any command has begun, the end of the process (`_quit_before`)."""
    if _before:
        _quit_before(signum, frame)
    current = signal.getsignal(signal.SIGINT)
    if callable(current):
        current(signum, frame)
        return
    raise KeyboardInterrupt


def _quit_before(signum: int, frame: FrameType | None) -> None:
    """A stop while the program loads or reads its command line: nothing has been touched,
    so say so (with ``--json`` the error document too) and end now, exit 130. A
    KeyboardInterrupt there would pass through Click and Typer, which end silently or with
    a traceback."""
    say_stopped_before()
    os._exit(130)


def say_stopped_before() -> None:
    """`BEFORE` on stderr, and with ``--json`` its error document on stdout."""
    if _as_json:
        document = {"error": {"message": BEFORE, "details": [], "exit": 130}}
        _write(1, json.dumps(document) + "\n")
    _write(2, BEFORE + "\n")


def _write(fd: int, text: str) -> None:
    with contextlib.suppress(OSError):
        os.write(fd, text.encode())


def stop_like_ctrl_c(as_json: bool = False) -> None:
    """Install `as_ctrl_c` for each of `STOPPING` that has its default action, and until a
    command begins (`command_begins`) `_quit_before` for SIGINT. One ignored when the
    program starts (``nohup`` ignores SIGHUP, a background job SIGINT) stays ignored, as
    Python leaves an ignored SIGINT. Outside the main thread, where handlers cannot be set,
    nothing changes."""
    global _before, _as_json
    _as_json = as_json  # for `say_stopped_before`, handlers or not
    try:
        for signum in STOPPING:
            if signal.getsignal(signum) == signal.SIG_DFL:
                signal.signal(signum, as_ctrl_c)
        _before = True
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, _quit_before)
    except (ValueError, OSError):
        return


def command_begins() -> None:
    """From here a stop is a KeyboardInterrupt, which the command turns into its message,
    exit 130, after it has stopped cleanly."""
    global _before
    if _before:
        _before = False
        if signal.getsignal(signal.SIGINT) is _quit_before:
            signal.signal(signal.SIGINT, signal.default_int_handler)


def command_ended() -> None:
    """Ignore SIGINT and `STOPPING` from here on (console script only): the command has
    ended, its exit code is known, and a signal now would only turn it into a death by the
    signal, or a traceback. `STOPPING` first: with SIGINT ignored, `as_ctrl_c` raises."""
    if _before is None:
        return
    while True:
        try:
            for signum in (*STOPPING, signal.SIGINT):
                signal.signal(signum, signal.SIG_IGN)
            return
        except KeyboardInterrupt:  # one came just now: it is ignored all the same
            continue
        except (ValueError, OSError):
            return
