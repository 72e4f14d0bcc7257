"""What only the virtual ARM handset can show: the glass is the firmware's
framebuffer (QMP screendump against the firmware's own RGB565 bytes), a
key pressed on the virtual keyboard reaches the app through the kernel's
evdev node and the Linux keypad driver, and a finger on the virtual
tablet signs on the signing screen through the evdev touch driver."""

import hashlib
import io
import time

import pytest
from PIL import Image


def call(handset, op, **args):
    request = {"id": 1, "op": op}
    request.update(args)
    reply = handset.call(request)
    assert reply.get("ok"), reply
    return reply


def rgb565(image):
    """An RGB PNG's pixels as the RGB565 little-endian bytes they came from
    (the fb driver widens 565 to XRGB8888 by copying the top bits down, so
    the top 5/6/5 bits are the original ones)."""
    out = bytearray()
    rgb = image.convert("RGB")
    for r, g, b in (rgb.getpixel((x, y)) for y in range(rgb.height) for x in range(rgb.width)):
        value = ((r >> 3) << 11) | ((g >> 2) << 5) | (b >> 3)
        out += bytes((value & 0xFF, value >> 8))
    return bytes(out)


def signing_screen(handset):
    """e-signature on (the caller turns it off), a swiped sale of 28.00
    approved: the signing screen is up."""
    from hal.sim.deck import find_card
    call(handset, "wait_idle", timeout_ms=30000)
    call(handset, "setting", name="esign", value=True)
    call(handset, "keys", text="2800")
    call(handset, "key", key="ENTER")
    call(handset, "wait_text", text="Swipe, insert or tap card", timeout_ms=30000)
    handset.peers["reader"].swipe(find_card("debit-mag"))
    call(handset, "wait_text", text="sign in the box", timeout_ms=120000)


def settled_screen(handset):
    """The firmware's screen once nothing has changed for a moment."""
    call(handset, "wait_idle", timeout_ms=30000)
    before = call(handset, "screen")
    time.sleep(1)
    after = call(handset, "screen")
    assert before["sha256"] == after["sha256"], "the screen kept changing"
    return after


def test_the_screendump_is_the_firmwares_framebuffer_pixel_for_pixel(handset, tmp_path):
    screen = settled_screen(handset)
    path = tmp_path / "screen.png"
    handset.vm.screendump(str(path))
    image = Image.open(path)
    assert image.size == (screen["width"], screen["height"])
    pixels = rgb565(image)
    assert hashlib.sha256(pixels).hexdigest() == screen["sha256"]
    # and not a blank glass that happens to hash alike: text is drawn
    colours = image.convert("RGB").getcolors(65536)
    assert len(colours) >= 2 and sorted(count for count, _ in colours)[-2] > 500


def test_a_difference_is_seen(handset, tmp_path):
    """The comparison can fail: one pixel off is a different hash."""
    screen = settled_screen(handset)
    path = tmp_path / "screen.png"
    handset.vm.screendump(str(path))
    image = Image.open(path).convert("RGB")
    image.putpixel((0, 0), tuple(255 - c for c in image.getpixel((0, 0))))
    assert hashlib.sha256(rgb565(image)).hexdigest() != screen["sha256"]


def test_keys_on_the_virtual_keyboard_reach_the_app_through_evdev(handset):
    call(handset, "wait_idle", timeout_ms=30000)
    handset.vm.send_keys(["f3"])          # KEY_F3: MENU in the pc key map
    call(handset, "wait_text", text="Main menu", timeout_ms=15000)
    handset.vm.send_keys(["esc"])         # KEY_ESC: CANCEL
    call(handset, "wait_idle", timeout_ms=15000)
    for qcode in ("1", "2", "3"):
        handset.vm.send_keys([qcode])
    call(handset, "wait_text", text="1.23", timeout_ms=15000)
    handset.vm.send_keys(["esc"])
    call(handset, "wait_idle", timeout_ms=15000)


def test_a_finger_on_the_tablet_signs_on_the_glass(handset, tmp_path):
    """The signing screen: QMP moves the virtio tablet, the points go
    through the guest's kernel and evdev touch driver, the ink is on the
    glass (screendump) where they went, and a tap on CONFIRM ends it."""
    from firmware import signpad
    try:
        signing_screen(handset)
        points = [(40, 160), (80, 230), (120, 170), (160, 240), (200, 180)]
        handset.vm.pointer(points[0][0], points[0][1], True)
        for x, y in points[1:]:
            handset.vm.pointer(x, y)
        handset.vm.pointer(points[-1][0], points[-1][1], False)
        path = tmp_path / "glass.png"
        deadline = time.monotonic() + 60
        while True:
            handset.vm.screendump(str(path))
            glass = Image.open(path).convert("RGB")
            # signpad.INK (RGB565 0x0014) as the GPU widens it
            missing = [p for p in points if glass.getpixel(p) != (0, 0, 165)]
            if not missing or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert not missing, "no ink on the glass at %s" % missing
        x, y, w, h = signpad.layout(240, 320)["confirm"]
        handset.vm.touch(x + w // 2, y + h // 2)
        call(handset, "wait_text", text="Sale approved", timeout_ms=120000)
        call(handset, "wait_idle", timeout_ms=60000)
        assert call(handset, "journal")["records"][-1]["status"] == "approved"
    finally:
        call(handset, "setting", name="esign", value=False)


@pytest.mark.parametrize("cut", ["kill", "quit"])
def test_the_data_disk_survives_a_power_cut(handset, cut):
    """QMP quit or SIGKILL, then boot again: the journal is all there."""
    before = call(handset, "journal")["records"]
    if cut == "kill":
        handset.power_cut()
    else:
        handset._close_ports()
        handset.vm.quit()
        handset.stop_peers()
    handset.boot()
    assert call(handset, "journal")["records"] == before
