"""The signing screen (电子签名) over the test protocol: with setting esign
on, an approved sale shows the signing screen; the `sign` op draws on the
touch panel (the emulator's simulated one; on the virtual ARM handset the
virtio tablet, through the guest's kernel and evdev driver), the ink is on
the glass where the strokes went, and the CONFIRM button (by touch) or
ENTER confirms. An empty pad is refused and CLEAR wipes the pad."""

import io

from PIL import Image

from firmware import signpad
from tests.flows import cashier

LAYOUT = signpad.layout(240, 320)
INK_RGB = (0, 0, 164)     # signpad.INK (RGB565 0x0014) as the screen PNG widens it


def signing_sale(dut, amount):
    dut.setting("esign", True)
    dut.wait_idle()
    dut.keys(str(amount))
    dut.enter()
    dut.wait_text("Swipe, insert or tap card")
    dut.card("swipe", "debit-mag")
    dut.wait_text(cashier.SIGNING, timeout_ms=20000)


def screen_image(dut):
    return Image.open(io.BytesIO(dut.screen_png())).convert("RGB")


def approved(dut, amount):
    dut.wait_text("Sale approved", timeout_ms=20000)
    dut.wait_idle()
    txn = dut.journal()[-1]
    assert (txn["status"], txn["amount"]) == ("approved", amount)


def test_a_sale_signed_on_the_screen_and_confirmed_by_touch(dut):
    signing_sale(dut, 2600)
    text = dut.screen_text()
    assert "Amount: 26.00" in text and "Feature code: " in text and "[Clear]  [Confirm]" in text
    dut.sign(cashier.SIGNATURE)
    image = screen_image(dut)
    for stroke in cashier.SIGNATURE:          # ink where each stroke began and ended
        for x, y in (stroke[0], stroke[-1]):
            assert image.getpixel((x, y)) == INK_RGB, (x, y)
    cashier.tap(dut, LAYOUT["confirm"])
    approved(dut, 2600)


def test_an_empty_pad_is_refused_clear_wipes_enter_confirms(dut):
    signing_sale(dut, 2700)
    cashier.tap(dut, LAYOUT["confirm"])                       # nothing signed yet
    dut.wait_text("Please sign, then Confirm")
    dut.wait_text(cashier.SIGNING)                            # the pad comes back (a screen after the message)
    dut.sign([[[30, 140], [200, 260]]])
    cashier.tap(dut, LAYOUT["clear"])
    dut.sign([[[40, 240], [120, 160], [200, 240]]])
    image = screen_image(dut)
    assert image.getpixel((120, 160)) == INK_RGB
    assert image.getpixel((30, 140)) != INK_RGB              # the first stroke was wiped
    dut.enter()
    approved(dut, 2700)
