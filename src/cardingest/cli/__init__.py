"""The command line: a thin Typer app over the use cases; the only package that imports
Typer or Rich."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import TextIO


def json_asked(args: Sequence[str]) -> bool:
    """Whether a command line asks for ``--json`` (read before Click parses it)."""
    return any(arg == "--json" or arg.startswith("--json=") for arg in args)


def main() -> None:
    """The console script. SIGTERM and SIGHUP are Ctrl-C from here on (`signals`). A Ctrl-C
    while Typer and the commands load (nothing has been touched yet) is exit 130 with one
    line, as it is later, not a traceback; so is one while the command line is read, before
    a command handles it. Once the command has ended they are ignored: what it did is done
    and said, and the exit code says how it ended (not a death by the signal)."""
    from .signals import stop_like_ctrl_c, stopped_by_now

    stop_like_ctrl_c()
    try:
        from .app import main as run
    except KeyboardInterrupt:
        if json_asked(sys.argv[1:]):
            _say(
                sys.stdout,
                '{"error": {"message": "Interrupted before anything was done.", '
                '"details": [], "exit": 130}}\n',
            )
        _say(sys.stderr, "Interrupted before anything was done.\n")
        raise SystemExit(130) from None
    try:
        run()
    except KeyboardInterrupt:  # outside every command's own handling: it had not begun
        _say(sys.stderr, "Interrupted before anything was done.\n")
        raise SystemExit(130) from None
    finally:
        stopped_by_now()


def _say(stream: TextIO | None, text: str) -> None:
    """``text`` on a standard stream, if it is there and can be written (`streams` has not
    been set up yet)."""
    try:
        if stream is not None:
            stream.write(text)
            stream.flush()
    except OSError:
        pass


__all__ = ["main"]
