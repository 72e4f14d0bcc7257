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

    class SlowPipe(Pipe):
        def __init__(self):
            Pipe.__init__(self, b"", piece=4096)
            self._parts = [cut, None, proto.encode_json({"id": 5, "op": "hello"})]

        async def read(self, n):
            if not self._parts:
                return b""
            part = self._parts.pop(0)
            if part is None:                           # silence on the line
                await asyncio.sleep(port.FRAME_GAP_MS / 1000 + 0.5)
                return await self.read(n)
            return part

    pipe = SlowPipe()
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

    class SlowPipe(Pipe):
        def __init__(self):
            Pipe.__init__(self, b"", piece=4096)
            self._parts = [headless, None, proto.encode_json({"id": 5, "op": "status"})]

        async def read(self, n):
            if not self._parts:
                return b""
            part = self._parts.pop(0)
            if part is None:                           # pos-flash waits for its reply
                await asyncio.sleep(port.FRAME_GAP_MS / 1000 + 0.5)
                return await self.read(n)
            return part

    pipe = SlowPipe()
    asyncio.run(port.serve(pipe, pipe, None, device.service))
    frames, _ = replies(pipe.out)
    assert [f.get("id") for f in frames] == [5] and frames[0]["ok"]
