"""The update protocol's wire format: binary frames on the service UART.

The service UART carries two protocols. The test protocol (firmware/
testproto.py) is JSON Lines, answered only when unlocked. The update
protocol is always answered: its frames start with SOH (0x01), a byte that
never starts a JSON line, so one reader tells them apart at the start of
each message (PortSplitter).

    frame = SOH | kind (1 byte) | length (4 bytes BE) | payload | CRC-32 (4 bytes BE)

The CRC (binascii.crc32, as zlib) covers kind, length and payload. Kinds:

    J   a request or reply: a JSON object (UTF-8)
    C   a chunk of the bundle: offset (4 bytes BE) | SHA-256 of data (32) | data

One request, one reply, in order. Plain functions over bytes; the vectors
are in tests/update/test_proto.py.
"""

import json

from hal.compat import crc32, sha256
from firmware.testproto import LineSplitter

SOH = 0x01
HEAD = 6                      # SOH, kind, length
KIND_JSON = b"J"
KIND_CHUNK = b"C"
KINDS = (KIND_JSON, KIND_CHUNK)
MAX_CHUNK = 16 * 1024
MAX_PAYLOAD = MAX_CHUNK + 36 + 64 * 1024   # a chunk, or a JSON request carrying a bundle header
PROTOCOL_VERSION = 1


class FrameError(Exception):
    pass


def encode_frame(kind, payload):
    length = len(payload).to_bytes(4, "big")
    crc = crc32(kind + length + payload)
    return bytes((SOH,)) + kind + length + payload + crc.to_bytes(4, "big")


def encode_json(message):
    return encode_frame(KIND_JSON, json.dumps(message).encode())


def decode_json(payload):
    try:
        message = json.loads(bytes(payload))
    except ValueError:
        raise FrameError("request is not JSON")
    if not isinstance(message, dict):
        raise FrameError("request must be a JSON object")
    return message


def encode_chunk(offset, data):
    return encode_frame(KIND_CHUNK, offset.to_bytes(4, "big") + sha256(data) + bytes(data))


def decode_chunk(payload):
    """-> (offset, data). Raises FrameError when the data does not match
    the SHA-256 it came with."""
    if len(payload) < 36:
        raise FrameError("chunk too short")
    offset = int.from_bytes(bytes(payload[:4]), "big")
    data = bytes(payload[36:])
    if sha256(data) != bytes(payload[4:36]):
        raise FrameError("chunk at offset %d damaged (SHA-256 differs): send it again" % offset)
    return offset, data


class PortSplitter:
    """Bytes from the port as they arrive -> messages, in order:

        ("frame", kind, payload)     an update-protocol frame, CRC good
        ("bad", reason)              a frame whose CRC is wrong
        ("line", bytes or None)      a test-protocol line (None: too long)

    A frame starts with SOH, a known kind and a length within bounds at the
    start of a message; anything else is a line up to its newline
    (LineSplitter of the test protocol)."""

    def __init__(self):
        self._lines = LineSplitter()
        self._frame = None        # bytearray while inside a frame
        self._in_line = False

    def feed(self, data):
        out = []
        data = bytes(data)
        while data:
            if self._frame is not None:
                data = self._feed_frame(data, out)
            elif self._in_line:
                cut = data.find(b"\n")
                if cut < 0:
                    self._lines.feed(data)
                    break
                for line in self._lines.feed(data[:cut + 1]):
                    out.append(("line", line))
                data = data[cut + 1:]
                self._in_line = False
            elif data[0] == SOH:
                self._frame = bytearray()
            else:
                self._in_line = True
        return out

    @property
    def mid_message(self):
        """True while a frame or a line has started and not all of it has
        come."""
        return self._frame is not None or self._in_line

    def drop_partial(self):
        """Forget a frame or a line cut short (the sender went away mid-
        message, or the first bytes of a frame were lost: a UART closed
        while they came drops one, and the rest would be a line without a
        newline, swallowing every frame after it): the next byte starts a
        new message."""
        self._frame = None
        self._in_line = False
        self._lines = LineSplitter()

    def _feed_frame(self, data, out):
        frame = self._frame
        if len(frame) < HEAD:
            take = HEAD - len(frame)
            frame.extend(data[:take])
            data = data[take:]
            if len(frame) < HEAD:
                return data
            if bytes(frame[1:2]) not in KINDS or int.from_bytes(bytes(frame[2:6]), "big") > MAX_PAYLOAD:
                # Not a frame after all: a test-protocol line that happens to
                # start with SOH (garbage, as the fuzz test sends). It goes
                # to the line splitter, which answers it as it always did.
                self._frame = None
                self._in_line = True
                return bytes(frame) + data
        need = HEAD + int.from_bytes(bytes(frame[2:6]), "big") + 4 - len(frame)
        frame.extend(data[:need])
        data = data[need:]
        if len(data) == 0 and len(frame) < HEAD + int.from_bytes(bytes(frame[2:6]), "big") + 4:
            return data
        self._frame = None
        body = memoryview(frame)[1:-4]
        crc = int.from_bytes(bytes(frame[-4:]), "big")
        if crc32(bytes(body)) != crc:
            out.append(("bad", "frame damaged (CRC): send it again"))
        else:
            out.append(("frame", bytes(frame[1:2]), bytes(frame[HEAD:-4])))
        return data
