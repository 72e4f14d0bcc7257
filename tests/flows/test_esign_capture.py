"""The signing screen (电子签名, firmware/signpad.py) in the flows: after an
approved sale (void, refund where the acquirer asks) the cardholder signs
on the touch panel and confirms; CLEAR starts over, an empty pad is not a
signature, CANCEL or the time limit leave no e-signature (the paper slip
is the fallback), and a model without a touch panel never shows the
screen. What finish() got is read where it hands the image over
(flows/common.collect_signature)."""

import time

import pytest

from firmware import esign, signpad
from firmware.esign_message import txn_feature_code
from firmware.flows import common
from firmware.screen import WHITE
from tests.flows import cashier

LAYOUT = signpad.layout(240, 320)
STROKE_A = [[[20, 140], [120, 250]]]
STROKE_B = [[[40, 200], [200, 200], [200, 160]]]


@pytest.fixture
def collected(monkeypatch):
    """[(txn type, image or None)] for each transaction finish() asked about."""
    got = []
    real = common.collect_signature

    async def recording(app, title, txn):
        image = await real(app, title, txn)
        got.append((txn["type"], image))
        return image

    monkeypatch.setattr(common, "collect_signature", recording)
    return got


def image_of(strokes):
    return esign.encode(esign.rasterize(strokes), esign.IMAGE_WIDTH, esign.IMAGE_HEIGHT)


def start_sale(h, amount=2500, card="debit-mag", action="swipe", pin=None):
    h.wait_idle()
    h.keys(str(amount))
    h.enter()
    h.wait_text("Swipe, insert or tap card")
    h.card(action, card)
    if pin is not None:
        h.wait_text("enter PIN")
        h.keys(pin)
        h.enter()


def end_sale(h):
    h.wait_text("Sale approved")
    h.wait_idle()


def pixel(h, x, y):
    fb = h.call(lambda: bytes(h.app.devices.display.framebuffer))
    at = (y * 240 + x) * 2
    return fb[at] | (fb[at + 1] << 8)


def ink_pixels(h):
    """How many pixels of the pad hold ink."""
    fb = h.call(lambda: bytes(h.app.devices.display.framebuffer))
    x, y, w, height = LAYOUT["pad"]
    count = 0
    for row in range(y, y + height):
        for col in range(x, x + w):
            at = (row * 240 + col) * 2
            if fb[at] | (fb[at + 1] << 8) == signpad.INK:
                count += 1
    return count


def eventually(check, what, timeout_s=5):
    """A key is posted to the handset's loop: the screen takes it a moment later."""
    deadline = time.monotonic() + timeout_s
    while not check():
        assert time.monotonic() < deadline, "not seen within %d s: %s" % (timeout_s, what)
        time.sleep(0.01)


def test_sign_and_confirm_by_touch(make_handset, collected):
    h = make_handset(esign=True)
    start_sale(h)
    h.wait_text(cashier.SIGNING)
    screen = h.screen_text()
    txn = h.app.state.batch_txns()[-1]
    assert "Amount: 25.00" in screen and "Card: 622202*********0017" in screen
    assert "Feature code: %s" % txn_feature_code(txn) in screen
    assert "[Clear]  [Confirm]" in screen
    screens = h.call(h.driver.screens)
    h.sign(cashier.SIGNATURE)
    # the ink is on the glass, where the finger went, without a new screen
    assert pixel(h, 30, 200) == signpad.INK and pixel(h, 205, 215) == signpad.INK
    assert h.call(h.driver.screens) == screens
    cashier.tap(h, LAYOUT["confirm"])
    end_sale(h)
    assert collected == [("sale", image_of(cashier.SIGNATURE))]
    assert cashier.last_txn(h)["status"] == "approved"
    assert len(cashier.receipts_text(h)) == 2


def test_enter_confirms_too(make_handset, collected):
    h = make_handset(esign=True)
    start_sale(h)
    cashier.sign_and_confirm(h, STROKE_B, by="key")
    end_sale(h)
    assert collected == [("sale", image_of(STROKE_B))]


@pytest.mark.parametrize("clear_by", ["key", "touch"])
def test_clear_then_sign_again(make_handset, collected, clear_by):
    h = make_handset(esign=True)
    start_sale(h)
    h.wait_text(cashier.SIGNING)
    h.sign(STROKE_A)
    assert ink_pixels(h) > 0
    if clear_by == "key":
        h.key("CLEAR")
    else:
        cashier.tap(h, LAYOUT["clear"])
    eventually(lambda: ink_pixels(h) == 0, "the pad wiped")
    cashier.sign_and_confirm(h, STROKE_B)
    end_sale(h)
    assert collected == [("sale", image_of(STROKE_B))]


