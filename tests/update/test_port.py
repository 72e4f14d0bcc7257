"""The service UART carries both protocols: update frames are answered in
every build, test-protocol lines only when unlocked (a locked port stays
silent to them), each whatever the other sends around it."""

import asyncio
import json

from firmware import port, testproto
from firmware.update import proto
from tests.update.support import DeviceModel, make_image, new_key


class Pipe:
    """The port's two streams over byte strings: read() gives `incoming`
    in small pieces, write() collects the replies."""

    def __init__(self, incoming, piece=7):
        self._incoming = incoming
        self._piece = piece
        self.out = b""

    async def read(self, n):
        data, self._incoming = self._incoming[:min(n, self._piece)], self._incoming[min(n, self._piece):]
        return data

    def write(self, data):
        self.out += bytes(data)

    async def drain(self):
        pass


class TimedPipe(Pipe):
    """A line with silences: each part arrives `at` seconds after the first
    read. A read waits for the next part's time (a read given up loses
    nothing, as on a real port); the stream ends after the last part."""

    def __init__(self, parts):
        Pipe.__init__(self, b"")
        self._parts = list(parts)
        self._start = None

    async def read(self, n):
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        if not self._parts:
            return b""
        at, data = self._parts[0]
        await asyncio.sleep(max(0, self._start + at - loop.time()))
        self._parts.pop(0)
        return data


# Longer than the gap and the recheck after it: the port takes it for the
# sender gone away.
SILENCE_S = (port.FRAME_GAP_MS + port.RECHECK_MS) / 1000 + 0.5


def replies(out):
    """-> (update replies as dicts, test-protocol reply lines as dicts)."""
    frames, lines = [], []
    for message in proto.PortSplitter().feed(out):
        if message[0] == "frame":
            frames.append(json.loads(message[2]))
        elif message[0] == "line":
            lines.append(json.loads(message[1]))
    return frames, lines


def serve(incoming, answer_request, service):
    pipe = Pipe(incoming)
    asyncio.run(port.serve(pipe, pipe, answer_request, service))
    return replies(pipe.out)


def test_updates_answer_with_the_test_protocol_locked_and_lines_get_nothing(tmp_path):
    make_image(tmp_path, new_key(), "1.0.0")
    device = DeviceModel(tmp_path)
    incoming = (b'{"id": 1, "op": "hello"}\n' + proto.encode_json({"id": 7, "op": "hello"})
                + b'{"id": 2, "op": "screen"}\n')
    frames, lines = serve(incoming, None, device.service)
    assert lines == []                                   # locked: silent to the test protocol
    assert len(frames) == 1 and frames[0]["id"] == 7 and frames[0]["version"] == "1.0.0"


def test_both_protocols_interleaved_when_unlocked(tmp_path):
    make_image(tmp_path, new_key(), "1.0.0")
    device = DeviceModel(tmp_path)

    async def answer_request(request):
        return {"id": request["id"], "ok": True, "op": request["op"]}

    incoming = (b'{"id": 1, "op": "hello"}\n' + proto.encode_json({"id": 7, "op": "status"})
                + b'not json\n' + proto.encode_json({"id": 8, "op": "nonsense"}))
    frames, lines = serve(incoming, answer_request, device.service)
    assert [l["id"] for l in lines] == [1, None] and lines[1]["ok"] is False
    assert frames[0]["id"] == 7 and frames[0]["ok"] is True
    assert frames[1] == {"id": 8, "ok": False, "error": "unknown update request 'nonsense'"}


def test_a_port_without_an_update_service_says_so():
    frames, _ = serve(proto.encode_json({"id": 1, "op": "hello"}), None, None)
    assert frames == [{"ok": False, "error": port.NO_UPDATES}]


def test_the_test_protocol_serve_still_answers_lines_as_before():
    class App:
        settings = type("S", (), {"test_protocol": True})()

    class Driver:
        app = App()

    pipe = Pipe(b'{"id": 3, "op": "nonsense"}\n\n')
    asyncio.run(testproto.serve(pipe, pipe, Driver()))
    _, lines = replies(pipe.out)
    assert lines[0]["id"] == 3 and "unknown op" in lines[0]["error"]
    assert lines[1]["ok"] is False                       # an empty line is a bad request, as it was


