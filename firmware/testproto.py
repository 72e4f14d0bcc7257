"""The test protocol (HIL): JSON Lines over the handset's debug UART.

One request a line, one reply a line, matched by `id`:

    -> {"id": 7, "op": "key", "key": "ENTER"}
    <- {"id": 7, "ok": true}
    -> {"id": 8, "op": "wait_text", "text": "Sale approved", "timeout_ms": 5000}
    <- {"id": 8, "ok": false, "error": "...", "title": "Sale", "lines": [...]}

Plain functions: parse_request(line) -> request dict (or raises
ProtocolError), `await handle(driver, request)` -> reply dict,
encode_reply(reply) -> bytes; `await serve(reader, writer, driver)` runs
them over asyncio streams (CPython or MicroPython). docs/HIL.md lists every
op and says how the protocol is unlocked: it is off unless the setting
`test_protocol` is true, and then only answers on the port the boot
configuration names.

A malformed line, an unknown op or a bad argument gets one error reply and
changes nothing: every argument is checked before anything is done.
"""

import binascii
import json

from hal.compat import crc32
from hal.keypad import KEYS
from firmware.driver import DriverError

PROTOCOL_VERSION = 1
MAX_LINE = 4096           # bytes in a request line; longer ones are refused whole
MAX_TIMEOUT_MS = 600000
MAX_TEXT = 256
MAX_STROKES = 64          # a signature has a handful (hal/touch.py keeps as many)
MAX_POINTS = 512
MAX_COORDINATE = 4095
UNSUPPORTED = "unsupported on this target"
LOCKED = "test protocol locked (setting test_protocol is off)"
CARD_ACTIONS = ("swipe", "insert", "tap", "remove")
# Ops a program cannot do to a real handset: the emulator's bridge
# (emulator/hil.py) answers them before a request reaches handle().
EMULATOR_OPS = ("reset", "power_cut", "paper", "host", "modem", "fault", "clock", "qr_customer")


class ProtocolError(Exception):
    """A request that cannot be carried out; `request_id` is its id when
    the line had a usable one (else None: the reply's id is null)."""

    def __init__(self, message, request_id=None):
        super().__init__(message)
        self.message = message
        self.request_id = request_id


# -- argument checks: each returns None when the value is good, else why not --

def _is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def _check_key(value):
    if value not in KEYS:
        return "key must be one of " + " ".join(KEYS)


def _check_digits(value):
    if not isinstance(value, str) or not value or len(value) > 64:
        return "text must be 1-64 digits"
    for ch in value:
        if ch not in "0123456789.":
            return "text must be digits (and '.')"


def _check_action(value):
    if value not in CARD_ACTIONS:
        return "action must be one of " + ", ".join(CARD_ACTIONS)


def _check_customer_action(value):
    if value not in ("pay", "cancel"):
        return "action must be pay or cancel"


def _check_name(value):
    if not isinstance(value, str) or not value or len(value) > 32:
        return "must be a name of 1-32 characters"


def _check_text(value):
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
        return "text must be a string of 1-%d characters" % MAX_TEXT


def _check_timeout(value):
    if not _is_int(value) or value < 0 or value > MAX_TIMEOUT_MS:
        return "timeout_ms must be a whole number 0..%d" % MAX_TIMEOUT_MS


def _check_index(value):
    if not _is_int(value) or value < 0 or value > 999999999:
        return "must be a whole number >= 0"


def _check_bool(value):
    if not isinstance(value, bool):
        return "must be true or false"


def _check_paper(value):
    if value not in ("out", "in"):
        return "state must be out or in"


def _check_updown(value):
    if value not in ("down", "up"):
        return "state must be down or up"


def _check_mti(value):
    if not isinstance(value, str) or len(value) != 4 or not value.isdigit():
        return "mti must be 4 digits"


def _check_strokes(value):
    """[[[x, y], ...], ...]: 1..MAX_STROKES strokes of 1..MAX_POINTS points,
    each point two whole numbers 0..MAX_COORDINATE (screen pixels)."""
    if not isinstance(value, list) or not value or len(value) > MAX_STROKES:
        return "strokes must be a list of 1-%d strokes" % MAX_STROKES
    for stroke in value:
        if not isinstance(stroke, list) or not stroke or len(stroke) > MAX_POINTS:
            return "each stroke must be a list of 1-%d points" % MAX_POINTS
        for point in stroke:
            if (not isinstance(point, list) or len(point) != 2 or not _is_int(point[0]) or not _is_int(point[1])
                    or not 0 <= point[0] <= MAX_COORDINATE or not 0 <= point[1] <= MAX_COORDINATE):
                return "each point must be [x, y], whole numbers 0..%d" % MAX_COORDINATE


