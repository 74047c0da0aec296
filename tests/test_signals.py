"""SIGTERM and SIGHUP are Ctrl-C for the command line (`cardingest.cli.signals`), and only
for it: a program that imports cardingest keeps its own signal handling.

The end-to-end runs are elsewhere: mid-ingest in ``tests/faults/test_interrupt.py``, at a
question in ``tests/test_sheet_interactive.py``, ``watch`` waiting in ``tests/test_watch.py``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator

import pytest

from cardingest.cli import signals
from cardingest.cli.interactive import stop_between_files
from cardingest.cli.signals import STOPPING, as_ctrl_c, command_begins, stop_like_ctrl_c


@pytest.fixture
def handlers() -> Iterator[None]:
    """The test process's handlers of SIGINT, SIGTERM and SIGHUP, and the console script's
    phase (`signals._before`), put back afterwards."""
    kept = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, *STOPPING)}
    try:
        yield
    finally:
        signals._before = None
        for signum, handler in kept.items():
            signal.signal(signum, handler)


def while_a_command_runs() -> None:
    """The console script's handlers as a command has begun (its own handling in place)."""
    stop_like_ctrl_c()
    command_begins()


@pytest.mark.usefixtures("handlers")
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP], ids=["SIGTERM", "SIGHUP"])
def test_the_signal_is_a_keyboard_interrupt_in_the_main_thread(sig: signal.Signals) -> None:
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for signum in STOPPING:
        signal.signal(signum, signal.SIG_DFL)
    while_a_command_runs()
    assert signal.getsignal(sig) is as_ctrl_c  # else the signal would end the test run
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), sig)
        pytest.fail("the signal did not interrupt")  # pragma: no cover


@pytest.mark.usefixtures("handlers")
def test_where_ctrl_c_stops_between_files_so_do_sigterm_and_sighup() -> None:
    """``watch`` (and the wipe) stop between files at the first Ctrl-C and at once at the
    second: systemd's SIGTERM, then another signal, do the same."""
    for signum in STOPPING:
        signal.signal(signum, signal.SIG_DFL)
    while_a_command_runs()
    assert all(signal.getsignal(signum) is as_ctrl_c for signum in STOPPING)
    with stop_between_files(notice=None) as stop:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        except KeyboardInterrupt:
            pytest.fail("the first signal stopped at once, not after the files under way")
        assert stop.is_set()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGHUP)
            pytest.fail("the second signal did not stop at once")  # pragma: no cover


@pytest.mark.usefixtures("handlers")
def test_with_ctrl_c_ignored_the_signal_still_interrupts() -> None:
    """A job started in the background by a shell script has SIGINT ignored; ``kill`` and
    ``timeout`` must still stop it the Ctrl-C way."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    while_a_command_runs()
    assert signal.getsignal(signal.SIGTERM) is as_ctrl_c
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGTERM)
        pytest.fail("the signal did not interrupt")  # pragma: no cover


@pytest.mark.usefixtures("handlers")
def test_a_sigint_ignored_stays_ignored_while_files_are_copied() -> None:
    """A trial: `watch` run as a background job ignored SIGINT while it waited, and acted on
    it during a card's ingest ("Stopping after the photos being copied now", exit 130).
    SIGTERM still stops it there, the first after the files under way."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    while_a_command_runs()
    with stop_between_files(notice=None) as stop:
        os.kill(os.getpid(), signal.SIGINT)
        os.kill(os.getpid(), signal.SIGINT)
        assert not stop.is_set()
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.is_set()
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGTERM)
            pytest.fail("the second signal did not stop at once")  # pragma: no cover
    assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN


def test_only_the_console_script_installs_them_and_an_ignored_one_stays_ignored() -> None:
    """Importing the commands, the ingest or the sheet changes no handler; the console
    script's ``main`` sets SIGTERM's, and leaves SIGHUP ignored under ``nohup``."""
    script = (
        "import signal, sys\n"
        "signal.signal(signal.SIGHUP, signal.SIG_IGN)\n"
        "import cardingest.cli, cardingest.cli.app, cardingest.ingest, cardingest.review.contact\n"
        "before = signal.getsignal(signal.SIGTERM) is signal.SIG_DFL\n"
        "during = []\n"
        "real = cardingest.cli.app.main\n"
        "def run():\n"
        "    during.append(signal.getsignal(signal.SIGTERM))\n"
        "    during.append(signal.getsignal(signal.SIGHUP))\n"
        "    real()\n"
        "cardingest.cli.app.main = run\n"
        "sys.argv = ['cardingest', '--version']\n"
        "try:\n"
        "    cardingest.cli.main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "from cardingest.cli.signals import as_ctrl_c\n"
        "print(before, during[0] is as_ctrl_c, during[1] is signal.SIG_IGN)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-3:] == ["True", "True", "True"], done.stdout


def test_a_ctrl_c_before_any_command_is_one_line_and_none_after_it_ends() -> None:
    """A Ctrl-C while the command line is read, before a command handles it: exit 130 and
    one line, no traceback. Once the command has ended, SIGINT, SIGTERM and SIGHUP are
    ignored: a signal then would only make a finished run look killed."""
    script = (
        "import os, signal, sys\n"
        "import cardingest.cli, cardingest.cli.app\n"
        "def interrupted():\n"
        "    raise KeyboardInterrupt\n"
        "cardingest.cli.app.main = interrupted\n"
        "sys.argv = ['cardingest', 'ingest']\n"
        "try:\n"
        "    cardingest.cli.main()\n"
        "except SystemExit as exc:\n"
        "    code = exc.code\n"
        "for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):\n"
        "    os.kill(os.getpid(), signum)\n"
        "print('alive', code)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["alive", "130"]
    assert done.stderr == "Interrupted before anything was done.\n"


@pytest.mark.parametrize(
    ("sig", "ignored"), [("SIGINT", False), ("SIGTERM", False), ("SIGTERM", True)]
)
def test_a_stop_while_the_command_line_is_read_ends_at_once_with_one_line(
    sig: str, ignored: bool
) -> None:
    """The testers' case: a Ctrl-C (or SIGTERM, also in a background job, SIGINT ignored)
    after the program has loaded, before a command begins, went through Click and Typer:
    a traceback, a silent exit 130, or with --json no document. Nothing has been touched
    then: one line, the document, exit 130."""
    script = (
        "import os, signal, sys\n"
        f"{'signal.signal(signal.SIGINT, signal.SIG_IGN)' if ignored else ''}\n"
        "import cardingest.cli.app as app\n"
        "real = app.run_command\n"
        "def run_command():\n"
        f"    os.kill(os.getpid(), signal.{sig})\n"
        "    real()\n"
        "app.run_command = run_command\n"
        "sys.argv = ['cardingest', 'cards', '--json']\n"
        "from cardingest.cli import main\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 130, done.stderr
    assert done.stderr == "Interrupted before anything was done.\n"
    assert json.loads(done.stdout)["error"] == {
        "message": "Interrupted before anything was done.",
        "details": [],
        "exit": 130,
    }
