"""firmware/signatures.py's plain parts: which transactions go up and with
which FF30 mark, the file kept before its record and read back only when
intact, the sweep, the signature as an ESC/POS raster; the same under
MicroPython."""

import hashlib

import pytest

from firmware import esign, escpos, signatures
from firmware.journal import Journal
from firmware.terminal import TerminalState
from hal.storage import DirStorage
from tests.support import micropython_path, run_script

IMAGE = esign.encode(esign.rasterize([[(0, 40), (60, 0), (120, 40)], [(10, 50), (130, 45)]]),
                     esign.IMAGE_WIDTH, esign.IMAGE_HEIGHT)


class Settings:
    esign = True
    paper = "normal"
    esign_packet_bytes = 400


class App:
    """What keep(), stored_image() and sweep() use of the app."""

    def __init__(self, tmp_path, capacity=None):
        class Devices:
            pass
        self.devices = Devices()
        self.devices.storage = DirStorage(str(tmp_path / "data"), capacity=capacity)
        self.state = TerminalState(Journal(self.devices.storage))
        self.settings = Settings()
        self.logged = []

    def log(self, text, *args):
        self.logged.append(text % args)

    def approved_sale(self, trace, **extra):
        txn = dict({"batch": self.state.batch, "trace": trace, "type": "sale", "amount": 100, "state": "approved"},
                   **extra)
        self.state.record("txn", **dict(txn, state="sent"))
        self.state.record("reply", batch=txn["batch"], trace=trace, state="approved", rc="00", rrn="12000000000%d" % trace)
        return self.state.find(txn["batch"], trace)


@pytest.mark.parametrize("esign_on, paper, kind, state, wanted", [
    (True, "normal", "sale", "approved", True), (False, "none", "void", "approved", True),
    (False, "normal", "sale", "approved", False), (True, "normal", "sale", "declined", False),
    (True, "merchant_only", "refund", "approved", True), (False, "merchant_only", "sale", "approved", True),
])
def test_upload_wanted(esign_on, paper, kind, state, wanted):
    settings = type("S", (), {"esign": esign_on, "paper": paper})
    assert signatures.upload_wanted(settings, {"type": kind, "state": state}) is wanted


@pytest.mark.parametrize("txn, mark", [
    ({"cvm": "no_pin_no_signature"}, "N"), ({"cvm": "no_signature", "pin": True}, "O"), ({}, "O"),
    ({"pin": True}, "P"),
])
def test_the_mark_of_a_receipt_without_a_signature(txn, mark):
    assert signatures.no_signature_mark(txn) == mark


def test_keep_writes_the_file_then_the_record_and_reads_it_back_only_intact(tmp_path):
    app = App(tmp_path)
    txn = app.approved_sale(5)
    assert signatures.keep(app, txn, IMAGE) is None
    txn = app.state.find(txn["batch"], 5)
    assert txn["esign"] == {"mark": "S", "acked": [], "fails": 0, "size": len(IMAGE),
                            "sha256": hashlib.sha256(IMAGE).hexdigest(), "step": 400}
    assert app.state.upload_owed(txn["batch"], 5)
    assert signatures.stored_image(app, txn) == IMAGE
    assert IMAGE not in app.devices.storage.read("journal.dat")
    folder = app.devices.storage.folder("sig")
    folder.write_atomic("%06d-000005.sg" % txn["batch"], IMAGE[:-2] + bytes([IMAGE[-2] ^ 0x10, IMAGE[-1]]))
    assert signatures.stored_image(app, txn) is None and signatures.printable(app, txn) == (None, None)


@pytest.mark.parametrize("image", [b"", "text", b"x" * (signatures.MAX_IMAGE_BYTES + 1)])
def test_keep_refuses_what_is_not_a_signature(tmp_path, image):
    app = App(tmp_path)
    txn = app.approved_sale(5)
    assert signatures.keep(app, txn, image) == "BAD_IMAGE"
    assert "esign" not in app.state.find(txn["batch"], 5)


def test_a_full_disk_keeps_nothing_and_says_so(tmp_path):
    app = App(tmp_path, capacity=10 ** 9)
    txn = app.approved_sale(5)
    app.devices.storage.capacity = app.devices.storage._used() + 4000   # less than the reserve
    assert signatures.keep(app, txn, IMAGE) == "STORAGE_FULL"
    assert app.devices.storage.folder("sig").names() == [] and "esign" not in app.state.find(txn["batch"], 5)


