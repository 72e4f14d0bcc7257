"""The sale-in-the-window scenario, run by tests/window/test_window.py in a
process of its own: Tk (whose event loop select()s on the X connection)
must not share a process with the hundreds of descriptors a long pytest
session has open, nor with threads a garbage collector could delete Tcl
objects from. Exit 0 when every check holds; otherwise the failure.

    python -m tests.window.sale_in_window DISPLAY WORKDIR
"""

import os
import sys
import time

from PIL import Image, ImageGrab

from emulator.commands import CommandRunner
from emulator.handset import Handset
from emulator.host.server import HostSimulator
from emulator.paper import PAPER_WIDTH
from emulator.png import framebuffer_to_image
from emulator.world import World

SETTINGS = {"message_ms": 200, "tear_pause_ms": 50, "reply_timeout_ms": 1500, "connect_timeout_ms": 1500,
            "ui_timeout_ms": 20000, "lang": "en"}


class Failed(Exception):
    pass


def pump(win, until, what, timeout_s=30):
    """Let Tk run (its timer polls the handset) until `until()` holds."""
    deadline = time.monotonic() + timeout_s
    while not until():
        if time.monotonic() > deadline:
            handset = win.world.handset
            raise Failed("no %s after %d s; screen: %s; idle %s, printouts %d, on the strip %d, window says %r"
                         % (what, timeout_s, handset.screen_text(), handset.app.idle_event.is_set(),
                            handset.printout_count(), win.strip.slips, win.status.cget("text")))
        win.root.update()
        time.sleep(0.005)


def click(widget, x, y):
    widget.event_generate("<ButtonPress-1>", x=x, y=y)
    widget.update()
    widget.event_generate("<ButtonRelease-1>", x=x, y=y)
    widget.update()


