"""docs/ESIGN.md says how an e-signature upload looks on the wire; this
checks that frames the host simulator recorded decode with that layout,
read independently of the firmware's code: pyiso8583 for ISO 8583
(tests/pyiso_spec.py), and the TLVs, packet header and feature code
written here from the page's words. Both the worked example printed in the
page and the frames of a fresh upload are decoded, and the worked example
is recorded again: the same bytes but for the MACs (session keys).

    python -m tests.flows.test_esign_doc     # prints the example's dumps afresh
"""

import datetime
import os
import re
import sys
import tempfile

import pytest

from firmware import esign_message
from emulator.host.record import read_record
from tests.flows.test_esign_host import Sale, signature_image
from tests.pyiso_spec import PY_SPEC

pyiso = pytest.importorskip("iso8583")

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(ROOT, "docs", "ESIGN.md")
FRAME_HEAD = 2 + 5 + 6      # length, TPDU, header


def doc_text():
    with open(DOC, encoding="utf-8") as f:
        return f.read()


def section(text, heading):
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start:end if end >= 0 else len(text)]


def documented_fields(text):
    """Field numbers of the request table ('| F41, F42 |' counts both)."""
    numbers = set()
    for row in re.findall(r"^\| ((?:F\d+)(?:, F\d+)*) \|", section(text, "## The upload"), re.M):
        numbers.update(int(n) for n in re.findall(r"F(\d+)", row))
    return numbers


def documented_tags(text):
    return {int(tag, 16) for tag in re.findall(r"^\| (FF[0-9A-F]{2}) \|", section(text, "### F55"), re.M)}


def example_dump(text, marker):
    """The hex dump after <!-- marker --> -> the frame's bytes."""
    block = text[text.index("<!-- %s -->" % marker):]
    block = block[block.index("```") + 3:]
    block = block[:block.index("```")]
    data = bytearray()
    for line in block.strip().splitlines():
        offset, _, hex_part = line.partition("  ")
        assert int(offset, 16) == len(data), line
        data += bytes.fromhex(hex_part)
    return bytes(data)


# -- the layout, as the page says it -----------------------------------------------------------

def tlvs(data):
    """Tag 2 bytes, length 1 byte (0..127), value."""
    out = []
    pos = 0
    while pos < len(data):
        tag, size = int.from_bytes(data[pos:pos + 2], "big"), data[pos + 2]
        assert size <= 127 and pos + 3 + size <= len(data)
        out.append((tag, data[pos + 3:pos + 3 + size]))
        pos += 3 + size
    return out


def packet_header(f62):
    """number (1 byte, from 1) | count (1 byte) | image bytes."""
    number, count = f62[0], f62[1]
    assert 1 <= number <= count
    return number, count, f62[2:]


def feature_code(f15, f37):
    """The BCD of F15 + F37, first 4 bytes XOR last 4, as hex."""
    bcd = bytes.fromhex(f15 + f37)
    return "".join("%02X" % (bcd[i] ^ bcd[i + 4]) for i in range(4))


def decode(frame):
    assert int.from_bytes(frame[:2], "big") == len(frame) - 2
    decoded, _ = pyiso.decode(bytearray(frame[FRAME_HEAD:]), PY_SPEC)
    return decoded["t"], {int(k): v for k, v in decoded.items() if k not in ("t", "p", "h")}


def check_upload(text, frame):
    """One 0820 against the page; -> (fields, packet number, count, image bytes, TLVs or None)."""
    mti, fields = decode(frame)
    assert mti == "0820"
    assert set(fields) <= documented_fields(text), sorted(set(fields) - documented_fields(text))
    assert fields[60][:2] == "07" and fields[60][8:11] == "800"
    assert len(fields[4]) == 12 and len(fields[11]) == 6 and len(fields[37]) == 12 and len(fields[15]) == 4
    if 2 in fields:
        pan = fields[2]
        assert set(pan[6:-4]) <= {"0"}, "F2 keeps the first 6 and last 4 digits only"
    number, count, chunk = packet_header(bytes.fromhex(fields[62]))
    items = None
    if number == 1:
        items = tlvs(bytes.fromhex(fields[55]))
        tags = [tag for tag, _ in items]
        assert set(tags) <= documented_tags(text), ["%04X" % t for t in set(tags) - documented_tags(text)]
        values = dict(items)
        assert values[0xFF70].decode() == feature_code(fields[15], fields[37])
        assert values[0xFF30].decode() in "PSNOW"
        assert values[0xFF01].decode() in ("22", "23", "25")
        assert values[0xFF06].decode() == fields[60][2:8]
    else:
        assert 55 not in fields, "F55 on packet 1 only"
    assert len(fields[64]) == 16
    return fields, number, count, chunk, items


def check_reply(request_fields, frame):
    """One 0830 against the page: the echoes, the packet it names (F62:
    the 2-byte packet header of the 0820 it answers), a MAC."""
    mti, fields = decode(frame)
    assert mti == "0830"
    for n in (2, 4, 11, 41, 42, 60):
        assert fields[n] == request_fields[n]
    assert fields[62] == request_fields[62][:4], "the 0830's F62 is the packet header it answers"
    assert len(fields[64]) == 16
    return fields


# -- the page's own example ---------------------------------------------------------------------

def test_the_worked_example_decodes_as_the_page_says():
    text = doc_text()
    request = example_dump(text, "esign-example-request")
    fields, number, count, chunk, items = check_upload(text, request)
    assert (number, count) == (1, 3) and chunk[:3] == b"SG2" and len(chunk) == 64
    assert fields[2] == "6222020000000000017" and fields[37] == "093015000001" and fields[4] == "000000012345"
    values = dict(items)
    assert values[0xFF70] == b"07010931" and values[0xFF04] == b"622202*********0017"
    assert "feature code `07010931`" in text
    reply = check_reply(fields, example_dump(text, "esign-example-reply"))
    assert reply[39] == "00" and reply[62] == "0103"