def test_a_stroke_beyond_the_pad_stays_on_its_edge(make_handset, collected):
    h = make_handset(esign=True)
    start_sale(h)
    h.wait_text(cashier.SIGNING)
    x, y, w, height = LAYOUT["pad"]
    h.sign([[[60, 200], [60, 20], [120, 20]]])      # up across the text, then along
    assert pixel(h, 120, 60) != signpad.INK           # nothing drawn over the text above
    cashier.tap(h, LAYOUT["confirm"])
    end_sale(h)
    assert collected == [("sale", image_of([[[60, 200], [60, y], [120, y]]]))]


def test_a_button_tap_is_not_ink_and_a_press_slid_off_does_nothing(make_handset, collected):
    h = make_handset(esign=True)
    start_sale(h)
    h.wait_text(cashier.SIGNING)
    cx, cy, cw, ch = LAYOUT["confirm"]
    h.sign([[[cx + 10, cy + 10], [cx + 10, cy - 60]]])   # down on CONFIRM, lifted over the pad
    h.sign(STROKE_B)
    assert h.screen_text().count(cashier.SIGNING) == 1     # still signing
    cashier.tap(h, LAYOUT["confirm"])
    end_sale(h)
    assert collected == [("sale", image_of(STROKE_B))]


@pytest.mark.parametrize("confirm_by", ["touch", "key"])
def test_confirm_without_ink_asks_to_sign_and_stays(make_handset, collected, confirm_by):
    h = make_handset(esign=True, message_ms=3000)
    start_sale(h)
    h.wait_text(cashier.SIGNING)
    if confirm_by == "touch":
        cashier.tap(h, LAYOUT["confirm"])
    else:
        h.enter()
    h.wait_text("Please sign, then Confirm")
    h.key("ENTER")                                      # the message goes at a key
    h.wait_text(cashier.SIGNING)
    cashier.sign_and_confirm(h, STROKE_A)
    end_sale(h)
    assert collected == [("sale", image_of(STROKE_A))]


def test_cancel_leaves_no_signature_and_the_paper_slip(make_handset, collected):
    h = make_handset(esign=True)
    start_sale(h)
    h.wait_text(cashier.SIGNING)
    h.sign(STROKE_A)
    h.key("CANCEL")
    end_sale(h)
    assert collected == [("sale", None)]
    txn = cashier.last_txn(h)
    assert txn["status"] == "approved"                  # the money moved: CANCEL only skips the signature
    merchant = "\n".join(cashier.receipts_text(h)[-2])
    assert "CARDHOLDER SIGNATURE" in merchant


def test_no_signature_within_the_time_limit(make_handset, collected):
    h = make_handset(esign=True, esign_timeout_ms=10000)
    start_sale(h)
    h.wait_text(cashier.SIGNING)
    h.sign(STROKE_A)                                     # signed, never confirmed
    h.wait_text("Sale approved", timeout_ms=20000)
    h.wait_idle()
    assert collected == [("sale", None)]


def test_no_touch_panel_no_signing_screen(make_handset, collected):
    h = make_handset(esign=True, devices={"touch": None})
    assert h.app.devices.touch is None
    start_sale(h)
    end_sale(h)
    assert collected == [("sale", None)]
    assert not [1 for _, _, lines in h.app.devices.display.recent if cashier.SIGNING in " ".join(lines)]
    with pytest.raises(Exception, match="no touch panel"):
        h.sign(STROKE_A)


def test_esign_off_no_signing_screen(handset, collected):
    cashier.sale(handset, 2500, "debit-mag")
    assert collected == [("sale", None)]


def test_a_qr_payment_is_not_signed(make_handset, host, collected):
    """The payer confirmed it in the wallet: no card, no signing screen."""
    h = make_handset(esign=True, qr_poll_ms=200, qr_wait_ms=3000)
    cashier.qr_start(h, "1", 1234)
    cashier.qr_scan(h, "wx-pay")
    h.wait_text("QR payment approved")
    h.wait_idle()
    assert collected == [("sale", None)]
    assert not [1 for _, _, lines in h.app.devices.display.recent if cashier.SIGNING in " ".join(lines)]


