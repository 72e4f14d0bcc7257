"""firmware.testproto: the HIL test protocol's plain functions.

Sources checked against:
- JSON Lines (https://jsonlines.org/): UTF-8, one JSON value a line, lines
  end in \\n and "\\r\\n" is allowed too.
- RFC 1950 (zlib) section 8.2 and its worked example on Wikipedia's
  "Adler-32" page: adler32(b"Wikipedia") == 0x11E60398.
- PNG (ISO/IEC 15948, RFC 2083): the signature bytes 89 50 4E 47 0D 0A 1A 0A,
  IHDR/IDAT/IEND chunks with CRC-32, checked by two independent decoders
  here (CPython's zlib and Pillow).
The same functions run under MicroPython at the end and must agree.
"""

import asyncio
import base64
import io
import json
import os
import subprocess
import zlib

import pytest

from firmware import testproto
from firmware.driver import Driver
from firmware.main import build_app
from tests.support import micropython_path

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


# -- parse_request ---------------------------------------------------------------

@pytest.mark.parametrize("line, op", [
    (b'{"id": 1, "op": "hello"}', "hello"),
    (b'{"id": 2, "op": "key", "key": "00"}\r', "key"),
    (b'{"op": "keys", "text": "12.34", "id": 3}', "keys"),
    (b'{"id": 4, "op": "card", "action": "remove"}', "card"),
    (b'{"id": 5, "op": "card", "action": "tap", "card": "chip-pin"}', "card"),
    (b'{"id": 6, "op": "screen", "png": true}', "screen"),
    (b'{"id": 7, "op": "wait_text", "text": "\\u6d88\\u8d39\\u6210\\u529f", "timeout_ms": 0}', "wait_text"),
    (b'{"id": 8, "op": "printout", "since": 3}', "printout"),
    (b'{"id": 0, "op": "fault", "kind": "decline", "mti": "0200", "code": "51", "count": 0}', "fault"),
    ('{"id": 9, "op": "wait_text", "text": "消费成功"}'.encode(), "wait_text"),
    (b'{"id": 10, "op": "sign", "strokes": [[[10, 200], [30, 210]], [[180, 300]]]}', "sign"),
    (b'{"id": 11, "op": "setting", "name": "esign", "value": true}', "setting"),
])
def test_good_requests_parse(line, op):
    assert testproto.parse_request(line)["op"] == op