# -- the worked example, recorded again ---------------------------------------------------------

EXAMPLE_CLOCK = datetime.datetime(2026, 12, 1, 9, 30, 15)    # the host's time: F12, F13, the RRN


def record_example(folder):
    """The page's worked example as the host simulator records it now:
    sign-on (trace 1), a sale of 123.45 (trace 2) with a made-up chip's AID
    and TC, its signature in packets of 64 bytes; -> (packet 1's frame, the
    0830's frame), length prefixes included."""
    from emulator.host.server import HostSimulator
    from firmware import gb2312
    from hal.sim.deck import find_card
    from tests.flows.test_esign_host import TerminalSettings
    from tests.unit.test_host_terminal import Terminal
    record_path = os.path.join(folder, "frames.log")
    with HostSimulator(None, record_path=record_path, now=lambda: EXAMPLE_CLOCK) as host:
        term = Terminal(host.port)
        assert term.sign_on()[1][39] == "00"
        card = find_card("debit-mag")
        _, sale = term.sale(card, 12345)
        assert sale[39] == "00"
        txn = {"batch": term.batch, "trace": int(sale[11]), "type": "sale", "amount": 12345,
               "time": "20261201093012", "op": "01", "pan": "622202*********0017", "exp": card.expiry,
               "mode": "insert", "rrn": sale[37], "auth": sale[38], "settle_date": sale.get(15),
               "aid": "A000000333010101", "tc": "1122334455667788"}
        tlvs = esign_message.receipt_tlvs(txn, gb2312.encode("测试商户 TEST SHOP", gb2312.load_table()),
                                          esign_message.SIGNED, "263675571940")
        f62 = esign_message.packets(signature_image(), 64)[0]
        _, answer = term.exchange("0820", esign_message.upload_fields(TerminalSettings(term), txn, f62, tlvs))
        assert answer[39] == "00"
    (_, into, request), (_, out, reply) = read_record(record_path)[-2:]
    assert (into, out) == ("in", "out")
    return request, reply


def hex_dump(frame):
    """The page's dump format: offset, then 16 bytes a line."""
    return "\n".join("%04x  %s" % (at, " ".join("%02x" % b for b in frame[at:at + 16]))
                     for at in range(0, len(frame), 16))


def test_the_worked_example_is_what_the_host_records_today(tmp_path):
    request, reply = record_example(str(tmp_path))
    text = doc_text()
    documented_request = example_dump(text, "esign-example-request")
    documented_reply = example_dump(text, "esign-example-reply")
    # Every byte but the MAC (F64, the last 8: under the session's random MAC key).
    assert hex_dump(request[:-8]) == hex_dump(documented_request[:-8])
    assert hex_dump(reply[:-8]) == hex_dump(documented_reply[:-8])


# -- frames the host records now ----------------------------------------------------------------

@pytest.fixture
def host(tmp_path):
    from emulator.host.server import HostSimulator
    simulator = HostSimulator(str(tmp_path / "host.sqlite"), record_path=str(tmp_path / "frames.log"))
    simulator.start_in_thread()
    yield simulator
    simulator.close()


def test_the_hosts_recorded_frames_decode_with_the_documented_layout(host):
    from tests.unit.test_host_terminal import Terminal
    term = Terminal(host.port)
    assert term.sign_on()[1][39] == "00"
    signed = Sale(term)
    image = signature_image()
    size = -(-len(image) // 4)          # four packets, whatever the codec makes of the signature
    assert signed.upload(image, size=size, order=[1, 0, 3, 2]) == ["00"] * 4
    quick = Sale(term, amount=800)
    assert quick.send(b"\x01\x01", quick.tlvs(cvm="N"))[39] == "00"
    frames = read_record(host.record_path)
    uploads = []
    for (_, direction, frame), (_, reply_direction, reply) in zip(frames, frames[1:]):
        if direction == "in" and frame[FRAME_HEAD:FRAME_HEAD + 2] == b"\x08\x20":
            assert reply_direction == "out"
            fields, number, count, chunk, items = check_upload(doc_text(), frame)
            assert check_reply(fields, reply)[39] == "00"
            uploads.append((fields[11], number, count, chunk, items))
    assert len(uploads) == 5
    chunks = {number: chunk for trace, number, count, chunk, _ in uploads if trace == signed.trace}
    assert [n for trace, n, _, _, _ in uploads if trace == signed.trace] == [2, 1, 4, 3]
    assert b"".join(chunks[n] for n in sorted(chunks)) == image
    [(_, number, count, chunk, items)] = [u for u in uploads if u[0] == quick.trace]
    assert (number, count, chunk, dict(items)[0xFF30]) == (1, 1, b"", b"N")
    # What the page says the host keeps: the image reassembled, the TLVs parsed.
    stored = {s["trace"]: s for s in host.signatures(term.tid)}
    assert stored[int(signed.trace)]["image"] == image
    assert host.ledger.signature_receipt(stored[int(quick.trace)]["id"]) == \
        esign_message.parse_tlvs(quick.tlvs(cvm="N"))


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as folder:
        for name, frame in zip(("esign-example-request", "esign-example-reply"), record_example(folder)):
            sys.stdout.write("<!-- %s -->\n```\n%s\n```\n\n" % (name, hex_dump(frame)))
