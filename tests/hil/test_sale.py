"""Sale over the test port: what the cashier does, what the screen says,
what the printer and the journal keep."""

import base64
import hashlib
import io

from PIL import Image


def test_swiped_sale_two_copies_masked_card(dut):
    before = dut.printout_count()
    txn = dut.sale(1234, "debit-mag")
    assert txn["type"] == "sale" and txn["status"] == "approved" and txn["amount"] == 1234
    assert txn["card"] == "622202*********0017"
    slips = dut.printout_text(before)
    assert [index for index, _ in slips] == [before, before + 1]
    merchant, cardholder = ("\n".join(lines) for _, lines in slips)
    assert "MERCHANT COPY" in merchant and "CARDHOLDER COPY" in cardholder
    assert "RMB 12.34" in merchant and txn["rrn"] in merchant
    assert "6222021000000000017" not in merchant + cardholder


def test_chip_sale_with_pin(dut):
    txn = dut.sale(2000, "chip-pin", action="insert", pin="888888")
    assert txn["status"] == "approved" and txn["amount"] == 2000


def test_screen_hash_and_png_describe_the_same_framebuffer(dut):
    screen = dut.screen(png=True)
    image = Image.open(io.BytesIO(base64.b64decode(screen["png"])))
    assert image.size == (screen["width"], screen["height"]) == (dut.info["width"], dut.info["height"])
    assert image.mode == "RGB" and screen["title"] == "POS Terminal"
    # Each 8-bit channel is v * 255 // max of a 5- or 6-bit one: invert it,
    # rebuild the RGB565 framebuffer and hash it as the device did.
    five = {v * 255 // 31: v for v in range(32)}
    six = {v * 255 // 63: v for v in range(64)}
    framebuffer = bytearray()
    for r, g, b in zip(*[iter(image.tobytes())] * 3):
        framebuffer += ((five[r] << 11) | (six[g] << 5) | five[b]).to_bytes(2, "little")
    assert hashlib.sha256(framebuffer).hexdigest() == screen["sha256"]


def test_wait_text_since_waits_for_a_new_screen(dut):
    dut.wait_idle()
    dut.wait_text("POS Terminal")
    dut.wait_text("POS Terminal")          # no since: the same screen matches again
    shown = dut.screens
    assert shown > 0
    reply = dut.call("wait_text", text="POS Terminal", timeout_ms=300, since=shown)
    # no new screen, no match (unless the idle clock drew one just then)
    assert (reply["ok"], reply["screens"] == shown) in ((False, True), (True, False))
    dut.key("CLEAR")                      # idle ignores it and draws itself again: a new screen
    dut.wait_text("POS Terminal", 5000, since=shown)
    assert dut.screens > shown
