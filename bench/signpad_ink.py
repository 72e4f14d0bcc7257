"""The signing screen on the virtual ARM handset: a finger on the tablet to
its ink on the glass, against a whole screen drawn on the same handset.

The finger is QEMU's virtio tablet (QMP input-send-event), so each point
goes through the guest's kernel, the evdev touch driver, the app's event
queue and firmware/signpad.py, which draws one segment and pushes only the
rows it touched (Display.update). The glass is read with QMP screendump,
polled until the pixel changes (the poll's own cost is in the figure).
The peer, on the same handset in the same run: CONFIRM with nothing
signed, i.e. the "please sign" message, a whole screen drawn and pushed.
Guest CPU emulated (TCG, 12-16x slower than native): not a handset's speed.

    python -m bench ink [--quick]
"""

import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.figures import Figure, text_table  # noqa: E402

SETTINGS = {"message_ms": 200, "reply_timeout_ms": 5000, "connect_timeout_ms": 5000,
            "ui_timeout_ms": 60000, "tear_pause_ms": 200, "lang": "en", "esign": True,
            "esign_timeout_ms": 600000}
LIMIT_S = 20


def is_ink(pixel):
    """signpad.INK (RGB565 0x0014) as the GPU widens it: (0, 0, 165)."""
    return pixel[0] < 16 and pixel[1] < 16 and pixel[2] > 140


class Glass:
    def __init__(self, vm, folder):
        self.vm = vm
        self.path = os.path.join(folder, "glass.png")

    def image(self):
        from PIL import Image
        self.vm.screendump(self.path)
        with Image.open(self.path) as image:
            return image.convert("RGB")

    def until(self, check, start):
        """Seconds from `start` until check(image) holds."""
        while not check(self.image()):
            if time.perf_counter() - start > LIMIT_S:
                raise RuntimeError("the glass did not change within %d s" % LIMIT_S)
        return time.perf_counter() - start


def call(handset, op, **args):
    request = dict(args, op=op)
    reply = handset.call(request)
    if not reply.get("ok"):
        raise RuntimeError("%s: %s" % (op, reply))
    return reply


def to_signing_screen(handset):
    from hal.sim.deck import find_card
    call(handset, "wait_idle", timeout_ms=60000)
    call(handset, "keys", text="2500")
    call(handset, "key", key="ENTER")
    call(handset, "wait_text", text="Swipe, insert or tap card", timeout_ms=60000)
    handset.peers["reader"].swipe(find_card("debit-mag"))
    call(handset, "wait_text", text="sign in the box", timeout_ms=120000)
    time.sleep(2)   # the screen settled


def measure(handset, folder, rounds):
    from firmware import signpad
    vm = handset.vm
    glass = Glass(vm, folder)
    layout = signpad.layout(240, 320)
    to_signing_screen(handset)
    # the peer first, on an empty pad: CONFIRM -> the whole "please sign" screen
    redraws = []
    for _ in range(rounds):
        before = glass.image().getpixel((179, 284))   # in the CONFIRM button: green, white on the message
        cx, cy, cw, ch = layout["confirm"]
        start = time.perf_counter()
        vm.touch(cx + cw // 2, cy + ch // 2)
        redraws.append(glass.until(lambda image: image.getpixel((179, 284)) != before, start))
        call(handset, "wait_text", text="sign in the box", timeout_ms=60000)
        time.sleep(1)
    downs = []
    for index in range(rounds):
        x, y = 20 + index * 9, 150 + (index % 3) * 30
        start = time.perf_counter()
        vm.pointer(x, y, True)
        downs.append(glass.until(lambda image: is_ink(image.getpixel((x, y))), start))
        vm.pointer(x, y, False)
        time.sleep(0.3)
    points = [(12 + i * 5, 245 + (i % 2) * 8) for i in range(40)]
    start = time.perf_counter()
    vm.pointer(points[0][0], points[0][1], True)
    for x, y in points[1:]:
        vm.pointer(x, y)
    vm.pointer(points[-1][0], points[-1][1], False)
    stroke = glass.until(lambda image: all(is_ink(image.getpixel(p)) for p in points), start)
    return downs, redraws, stroke


def figures(quick=False):
    from emulator.qemu.handset import VirtualHandset
    rounds = 3 if quick else 10
    with tempfile.TemporaryDirectory(prefix="bench-ink-") as folder:
        handset = VirtualHandset(os.path.join(folder, "vm"), settings=SETTINGS, log=lambda message: None)
        try:
            handset.start()
            downs, redraws, stroke = measure(handset, folder, rounds)
        finally:
            handset.stop()
    note = "virtual ARM handset, guest CPU emulated (TCG); glass read by QMP screendump"
    redraw = statistics.median(redraws) * 1000
    return [
        Figure("finger down -> its ink on the glass (median of %d)" % rounds, statistics.median(downs) * 1000, "ms",
               "a whole screen drawn (the please-sign message)", redraw, "report", note=note),
        Figure("finger down -> its ink on the glass (worst of %d)" % rounds, max(downs) * 1000, "ms",
               "a whole screen drawn, worst", max(redraws) * 1000, "report", note=note),
        Figure("a 40-point stroke sent back to back -> all of it on the glass", stroke * 1000, "ms",
               "none", None, "report", note="no point lost (the kernel keeps 64 events a reader)"),
    ]


if __name__ == "__main__":
    print(text_table(figures("--quick" in sys.argv)))