@pytest.mark.parametrize("line, request_id, message", [
    (b"\xff\xfe", None, "line is not UTF-8"),
    (b"hello", None, "line is not JSON"),
    (b"", None, "line is not JSON"),
    (b"[" * 3000 + b"]" * 3000, None, "line too long"),
    (b"[" * 2000 + b"]" * 2000, None, "line is not JSON"),   # CPython: too deep; MicroPython: not an object
    (b"[1]", None, "request must be a JSON object"),
    (b'{"op": "hello"}', None, "request needs an id"),
    (b'{"id": true, "op": "hello"}', None, "request needs an id"),
    (b'{"id": -1, "op": "hello"}', None, "request needs an id"),
    (b'{"id": "1", "op": "hello"}', None, "request needs an id"),
    (b'{"id": 1.0, "op": "hello"}', None, "request needs an id"),
    (b'{"id": 5, "op": "HELLO"}', 5, 'unknown op "HELLO"'),
    (b'{"id": 5, "op": 1}', 5, "unknown op 1"),
    (b'{"id": 5, "op": "handle"}', 5, 'unknown op "handle"'),
    (b'{"id": 6, "op": "key", "key": "A"}', 6, "key key: key must be one of"),
    (b'{"id": 6, "op": "key", "key": "ENTER", "repeat": 2}', 6, 'op key takes no argument "repeat"'),
    (b'{"id": 6, "op": "key"}', 6, "op key needs key"),
    (b'{"id": 7, "op": "keys", "text": "12a"}', 7, "keys text: text must be digits"),
    (b'{"id": 7, "op": "keys", "text": ""}', 7, "keys text: text must be 1-64 digits"),
    (b'{"id": 8, "op": "card", "action": "swipe"}', 8, "card swipe needs card"),
    (b'{"id": 8, "op": "card", "action": "eat", "card": "debit-mag"}', 8, "card action: action must be"),
    (b'{"id": 9, "op": "screen", "png": 1}', 9, "screen png: must be true or false"),
    (b'{"id": 9, "op": "wait_text", "text": "x", "timeout_ms": true}', 9, "wait_text timeout_ms"),
    (b'{"id": 9, "op": "wait_text", "text": "x", "timeout_ms": 600001}', 9, "wait_text timeout_ms"),
    (b'{"id": 9, "op": "printout", "since": -1}', 9, "printout since"),
    (b'{"id": 10, "op": "power_cut", "now": true}', 10, 'op power_cut takes no argument "now"'),
    (b'{"id": 10, "op": "fault", "kind": "drop", "mti": "200"}', 10, "fault mti: mti must be 4 digits"),
    (b'{"id": 11, "op": "sign", "strokes": []}', 11, "sign strokes: strokes must be a list of 1-64"),
    (b'{"id": 11, "op": "sign", "strokes": [[]]}', 11, "sign strokes: each stroke must be a list of 1-512"),
    (b'{"id": 11, "op": "sign", "strokes": [[10, 20]]}', 11, "sign strokes: each point must be [x, y]"),
    (b'{"id": 11, "op": "sign", "strokes": [[[10, -1]]]}', 11, "sign strokes: each point must be [x, y]"),
    (b'{"id": 11, "op": "sign", "strokes": [[[10, 2.5]]]}', 11, "sign strokes: each point must be [x, y]"),
    (b'{"id": 11, "op": "sign", "strokes": [[[true, 5]]]}', 11, "sign strokes: each point must be [x, y]"),
    (b'{"id": 11, "op": "sign", "strokes": [[[1, 2, 3]]]}', 11, "sign strokes: each point must be [x, y]"),
    (b'{"id": 11, "op": "sign"}', 11, "op sign needs strokes"),
    (b'{"id": 12, "op": "setting", "name": "esign"}', 12, "op setting needs value"),
    (b'{"id": 12, "op": "setting", "name": "esign", "value": null}', 12, "setting value: value must be"),
])
def test_bad_requests_are_refused_with_a_reason(line, request_id, message):
    with pytest.raises(testproto.ProtocolError) as caught:
        testproto.parse_request(line)
    assert caught.value.request_id == request_id
    assert caught.value.message.startswith(message)


def test_a_reply_is_one_line_of_json():
    reply = {"id": 3, "ok": True, "lines": ["a\nb", "消费成功", "\u2028"]}
    line = testproto.encode_reply(reply)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line) == reply
    # bytes fields (base64) go out as they are, in pieces
    reply = {"id": 4, "ok": True, "png": b"iVBORw0K", "title": "t"}
    parts = testproto.reply_parts(reply)
    assert b"iVBORw0K" in parts
    assert json.loads(b"".join(parts)) == {"id": 4, "ok": True, "png": "iVBORw0K", "title": "t"}
    assert json.loads(testproto.encode_reply({"a": b"x", "b": b"y"})) == {"a": "x", "b": "y"}


# -- LineSplitter -----------------------------------------------------------------

def test_lines_split_across_reads_crlf_and_overlong():
    splitter = testproto.LineSplitter(max_line=10)
    assert splitter.feed(b'{"a"') == []
    assert splitter.feed(b':1}\r\n{"b":2}\n{') == [b'{"a":1}', b'{"b":2}']
    assert splitter.feed(b"x" * 30) == []
    assert splitter.feed(b"y" * 30 + b"\nok\n") == [None, b"ok"]   # too long: once, as None
    assert splitter.feed(b"\n") == [b""]


# -- handle() on a real app (sim devices, no host, not booted) ---------------------

@pytest.fixture
def driver(tmp_path):
    app = build_app({"devices": {"storage": "dir:" + str(tmp_path)},
                     "settings": {"test_protocol": True, "lang": "en"}})
    app.ui.show("TERMINAL", ["IDLE_HINT"])
    return Driver(app)


def run(driver, *requests):
    async def go():
        return [await testproto.handle(driver, r) for r in requests]
    return asyncio.run(go())


