"""The standard streams as every command writes them.

Standard output is the report: a write to it that fails (a full disk, ``/dev/full``, a reader
that has gone: ``| head -1``) is an `OutputError`, so the command stops there and does
nothing further (no wipe after an ingest whose report was lost). The failure is known as
soon as it happens: each write goes to the descriptor at once and whole (`_write_all`).

Standard error carries messages alongside: a write to it that fails is dropped, and never
changes what the command does or its exit code.

After either fails its descriptor is pointed at ``/dev/null``, as the Python documentation
advises after a BrokenPipeError: what is still buffered then goes nowhere at exit, rather
than failing again there (an "Exception ignored" and exit 120).
"""

from __future__ import annotations

import errno
import io
import os
import select
import stat
import sys
from typing import Any

from ..errors import OutputError, UnwritableOutputError

_lost: list[str] = []
"""Why standard output failed, once it has: every later write fails the same way."""
_err_lost: list[bool] = []


def _stream(name: str) -> Any:
    """``sys.stdout`` or ``sys.stderr`` now (tests swap them), or the file behind a Rich
    progress bar's stand-in for it, as Rich itself writes to."""
    stream = getattr(sys, name)
    return getattr(stream, "rich_proxied_file", stream)


def _to_devnull(stream: Any) -> None:
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # not a descriptor: a test's capture
        return
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(null, fd)
    finally:
        os.close(null)


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def lost(exc: OSError) -> OutputError:
    """Standard output has failed with ``exc``: noted, its descriptor sent to /dev/null, and
    the error to raise (its message is completed by whoever knows what was done)."""
    if not _lost:
        _lost.append(_why(exc))
        _to_devnull(_stream("stdout"))
    return OutputError(f"Standard output cannot be written ({_lost[0]})")


def _failed() -> OutputError | None:
    return OutputError(f"Standard output cannot be written ({_lost[0]})") if _lost else None


class _Guarded:
    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, name: str) -> Any:  # isatty, encoding, fileno…: the stream's own
        return getattr(_stream(self._name), name)


def _write_all(stream: Any, text: str) -> None:
    """``text`` written to ``stream``'s descriptor until every byte is written, or an OSError.

    Not through the stream itself: unbuffered (``PYTHONUNBUFFERED``, ``python -u``), it passes
    a short write (a disk filling up) over in silence and the rest of the text is lost with
    no error. A stream with no descriptor (a test's capture) is written as it is.
    """
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None
    if fd is None or os.linesep != "\n":  # Windows: the stream turns \n into \r\n
        stream.write(text)
        return
    data = memoryview(text.encode(stream.encoding or "utf-8", stream.errors or "strict"))
    stream.flush()  # what others wrote through it goes first
    while data:
        data = data[os.write(fd, data) :]


class _Stdout(_Guarded):
    """Standard output for Rich and the writers here: a failure is an `OutputError`."""

    def write(self, text: str) -> int:
        self._usable()
        try:
            _write_all(_stream("stdout"), text)
        except OSError as exc:
            raise lost(exc) from None
        return len(text)

    def flush(self) -> None:
        self._usable()
        try:
            _stream("stdout").flush()
        except OSError as exc:
            raise lost(exc) from None

    @staticmethod
    def _usable() -> None:
        failed = _failed()
        if failed is not None:
            raise failed
        if _stream("stdout") is None:
            raise lost(OSError(errno.EBADF, "it is closed"))


class _Stderr(_Guarded):
    """Standard error for Rich and the writers here: a failure is dropped."""

    def write(self, text: str) -> int:
        stream = _stream("stderr")
        if not _err_lost and stream is not None:
            try:
                stream.write(text)
            except OSError:
                self._drop(stream)
        return len(text)

    def flush(self) -> None:
        stream = _stream("stderr")
        if not _err_lost and stream is not None:
            try:
                stream.flush()
            except OSError:
                self._drop(stream)

    @staticmethod
    def _drop(stream: Any) -> None:
        _err_lost.append(True)
        _to_devnull(stream)


stdout = _Stdout("stdout")
stderr = _Stderr("stderr")


