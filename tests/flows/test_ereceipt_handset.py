"""End to end: the emulated handset (paper none, esign on) takes a sale,
the cardholder signs on its screen, the terminal uploads the signature,
shows its QR code; the code read off the glass (OpenCV) is fetched from
the host's HTTP side like a phone would, and the PNG it gets is the
e-receipt of that sale with that signature. A 小额双免 tap gets its
receipt without a signature, marked 免密免签."""

import io
import time
import urllib.error
import urllib.request

import pytest
from PIL import Image

from firmware import esign
from emulator.host import ereceipt, signatures
from tests.flows import cashier
from tests.flows.test_paper import SCAN, decoded_from_glass, link_parts

cv2 = pytest.importorskip("cv2")

PAPERLESS = {"esign": True, "paper": "none"}


@pytest.fixture
def receipts_url(host):
    return "http://127.0.0.1:%d/receipt" % host.start_receipts_in_thread()


def fetch(url, deadline_s=20):
    """GET the link as a phone does: 404 until the upload is complete
    (the terminal uploads right after the transaction's screens)."""
    give_up = time.monotonic() + deadline_s
    while True:
        try:
            with urllib.request.urlopen(url, timeout=10) as page:
                return page.status, page.headers["Content-Type"], page.read()
        except urllib.error.HTTPError as e:
            if e.code != 404 or time.monotonic() > give_up:
                return e.code, e.headers["Content-Type"], e.read()
        time.sleep(0.2)


def test_signed_on_the_handset_seen_on_the_phone(make_handset, host, receipts_url):
    h = make_handset(ereceipt_url=receipts_url, **PAPERLESS)
    h.wait_idle()
    h.keys("4321")
    h.enter()
    cashier.present_card(h, "debit-mag", "swipe", None, cashier.SIGNING)
    cashier.sign_and_confirm(h)
    h.wait_text(SCAN)
    url = decoded_from_glass(h)
    base, query = link_parts(url)
    txn = cashier.last_txn(h)
    assert base == receipts_url and (query["t"], query["r"]) == (h.app.settings.terminal_id, txn["rrn"])
    status, kind, body = fetch(url)
    assert (status, kind) == (200, "image/png"), body
    record = signatures.receipt_of(host.ledger, tid=query["t"], rrn=query["r"])
    assert record["signature"]["cvm"] == "S" and record["txn"]["amount"] == 4321
    width, height, bits = esign.decode(record["signature"]["image"])
    assert sum(bits) > 50                                     # the strokes the cardholder drew
    assert body == ereceipt.png_bytes(record)
    with Image.open(io.BytesIO(body)) as png:
        assert png.format == "PNG"
    text = "\n".join(line for _, line in sum(ereceipt.slip_lines(record, h.app.gb_table), []))
    assert "RMB 43.21" in text and txn["rrn"] in text and "持卡人签名" in text
    wrong = url[:-1] + str((int(url[-1]) + 1) % 10)
    assert fetch(wrong, deadline_s=0)[0] == 404
    h.key("ENTER")
    h.wait_idle()


def test_a_quick_pass_tap_gets_a_receipt_without_signature(make_handset, host, receipts_url):
    h = make_handset(ereceipt_url=receipts_url, **PAPERLESS)
    h.wait_idle()
    h.keys("5000")
    h.enter()
    cashier.present_card(h, "chip-pin", "tap", None, SCAN)    # no PIN, no signing screen
    url = decoded_from_glass(h)
    status, kind, body = fetch(url)
    assert (status, kind) == (200, "image/png"), body
    base, query = link_parts(url)
    record = signatures.receipt_of(host.ledger, tid=query["t"], rrn=query["r"])
    assert record["signature"]["cvm"] == "N" and record["signature"]["image"] is None
    text = "\n".join(line for _, line in sum(ereceipt.slip_lines(record, h.app.gb_table), []))
    assert "免密免签" in text and "持卡人签名" not in text
    h.key("ENTER")
    h.wait_idle()
