"""Setting paper none over the test port: after a sale the screen shows the
QR e-receipt (read back from the framebuffer's PNG by OpenCV) and nothing
is printed. The setting changes for this run only (the `setting` op)."""

import pytest

from tests.flows import cashier

SCAN = "Scan for your receipt"


@pytest.fixture
def paper_none(dut):
    dut.require("setting")
    was = dut.request("setting", name="paper", value="none")["was"]
    yield dut
    dut.request("setting", name="paper", value=was)


def test_the_e_receipt_screen_after_a_sale_with_paper_none(paper_none):
    cv2 = pytest.importorskip("cv2")
    np = pytest.importorskip("numpy")
    dut = paper_none
    before = dut.printout_count()
    dut.wait_idle()
    dut.keys("1500")
    dut.enter()
    cashier.present_card(dut, "debit-mag", "swipe", None, SCAN)
    screen = dut.screen(png=True)
    shown = [line[4:] for line in screen["lines"] if line.startswith("QR: ")][0]
    import base64
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