def write_out(text: str) -> None:
    """``text`` on standard output, flushed: an `OutputError` now if it cannot be written."""
    stdout.write(text)
    stdout.flush()


def write_err(text: str) -> None:
    """``text`` on standard error, flushed, or nowhere if it cannot be written."""
    stderr.write(text)
    stderr.flush()


def unwritable() -> OSError | None:
    """Why standard output is known now to be unwritable, found without writing anything to
    it, or None: closed, a flush that fails, ``/dev/full`` (which refuses even a write of
    nothing, which a file, a pipe or a terminal takes), a pipe or socket whose reader has
    gone. A disk that is full is found only by writing."""
    if _lost:
        return OSError(errno.EIO, _lost[0])
    stream = _stream("stdout")
    if stream is None:
        return OSError(errno.EBADF, "it is closed")
    try:
        stream.flush()
        fd = stream.fileno()
    except io.UnsupportedOperation:  # a test's capture: no descriptor to look at
        return None
    except OSError as exc:
        return exc
    except (AttributeError, ValueError):
        return None
    try:
        os.write(fd, b"")
        mode = os.fstat(fd).st_mode
    except OSError as exc:
        return exc
    if (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode)) and hasattr(select, "poll"):
        poller = select.poll()
        poller.register(fd, select.POLLOUT)
        if any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0)):
            return OSError(errno.EPIPE, os.strerror(errno.EPIPE))
    return None


def require_stdout() -> None:
    """Raise `OutputError` if standard output is known now to be unwritable (`unwritable`):
    asked before a step the caller could then not be told of (a wipe, a send)."""
    why = unwritable()
    if why is not None:
        raise lost(why)


_STREAMS = ((0, "stdin", os.O_RDONLY), (1, "stdout", os.O_WRONLY), (2, "stderr", os.O_WRONLY))


class _ForgivingStderr(io.RawIOBase):
    """The descriptor under ``sys.stderr`` once a command starts: a write that fails is
    dropped (with every later one), so that no writer, Click's usage errors included, can
    turn the failure of a message into another exit code."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd

    def writable(self) -> bool:
        return True

    def fileno(self) -> int:
        return self._fd

    def isatty(self) -> bool:
        return os.isatty(self._fd)

    def write(self, data: Any) -> int:
        size = len(memoryview(data).cast("B"))
        if not _err_lost:
            try:
                os.write(self._fd, data)
            except OSError:
                _err_lost.append(True)
        return size


def _forgiving_stderr() -> None:
    stream = sys.stderr
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):  # not a descriptor: a test's capture
        return
    sys.stderr = io.TextIOWrapper(
        _ForgivingStderr(fd),
        encoding=stream.encoding,
        errors=stream.errors,
        line_buffering=True,
        write_through=True,
    )


def standard_streams() -> UnwritableOutputError | None:
    """At the start of a command: each standard stream closed by the caller (``>&-``) is
    opened on /dev/null, so that no file cardingest opens (a catalogue, a photo's copy) takes
    its number and gets what is written there, and a closed stdin is no terminal; standard
    error made to drop what it cannot write (`_ForgivingStderr`); then the refusal to return
    if standard output cannot be written (closed, or `unwritable`)."""
    _lost.clear()  # a command run in-process after another starts afresh
    _err_lost.clear()
    closed = False
    for fd, name, mode in _STREAMS:
        try:
            os.fstat(fd)
            continue
        except OSError:
            pass
        null = os.open(os.devnull, mode)
        if null == fd:
            os.set_inheritable(fd, True)
        else:
            os.dup2(null, fd)
            os.close(null)
        if getattr(sys, name) is None:
            kind = "r" if mode == os.O_RDONLY else "w"
            setattr(sys, name, open(fd, kind, encoding="utf-8", closefd=False))  # noqa: SIM115
        closed = closed or fd == 1
    _forgiving_stderr()
    why = OSError(errno.EBADF, "it is closed") if closed else unwritable()
    if why is None:
        return None
    return UnwritableOutputError(
        f"{lost(why).message}: nothing was done. Send it to a file that can be written, or "
        "to /dev/null to discard it"
    )
