"""The host simulator's side of the electronic signature (docs/ESIGN.md):
0820 uploads built with the firmware's own esign_message functions, sent
over real TCP to a running host, and what the host answered and kept:
MAC, unknown transaction, true and conflicting repeats, packets out of
order, a garbage image, the paper notice, the e-signature faults."""

import math

import pytest

from firmware import esign, esign_message, gb2312, iso8583
from hal.sim.deck import find_card
from emulator.host.server import HostSimulator
from tests.unit.test_host_terminal import Terminal

DEBIT = find_card("debit-mag")


@pytest.fixture
def host(tmp_path):
    simulator = HostSimulator(str(tmp_path / "host.sqlite"), record_path=str(tmp_path / "frames.log"))
    simulator.start_in_thread()
    yield simulator
    simulator.close()


@pytest.fixture
def term(host):
    t = Terminal(host.port)
    assert t.sign_on()[1][39] == "00"
    return t


# The smallest packet the settings allow (esign_packet_bytes): a signature
# image is a few hundred bytes, so only small packets make several.
SMALL_PACKET = 64


def signature_image(loops=2.0):
    """A cursive name as a touch panel samples it, encoded as the terminal does."""
    strokes = []
    for n, (x0, width) in enumerate(((20, 60), (90, 70), (170, 50))):
        strokes.append([(int(x0 + width * i / 79),
                         int(200 + 25 * math.sin(2 * loops * math.pi * i / 79 + n) + 10 * math.sin(17 * i / 79)))
                        for i in range(80)])
    strokes.append([(30, 240), (200, 236)])
    return esign.encode(esign.rasterize(strokes), esign.IMAGE_WIDTH, esign.IMAGE_HEIGHT)


def short_signature():
    """A flourish small enough for one packet (well under 100 bytes)."""
    strokes = [[(0, 40), (60, 0), (120, 40)], [(10, 50), (130, 45)]]
    return esign.encode(esign.rasterize(strokes), esign.IMAGE_WIDTH, esign.IMAGE_HEIGHT)


class TerminalSettings:
    """The two settings upload_fields reads, from the test terminal."""

    def __init__(self, term):
        self.terminal_id = term.tid
        self.merchant_id = term.mid


class Sale:
    """An approved transaction at the host as the terminal journals it, and
    the uploads of its signature, built with firmware/esign_message.py."""

    def __init__(self, term, amount=12345, card=DEBIT, reply=None, kind="sale"):
        """A new sale at the host, or (reply) the transaction that reply answered."""
        self.term = term
        self.card = card
        if reply is None:
            mti, reply = term.sale(card, amount)
            assert reply[39] == "00", reply
        self.reply = reply
        self.amount = amount
        self.trace = reply[11]
        self.rrn = reply[37]
        self.date = reply[13]     # no F15 in this host's replies: the terminal's local date stands in
        self.txn = {"batch": term.batch, "trace": int(self.trace), "type": kind, "amount": amount,
                    "time": "2026%s%s" % (reply[13], reply[12]), "op": "01",
                    "pan": card.pan[:6] + "*" * (len(card.pan) - 10) + card.pan[-4:], "exp": card.expiry,
                    "mode": "swipe", "rrn": self.rrn, "auth": reply.get(38)}

    def tlvs(self, cvm="S", code="123456789012", rrn=None):
        txn = dict(self.txn, rrn=rrn or self.rrn)
        return esign_message.receipt_tlvs(txn, gb2312.encode("测试商户 TEST SHOP", gb2312.load_table()), cvm, code)

    def fields(self, f62, f55=None, changes=None):
        fields = esign_message.upload_fields(TerminalSettings(self.term), self.txn, f62, f55)
        fields.update(changes or {})
        return fields

    def send(self, f62, f55=None, with_mac=True, changes=None):
        mti, reply = self.term.exchange("0820", self.fields(f62, f55, changes), with_mac=with_mac)
        assert mti == "0830"
        return reply

    def upload(self, image, size=400, cvm="S", order=None):
        """Every packet, packet 1 with the receipt fields; -> the F39s."""
        packets = esign_message.packets(image, size)
        codes = {}
        for index in (order or range(len(packets))):
            f55 = self.tlvs(cvm) if index == 0 else None
            codes[index + 1] = self.send(packets[index], f55)[39]
        return [codes[n] for n in sorted(codes)]


