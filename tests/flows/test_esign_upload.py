"""The e-signature's storage, journal and upload on the terminal
(firmware/signatures.py) against the host simulator: sign -> upload ->
the host has the image; failed rounds -> the paper slip; power cuts at
every write and send -> exactly once; reprint shows the signature; a
forged acknowledgement is none; a full disk falls back to paper; the
receipt without a signature (小额双免, no paper); retention at settlement.

The signing screen (firmware/signpad.py) is another engineer's: here a
stand-in hands the flow an image encoded from strokes, as the screen
would (firmware/esign.py), so what is tested is this component."""

import math
import sys
import types

import pytest

import firmware
from emulator.host import security
from emulator.host.server import HostSimulator
from firmware import esign, esign_message, escpos, iso8583
from hal.sim.deck import find_card
from tests.flows import cashier
from tests.flows.mitm import Mitm, decode, encode
from tests.flows.test_crash_matrix import Cutter, Scenario, check
from tests.flows.test_settle_reprint import reprint, settle

pytestmark = pytest.mark.filterwarnings("ignore:coroutine .* was never awaited:RuntimeWarning")

ESIGN = {"esign": True}


def strokes(loops=2.0):
    out = []
    for n, (x0, width) in enumerate(((20, 60), (90, 70), (170, 50))):
        out.append([(int(x0 + width * i / 79), int(200 + 25 * math.sin(2 * loops * math.pi * i / 79 + n)
                                                       + 10 * math.sin(17 * i / 79))) for i in range(80)])
    out.append([(30, 240), (200, 236)])
    return out


IMAGE = esign.encode(esign.rasterize(strokes()), esign.IMAGE_WIDTH, esign.IMAGE_HEIGHT)


@pytest.fixture(autouse=True)
def signing_screen(monkeypatch):
    """The signing screen's stand-in: the cardholder signs IMAGE (None:
    the cardholder does not sign). -> a dict whose "image" a test changes."""
    signed = {"image": IMAGE, "asked": 0, "before": None}
    module = types.ModuleType("firmware.signpad")

    async def ask_signature(app, title, txn):
        signed["asked"] += 1
        if signed["before"] is not None:
            signed["before"](app)
        return signed["image"]

    module.ask_signature = ask_signature
    monkeypatch.setitem(sys.modules, "firmware.signpad", module)
    monkeypatch.setattr(firmware, "signpad", module, raising=False)
    return signed


def txn_of(h, trace):
    return h.call(h.app.state.find, h.app.state.batch, trace)


def signature_at_host(host, tid, batch, trace):
    found = [s for s in host.ledger.signatures(tid) if (s["batch"], s["trace"]) == (batch, trace)]
    assert len(found) <= 1
    return found[0] if found else None


def sig_file(h, txn):
    return (h.app.devices.storage.folder("sig").read("%06d-%06d.sg" % (txn["batch"], txn["trace"])))


def test_a_signed_sale_goes_up_in_packets_and_the_host_reassembles_it(make_handset, host):
    h = make_handset(esign_packet_bytes=64, **ESIGN)
    cashier.sale(h, 12345, "debit-mag")
    sale = cashier.last_txn(h)
    txn = txn_of(h, sale["trace"])
    esign_state = txn["esign"]
    count = (len(IMAGE) + 63) // 64
    assert count >= 2
    assert esign_state["mark"] == "S" and esign_state["done"] and sorted(esign_state["acked"]) == list(
        range(1, count + 1))
    assert sig_file(h, txn) == IMAGE     # kept beside the journal, not in it
    signature = signature_at_host(host, h.app.settings.terminal_id, txn["batch"], txn["trace"])
    assert signature["image"] == IMAGE and signature["completed_at"] and signature["packet_count"] == count
    fields = dict(host.ledger.signature_receipt(signature["id"]))
    assert fields[esign_message.CVM] == b"S" and fields[esign_message.CARD_NO] == sale["card"].encode()
    assert fields[esign_message.FEATURE_CODE] == esign_message.txn_feature_code(txn).encode()
    assert h.app.state.pending_uploads() == []
    # Both copies printed after signing show the signature and the feature code.
    slips = cashier.receipts_text(h)
    assert len(slips) == 2
    for slip in slips:
        assert "[IMAGE:256x96]" in slip
        assert "特征码 FEATURE CODE:" + esign_message.txn_feature_code(txn) in slip
    # The journal holds its size and hash, never the image.
    journal = h.app.devices.storage.read("journal.dat")
    assert IMAGE[7:60] not in journal