def test_hello_says_who_and_what(driver):
    reply, = run(driver, {"id": 1, "op": "hello"})
    assert reply["ok"] and reply["id"] == 1
    assert reply["protocol"] == testproto.PROTOCOL_VERSION and reply["target"] == "handset"
    assert (reply["width"], reply["height"], reply["lang"]) == (240, 320, "en")
    assert reply["firmware"] and reply["supervisor_factory"] is True
    assert not set(reply["ops"]) & set(testproto.EMULATOR_OPS)


def test_keys_reach_the_app_and_bad_ones_change_nothing(driver):
    events = driver.app.events
    replies = run(driver, {"id": 1, "op": "key", "key": "MENU"}, {"id": 2, "op": "keys", "text": "12"})
    assert [r["ok"] for r in replies] == [True, True]
    assert [events.get_nowait() for _ in range(3)] == [("key", "MENU"), ("key", "1"), ("key", "2")]
    reply, = run(driver, {"id": 3, "op": "card", "action": "swipe", "card": "no-such-card"})
    assert reply == {"id": 3, "ok": False, "error": reply["error"], "screens": 1} and "no-such-card" in reply["error"]
    assert len(events) == 0


def test_emulator_ops_are_unsupported_on_a_handset(driver):
    for op in testproto.EMULATOR_OPS:
        reply, = run(driver, {"id": 4, "op": op})
        assert reply == {"id": 4, "ok": False, "error": testproto.UNSUPPORTED, "screens": 1}


def test_locked_unless_the_setting_is_on(driver):
    driver.app.settings.update({"test_protocol": False})
    reply, = run(driver, {"id": 1, "op": "key", "key": "1"})
    assert reply == {"id": 1, "ok": False, "error": testproto.LOCKED}
    assert len(driver.app.events) == 0

    class Stream:
        written = b""

        async def read(self, n):
            return b'{"id": 1, "op": "hello"}\n'

        def write(self, data):
            self.written += data

    stream = Stream()
    asyncio.run(testproto.serve(stream, stream, driver))
    assert stream.written == b""   # a locked port stays silent


def test_sign_draws_on_the_touch_panel_as_down_moves_up(driver):
    events = driver.app.events
    reply, = run(driver, {"id": 1, "op": "sign", "strokes": [[[10, 200], [30, 210], [30, 210]], [[180, 300]]]})
    assert reply["ok"]
    assert [events.get_nowait() for _ in range(5)] == [
        ("touch", ("down", 10, 200)), ("touch", ("move", 30, 210)), ("touch", ("up", 30, 210)),
        ("touch", ("down", 180, 300)), ("touch", ("up", 180, 300))]
    assert driver.app.devices.touch.take_strokes() == [[(10, 200), (30, 210)], [(180, 300)]]
    driver.app.devices.touch = None       # a model without a touch panel
    reply, = run(driver, {"id": 2, "op": "sign", "strokes": [[[1, 1]]]})
    assert reply["ok"] is False and "no touch panel" in reply["error"]


def test_input_state_reads_each_input_device_and_says_none_where_it_cannot(driver):
    """Simulated devices have no kernel to ask: None each. An evdev
    driver's own answer (tests/hal/test_input_contract.py) is passed on."""
    reply, = run(driver, {"id": 1, "op": "input_state"})
    assert reply["ok"] and reply["devices"] == {"keypad": None, "touch": None, "scanner": None}
    driver.app.devices.keypad.input_state = lambda: {"ioctl": True, "keys_down": 1}
    reply, = run(driver, {"id": 2, "op": "input_state"})
    assert reply["devices"]["keypad"] == {"ioctl": True, "keys_down": 1}
    with pytest.raises(testproto.ProtocolError, match="takes no argument"):
        testproto.parse_request(b'{"id": 3, "op": "input_state", "device": "keypad"}')
    driver.app.settings.update({"test_protocol": False})
    reply, = run(driver, {"id": 4, "op": "input_state"})
    assert reply == {"id": 4, "ok": False, "error": testproto.LOCKED}


