"""Log lines written once per event-loop turn (lw_remediate.log_writer), none lost or reordered."""

from __future__ import annotations

import asyncio
import io
import logging
import threading

import pytest
import structlog

from lw_remediate import log_writer
from lw_remediate.log_writer import LineWriter
from lw_remediate.logs import configure_logging


class Stream(io.StringIO):
    """A stream that counts its writes and tells a waiting thread when one happened."""

    def __init__(self) -> None:
        super().__init__()
        self.written = threading.Event()
        self.write_calls = 0

    def write(self, text: str) -> int:
        self.write_calls += 1
        n = super().write(text)
        self.written.set()
        return n


def lines(stream: io.StringIO) -> list[str]:
    return stream.getvalue().splitlines()


def test_lines_of_one_loop_turn_are_written_together_in_order_when_it_ends():
    stream = Stream()
    writer = LineWriter(stream)

    async def main() -> tuple[list[str], list[str]]:
        for n in range(5):
            writer.info(f"line {n}")
        during = lines(stream)  # the turn has not ended: nothing written yet
        await asyncio.sleep(0)  # the turn ends; the next one starts after the write
        return during, lines(stream)

    during, after = asyncio.run(main())
    assert during == []
    assert after == [f"line {n}" for n in range(5)]
    assert stream.write_calls == writer.writes == 1


def test_a_warning_is_written_at_once_after_the_lines_held_before_it():
    stream = Stream()
    writer = LineWriter(stream)

    async def main() -> list[str]:
        writer.info("first")
        writer.debug("second")
        writer.warning("third")
        seen = lines(stream)  # before the turn ends
        writer.info("fourth")
        await asyncio.sleep(0)
        return seen

    assert asyncio.run(main()) == ["first", "second", "third"]
    assert lines(stream) == ["first", "second", "third", "fourth"]
    for level in ("warn", "error", "critical", "exception", "fatal", "err", "failure"):
        assert getattr(LineWriter, level) is LineWriter.write_now


def test_a_line_logged_with_no_running_loop_is_written_at_once():
    stream = Stream()
    writer = LineWriter(stream)
    writer.info("from a thread without a loop")
    assert lines(stream) == ["from a thread without a loop"]


def test_lines_a_stopped_loop_held_are_written_before_the_next_loops_lines():
    stream = Stream()
    writer = LineWriter(stream)
    held_by_a_stopped_loop(writer, "from the stopped loop")
    assert lines(stream) == []

    async def other() -> None:
        writer.info("from another loop")

    asyncio.run(other())
    assert lines(stream) == ["from the stopped loop", "from another loop"]


def held_by_a_stopped_loop(writer: LineWriter, text: str) -> None:
    """``text`` logged on a loop that stops inside that turn: its write is never called."""
    loop = asyncio.new_event_loop()

    async def log_and_stop() -> None:
        writer.info(text)
        loop.stop()
        await asyncio.Future()  # never resolved: the loop stops first

    try:
        with pytest.raises(RuntimeError, match="stopped before Future completed"):
            loop.run_until_complete(log_and_stop())
    finally:
        loop.close()


def test_lines_held_by_a_turn_that_never_ends_are_written_by_the_stall_watch():
    stream = Stream()
    writer = LineWriter(stream)

    async def main() -> bool:
        writer.info("before a blocking call")
        # The loop's thread is blocked (as by a synchronous call): only the stall
        # watch can write the line. The wait's timeout bounds a failing test.
        return stream.written.wait(timeout=10 * log_writer.STALL_SECONDS)

    assert asyncio.run(main()) is True
    assert lines(stream) == ["before a blocking call"]


def test_flush_writes_what_is_held_and_nothing_twice():
    stream = Stream()
    writer = LineWriter(stream)

    async def main() -> None:
        writer.info("held")
        writer.flush()
        assert lines(stream) == ["held"]

    asyncio.run(main())
    writer.flush()
    assert lines(stream) == ["held"] and writer.writes == 1


def test_stdlib_lines_come_after_the_structlog_lines_held_before_them():
    stream = Stream()
    root = logging.getLogger()
    saved = root.handlers[:]
    root.handlers.clear()  # configure_logging adds its handler only to a bare root
    try:
        configure_logging(level="info", json=True, stream=stream)

        async def main() -> None:
            structlog.get_logger("test").info("structlog_first")
            logging.getLogger("aiohttp.test").warning("stdlib second")
            structlog.get_logger("test").info("structlog_third")

        asyncio.run(main())
    finally:
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        root.handlers.extend(saved)
    text = lines(stream)
    assert len(text) == 3
    assert "structlog_first" in text[0]
    assert text[1].endswith("stdlib second")
    assert "structlog_third" in text[2]


def test_reconfiguring_writes_what_the_previous_writer_held():
    first, second = Stream(), Stream()
    configure_logging(level="info", json=True, stream=first)

    async def main() -> None:
        structlog.get_logger("test").info("to_the_first_stream")
        configure_logging(level="info", json=True, stream=second)
        structlog.get_logger("test").info("to_the_second_stream")

    asyncio.run(main())
    assert len(lines(first)) == 1 and "to_the_first_stream" in lines(first)[0]
    assert len(lines(second)) == 1 and "to_the_second_stream" in lines(second)[0]


@pytest.mark.parametrize("closed", [True, False])
def test_the_exit_flush_writes_held_lines_and_skips_closed_streams(closed: bool):
    stream = Stream()
    writer = LineWriter(stream)
    held_by_a_stopped_loop(writer, "held at exit")
    if closed:
        stream.close()
    log_writer._flush_all()  # what atexit runs: a closed stream is no error
    if not closed:
        assert lines(stream) == ["held at exit"]
    assert writer.writes == (0 if closed else 1)


def test_a_line_logged_while_a_write_is_under_way_is_written_too():
    # As a signal handler that logs would, in the middle of a write on the same thread.
    class LogsWhileWriting(Stream):
        def write(self, text: str) -> int:
            n = super().write(text)
            if text.startswith("first"):
                writer.warning("logged during the write")
            return n

    stream = LogsWhileWriting()
    writer = LineWriter(stream)
    done = threading.Event()

    def log() -> None:
        writer.warning("first")
        done.set()

    threading.Thread(target=log, daemon=True).start()
    assert done.wait(timeout=10), "the nested line deadlocked the writer"
    assert lines(stream) == ["first", "logged during the write"]
