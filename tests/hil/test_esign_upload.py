"""The e-signature kept, printed and uploaded on the target (emulator, or
the virtual ARM handset under its MicroPython with a real ext4 disk): a
sale signed on the screen prints the signature on its slips (the file
written through the storage folder and read back hash-checked); an upload
the host refuses falls back to the slip to sign, and the next sale is not
held up."""

from firmware import signpad
from tests.flows import cashier

LAYOUT = signpad.layout(240, 320)


def signed_sale(dut, amount):
    dut.setting("esign", True)
    dut.wait_idle()
    since = dut.printout_count()
    dut.keys(str(amount))
    dut.enter()
    dut.wait_text("Swipe, insert or tap card")
    dut.card("swipe", "debit-mag")
    dut.wait_text(cashier.SIGNING, timeout_ms=20000)
    dut.sign(cashier.SIGNATURE)
    cashier.tap(dut, LAYOUT["confirm"])
    dut.wait_text("Sale approved", timeout_ms=30000)
    dut.wait_idle(timeout_ms=60000)
    return since


def test_the_signature_is_printed_on_both_copies(dut):
    since = signed_sale(dut, 2800)
    slips = [lines for _, lines in dut.printout_text(since)]
    assert len(slips) == 2
    for slip in slips:
        assert "[IMAGE:256x96]" in slip, slip
        assert [line for line in slip if line.startswith("特征码 FEATURE CODE:")], slip


def test_an_upload_the_host_refuses_falls_back_to_the_slip_to_sign(dut):
    dut.setting("esign_upload_tries", 1)
    dut.host_fault("esign_down", count=20)
    since = signed_sale(dut, 2900)
    slips = [lines for _, lines in dut.printout_text(since)]
    assert len(slips) == 3 and slips[2][0] == "签名联 SIGNATURE SLIP", slips
    dut.restore()
    record = dut.sale(100)          # the next sale goes (the paper notice goes up before it)
    assert record["status"] == "approved"