def test_the_printed_signature_is_the_cardholders_strokes(make_handset, host):
    h = make_handset(**ESIGN)
    cashier.sale(h, 500, "debit-mag")
    table = h.app.gb_table
    lines = escpos.parse(h.printout()[-1][1], table)
    [image] = [line.image for line in lines if line.image is not None]
    width, height, rows = image
    _, _, bits = esign.decode(IMAGE)
    row_bytes = width // 8
    printed = bytearray(width * height)
    for y in range(height):
        for x in range(width):
            printed[y * width + x] = (rows[y * row_bytes + x // 8] >> (7 - x % 8)) & 1
    assert (width, height) == (esign.IMAGE_WIDTH, esign.IMAGE_HEIGHT) and printed == bits
    # The emulator's paper view draws it dot for dot.
    from emulator.paper import INK, PaperRenderer
    [line] = [line for line in lines if line.image is not None]
    paper = PaperRenderer().render([line])
    assert paper.histogram()[INK] == sum(bits)


@pytest.mark.parametrize("fault, code", [("esign_down", "96"), ("esign_down", "94"), ("esign_drop_before", None)])
def test_an_upload_that_fails_its_rounds_prints_the_slip_to_sign_then_goes_up_as_paper(make_handset, host,
                                                                                      fault, code):
    h = make_handset(esign_upload_tries=2, **ESIGN)
    host.faults.add(fault, count=None, code=code)     # refused (96, a conflict 94) or no reply at all
    cashier.sale(h, 2000, "debit-mag")
    trace = cashier.last_txn(h)["trace"]
    txn = txn_of(h, trace)
    assert txn["state"] == "approved"     # the money moved whatever the upload does
    assert txn["esign"]["fails"] == 2 and txn["esign"]["paper"] and txn["esign"]["mark"] == "W"
    slips = cashier.receipts_text(h)
    assert len(slips) == 3                # merchant, cardholder, then the slip to sign
    assert slips[2][0] == "签名联 SIGNATURE SLIP" and "持卡人签名 CARDHOLDER SIGNATURE:" in slips[2]
    assert "[IMAGE:256x96]" not in slips[2]
    assert h.app.state.pending_uploads() != []
    # The next sale is not held up by it (only reversals do that) ...
    cashier.sale(h, 100, "debit-mag")
    # ... and once the host takes uploads again, the receipt goes up as signed on paper.
    host.faults.clear()
    cashier.sale(h, 101, "debit-mag")
    signature = signature_at_host(host, h.app.settings.terminal_id, txn["batch"], trace)
    assert signature["paper"] and signature["cvm"] == "W" and signature["completed_at"]
    assert txn_of(h, trace)["esign"]["done"]


def test_a_forged_acknowledgement_without_mac_is_not_one(make_handset, host):
    host.faults.add("esign_down", count=None)     # the host stores nothing ...

    def forge(frame):
        # ... and a man in the middle turns its 96 into an unsigned 00.
        tpdu, header, mti, fields = decode(frame)
        if mti != "0830":
            return frame
        fields[39] = "00"
        fields.pop(64, None)
        return encode(tpdu, header, mti, fields)

    with Mitm(host.port, tamper=forge) as mitm:
        h = make_handset(host_port=mitm.port, esign_upload_tries=1, **ESIGN)
        cashier.sale(h, 3000, "debit-mag")
        assert mitm.tampered >= 1
        txn = txn_of(h, cashier.last_txn(h)["trace"])
        assert txn["esign"]["acked"] == [] and not txn["esign"].get("done")
        assert txn["esign"]["paper"]
        assert signature_at_host(host, h.app.settings.terminal_id, txn["batch"], txn["trace"]) is None


class ReplayPacketOne:
    """On the path of an upload in packets: packet 1 of the target
    transaction reaches the host and its genuine, MACed 0830 is kept; every
    later upload packet of that transaction (packet 2, then the paper
    notice) is held back and answered with that 0830. The packets of one
    signature carry the same F4, F11, F41, F42: only the packet the 0830
    names (F62) tells packet 1's 00 from packet 2's."""

    def __init__(self):
        self.active = True
        self.target = None           # F11 of the transaction attacked: the first upload seen
        self.sending_packet_1 = False
        self.answer_to_packet_1 = None

    def hold(self, frame):
        _, _, mti, fields = decode(frame)
        self.sending_packet_1 = False
        if not self.active or mti != "0820" or (fields.get(60) or "")[8:11] != "800":
            return None
        self.target = self.target or fields[11]
        if fields[11] != self.target:
            return None
        number, count = fields[62][0], fields[62][1]
        if number == 1 and count > 1:
            self.sending_packet_1 = self.answer_to_packet_1 is None
            return None
        if number == 2 or count == 1:      # packet 2; later the paper notice, 01 01
            return self.answer_to_packet_1
        return None

    def keep(self, frame):
        if self.sending_packet_1 and decode(frame)[2] == "0830":
            self.answer_to_packet_1 = frame
        return frame


def log_text(h):
    return "\n".join(h.app.log.lines)


def test_packet_1s_answer_replayed_for_packet_2_acknowledges_nothing(make_handset, host):
    attack = ReplayPacketOne()
    with Mitm(host.port, tamper=attack.keep, hold=attack.hold) as mitm:
        h = make_handset(host_port=mitm.port, esign_packet_bytes=64, esign_upload_tries=2, **ESIGN)
        tid = h.app.settings.terminal_id
        cashier.sale(h, 12345, "debit-mag")
        trace = cashier.last_txn(h)["trace"]
        assert (len(IMAGE) + 63) // 64 == 3 and attack.target == "%06d" % trace
        assert mitm.held == 2              # packet 2 in each round, answered with packet 1's 0830
        txn = txn_of(h, trace)
        assert not txn["esign"].get("done") and txn["esign"]["fails"] == 2 and txn["esign"]["paper"]
        assert log_text(h).count("packet 2/3: no answer: the 0830 names packet 1 of 3, sent packet 2 of 3") == 2
        assert "e-receipt of trace %06d uploaded" % trace not in log_text(h)
        signature = signature_at_host(host, tid, txn["batch"], trace)
        assert signature["completed_at"] is None
        assert [p["number"] for p in host.ledger.signature_packets(signature["id"])] == [1, 3]
        slips = cashier.receipts_text(h)
        assert len(slips) == 3 and slips[2][0] == "签名联 SIGNATURE SLIP"   # the cardholder signs the paper
        # The paper notice (01 01) answered with packet 1's 0830 is no answer either.
        cashier.sale(h, 100, "debit-mag", action="swipe")
        assert mitm.held == 3 and not txn_of(h, trace)["esign"].get("done")
        assert "packet 1/1: no answer: the 0830 names packet 1 of 3, sent packet 1 of 1" in log_text(h)
        assert signature_at_host(host, tid, txn["batch"], trace)["completed_at"] is None
        # Off the path: the notice goes up before the next sale, and only then is nothing owed.
        attack.active = False
        cashier.sale(h, 101, "debit-mag", action="swipe")
        assert txn_of(h, trace)["esign"]["done"] and h.app.state.pending_uploads() == []
        signature = signature_at_host(host, tid, txn["batch"], trace)
        assert signature["paper"] and signature["cvm"] == "W" and signature["completed_at"]


def test_without_paper_the_packet_whose_answer_was_replayed_goes_again_later(make_handset, host):
    """A handset with no paper keeps the upload owed: packets 1 and 3 are
    acknowledged, packet 2 (answered with packet 1's 0830) goes again
    before a later sale, once the path is clean."""
    attack = ReplayPacketOne()
    with Mitm(host.port, tamper=attack.keep, hold=attack.hold) as mitm:
        h = make_handset(host_port=mitm.port, paper="none", esign_packet_bytes=64, esign_upload_tries=2, **ESIGN)
        cashier.qr_receipt_sale(h, "900")
        trace = cashier.last_txn(h)["trace"]
        txn = txn_of(h, trace)
        held = mitm.held
        assert held >= 2                   # one round before the QR screen, more after it
        assert sorted(txn["esign"]["acked"]) == [1, 3] and not txn["esign"].get("done")
        assert txn["esign"]["fails"] == 2 and not txn["esign"].get("paper")
        assert [t["trace"] for t in h.app.state.pending_uploads()] == [trace]
        attack.active = False
        from firmware import signatures
        h.run(signatures.send_owed(h.app))
        assert txn_of(h, trace)["esign"]["done"] and mitm.held == held
        signature = signature_at_host(host, h.app.settings.terminal_id, txn["batch"], trace)
        assert signature["image"] == IMAGE and signature["cvm"] == "S"

@pytest.mark.parametrize("change, says", [
    ("drop", "names no packet (no F62), sent packet %d of 3"),
    ("next", "names packet %d of 3, sent packet %d of 3"),
])
def test_a_maced_answer_that_names_no_packet_or_another_is_none(make_handset, host, change, says):
    """A host that does not name the packet in its 0830 (one built before
    the echo), or names another: the MAC is good and it is still no answer."""

    def rename(frame):
        tpdu, header, mti, fields = decode(frame)
        if mti != "0830" or 62 not in fields:
            return frame
        number, count = fields[62][0], fields[62][1]
        if change == "drop":
            del fields[62]
        else:
            fields[62] = bytes((number % count + 1, count))
        # Signed again with the terminal's MAC key, as the host signs.
        key = host.ledger.terminal(fields[41])["mac_key"]
        fields[64] = security.compute_mac(host.mac_algorithm, key, mti, fields, host.acquirer.key_algorithm)
        return encode(tpdu, header, mti, fields)

    with Mitm(host.port, tamper=rename) as mitm:
        h = make_handset(host_port=mitm.port, esign_packet_bytes=64, esign_upload_tries=1, **ESIGN)
        cashier.sale(h, 2500, "debit-mag")
        assert mitm.tampered == 3
        txn = txn_of(h, cashier.last_txn(h)["trace"])
        assert txn["esign"]["acked"] == [] and not txn["esign"].get("done") and txn["esign"]["paper"]
        expected = says % ((2,) if change == "drop" else (3, 2))
        assert "packet 2/3: no answer: the " + "0830 " + expected in log_text(h)
        assert cashier.receipts_text(h)[-1][0] == "签名联 SIGNATURE SLIP"
        # The host took every packet (only the answers were not its own).
        signature = signature_at_host(host, h.app.settings.terminal_id, txn["batch"], txn["trace"])
        assert signature["image"] == IMAGE

def test_a_full_disk_says_so_keeps_the_sale_and_falls_back_to_paper(make_handset, host, tmp_path, signing_screen):
    h = make_handset(start=False, **ESIGN)
    h.devices["storage"] = "dir:%s?capacity=%d" % (tmp_path / "handset", 10 ** 9)
    h.start()
    storage = h.app.devices.storage

    def disk_fills_up(app):
        # The sale is journaled; now room for its closing records, not for
        # a signature and the reserve it must leave.
        storage.capacity = storage._used() + 8000

    signing_screen["before"] = disk_fills_up
    h.keys("4000")
    h.enter()
    h.wait_text("Swipe, insert or tap card")
    h.card("swipe", "debit-mag")
    h.wait_text("Storage full: sign on paper")
    h.wait_idle()
    txn = txn_of(h, cashier.last_txn(h)["trace"])
    assert txn["state"] == "approved" and txn["esign"]["mark"] == "W" and txn["esign"]["done"]
    assert storage.folder("sig").names() == []
    slips = cashier.receipts_text(h)
    assert "持卡人签名 CARDHOLDER SIGNATURE:" in slips[0] and "[IMAGE:256x96]" not in slips[0]
    signature = signature_at_host(host, h.app.settings.terminal_id, txn["batch"], txn["trace"])
    assert signature["cvm"] == "W"


def test_no_signature_asked_when_the_cardholder_does_not_sign(make_handset, host, signing_screen):
    signing_screen["image"] = None      # timeout or CANCEL on the signing screen
    h = make_handset(**ESIGN)
    cashier.sale(h, 700, "debit-mag")
    txn = txn_of(h, cashier.last_txn(h)["trace"])
    assert txn["esign"]["mark"] == "W" and txn["esign"]["done"]
    assert "持卡人签名 CARDHOLDER SIGNATURE:" in cashier.receipts_text(h)[0]


def test_quick_pass_with_no_paper_sends_the_receipt_without_an_image(make_handset, host, signing_screen):
    h = make_handset(paper="none", **ESIGN)
    h.wait_idle()
    h.keys("1500")
    h.enter()
    cashier.present_card(h, "chip-pin", "tap", None, "Scan for your receipt")
    # While the cardholder's phone scans the code, the host has the receipt.
    txn = txn_of(h, cashier.last_txn(h)["trace"])
    assert signing_screen["asked"] == 0
    assert txn["esign"]["mark"] == "N" and txn["esign"]["done"]
    signature = signature_at_host(host, h.app.settings.terminal_id, txn["batch"], txn["trace"])
    assert signature["cvm"] == "N" and signature["image"] is None and signature["packet_count"] == 1
    assert signature["completed_at"]
    h.key("ENTER")
    h.wait_idle()
    assert h.printout_count() == 0


def test_esign_off_with_paper_uploads_nothing(make_handset, host, signing_screen):
    h = make_handset()
    cashier.sale(h, 800, "debit-mag")
    assert signing_screen["asked"] == 0
    assert "esign" not in txn_of(h, cashier.last_txn(h)["trace"])
    assert host.ledger.signatures(h.app.settings.terminal_id) == []


def test_reprint_shows_the_signature_while_the_terminal_has_it(make_handset, host):
    h = make_handset(**ESIGN)
    cashier.unlock_supervisor(h)
    cashier.sale(h, 900, "debit-mag")
    trace = cashier.last_txn(h)["trace"]
    since = h.printout_count()
    reprint(h, "2", trace)
    [slip] = cashier.receipts_text(h, since)
    assert "重打印凭证 REPRINT" in slip and "[IMAGE:256x96]" in slip
    assert "特征码 FEATURE CODE:" + esign_message.txn_feature_code(txn_of(h, trace)) in slip
    # A damaged file is not printed as the cardholder's signature.
    txn = txn_of(h, trace)
    h.app.devices.storage.folder("sig").write_atomic("%06d-%06d.sg" % (txn["batch"], trace), IMAGE[:20] + bytes([IMAGE[20] ^ 1]) + IMAGE[21:])
    since = h.printout_count()
    reprint(h, "2", trace)
    [slip] = cashier.receipts_text(h, since)
    assert "[IMAGE:256x96]" not in slip and "持卡人签名 CARDHOLDER SIGNATURE:" in slip


def test_settlement_deletes_what_is_uploaded_and_keeps_what_is_owed(make_handset, host):
    h = make_handset(esign_upload_tries=1, **ESIGN)
    cashier.unlock_supervisor(h)
    cashier.sale(h, 1000, "debit-mag")
    uploaded = txn_of(h, cashier.last_txn(h)["trace"])
    host.faults.add("esign_down", count=None)
    cashier.sale(h, 1100, "debit-mag", action="swipe")
    host.faults.clear()
    host.faults.add("esign_down", count=None)
    owed = txn_of(h, cashier.last_txn(h)["trace"])
    assert owed["esign"]["paper"] and not owed["esign"].get("done")
    folder = h.app.devices.storage.folder("sig")
    assert len(folder.names()) == 2
    settle(h)
    # The uploaded one is gone with its batch; the owed one (now a paper
    # notice, no image to send) outlives the settlement in the journal.
    assert folder.names() == []
    assert [t["trace"] for t in h.app.state.pending_uploads()] == [owed["trace"]]
    host.faults.clear()
    h.power_cut()
    h.start()
    assert h.app.state.pending_uploads() == []
    assert signature_at_host(host, h.app.settings.terminal_id, owed["batch"], owed["trace"])["cvm"] == "W"
    assert signature_at_host(host, h.app.settings.terminal_id, uploaded["batch"], uploaded["trace"])["image"] == IMAGE


# -- exactly once across power cuts ------------------------------------------------------------

class SigCutter(Cutter):
    """The crash matrix's cutter, also over the signature folder's writes,
    and a log of every upload packet sent and every answer to one."""

    def __init__(self, cut_at=None, armed=True, uploads=None):
        Cutter.__init__(self, cut_at, armed)
        self.uploads = uploads if uploads is not None else []

    def install(self, app):
        Cutter.install(self, app)
        storage = app.devices.storage
        folder = storage.folder
        cutter = self

        def watched_folder(name):
            sub = folder(name)
            for method in ("write_atomic", "remove"):
                setattr(sub, method, cutter._before(method, getattr(sub, method)))
            return sub

        storage.folder = watched_folder
        modem = app.devices.modem
        open_link = modem._open

        async def _open(host, port):
            link = await open_link(host, port)
            send, recv_exact = link.send, link.recv_exact

            async def sent(data):
                mti, fields = iso8583.unpack(iso8583.unframe(data[2:])[2])
                if mti == "0820" and fields.get(60, "")[8:11] == "800":
                    cutter.uploads.append(("sent", esign_message.packet_header(fields[62])[0], fields[62]))
                await send(data)

            async def received(n, timeout_ms):
                data = await recv_exact(n, timeout_ms)
                if n > 2:
                    mti, fields = iso8583.unpack(iso8583.unframe(data)[2])
                    if mti == "0830":
                        cutter.uploads.append(("answer", fields.get(39)))
                return data

            link.send, link.recv_exact = sent, received
            return link

        modem._open = _open


def signed_sale(h):
    cashier.sale(h, 4321, "debit-mag")


def play_upload(tmp_path, first_cut, second_cut):
    """A signed sale (three packets) with a cut at event `first_cut`, a
    recovery boot with a cut at `second_cut`, a clean boot; then the
    money (the crash matrix's check) and the signature: exactly once."""
    uploads = []
    with HostSimulator(None) as host:
        scenario = Scenario(tmp_path, host)
        scenario.settings.update(esign=True, esign_packet_bytes=64)
        try:
            cutter = SigCutter(armed=False, uploads=uploads)
            assert scenario.boot(cutter)
            scenario.run(cashier.unlock_supervisor, cutter)
            cutter.cut_at, cutter.armed = first_cut, True
            finished = scenario.run(signed_sale, cutter)
            recovery = SigCutter(second_cut, uploads=uploads)
            if finished:
                scenario.stop()
            if not scenario.boot(recovery):
                scenario.boot(SigCutter(uploads=uploads))
            check(scenario, host)
            check_signature(scenario, host, uploads)
            return cutter.events, recovery.events
        finally:
            scenario.stop()


def check_signature(scenario, host, uploads):
    h = scenario.handset
    state = h.app.state
    tid = h.app.settings.terminal_id
    assert h.call(state.pending_uploads) == []      # nothing owed after the clean boot
    approved = [t for t in h.call(state.transactions).values() if t["state"] == "approved" and t["amount"] == 4321]
    signatures = host.ledger.signatures(tid)
    if not approved:
        assert signatures == []
        return
    [txn] = approved
    mark = txn["esign"]["mark"]
    assert txn["esign"]["done"]
    [signature] = signatures
    assert signature["completed_at"] and signature["cvm"] == mark
    if mark == "S":
        assert signature["image"] == IMAGE
        count = (len(IMAGE) + 63) // 64
        packets = host.ledger.signature_packets(signature["id"])
        assert sorted(p["number"] for p in packets) == list(range(1, count + 1))   # each stored once
    else:
        # A cut before the signature was journaled: the receipt went up as
        # signed on the merchant copy printed at boot.
        assert mark == "W" and signature["image"] is None
    # Nothing sent twice but a packet whose acknowledgement a cut lost (a
    # true repeat, answered 00), and never a conflict.
    assert ("answer", "94") not in uploads
    sent = {}
    for entry in uploads:
        if entry[0] == "sent":
            sent.setdefault(entry[1], []).append(entry[2])
    for number, versions in sent.items():
        assert len(versions) <= 3                      # once, and once again after each of two cuts
        if mark == "S":
            assert len(set(versions)) == 1             # always the same bytes: a true repeat


def test_upload_without_cuts_sends_each_packet_once(tmp_path):
    events, _ = play_upload(tmp_path / "dry", None, None)
    assert events.count("send") >= 4      # the sale and three packets
    assert any(e.startswith("write_atomic") and e.endswith(".sg") for e in events)


@pytest.mark.slow
def test_power_cut_at_every_write_and_send_of_the_upload_then_again_in_recovery(tmp_path):
    events, _ = play_upload(tmp_path / "dry", None, None)
    # From the signature file on: every journal write, file write, send and answer of the upload.
    first = [i for i, e in enumerate(events) if e.endswith(".sg")][0]
    seconds = 0
    for cut in range(first - 1, len(events)):
        _, recovery = play_upload(tmp_path / ("cut%d" % cut), cut, None)
        for second in range(len(recovery)):
            play_upload(tmp_path / ("cut%d-%d" % (cut, second)), cut, second)
            seconds += 1
    print("signed sale: %d cut points from the signature on, %d second cuts" % (len(events) - first + 1, seconds))


def test_a_refund_approved_only_when_resent_at_boot_still_sends_its_receipt(make_handset, host):
    h = make_handset(esign_refund=True, **ESIGN)
    cashier.unlock_supervisor(h)
    cashier.sale(h, 10000, "debit-mag")
    sale = cashier.last_txn(h)
    t = h.app.devices.clock.now()
    host.faults.add("no_reply", mti="0220", count=3)
    cashier.refund(h, sale["rrn"], "%02d%02d" % (t[1], t[2]), 2500, expect="Refund unconfirmed")
    refund = cashier.last_txn(h)
    h.reboot()                 # resent at boot and approved: the cardholder is long gone
    txn = txn_of(h, refund["trace"])
    assert txn["state"] == "approved" and txn["esign"]["mark"] == "W" and txn["esign"]["done"]
    signature = signature_at_host(host, h.app.settings.terminal_id, txn["batch"], txn["trace"])
    assert signature["cvm"] == "W" and signature["completed_at"]


def test_a_paper_terminal_with_the_qr_receipt_sends_it_signed_on_paper(make_handset, host, signing_screen):
    h = make_handset(paper="merchant_only")
    h.wait_idle()
    h.keys("1600")
    h.enter()
    cashier.present_card(h, "debit-mag", "swipe", None, "Scan for your receipt")
    txn = txn_of(h, cashier.last_txn(h)["trace"])
    assert signing_screen["asked"] == 0 and txn["esign"]["mark"] == "W" and txn["esign"]["done"]
    assert signature_at_host(host, h.app.settings.terminal_id, txn["batch"], txn["trace"])["cvm"] == "W"
    h.key("ENTER")
    h.wait_idle()
    assert "持卡人签名 CARDHOLDER SIGNATURE:" in cashier.receipts_text(h)[0]


# -- a handset with no paper -------------------------------------------------------------------

def test_no_paper_and_no_signature_goes_up_as_not_signed(make_handset, host, signing_screen):
    """paper none: no merchant copy to sign on, so the receipt never says
    "signed on paper"."""
    signing_screen["image"] = None      # CANCEL or the time limit on the signing screen
    h = make_handset(paper="none", **ESIGN)
    cashier.qr_receipt_sale(h, "700")
    txn = txn_of(h, cashier.last_txn(h)["trace"])
    assert txn["esign"]["mark"] == "U" and txn["esign"]["done"]
    assert signature_at_host(host, h.app.settings.terminal_id, txn["batch"], txn["trace"])["cvm"] == "U"
    assert h.printout_count() == 0


def test_no_paper_keeps_the_signature_until_the_host_takes_it(make_handset, host, signing_screen):
    """paper none: a failed upload has no slip to fall back to; the image
    is kept and goes up before a later sale, and the journal does not grow
    with every failure."""
    h = make_handset(paper="none", esign_upload_tries=2, **ESIGN)
    host.faults.add("esign_down", count=None, code="96")
    cashier.qr_receipt_sale(h, "900")
    trace = cashier.last_txn(h)["trace"]
    txn = txn_of(h, trace)
    assert txn["esign"]["mark"] == "S" and not txn["esign"].get("paper") and not txn["esign"].get("done")
    assert txn["esign"]["fails"] == 2 and sig_file(h, txn) == IMAGE
    # More failed passes (before each sale) add no journal records.
    size = len(h.app.devices.storage.read("journal.dat"))
    from firmware import signatures
    h.run(signatures.send_owed(h.app))
    assert len(h.app.devices.storage.read("journal.dat")) == size
    host.faults.clear()
    h.power_cut()
    h.start()
    h.wait_idle()
    assert h.app.state.pending_uploads() == []
    signature = signature_at_host(host, h.app.settings.terminal_id, txn["batch"], trace)
    assert signature["image"] == IMAGE and signature["cvm"] == "S"
    assert h.printout_count() == 0


def exchanges_of(h, what=lambda mti, fields: mti):
    """-> the list that what(mti, fields) of each exchange with the host
    goes to from now on."""
    sent = []
    exchange = h.app.host.exchange

    async def counted(mti, fields, *args, **kwargs):
        sent.append(what(mti, fields))
        return await exchange(mti, fields, *args, **kwargs)

    h.app.host.exchange = counted
    return sent


@pytest.mark.parametrize("fault, code", [("esign_drop_before", None), ("esign_down", "96")])
def test_a_host_that_cannot_take_uploads_costs_a_sale_one_exchange_not_one_each(make_handset, host, fault, code):
    """paper none, a long upload outage: the host takes each 0820 and never
    answers (NO_REPLY after reply_timeout_ms, 30 s by default), or answers
    96 at once (its signature service down). The pass before every sale
    tried every upload owed, one exchange each, so the sale waited N x 30 s
    for the first. The first such round ends the pass, as a host that
    cannot be reached already did; the uploads go at a later one."""
    from firmware import signatures
    h = make_handset(paper="none", esign_upload_tries=1, **ESIGN)
    host.faults.add(fault, count=None, code=code)
    for amount in ("901", "902", "903"):
        cashier.qr_receipt_sale(h, amount)
    assert len(h.app.state.pending_uploads()) == 3
    sent = exchanges_of(h)
    h.run(signatures.send_owed(h.app))
    assert sent == ["0820"]
    host.faults.clear()
    h.run(signatures.send_owed(h.app))
    assert h.app.state.pending_uploads() == []


def test_a_packet_taken_and_never_answered_ends_its_round(make_handset, host):
    """A 3-packet upload to a host that takes each 0820 and never answers:
    the round stopped at the first unanswered packet (each later one would
    wait its own reply timeout with the cardholder at the counter); the
    next round sends every packet still unacknowledged."""
    from firmware import signatures
    h = make_handset(paper="none", esign_upload_tries=3, esign_packet_bytes=64, **ESIGN)
    host.faults.add("esign_drop_before", count=None)
    cashier.qr_receipt_sale(h, "904")
    [owed] = h.app.state.pending_uploads()
    sent = exchanges_of(h, lambda mti, fields: fields[62][:2])
    h.run(signatures.send_owed(h.app))
    assert sent == [b"\x01\x03"]          # packet 1 of 3, unanswered: the round ended there
    host.faults.clear()
    sent.clear()
    h.run(signatures.send_owed(h.app))
    assert sent == [b"\x01\x03", b"\x02\x03", b"\x03\x03"]
    assert h.app.state.pending_uploads() == []