def test_a_signature_in_packets_is_stored_and_reassembled(host, term):
    sale = Sale(term)
    image = signature_image()
    assert len(image) > 150
    reply = sale.send(esign_message.packets(image, 150)[0], sale.tlvs())
    assert reply[39] == "00"
    for n in (4, 11, 41, 42):
        assert reply[n] == sale.fields(b"")[n]
    assert term.mac_ok("0830", reply)
    [signature] = host.ledger.signatures(term.tid)
    assert signature["completed_at"] is None            # one packet of several
    for packet in esign_message.packets(image, 150)[1:]:
        assert sale.send(packet)[39] == "00"
    [signature] = host.ledger.signatures(term.tid)
    assert signature["image"] == image
    assert (signature["width"], signature["height"]) == (esign.IMAGE_WIDTH, esign.IMAGE_HEIGHT)
    assert (signature["batch"], signature["trace"], signature["rrn"]) == (term.batch, int(sale.trace), sale.rrn)
    assert signature["cvm"] == "S" and signature["paper"] == 0
    fields = dict(host.ledger.signature_receipt(signature["id"]))
    assert fields[0xFF04] == b"622202*********0017" and fields[0xFF30] == b"S"
    assert gb2312.decode(fields[0xFF00], gb2312.load_table()) == "测试商户 TEST SHOP"


def test_packets_out_of_order_complete_the_same_image(host, term):
    sale = Sale(term)
    image = signature_image()
    count = math.ceil(len(image) / SMALL_PACKET)
    assert count >= 3
    assert sale.upload(image, size=SMALL_PACKET, order=[2, 0, 1] + list(range(3, count))) == ["00"] * count
    [signature] = host.ledger.signatures(term.tid)
    assert signature["image"] == image and signature["completed_at"] is not None


def test_a_true_repeat_is_answered_00_and_stored_once(host, term):
    sale = Sale(term)
    image = signature_image()
    packets = esign_message.packets(image, SMALL_PACKET)
    assert sale.send(packets[0], sale.tlvs())[39] == "00"
    assert sale.send(packets[0], sale.tlvs())[39] == "00"          # the reply was lost: sent again
    for packet in packets[1:]:
        assert sale.send(packet)[39] == "00"
    assert sale.send(packets[-1])[39] == "00"                      # a repeat after completion
    [signature] = host.ledger.signatures(term.tid)
    assert len(host.ledger.signature_packets(signature["id"])) == len(packets)
    assert signature["image"] == image


def test_every_answer_names_its_packet_under_the_mac(host, term):
    """The packets of one signature differ only in F62: the 0830 echoes its
    packet header, inside the MAC, whatever it answers, so packet 1's 00
    cannot pass for packet 2's (docs/ESIGN.md)."""
    sale = Sale(term)
    packets = esign_message.packets(signature_image(), SMALL_PACKET)
    assert len(packets) >= 3
    first = sale.send(packets[0], sale.tlvs())
    second = sale.send(packets[1])
    assert (first[39], first[62], second[39], second[62]) == ("00", packets[0][:2], "00", packets[1][:2])
    assert term.mac_ok("0830", first) and term.mac_ok("0830", second)
    assert first[64] != second[64]
    other = packets[1][:2] + bytes(b ^ 0xFF for b in packets[1][2:])
    refusals = [sale.send(other),                                           # 94
                sale.send(packets[2], changes={37: "999999999999"}),       # 25
                sale.send(packets[2], sale.tlvs())]                        # 30: F55 on packet 3
    assert [(r[39], r[62]) for r in refusals] == [("94", packets[1][:2]), ("25", packets[2][:2]),
                                                  ("30", packets[2][:2])]
    assert all(term.mac_ok("0830", r) for r in refusals)
    host.faults.add("esign_down")
    down = sale.send(packets[2])
    assert (down[39], down[62]) == ("96", packets[2][:2]) and term.mac_ok("0830", down)
    forged = sale.send(packets[2], with_mac=False)
    assert (forged[39], forged[62]) == ("A0", packets[2][:2])
    assert sale.send(b"\x01\x01", sale.tlvs(cvm="W"))[62] == b"\x01\x01"      # the paper notice too

def test_the_same_packet_number_with_other_bytes_is_a_conflict(host, term):
    sale = Sale(term)
    image = signature_image()
    packets = esign_message.packets(image, SMALL_PACKET)
    assert sale.send(packets[0], sale.tlvs())[39] == "00"
    other = packets[1][:2] + bytes(b ^ 0xFF for b in packets[1][2:])
    assert sale.send(packets[1])[39] == "00"
    reply = sale.send(other)
    assert reply[39] == "94" and term.mac_ok("0830", reply)
    assert sale.send(packets[0], sale.tlvs(code="999999999999"))[39] == "94"   # other receipt fields
    assert sale.send(esign_message.packets(image, 2 * SMALL_PACKET)[0], sale.tlvs())[39] == "94"   # another count
    [signature] = host.ledger.signatures(term.tid)
    assert [p["packet"] for p in host.ledger.signature_packets(signature["id"])] == packets[:2]


