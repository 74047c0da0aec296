"""Commands run as an operator runs them: at a terminal, where Ctrl-C interrupts."""

from __future__ import annotations

import os
import signal
from collections.abc import Sequence
from pathlib import Path

import pexpect


def operator_signals() -> None:
    """Ctrl-C must reach the command as it does at a terminal, and SIGTERM and SIGHUP as a
    service manager or a closed terminal send them.

    A suite started in the background by a script (``pytest &``, nohup, a mutation run)
    inherits SIGINT (and under nohup SIGHUP) ignored, and so would every command it starts:
    a test that presses Ctrl-C would then wait for an exit that never comes, and cardingest
    leaves a signal ignored at its start ignored.
    """
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)


def on_terminal(
    program: str, args: Sequence[str | Path], env: dict[str, str] | None = None
) -> pexpect.spawn:
    """``program args`` on a pseudo-terminal; TERM=dumb makes Rich write plain text."""
    return pexpect.spawn(
        program,
        [str(a) for a in args],
        env={**os.environ, "TERM": "dumb", **(env or {})},
        encoding="utf-8",
        timeout=60,
        preexec_fn=operator_signals,
    )
