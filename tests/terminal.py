"""Commands run as an operator runs them: at a terminal, where Ctrl-C interrupts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pexpect

INJECT = Path(__file__).parent / "faults" / "inject.py"


def injected(point: str, *args: object) -> list[str]:
    """The argv of the CLI run through ``tests/faults/inject.py`` with a fault at ``point``."""
    return [sys.executable, str(INJECT), point, *map(str, args)]


def paused_at(point: str, *args: object, **popen: Any) -> subprocess.Popen[str]:
    """The CLI through ``inject.py``, started and returned once held at ``point``, a hook that
    says HOOK-REACHED on stderr and waits for a line on stdin (or for stdin to close)."""
    process = subprocess.Popen(
        injected(point, *args),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **popen,
    )
    assert process.stderr is not None
    for line in process.stderr:  # ends when the process does, if it never pauses
        if "HOOK-REACHED" in line:
            break
    return process


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