def test_a_forged_or_missing_mac_stores_nothing(host, term):
    sale = Sale(term)
    [packet] = esign_message.packets(short_signature(), 400)
    fields = sale.fields(packet, sale.tlvs())
    fields[64] = bytes(8)
    mti, reply = term.exchange("0820", fields, with_mac=False)
    assert reply[39] == "A0"
    reply = sale.send(packet, sale.tlvs(), with_mac=False)
    assert reply[39] == "A0"
    # A MAC over other bytes: the packet changed on the way.
    frame_fields = sale.fields(packet, sale.tlvs())
    frame_fields[64] = term.mac("0820", sale.fields(packet[:-1] + b"\x00", sale.tlvs()))
    assert term.exchange("0820", frame_fields, with_mac=False)[1][39] == "A0"
    assert host.ledger.signatures() == []


@pytest.mark.parametrize("change", ["trace", "rrn", "amount", "batch", "merchant"])
def test_an_upload_for_no_such_transaction_is_25(host, term, change):
    sale = Sale(term)
    [packet] = esign_message.packets(short_signature(), 400)
    changes = {"trace": {11: "%06d" % (int(sale.trace) + 50)}, "rrn": {37: "999999999999"},
               "amount": {4: "%012d" % (sale.amount + 1)},
               "batch": {60: iso8583.field60("07", term.batch + 1, "800")},
               "merchant": {42: "898100012349999"}}[change]
    reply = sale.send(packet, sale.tlvs(rrn=changes.get(37)), changes=changes)
    assert reply[39] == "25"
    assert host.ledger.signatures() == []


def test_an_upload_for_a_declined_sale_is_25(host, term):
    mti, reply = term.sale(DEBIT, DEBIT.balance + 1)
    assert reply[39] == "51"
    reply[38] = "000000"
    sale = Sale(term, DEBIT.balance + 1, reply=reply)
    assert sale.send(b"\x01\x01", sale.tlvs(cvm="W"))[39] == "25"


def test_a_garbage_image_is_a_format_error_and_stores_nothing(host, term):
    sale = Sale(term)
    assert sale.send(b"\x01\x01" + b"SG1 not an image at all", sale.tlvs())[39] == "30"
    assert host.ledger.signatures() == []
    # Cut short: the last packet would complete a broken image; it is refused, the rest stays.
    image = signature_image()
    packets = esign_message.packets(image[:-5], 150)
    for packet in packets[:-1]:
        assert sale.send(packet, sale.tlvs() if packet == packets[0] else None)[39] == "00"
    assert sale.send(packets[-1])[39] == "30"
    [signature] = host.ledger.signatures()
    assert signature["completed_at"] is None
    assert len(host.ledger.signature_packets(signature["id"])) == len(packets) - 1


def test_an_image_too_big_to_decode_is_refused_before_decoding(host, term, monkeypatch):
    """A header claiming 65535 x 65535 dots would have the decoder allocate 4 GB."""
    def must_not_decode(data):
        raise AssertionError("decoded an image of %r" % data[3:7])
    monkeypatch.setattr(esign, "decode", must_not_decode)
    sale = Sale(term)
    assert sale.send(b"\x01\x01" + esign.MAGIC + b"\xff\xff\xff\xff" + b"\xfe" * 10, sale.tlvs())[39] == "30"
    assert host.ledger.signatures() == []


@pytest.mark.parametrize("what", ["no F55 on packet 1", "F55 on packet 2", "bad TLV", "feature code",
                                  "no F62", "packet 0", "screen signature without image"])
def test_malformed_uploads_are_format_errors(host, term, what):
    sale = Sale(term)
    packets = esign_message.packets(signature_image(), SMALL_PACKET)
    if what == "no F55 on packet 1":
        reply = sale.send(packets[0])
    elif what == "F55 on packet 2":
        reply = sale.send(packets[1], sale.tlvs())
    elif what == "bad TLV":
        reply = sale.send(packets[0], sale.tlvs() + b"\xFF\x71\x09abc")
    elif what == "feature code":
        reply = sale.send(packets[0], sale.tlvs(), changes={15: "0101"})
    elif what == "no F62":
        fields = sale.fields(b"", sale.tlvs())
        del fields[62]
        reply = term.exchange("0820", fields)[1]
    elif what == "packet 0":
        reply = sale.send(b"\x00\x01" + packets[0][2:], sale.tlvs())
    else:
        reply = sale.send(b"\x01\x01", sale.tlvs(cvm="S"))
    assert reply[39] == "30"
    assert host.ledger.signatures() == []