def test_quick_pass_sale_is_not_signed_above_the_limit_it_is(make_handset, collected):
    h = make_handset(esign=True)
    start_sale(h, 5000, "chip-pin", "tap")               # 小额双免: no PIN, no signature
    end_sale(h)
    assert collected == [("sale", None)]
    assert cashier.last_txn(h)["status"] == "approved"
    start_sale(h, 100001, "chip-pin", "tap", pin="888888")   # above the limit: the card's CVM, signed
    cashier.sign_and_confirm(h, STROKE_A)
    end_sale(h)
    assert collected[-1] == ("sale", image_of(STROKE_A))


def signed_sale(h):
    start_sale(h)
    cashier.sign_and_confirm(h, STROKE_A)
    end_sale(h)
    return cashier.last_txn(h)


@pytest.mark.parametrize("esign_void", [False, True])
def test_void_is_signed_only_with_esign_void(make_handset, collected, esign_void):
    h = make_handset(esign=True, esign_void=esign_void)
    cashier.unlock_supervisor(h)
    sale = signed_sale(h)
    cashier.menu(h, "2")
    cashier.supervisor(h)
    h.wait_text("Original trace")
    h.keys("%d" % sale["trace"])
    h.enter()
    h.wait_text("Press ENTER to confirm")
    h.enter()
    h.wait_text("Swipe, insert or tap card")
    h.card("swipe", "debit-mag")
    if esign_void:
        cashier.sign_and_confirm(h, STROKE_B)
    h.wait_text("Void approved")
    h.wait_idle()
    assert collected[-1] == ("void", image_of(STROKE_B) if esign_void else None)


@pytest.mark.parametrize("esign_refund", [False, True])
def test_refund_is_signed_only_with_esign_refund(make_handset, collected, esign_refund):
    h = make_handset(esign=True, esign_refund=esign_refund)
    cashier.unlock_supervisor(h)
    sale = signed_sale(h)
    cashier.start_refund(h, sale["rrn"], sale["date"])
    h.wait_text("Enter refund amount")
    h.keys("1000")
    h.enter()
    h.wait_text("Swipe, insert or tap card")
    h.card("swipe", "debit-mag")
    if esign_refund:
        cashier.sign_and_confirm(h, STROKE_B)
    h.wait_text("Refund successful")
    h.wait_idle()
    assert collected[-1] == ("refund", image_of(STROKE_B) if esign_refund else None)


def test_the_pad_is_white_with_no_ink_at_first(make_handset):
    h = make_handset(esign=True)
    start_sale(h)
    h.wait_text(cashier.SIGNING)
    x, y, w, height = LAYOUT["pad"]
    assert pixel(h, x + w // 2, y + 5) == WHITE and ink_pixels(h) == 0
    h.key("CANCEL")
    end_sale(h)


def test_ink_past_the_limit_is_not_taken(make_handset, collected, monkeypatch):
    """A finger stuck on a noisy panel must not fill the heap."""
    monkeypatch.setattr(signpad, "MAX_INK_POINTS", 5)
    h = make_handset(esign=True)
    start_sale(h)
    h.wait_text(cashier.SIGNING)
    h.sign([[[20, 140], [30, 150], [40, 160]], [[100, 200], [110, 210], [120, 220]], [[200, 150], [210, 160]]])
    assert pixel(h, 110, 210) == signpad.INK and pixel(h, 120, 220) != signpad.INK
    cashier.tap(h, LAYOUT["confirm"])
    end_sale(h)
    assert collected == [("sale", image_of([[[20, 140], [30, 150], [40, 160]], [[100, 200], [110, 210]]]))]


def test_a_finger_on_the_glass_does_not_hold_a_prompt_past_its_timeout(make_handset):
    """Only the signing screen reads the touch panel; at every other prompt
    a touch (a thumb resting on the glass, a noisy panel) restarted the
    prompt's timeout, so the card, amount or PIN prompt never gave up. The prompt
    times out after ui_timeout_ms however the glass is touched."""
    h = make_handset(ui_timeout_ms=5000)
    h.wait_idle()
    h.keys("100")
    h.enter()
    h.wait_text("Swipe, insert or tap card")
    start = time.monotonic()
    while time.monotonic() - start < 9 and not h.app.idle_event.is_set():
        h.sign([[[120, 160]]])
        time.sleep(0.5)
    assert h.app.idle_event.is_set(), "the card prompt outlived its 5 s timeout: " + h.screen_text()