def click_key(win, name):
    left, top, right, bottom = win.compositor.keys[name]["rect"]
    click(win.glass, (left + right) // 2, (top + bottom) // 2)


def on_screen(win, text):
    return text in win.world.handset.screen_text()


def grab(win, box):
    """Pixels of the glass widget in `box` (widget coordinates), from the X server."""
    x, y = win.glass.winfo_rootx(), win.glass.winfo_rooty()
    left, top, right, bottom = box
    return ImageGrab.grab(bbox=(x + left, y + top, x + right, y + bottom), xdisplay=win.display).convert("RGB")


def check(condition, message):
    if not condition:
        raise Failed(message)


def sale_in_the_window(win):
    handset = win.world.handset
    pump(win, lambda: handset.app.idle_event.is_set() and win.glass.winfo_viewable(), "idle screen, window mapped")
    for name, amount in zip("1234", ("0.01", "0.12", "1.23", "12.34")):
        click_key(win, name)
        pump(win, lambda: on_screen(win, amount), "amount " + amount)
    click_key(win, "ENTER")
    pump(win, lambda: on_screen(win, "Swipe, insert or tap card"), "card prompt")
    click(win.buttons["swipe debit-mag"], 10, 10)
    pump(win, lambda: any("Sale approved" in text for _, text in handset.call(handset.driver.screens_since, 0)),
         "Sale approved")
    pump(win, lambda: handset.app.idle_event.is_set() and win.strip.slips == 2, "both receipts on the strip")
    # The window shows the newest screen: wait until the glass caught up.
    pump(win, lambda: win._shown is not None and win._shown[1] == handset.app.devices.display.frames, "refresh")
    for _ in range(20):
        win.root.update()
        time.sleep(0.005)

    # The screen area is the framebuffer scaled x2, pixel for pixel.
    width, height, framebuffer = handset.call(handset.driver.framebuffer)
    expected = framebuffer_to_image(framebuffer, width, height).resize((width * 2, height * 2), Image.NEAREST)
    shown = grab(win, win.compositor.screen_box)
    check(shown.size == (480, 640), "screen area is %r" % (shown.size,))
    check(shown.tobytes() == expected.tobytes(), "the window's screen area is not the framebuffer x2")
    check(shown.tobytes() != Image.new("RGB", shown.size, "white").tobytes(), "a blank screen")

    # The paper strip shows the end of the receipt as the paper renderer draws it.
    left, top, right, bottom = win.compositor.paper_box
    strip = grab(win, (left, top, right, bottom))
    check(strip.size == (PAPER_WIDTH, bottom - top), "paper strip is %r" % (strip.size,))
    rendered = win.strip.image.convert("RGB")
    tail = rendered.crop((0, rendered.size[1] - (bottom - top), PAPER_WIDTH, rendered.size[1]))
    check(strip.tobytes() == tail.tobytes(), "the paper strip is not the rendered receipt")
    check("RMB 12.34" in "\n".join(handset.driver.receipt_lines(handset.printout(0)[-1][1])), "not the receipt")

    # A key shows pressed while it is held.
    win.world.key_down("CANCEL")
    pump(win, lambda: win._shown[2] == frozenset({"CANCEL"}), "CANCEL drawn pressed")
    face = grab(win, win.compositor.keys["CANCEL"]["rect"])
    win.world.key_up("CANCEL")
    pump(win, lambda: win._shown[2] == frozenset(), "CANCEL up again")
    check(grab(win, win.compositor.keys["CANCEL"]["rect"]).tobytes() != face.tobytes(), "no pressed look")


def drag(win, points):
    """The mouse pressed at the first point (window coordinates), dragged
    through the rest, released: a finger on the screen."""
    x, y = points[0]
    win.glass.event_generate("<ButtonPress-1>", x=x, y=y)
    win.glass.update()
    for x, y in points[1:]:
        win.glass.event_generate("<B1-Motion>", x=x, y=y, state=0x100)
        win.glass.update()
    win.glass.event_generate("<ButtonRelease-1>", x=x, y=y)
    win.glass.update()


def signing_in_the_window(win):
    """With esign on: the mouse on the screen signs, the ink is on the
    glass (read from the X server) where the mouse went, a click on
    CONFIRM ends it and the sale is approved."""
    from firmware import signpad
    handset = win.world.handset
    display = handset.app.devices.display
    handset.call(handset.app.settings.update, {"esign": True})
    pump(win, lambda: handset.app.idle_event.is_set(), "idle screen")
    for name in "99":
        click_key(win, name)
    click_key(win, "ENTER")
    pump(win, lambda: on_screen(win, "Swipe, insert or tap card"), "card prompt")
    click(win.buttons["swipe debit-mag"], 10, 10)
    pump(win, lambda: on_screen(win, "sign in the box"), "the signing screen")
    left, top = win.compositor.screen_box[:2]
    # framebuffer pixels of the stroke -> the window's (scale 2)
    stroke = [(40, 160), (70, 200), (100, 170), (140, 230), (190, 180)]
    drag(win, [(left + 2 * x, top + 2 * y) for x, y in stroke])
    frames = display.frames
    pump(win, lambda: win._shown is not None and win._shown[1] == frames, "the ink drawn in the window")
    for _ in range(20):
        win.root.update()
        time.sleep(0.005)
    ink = tuple(framebuffer_to_image(bytes((signpad.INK & 0xFF, signpad.INK >> 8)), 1, 1).getpixel((0, 0)))
    for x, y in stroke:
        shown = grab(win, (left + 2 * x, top + 2 * y, left + 2 * x + 2, top + 2 * y + 2)).getpixel((0, 0))
        check(shown == ink, "no ink in the window at screen pixel %r: %r" % ((x, y), shown))
    cx, cy, cw, ch = signpad.layout(240, 320)["confirm"]
    drag(win, [(left + 2 * (cx + cw // 2), top + 2 * (cy + ch // 2))])
    pump(win, lambda: any("Sale approved" in text for _, text in handset.call(handset.driver.screens_since, 0)),
         "Sale approved after signing")
    pump(win, lambda: handset.app.idle_event.is_set(), "idle after the signed sale")
    check(handset.journal()[-1]["status"] == "approved", "the signed sale is not approved")


def main(display, work):
    import tkinter
    from emulator.window import HandsetWindow
    os.environ["DISPLAY"] = display
    host = HostSimulator(None)
    host.start_in_thread()
    handset = Handset(os.path.join(work, "handset"), settings=dict(SETTINGS, host_port=host.port))
    world = World(handset, host)
    handset.start()
    root = tkinter.Tk()
    win = HandsetWindow(root, world, CommandRunner(world, work), 2, work)
    win.display = display
    win.start()
    try:
        sale_in_the_window(win)
        signing_in_the_window(win)
    except Failed as e:
        print("FAILED: %s" % e)
        return 1
    finally:
        root.destroy()
        handset.stop()
        world.close()
        host.close()
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
