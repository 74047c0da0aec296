"""The command line: a thin Typer app over the use cases; the only package that imports
Typer or Rich."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence
    from typing import TextIO


def json_asked(args: Sequence[str]) -> bool:
    """Whether a command line asks for ``--json`` (read before Click parses it)."""
    return any(arg == "--json" or arg.startswith("--json=") for arg in args)


def main() -> None:
    """The console script. SIGTERM and SIGHUP are Ctrl-C from here on, and a stop before a
    command has begun ends the process with exit 130 and one line (`signals`); a
    KeyboardInterrupt raised outside every command's own handling all the same."""
    from .signals import BEFORE, before_document, command_ended, stop_like_ctrl_c

    as_json = json_asked(sys.argv[1:])
    stop_like_ctrl_c(as_json)
    try:
        from .app import main as run

        run()
    except KeyboardInterrupt:
        if as_json:
            _say(sys.stdout, before_document())
        _say(sys.stderr, BEFORE + "\n")
        raise SystemExit(130) from None
    finally:
        command_ended()


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