def test_sweep_keeps_the_current_batch_and_what_is_owed(tmp_path):
    app = App(tmp_path)
    owed = app.approved_sale(5)
    signatures.keep(app, owed, IMAGE)
    folder = app.devices.storage.folder("sig")
    folder.write_atomic("%06d-000009.sg" % app.state.batch, IMAGE)     # current batch, no record: kept for now
    folder.write_atomic("000077-000001.sg", IMAGE)                    # another batch, nothing owed
    folder.write_atomic("stray.txt", b"?")
    assert signatures.sweep(app) == 2
    assert sorted(folder.names()) == ["%06d-000005.sg" % owed["batch"], "%06d-000009.sg" % app.state.batch]
    app.state.batch += 1                                              # as a settlement does
    assert signatures.sweep(app) == 1
    assert folder.names() == ["%06d-000005.sg" % owed["batch"]]       # its upload still needs it
    app.state.record("sig_done", batch=owed["batch"], trace=5)
    assert signatures.sweep(app) == 1 and folder.names() == []


def test_the_fallback_to_paper_turns_the_upload_into_one_packet_W(tmp_path):
    app = App(tmp_path)
    txn = app.approved_sale(5)
    signatures.keep(app, txn, IMAGE)
    app.state.record("sig_ack", batch=txn["batch"], trace=5, packet=1, count=2)
    app.state.record("sig_fail", batch=txn["batch"], trace=5, code="NO_REPLY")
    app.state.record("sig_paper", batch=txn["batch"], trace=5, reason="NO_REPLY")
    esign_state = app.state.find(txn["batch"], 5)["esign"]
    assert (esign_state["mark"], esign_state["acked"], esign_state["fails"], esign_state["paper"]) == ("W", [], 1, True)
    assert signatures._packets(app, app.state.find(txn["batch"], 5)) == ([b"\x01\x01"], None)


def test_raster_by_hand():
    bits = bytearray(10 * 2)
    bits[0] = bits[9] = bits[10] = 1          # row 0: dots 0 and 9; row 1: dot 0
    assert escpos.raster(bits, 10, 2) == b"\x1dv0\x00\x02\x00\x02\x00" + bytes((0x80, 0x40, 0x80, 0x00))
    lines = escpos.parse(escpos.raster(bits, 10, 2), None)
    assert lines[0].image == (16, 2, bytes((0x80, 0x40, 0x80, 0x00))) and lines[0].text == "[IMAGE:16x2]"
    with pytest.raises(ValueError):
        escpos.raster(bits, 10, 3)
    with pytest.raises(ValueError):
        escpos.parse(b"\x1dv0\x00\x02\x00\x02\x00\x80", None)     # cut short


def test_same_under_micropython(tmp_path):
    interpreter = micropython_path()
    if interpreter is None:
        pytest.skip("no micropython interpreter")
    script = (
        "import sys\nsys.path.insert(0, '')\nimport binascii\n"
        "from hal.storage import DirStorage\nfrom hal.compat import hexlify, sha256\n"
        "from firmware import esign, escpos\n"
        "image = binascii.unhexlify(%r)\n"
        "storage = DirStorage(%r, capacity=100000)\nfolder = storage.folder('sig')\n"
        "folder.write_atomic('000001-000002.sg', image, 1000)\n"
        "print(folder.names(), storage.names(), storage.free_bytes(), hexlify(sha256(folder.read('000001-000002.sg'))))\n"
        "w, h, bits = esign.decode(image)\n"
        "print(hexlify(sha256(escpos.raster(bits, w, h))))\n"
        "from firmware import signatures\nprint(signatures.file_name(1, 2))\n"
    ) % (IMAGE.hex(), str(tmp_path / "data"))
    out = run_script(interpreter, script).splitlines()
    width, height, bits = esign.decode(IMAGE)
    assert out[0] == "['000001-000002.sg'] [] %d %s" % (100000 - len(IMAGE), hashlib.sha256(IMAGE).hexdigest())
    assert out[1] == hashlib.sha256(escpos.raster(bits, width, height)).hexdigest()
    assert out[2] == "000001-000002.sg"
