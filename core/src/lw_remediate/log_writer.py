"""Where log lines go: one write per event-loop turn, not one per line.

Under load every webhook logs ``alert_received``; writing each line on its own is a
system call per line and a wake-up of the reader at the other end (journald, a
container runtime, a pipe), which cost the daemon more than rendering the line. The
:class:`LineWriter` keeps the lines logged on an event loop's thread and writes them
together when that turn of the loop ends (one ``call_soon`` per turn), in the order
they were logged.

What that can lose, and what it cannot:

* ``warning`` and worse are written at once, with every line held before them: the
  lines that explain a failure are on the stream before anything else happens.
* A line logged off the loop's thread (no running loop) is written at once.
* A turn that does not end (a call blocking the loop) does not keep its lines: a
  thread writes whatever has been held for :data:`STALL_SECONDS`.
* A line the loop did not get to write (the process killed with SIGKILL within the
  turn it was logged in) is lost; at a normal exit, and when another loop or thread
  logs, what is held is written first.

Durable records are the store's, not the log's: an alert is committed before its
``alert_received`` line is logged.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import threading
import time
import weakref
from typing import TextIO

__all__ = ["STALL_SECONDS", "LineWriter"]

#: Lines held this long (a loop turn that has not ended) are written by a thread.
STALL_SECONDS = 0.5

_writers: weakref.WeakSet[LineWriter] = weakref.WeakSet()
_stall_watch: threading.Thread | None = None


class LineWriter:
    """A structlog logger (``msg``, ``info``, ``error``...) writing whole lines to ``stream``."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        # Re-entrant: a signal handler that logs while this thread writes must not deadlock.
        self._lock = threading.RLock()
        self._held: list[str] = []
        #: The loop whose ``call_soon`` will write what is held (None: nothing held).
        self._writer_loop: asyncio.AbstractEventLoop | None = None
        self._held_since = 0.0
        #: Writes to the stream so far (for tests and the ingest bench).
        self.writes = 0
        _writers.add(self)
        _watch_stalls()

    def hold(self, message: str) -> None:
        """Write ``message`` (a line without its newline) at the end of this loop turn."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.write_now(message)
            return
        with self._lock:
            if self._writer_loop is loop:
                self._held.append(message)
                return
            # Nothing held, or held by another loop (another thread's, or one that
            # stopped before its turn ended): that goes first, then this loop holds.
            if self._held:
                self._write(self._take())
            self._held.append(message)
            self._writer_loop = loop
            self._held_since = time.monotonic()
        loop.call_soon(self.flush)

    def write_now(self, message: str) -> None:
        """Write what is held, then ``message``, before returning."""
        with self._lock:
            lines = self._take()
            lines.append(message)
            self._write(lines)

    def flush(self) -> None:
        """Write whatever is held now."""
        with self._lock:
            if self._held:
                self._write(self._take())

    def flush_stalled(self, now: float) -> None:
        """Write what has been held since before ``now - STALL_SECONDS``."""
        with self._lock:
            if self._held and self._held_since <= now - STALL_SECONDS:
                self._write(self._take())

    def _take(self) -> list[str]:
        lines, self._held, self._writer_loop = self._held, [], None
        return lines

    def _write(self, lines: list[str]) -> None:  # with the lock held: lines stay in order
        self.stream.write("\n".join(lines) + "\n")
        self.stream.flush()
        self.writes += 1

    # structlog calls the method named after the level.
    debug = info = msg = log = hold
    warn = warning = err = error = critical = exception = fatal = failure = write_now


def _watch_stalls() -> None:
    """Start the one thread that writes lines a stalled loop holds (once per process)."""
    global _stall_watch
    if _stall_watch is not None and _stall_watch.is_alive():
        return

    def watch() -> None:
        while True:
            time.sleep(STALL_SECONDS / 2)
            now = time.monotonic()
            for writer in list(_writers):
                with contextlib.suppress(ValueError, OSError):
                    writer.flush_stalled(now)

    _stall_watch = threading.Thread(target=watch, name="lw-log-stalls", daemon=True)
    _stall_watch.start()


@atexit.register
def _flush_all() -> None:
    """At exit: what every writer still holds (a stream closed by then is skipped)."""
    for writer in list(_writers):
        with contextlib.suppress(ValueError, OSError):
            writer.flush()