def test_setting_changes_a_flow_setting_for_this_run_only(driver, tmp_path):
    settings = driver.app.settings
    reply, = run(driver, {"id": 1, "op": "setting", "name": "esign", "value": True})
    assert reply["ok"] and reply["was"] is False and settings.esign is True
    assert not (tmp_path / "settings.json").exists()     # never saved: a reboot brings back the boot's
    for name, value, why in (("esign_timeout_ms", 5, "esign_timeout_ms"), ("esign", "yes", "esign"),
                             ("test_protocol", False, "cannot be changed from a test"),
                             ("test_keys", True, "cannot be changed from a test")):
        reply, = run(driver, {"id": 2, "op": "setting", "name": name, "value": value})
        assert reply["ok"] is False and why in reply["error"], reply
    assert settings.esign is True and settings.test_protocol is True and settings.esign_timeout_ms == 120000


def test_wait_text_that_never_comes_replies_with_the_screen(driver):
    reply, = run(driver, {"id": 5, "op": "wait_text", "text": "Sale approved", "timeout_ms": 50})
    assert reply["ok"] is False and reply["id"] == 5
    assert reply["title"] == "POS Terminal" and "Swipe, insert or tap" in reply["lines"]


def test_every_reply_counts_screens_and_since_waits_for_a_newer_one(driver):
    ui = driver.app.ui
    first, = run(driver, {"id": 1, "op": "hello"})
    assert first["screens"] == 1                          # the idle screen drawn by the fixture
    # Without since, the screen up now matches, and matches again.
    replies = run(driver, {"id": 2, "op": "wait_text", "text": "POS Terminal", "timeout_ms": 10},
                  {"id": 3, "op": "wait_text", "text": "POS Terminal", "timeout_ms": 10})
    assert [r["ok"] for r in replies] == [True, True]
    # With since, only a screen shown after that number counts.
    reply, = run(driver, {"id": 4, "op": "wait_text", "text": "POS Terminal", "timeout_ms": 10,
                          "since": first["screens"]})
    assert reply["ok"] is False and reply["screens"] == 1
    ui.show("TERMINAL", ["IDLE_HINT"])                    # the same text, a new screen
    reply, = run(driver, {"id": 5, "op": "wait_text", "text": "POS Terminal", "timeout_ms": 10,
                          "since": first["screens"]})
    assert reply["ok"] is True and reply["screens"] == 2


def test_screen_png_is_the_framebuffer_pixel_for_pixel(driver):
    from PIL import Image

    from emulator.png import framebuffer_to_image
    reply, = run(driver, {"id": 6, "op": "screen", "png": True})
    png = base64.b64decode(reply["png"])
    width, height, framebuffer = driver.framebuffer()
    import hashlib
    assert reply["sha256"] == hashlib.sha256(framebuffer).hexdigest()
    image = Image.open(io.BytesIO(png))
    assert image.size == (width, height) and image.mode == "RGB"
    assert image.tobytes() == framebuffer_to_image(framebuffer, width, height).tobytes()


def test_png_structure_with_an_independent_inflate():
    framebuffer = bytes(range(256)) * 2 * 3   # 3 rows of 256 pixels, every RGB565 byte value
    png = testproto.png_rgb565(256, 3, framebuffer)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert png[12:16] == b"IHDR" and png[-8:-4] == b"IEND"
    idat_length = int.from_bytes(png[33:37], "big")
    assert png[37:41] == b"IDAT"
    raw = zlib.decompress(png[41:41 + idat_length])   # checks the Adler-32 too
    assert len(raw) == 3 * (1 + 256 * 3) and raw[0] == 0
    assert zlib.crc32(png[37:41 + idat_length]) == int.from_bytes(png[41 + idat_length:45 + idat_length], "big")


def test_adler32_published_example():
    assert testproto._adler32(b"Wikipedia") == 0x11E60398
    data = bytes(range(256)) * 100   # long enough to pass the 5552-byte reduction
    assert testproto._adler32(data) == zlib.adler32(data)