def _check_setting_name(value):
    if not isinstance(value, str) or not value or len(value) > 32:
        return "name must be a setting's name"


def _check_setting_value(value):
    if not isinstance(value, (bool, int, str)) or (isinstance(value, str) and len(value) > MAX_TEXT):
        return "value must be true, false, a whole number or a text"


def _check_code(value):
    if not isinstance(value, str) or len(value) != 2:
        return "code must be 2 characters (field 39)"


# op -> {argument: (check, required)}. An argument not listed is refused:
# a misspelt one must not be silently ignored.
OPS = {
    "hello": {},
    "key": {"key": (_check_key, True)},
    "keys": {"text": (_check_digits, True)},
    "card": {"action": (_check_action, True), "card": (_check_name, False)},
    "scan": {"code": (_check_text, True)},
    "sign": {"strokes": (_check_strokes, True)},
    "setting": {"name": (_check_setting_name, True), "value": (_check_setting_value, True)},
    "qr_customer": {"order": (_check_text, True), "action": (_check_customer_action, True),
                    "wallet": (_check_name, False)},
    "screen": {"png": (_check_bool, False)},
    "wait_text": {"text": (_check_text, True), "timeout_ms": (_check_timeout, False),
                  "since": (_check_index, False)},
    "wait_idle": {"timeout_ms": (_check_timeout, False)},
    "printout": {"since": (_check_index, False)},
    "journal": {"batch": (_check_index, False)},
    "input_state": {},
    "reset": {},
    "power_cut": {},
    "paper": {"state": (_check_paper, True), "after": (_check_index, False)},
    "host": {"state": (_check_updown, True)},
    "modem": {"state": (_check_updown, True)},
    "clock": {"advance_s": (_check_index, True)},
    "fault": {"kind": (_check_name, True), "mti": (_check_mti, False), "count": (_check_index, False),
              "delay_ms": (_check_timeout, False), "code": (_check_code, False)},
}


def parse_request(line):
    """One request line (bytes, without or with its newline) -> the request
    dict, every argument checked. Raises ProtocolError."""
    if len(line) > MAX_LINE:
        raise ProtocolError("line too long (max %d bytes)" % MAX_LINE)
    try:
        text = bytes(line).decode()
    except Exception:  # noqa: BLE001 - UnicodeError; MicroPython names it differently
        raise ProtocolError("line is not UTF-8")
    try:
        request = json.loads(text)
    except Exception:  # noqa: BLE001 - ValueError, or RecursionError on deep nesting
        raise ProtocolError("line is not JSON")
    if not isinstance(request, dict):
        raise ProtocolError("request must be a JSON object")
    request_id = request.get("id")
    if not _is_int(request_id) or request_id < 0 or request_id > 2 ** 53:
        raise ProtocolError("request needs an id: a whole number >= 0")
    op = request.get("op")
    if not isinstance(op, str) or op not in OPS:
        raise ProtocolError("unknown op %s" % _short(op), request_id)
    spec = OPS[op]
    for name in request:
        if name in ("id", "op"):
            continue
        if name not in spec:
            raise ProtocolError("op %s takes no argument %s" % (op, _short(name)), request_id)
        problem = spec[name][0](request[name])
        if problem:
            raise ProtocolError("%s %s: %s" % (op, name, problem), request_id)
    for name in spec:
        if spec[name][1] and name not in request:
            raise ProtocolError("op %s needs %s" % (op, name), request_id)
    if op == "card" and request["action"] != "remove" and "card" not in request:
        raise ProtocolError("card %s needs card (a test deck name)" % request["action"], request_id)
    return request


def _short(value):
    text = json.dumps(value) if not isinstance(value, str) else '"%s"' % value
    return text if len(text) <= 40 else text[:37] + "..."


def error_reply(request_id, message, **extra):
    reply = {"id": request_id, "ok": False, "error": message}
    reply.update(extra)
    return reply


def encode_reply(reply):
    """A reply dict -> one line of bytes. json escapes control characters,
    so a reply never spans two lines."""
    return b"".join(reply_parts(reply))


def reply_parts(reply):
    """The reply line in pieces: the JSON of the small fields, then each
    bytes field (base64 text, which needs no escaping) as it is, so a big
    one is never copied into a JSON string."""
    small = {}
    big = []
    for name in reply:
        if isinstance(reply[name], (bytes, bytearray)):
            big.append(name)
        else:
            small[name] = reply[name]
    text = json.dumps(small)
    if not big:
        return [text.encode() + b"\n"]
    parts = [text[:-1].encode()]
    separator = ", " if small else ""
    for name in big:
        parts.append(('%s"%s": "' % (separator, name)).encode())
        separator = ", "
        parts.append(reply[name])
        parts.append(b'"')
    parts.append(b"}\n")
    return parts