def test_no_image_uploads_for_no_pin_no_signature_and_for_paper(host, term):
    quick = Sale(term, amount=500)
    assert quick.send(b"\x01\x01", quick.tlvs(cvm="N"))[39] == "00"
    paper = Sale(term, amount=600)
    assert paper.send(b"\x01\x01", paper.tlvs(cvm="W"))[39] == "00"
    by_trace = {s["trace"]: s for s in host.ledger.signatures(term.tid)}
    assert by_trace[int(quick.trace)]["cvm"] == "N" and by_trace[int(quick.trace)]["image"] is None
    assert by_trace[int(paper.trace)]["paper"] == 1 and by_trace[int(paper.trace)]["completed_at"]


def test_a_paper_notice_after_a_broken_upload_replaces_it(host, term):
    """The terminal's fallback: some packets acknowledged, the rest failed,
    the cardholder signed paper; the notice must not be refused as a
    conflict, or the terminal would retry it forever."""
    sale = Sale(term)
    packets = esign_message.packets(signature_image(), 150)
    assert sale.send(packets[0], sale.tlvs())[39] == "00"
    assert sale.send(b"\x01\x01", sale.tlvs(cvm="W"))[39] == "00"
    assert sale.send(b"\x01\x01", sale.tlvs(cvm="W"))[39] == "00"       # and its repeat
    [signature] = host.ledger.signatures()
    assert (signature["paper"], signature["cvm"], signature["packet_count"]) == (1, "W", 1)
    assert signature["completed_at"] is not None and signature["image"] is None
    assert len(host.ledger.signature_packets(signature["id"])) == 1


def test_a_paper_notice_after_a_complete_upload_keeps_the_image(host, term):
    """The last acknowledgement lost, the terminal fell back to paper."""
    sale = Sale(term)
    image = signature_image()
    assert sale.upload(image, size=SMALL_PACKET) == ["00"] * math.ceil(len(image) / SMALL_PACKET)
    assert sale.send(b"\x01\x01", sale.tlvs(cvm="W"))[39] == "00"
    [signature] = host.ledger.signatures()
    assert signature["image"] == image and signature["paper"] == 1


def test_a_void_with_its_own_signature(host, term):
    sale = Sale(term)
    mti, reply = term.void(DEBIT, sale.amount, sale.trace, orig_rrn=sale.rrn)
    assert reply[39] == "00"
    void = Sale(term, sale.amount, reply=reply, kind="void")
    assert void.upload(short_signature(), cvm="S") == ["00"]
    # The sale, voided since, still takes its own signature.
    image = signature_image(loops=3)
    assert sale.upload(image, size=SMALL_PACKET) == ["00"] * math.ceil(len(image) / SMALL_PACKET)
    assert len(host.ledger.signatures(term.tid)) == 2


def test_esign_down_answers_96_and_stores_nothing(host, term):
    sale = Sale(term)
    [packet] = esign_message.packets(short_signature(), 400)
    host.faults.add("esign_down", count=2)
    assert term.exchange("0820", {**term.base(), 60: "00000001301"}, with_mac=False)[1][39] == "00"  # echo: not an upload
    reply = sale.send(packet, sale.tlvs())
    assert reply[39] == "96" and term.mac_ok("0830", reply)
    assert sale.send(packet, sale.tlvs())[39] == "96"
    assert host.ledger.signatures() == []
    assert sale.send(packet, sale.tlvs())[39] == "00"


def test_esign_drop_stores_then_hangs_up_and_the_repeat_is_00(host, term):
    sale = Sale(term)
    [packet] = esign_message.packets(short_signature(), 400)
    host.faults.add("esign_drop")
    with pytest.raises(ConnectionError):
        sale.send(packet, sale.tlvs())
    assert len(host.ledger.signatures()) == 1
    assert sale.send(packet, sale.tlvs())[39] == "00"


def test_esign_faults_leave_other_messages_alone(host, term):
    host.faults.add("esign_drop_before", count=None)
    assert Sale(term).reply[39] == "00"
    with pytest.raises(ConnectionError):
        Sale(term).send(b"\x01\x01", None)
    [fault] = host.faults.pending()
    assert fault.fired == 1


def test_esign_faults_from_the_command_line_and_the_control_channel(host):
    from emulator.host import control
    from emulator.host.faults import Fault, parse_fault_spec
    assert parse_fault_spec("esign_down::0:91") == {"kind": "esign_down", "mti": None, "count": None, "code": "91"}
    with pytest.raises(ValueError, match="uploads"):
        parse_fault_spec("esign_drop:0200")
    with pytest.raises(ValueError):
        Fault("esign_drop", code="96")
    reply = control.answer(host, '{"op": "fault", "kind": "esign_down", "count": 1, "code": "91"}')
    assert reply["ok"] and reply["faults"][0]["kind"] == "esign_down" and reply["faults"][0]["code"] == "91"
