"""Setting paper none over the test port: after a sale the screen shows the
QR e-receipt (read back from the framebuffer's PNG by OpenCV) and nothing
is printed. The setting changes for this test only (dut.setting)."""

import base64

import pytest

from tests.flows import cashier

SCAN = "Scan for your receipt"


def test_the_e_receipt_screen_after_a_sale_with_paper_none(dut):
    cv2 = pytest.importorskip("cv2")
    np = pytest.importorskip("numpy")
    dut.require("setting")
    dut.setting("paper", "none")          # put back after the test (tests/hil/plugin.py)
    before = dut.printout_count()
    dut.wait_idle()
    dut.keys("1500")
    dut.enter()
    cashier.present_card(dut, "debit-mag", "swipe", None, SCAN)
    screen = dut.screen(png=True)
    shown = [line[4:] for line in screen["lines"] if line.startswith("QR: ")][0]
    pixels = np.frombuffer(base64.b64decode(screen["png"]), dtype=np.uint8)
    gray = cv2.imdecode(pixels, cv2.IMREAD_GRAYSCALE)
    assert cv2.QRCodeDetectorAruco().detectAndDecode(gray)[0] == shown
    txn = dut.journal()[-1]
    query = dict(pair.split("=", 1) for pair in shown.split("?", 1)[1].split("&"))
    assert (query["t"], query["r"]) == (dut.hello()["terminal_id"], txn["rrn"])
    assert len(query["c"]) == 12 and query["c"].isdigit()
    dut.enter()
    dut.wait_idle()
    assert dut.printout_count() == before
