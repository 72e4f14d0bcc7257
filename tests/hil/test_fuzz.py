"""10,000 random and malformed lines at the test port: every one gets one
error reply, nothing on the device changes, and a sale still works."""

import json
import os
import random
import time

from firmware import testproto

LINES = 10000
SEED = int(os.environ.get("HIL_FUZZ_SEED", "8583"))
BATCH_BYTES = 2048   # written before the replies are read: well inside a pty's buffer

VALID = [  # real requests, to be broken below
    {"op": "key", "key": "ENTER"}, {"op": "keys", "text": "1234"},
    {"op": "card", "action": "swipe", "card": "debit-mag"}, {"op": "card", "action": "remove"},
    {"op": "wait_text", "text": "Sale", "timeout_ms": 10}, {"op": "printout", "since": 0},
    {"op": "paper", "state": "out"}, {"op": "host", "state": "down"}, {"op": "power_cut"},
    {"op": "reset"}, {"op": "fault", "kind": "no_reply", "mti": "0200"}, {"op": "modem", "state": "down"},
]
BAD_VALUES = [None, True, False, -1, 2 ** 70, 1.5, "", "x" * 300, [], {}, ["ENTER"], {"k": 1},
              "ＥＮＴＥＲ", "enter", "1\n2", "\u0000", "../../etc", "123a", "-5"]


def broken_request(rng):
    """A request with one definite defect, so it can never act."""
    request = dict(rng.choice(VALID))
    request["id"] = rng.randrange(1, 10 ** 6)
    defect = rng.randrange(7)
    names = [n for n in request if n not in ("id", "op")]
    if defect == 0 or not names:
        request[rng.choice(["x", "Key", "pin", "timeout", "png2", "__proto__"])] = rng.choice(BAD_VALUES + [1, "1"])
    elif defect == 1:
        request[rng.choice(names)] = rng.choice(BAD_VALUES)
    elif defect == 2:
        request["op"] = rng.choice(["KEY", "keyz", "", "eval", "power-cut", "hello ", "__init__",
                                    "handle", "_op_reset", "serve"])
    elif defect == 3:
        del request["id"]
    elif defect == 4:
        request["id"] = rng.choice([-1, "7", 1.0, True, None, 2 ** 60, [1]])
    elif defect == 5:
        del request[rng.choice(names)]
        if request["op"] == "card" and "action" in request:   # remove needs no card: not a defect
            request["action"] = "swipe"
    else:
        request["op"] = 42
    return request


def malformed_line(rng):
    kind = rng.randrange(10)
    if kind == 0:   # random bytes
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 200))).replace(b"\n", b"\r")
    if kind == 1:   # a request cut short
        text = json.dumps(dict(rng.choice(VALID), id=rng.randrange(10 ** 6))).encode()
        return text[:rng.randrange(0, len(text))]
    if kind == 2:   # JSON, but not an object
        return json.dumps(rng.choice([1, "hello", None, [1, 2], True, -0.5, "{}"])).encode()
    if kind == 3:   # nested too deep for any parser's taste
        depth = rng.randrange(100, 2000)
        return b"[" * depth + b"]" * depth if rng.random() < 0.5 else b'{"a":' * depth + b"1" + b"}" * depth
    if kind == 4:   # invalid UTF-8 inside a request
        return b'{"id": 5, "op": "key", "key": "\xff\xfe"}'
    if kind == 5:   # a byte flipped in a real request, kept only if that broke it
        while True:
            line = bytearray(json.dumps(dict(rng.choice(VALID), id=rng.randrange(10 ** 6))).encode())
            line[rng.randrange(len(line))] = rng.choice(b'"{}[],:\\0\x00\xff a')
            if b"\n" not in line and not _parses(bytes(line)):
                return bytes(line)
    if kind == 6:   # an over-long line
        if rng.random() < 0.05:
            return b'{"id": 1, "op": "keys", "text": "' + b"1" * (testproto.MAX_LINE + 10) + b'"}'
        return b"   "
    return json.dumps(broken_request(rng)).encode()


def _parses(line):
    try:
        testproto.parse_request(line)
    except testproto.ProtocolError:
        return False
    return True


def line_id(line):
    try:
        return json.loads(line)["id"]
    except Exception:  # noqa: BLE001 - not a request with an id at all
        return None


def snapshot(dut):
    screen = dut.screen()
    return (screen["sha256"], screen["title"], screen["lines"], dut.journal(), dut.printout_count(),
            screen["screens"])


def assert_unchanged(before, after, started):
    """Nothing changed but, perhaps, the idle screen drawn again by its
    status bar clock (once a minute): then the text is the same and only
    that many screens are new; with no new screen, every pixel is the same."""
    assert after[1:5] == before[1:5]
    redraws = after[5] - before[5]
    if redraws == 0:
        assert after[0] == before[0]
    else:
        assert 0 < redraws <= (time.monotonic() - started) // 60 + 1, (before[5], after[5])


def test_ten_thousand_bad_lines_change_nothing_and_a_sale_still_works(dut):
    rng = random.Random(SEED)
    started = time.monotonic()
    before = snapshot(dut)
    sent = 0
    while sent < LINES:
        batch = []
        size = 0
        while sent + len(batch) < LINES and size < BATCH_BYTES:
            line = malformed_line(rng)
            if _parses(line) and json.loads(line)["op"] not in ("card",):
                continue   # a valid request slipped through: not what this test sends
            batch.append(line)
            size += len(line) + 1
        dut.send_line(b"".join(line + b"\n" for line in batch))
        for line in batch:
            reply = dut.read_reply(30)
            assert reply["ok"] is False, (line, reply)
            assert reply["error"] and reply["id"] in (None, line_id(line)), (line, reply)
        sent += len(batch)
    assert dut.hello()["idle"] is True
    assert_unchanged(before, snapshot(dut), started)
    txn = dut.sale(4321, "debit-mag")
    assert txn["status"] == "approved" and txn["amount"] == 4321