def test_serve_answers_each_line_in_order(driver):
    class Reader:
        def __init__(self, chunks):
            self.chunks = list(chunks)

        async def read(self, n):
            return self.chunks.pop(0) if self.chunks else b""

    class Writer:
        def __init__(self):
            self.lines = []

        def write(self, data):
            self.lines.append(data)

        async def drain(self):
            pass

    writer = Writer()
    chunks = [b'{"id": 1, "op": "hel', b'lo"}\nnot json\n{"id": 2, "op": "key", "key": "X"}\n',
              b"z" * 5000, b'\n{"id": 3, "op": "screen"}\n']
    asyncio.run(testproto.serve(Reader(chunks), writer, driver))
    replies = [json.loads(line) for line in writer.lines]
    assert [(r["id"], r["ok"]) for r in replies] == [(1, True), (None, False), (2, False), (None, False), (3, True)]
    assert replies[3]["error"].startswith("line too long")


# -- the same under MicroPython -----------------------------------------------------

MP_SCRIPT = """
import sys, json, asyncio, binascii, hashlib
sys.path.insert(0, ROOT)
from firmware import testproto
from firmware.driver import Driver
from firmware.main import build_app
cases = json.loads(open(CASES).read())
out = {"parse": [], "png": None, "handle": []}
for hex_line in cases["lines"]:
    try:
        out["parse"].append("ok " + testproto.parse_request(binascii.unhexlify(hex_line))["op"])
    except testproto.ProtocolError as e:
        out["parse"].append("error %s %s" % (e.request_id, e.message))
fb = bytes(range(256)) * 2 * 3
out["png"] = binascii.hexlify(hashlib.sha256(testproto.png_rgb565(256, 3, fb)).digest()).decode()
app = build_app({"devices": {"storage": "dir:" + DATA}, "settings": {"test_protocol": True, "lang": "en"}})
app.ui.show("TERMINAL", ["IDLE_HINT"])
driver = Driver(app)
async def go():
    for request in cases["requests"]:
        reply = await testproto.handle(driver, request)
        if "png" in reply:
            reply["png"] = len(reply["png"])
        out["handle"].append(reply)
asyncio.run(go())
print(json.dumps(out))
"""


def test_micropython_agrees(tmp_path, driver):
    mp = micropython_path()
    if mp is None:
        pytest.skip("no micropython interpreter")
    lines = [b'{"id": 1, "op": "hello"}', b"\xff", b"nope", b"[1]", b'{"id": 2, "op": "keyz"}',
             b'{"id": 3, "op": "key", "key": "ENTER", "x": 1}', b'{"id": 4, "op": "keys", "text": "1a"}',
             b'{"id": 5, "op": "card", "action": "swipe"}', b'{"id": 6, "op": "wait_text", "text": ""}',
             b"x" * 5000]
    requests = [{"id": 1, "op": "key", "key": "1"}, {"id": 2, "op": "screen", "png": True},
                {"id": 3, "op": "power_cut"}, {"id": 4, "op": "journal"}, {"id": 5, "op": "printout"},
                {"id": 6, "op": "wait_text", "text": "Swipe", "timeout_ms": 10}]
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps({"lines": [line.hex() for line in lines], "requests": requests}))
    script = tmp_path / "mp_testproto.py"
    (tmp_path / "mp-data").mkdir()
    script.write_text("ROOT = %r\nCASES = %r\nDATA = %r\n" % (ROOT, str(cases), str(tmp_path / "mp-data"))
                      + MP_SCRIPT)
    done = subprocess.run([mp, str(script)], capture_output=True, timeout=120)
    assert done.returncode == 0, done.stderr.decode()
    got = json.loads(done.stdout.decode().strip().splitlines()[-1])

    expected_parse = []
    for line in lines:
        try:
            expected_parse.append("ok " + testproto.parse_request(line)["op"])
        except testproto.ProtocolError as e:
            expected_parse.append("error %s %s" % (e.request_id, e.message))
    assert got["parse"] == expected_parse
    import hashlib
    fb = bytes(range(256)) * 2 * 3
    assert got["png"] == hashlib.sha256(testproto.png_rgb565(256, 3, fb)).hexdigest()
    expected = run(driver, *requests)
    expected[1]["png"] = len(expected[1]["png"])
    assert got["handle"] == expected
