"""StdoutSink and FileSink: whole NDJSON batches, durable before deliver() returns."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from connector.sinks import DeliveryError, FileSink, Sink, StdoutSink

DELIVER_TO_STDOUT_THEN_WAIT = """
import sys
from connector.sinks import StdoutSink
sink = StdoutSink()
sink.deliver([b'{"n":1}', b'{"n":2}'])
sys.stdin.readline()
"""

DELIVER_TO_FILE_THEN_HANG = """
import sys, time
from connector.sinks import FileSink
sink = FileSink(sys.argv[1])
sink.deliver([b'{"n":1}', b'{"n":2}'])
print("delivered", flush=True)
time.sleep(120)
"""


def events(count: int) -> list[bytes]:
    return [orjson.dumps({"n": i}) for i in range(count)]


def test_stdout_batch_reaches_the_pipe_before_deliver_returns() -> None:
    child = subprocess.Popen(
        [sys.executable, "-c", DELIVER_TO_STDOUT_THEN_WAIT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert child.stdout is not None and child.stdin is not None
    try:
        # The child is still running (blocked on stdin): the bytes can only be here if flushed.
        ready, _, _ = select.select([child.stdout], [], [], 20)
        assert ready, "nothing reached the pipe while the child was still running"
        assert os.read(child.stdout.fileno(), 4096) == b'{"n":1}\n{"n":2}\n'
    finally:
        child.stdin.close()
        child.wait(timeout=20)


def test_stdout_sink_reports_a_closed_pipe_as_delivery_error() -> None:
    read_end, write_end = os.pipe()
    os.close(read_end)
    with open(write_end, "wb", buffering=0) as pipe:
        sink = StdoutSink(pipe)
        with pytest.raises(DeliveryError, match="cannot write 2 events to stdout"):
            sink.deliver(events(2))


def test_stdout_sink_counts_what_it_wrote() -> None:
    read_end, write_end = os.pipe()
    with open(read_end, "rb") as reader, open(write_end, "wb") as pipe:
        sink = StdoutSink(pipe)
        sink.deliver(events(3))
        assert reader.read1(4096).count(b"\n") == 3
    assert (sink.stats.batches, sink.stats.events) == (1, 3)


def test_file_sink_appends_one_line_per_event_across_batches(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    with FileSink(path) as sink:
        sink.deliver(events(2))
        sink.deliver(events(1))
    assert path.read_bytes() == b'{"n":0}\n{"n":1}\n{"n":0}\n'
    assert (sink.stats.batches, sink.stats.events) == (2, 3)


def test_file_sink_keeps_what_an_earlier_run_wrote(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    path.write_bytes(b'{"old":true}\n')
    with FileSink(path) as sink:
        sink.deliver(events(1))
    assert path.read_bytes() == b'{"old":true}\n{"n":0}\n'


def test_file_sink_batch_is_in_the_file_when_the_writer_is_killed(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    child = subprocess.Popen(
        [sys.executable, "-c", DELIVER_TO_FILE_THEN_HANG, str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    try:
        assert child.stdout.readline().strip() == "delivered"
    finally:
        child.send_signal(signal.SIGKILL)
        child.communicate(timeout=20)
    assert path.read_bytes() == b'{"n":1}\n{"n":2}\n'


def test_file_sink_cuts_off_a_line_torn_by_a_crash(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    path.write_bytes(b'{"n":0}\n{"n":1}\n{"n":2,"tor')
    with FileSink(path) as sink:
        sink.deliver([b'{"n":2}'])
    assert path.read_bytes() == b'{"n":0}\n{"n":1}\n{"n":2}\n'


def test_file_sink_empties_a_file_holding_only_a_torn_line(tmp_path: Path) -> None:
    path = tmp_path / "events.ndjson"
    path.write_bytes(b'{"n":0' * 30000)
    FileSink(path).close()
    assert path.read_bytes() == b""


def test_file_sink_that_cannot_open_its_file_names_it(tmp_path: Path) -> None:
    path = tmp_path / "no-such-dir" / "events.ndjson"
    with pytest.raises(DeliveryError, match=str(path)):
        FileSink(path)


def test_closed_file_sink_refuses_to_deliver(tmp_path: Path) -> None:
    with FileSink(tmp_path / "events.ndjson") as sink:
        pass
    with pytest.raises(DeliveryError, match="closed"):
        sink.deliver(events(1))


def test_event_containing_a_newline_is_rejected_before_anything_is_written(
    tmp_path: Path,
) -> None:
    path = tmp_path / "events.ndjson"
    with FileSink(path) as sink, pytest.raises(ValueError, match="event 1 contains a newline"):
        sink.deliver([b'{"n":0}', b'{\n"n":1}'])
    assert path.read_bytes() == b""


def test_local_sinks_satisfy_the_sink_protocol(tmp_path: Path) -> None:
    with FileSink(tmp_path / "events.ndjson") as file_sink:
        assert isinstance(file_sink, Sink)
    assert isinstance(StdoutSink(), Sink)
