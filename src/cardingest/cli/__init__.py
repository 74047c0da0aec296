"""The command line: a thin Typer app over the use cases; the only package that imports
Typer or Rich."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Sequence


def json_asked(args: Sequence[str]) -> bool:
    """Whether a command line asks for ``--json`` (read before Click parses it)."""
    return any(arg == "--json" or arg.startswith("--json=") for arg in args)


def main() -> None:
    """The console script. SIGTERM and SIGHUP are Ctrl-C from here on, and a stop before a
    command has begun ends the process with exit 130 and one line (`signals`); a
    KeyboardInterrupt raised outside every command's own handling all the same."""
    from .signals import command_ended, say_stopped_before, stop_like_ctrl_c

    stop_like_ctrl_c(json_asked(sys.argv[1:]))
    try:
        from .app import main as run

        run()
    except KeyboardInterrupt:
        say_stopped_before()
        raise SystemExit(130) from None
    finally:
        command_ended()


__all__ = ["main"]