def enabled(settings):
    """The production lock: nothing answers unless this setting is on."""
    return getattr(settings, "test_protocol", False) is True


# -- the ops the firmware answers itself ---------------------------------------

async def _hello(driver, request):
    info = driver.info()
    info["protocol"] = PROTOCOL_VERSION
    info["target"] = "handset"
    info["ops"] = [op for op in sorted(OPS) if op not in EMULATOR_OPS or (op == "reset" and driver.can_reset)]
    return info


async def _key(driver, request):
    driver.key(request["key"])
    return {}


async def _keys(driver, request):
    driver.keys(request["text"])
    return {}


async def _card(driver, request):
    driver.card(request["action"], request.get("card"))
    return {}


async def _scan(driver, request):
    driver.scan(request["code"])
    return {}


async def _sign(driver, request):
    await driver.sign(request["strokes"])
    return {}


async def _setting(driver, request):
    return {"was": driver.change_setting(request["name"], request["value"])}


async def _screen(driver, request):
    screen = driver.screen()
    if request.get("png"):
        width, height, framebuffer = driver.framebuffer()
        png = png_rgb565(width, height, framebuffer)
        framebuffer = None
        screen["png"] = base64_bytes(png)  # bytes: reply_parts() writes it as it is
    return screen


async def _wait_text(driver, request):
    try:
        await driver.wait_text(request["text"], request.get("timeout_ms", 5000), request.get("since"))
    except DriverError as e:
        screen = driver.screen()
        return error_reply(request["id"], str(e), title=screen["title"], lines=screen["lines"])
    return {}


async def _wait_idle(driver, request):
    try:
        await driver.wait_idle(request.get("timeout_ms", 10000))
    except DriverError as e:
        screen = driver.screen()
        return error_reply(request["id"], str(e), title=screen["title"], lines=screen["lines"])
    return {}


async def _printout(driver, request):
    slips = []
    for index, data in driver.printout(request.get("since", 0)):
        slips.append({"index": index, "lines": driver.receipt_lines(data), "escpos": base64(data)})
    return {"printouts": slips, "count": driver.printout_count()}


async def _journal(driver, request):
    return {"records": driver.journal(request.get("batch"))}


async def _input_state(driver, request):
    return {"devices": driver.input_state()}


HANDLERS = {
    "hello": _hello, "key": _key, "keys": _keys, "card": _card, "scan": _scan, "sign": _sign,
    "setting": _setting, "screen": _screen,
    "wait_text": _wait_text, "wait_idle": _wait_idle, "printout": _printout, "journal": _journal,
    "input_state": _input_state,
}


async def handle(driver, request):
    """A parsed request -> its reply dict. Never raises: whatever goes
    wrong becomes an error reply (the firmware goes on either way)."""
    request_id = request.get("id")
    if not enabled(driver.app.settings):
        return error_reply(request_id, LOCKED)
    handler = HANDLERS.get(request.get("op"))
    if handler is None:
        return error_reply(request_id, UNSUPPORTED, screens=driver.screens())
    try:
        result = await handler(driver, request)
    except DriverError as e:
        result = error_reply(request_id, str(e))
    except Exception as e:  # noqa: BLE001 - a test request must never stop the firmware
        result = error_reply(request_id, "internal error: %s: %s" % (type(e).__name__, e))
    if result.get("ok") is False:
        reply = result
    else:
        reply = {"id": request_id, "ok": True}
        reply.update(result)
    # Every reply says how many screens were shown so far: wait_text's
    # `since` takes it, to wait for a screen newer than this reply.
    reply["screens"] = driver.screens()
    return reply


async def answer_line(line, answer):
    """One raw line -> its reply dict; `answer` is the coroutine function
    for a parsed request."""
    if line is None:
        return error_reply(None, "line too long (max %d bytes)" % MAX_LINE)
    try:
        request = parse_request(line)
    except ProtocolError as e:
        return error_reply(e.request_id, e.message)
    return await answer(request)