def test_a_frame_cut_short_is_dropped_after_a_pause_and_the_next_request_answered(tmp_path):
    """pos-flash killed mid-chunk: the rest of that chunk never comes. After
    a pause the port forgets it, so the next request is not taken for its
    missing bytes."""
    make_image(tmp_path, new_key(), "1.0.0")
    device = DeviceModel(tmp_path)
    cut = proto.encode_chunk(0, bytes(5000))[:3000]

    pipe = TimedPipe([(0, cut), (SILENCE_S, proto.encode_json({"id": 5, "op": "hello"}))])
    asyncio.run(port.serve(pipe, pipe, None, device.service))
    frames, _ = replies(pipe.out)
    assert [f.get("id") for f in frames] == [5] and frames[0]["ok"]


def test_a_frame_that_lost_its_first_byte_is_dropped_after_a_pause_and_the_next_request_answered(tmp_path):
    """pos-flash's request came while the handset's UART was closed (the
    boot stage's reboot between two apps): the closed UART kept its first
    byte and the opening dropped it. The rest reads as a line with no
    newline; after a pause the port forgets it, so the next request is not
    swallowed into that line."""
    make_image(tmp_path, new_key(), "1.0.0")
    device = DeviceModel(tmp_path)
    headless = proto.encode_json({"id": 4, "op": "status"})[1:]

    pipe = TimedPipe([(0, headless), (SILENCE_S, proto.encode_json({"id": 5, "op": "status"}))])  # pos-flash waited
    asyncio.run(port.serve(pipe, pipe, None, device.service))
    frames, _ = replies(pipe.out)
    assert [f.get("id") for f in frames] == [5] and frames[0]["ok"]



# Under MicroPython, on a pty as the service UART: the port is served, a
# second task blocks the loop for longer than the gap while the rest of a
# request comes. The scheduler runs the gap timer before the read that
# would have found the bytes waiting.
BUSY_LOOP_SCRIPT = """
import sys, time, asyncio
sys.path.insert(0, '.')
from firmware import port
from firmware.main import open_uart

async def answer_request(request):
    return {"id": request["id"], "ok": True}

async def busy():
    await asyncio.sleep_ms(500)
    time.sleep_ms(port.FRAME_GAP_MS + 600)   # a settlement report rendered on a slow CPU

async def main():
    reader, writer = open_uart(sys.argv[1])
    asyncio.create_task(busy())
    print("ready")
    await asyncio.wait_for_ms(port.serve(reader, writer, answer_request), 4000)

try:
    asyncio.run(main())
except asyncio.TimeoutError:
    pass
"""


def test_a_line_whose_rest_came_while_the_loop_was_busy_is_answered_not_dropped(micropython, tmp_path):
    """The handset's loop can be busy for longer than the gap (a settlement
    report rendered on the virtual ARM handset's slow CPU) while the rest of
    a request waits in the UART's buffer. That is no silence on the line:
    the request is answered. (The gap timer fired first and the port dropped
    the line: the HIL suite on the virtual handset waited 90 s for a reply.)"""
    import os
    import subprocess
    import time

    from tests.support import ROOT

    master, slave = os.openpty()
    script = tmp_path / "busy_loop.py"
    script.write_text(BUSY_LOOP_SCRIPT)
    device = subprocess.Popen([micropython, str(script), os.ttyname(slave)], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert device.stdout.readline() == b"ready\n"
        os.write(master, b'{"id": 1, "op": "hel')
        time.sleep(0.9)                                    # inside the busy stretch
        os.write(master, b'lo"}\n')
        reply = b""
        deadline = time.monotonic() + 8
        os.set_blocking(master, False)
        while b"\n" not in reply and time.monotonic() < deadline:
            try:
                reply += os.read(master, 4096)
            except BlockingIOError:
                time.sleep(0.05)
    finally:
        device.kill()
        _, errors = device.communicate()
        os.close(master)
        os.close(slave)
    assert json.loads(reply) == {"id": 1, "ok": True}, errors