class LineSplitter:
    """Bytes as they arrive -> complete lines. A line longer than MAX_LINE
    is dropped as it streams in (memory stays bounded) and comes out once,
    as None, when its newline arrives. A trailing CR is dropped."""

    def __init__(self, max_line=MAX_LINE):
        self._max = max_line
        self._buffer = b""
        self._overlong = False

    def feed(self, data):
        lines = []
        while data:
            cut = data.find(b"\n")
            if cut < 0:
                if not self._overlong:
                    self._buffer += data
                    if len(self._buffer) > self._max:
                        self._overlong = True
                        self._buffer = b""
                break
            line = self._buffer + data[:cut]
            data = data[cut + 1:]
            if line.endswith(b"\r"):
                line = line[:-1]
            lines.append(None if self._overlong or len(line) > self._max else line)
            self._buffer = b""
            self._overlong = False
        return lines


async def serve(reader, writer, driver, answer=None):
    """Answer requests from `reader` on `writer` until the stream ends.
    `answer(request)` defaults to handle(driver, request); the emulator's
    bridge passes its own. With the protocol locked, nothing is read or
    written: the port stays silent. (The loop is firmware/port.py,
    which also carries the update protocol on the same port.)"""
    if answer is None:
        if not enabled(driver.app.settings):
            return

        async def answer(request):
            return await handle(driver, request)
    from firmware import port
    await port.serve(reader, writer, answer)


# -- the screen as PNG, without zlib (MicroPython has no compressor) ----------
# A screen is 240 x 320: ~230 KB of PNG, ~310 KB of base64. Built in one
# buffer and written out in pieces (reply_parts), so that a handset's heap
# holds the PNG and its base64 at most, never a third copy as a JSON string.

def base64(data):
    """bytes -> base64 text (str)."""
    return base64_bytes(data).decode()


def base64_bytes(data):
    return binascii.b2a_base64(data, newline=False)


def _adler32(data, adler=1):
    a, b = adler & 0xFFFF, adler >> 16
    n = len(data)
    start = 0
    while start < n:
        # 5552 bytes is the most that fits before the sums must be reduced
        # (RFC 1950); reducing less often keeps the loop cheap.
        end = min(start + 5552, n)
        for i in range(start, end):
            a += data[i]
            b += a
        a %= 65521
        b %= 65521
        start = end
    return (b << 16) | a


def png_rgb565(width, height, framebuffer):
    """RGB565 little-endian framebuffer -> PNG bytes (8-bit RGB, deflate
    'stored' blocks). Channels widen as v * 255 // max, as Pillow's BGR;16
    decoder does, so this PNG matches the emulator's pixel for pixel."""
    expand5 = bytes([v * 255 // 31 for v in range(32)])
    expand6 = bytes([v * 255 // 63 for v in range(64)])
    row_bytes = width * 3 + 1
    raw_left = row_bytes * height
    blocks = (raw_left + 65534) // 65535 or 1
    stream_len = 2 + blocks * 5 + raw_left + 4
    ihdr = width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x02\x00\x00\x00"
    head = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr)
    out = bytearray(len(head) + 8 + stream_len + 4 + 12)
    out[0:len(head)] = head
    pos = len(head)
    out[pos:pos + 8] = stream_len.to_bytes(4, "big") + b"IDAT"
    idat = pos + 4
    pos += 8
    out[pos:pos + 2] = b"\x78\x01"  # zlib: deflate, 32 K window, no dictionary
    pos += 2
    fb = memoryview(framebuffer)
    row = bytearray(row_bytes)  # row[0] = 0: filter "none"
    adler = 1
    block_left = 0
    src = 0
    for _ in range(height):
        i = 1
        for _ in range(width):
            pixel = fb[src] | (fb[src + 1] << 8)
            src += 2
            row[i] = expand5[pixel >> 11]
            row[i + 1] = expand6[(pixel >> 5) & 0x3F]
            row[i + 2] = expand5[pixel & 0x1F]
            i += 3
        adler = _adler32(row, adler)
        done = 0
        while done < row_bytes:
            if block_left == 0:
                block_left = min(raw_left, 65535)
                final = 1 if block_left == raw_left else 0
                out[pos:pos + 5] = bytes([final, block_left & 0xFF, block_left >> 8,
                                          (block_left & 0xFF) ^ 0xFF, (block_left >> 8) ^ 0xFF])
                pos += 5
            n = min(block_left, row_bytes - done)
            out[pos:pos + n] = row[done:done + n]
            pos += n
            done += n
            block_left -= n
            raw_left -= n
    out[pos:pos + 4] = adler.to_bytes(4, "big")
    pos += 4
    out[pos:pos + 4] = (binascii.crc32(memoryview(out)[idat:pos]) & 0xFFFFFFFF).to_bytes(4, "big")
    pos += 4
    out[pos:pos + 12] = _chunk(b"IEND", b"")
    return out


def _chunk(kind, body):
    head = len(body).to_bytes(4, "big") + kind
    return head + body + crc32(kind + body).to_bytes(4, "big")
