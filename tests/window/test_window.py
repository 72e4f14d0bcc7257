"""The real window under a display (Xvfb in CI): keys and a card button
clicked, a sale to "approved", the glass compared with the framebuffer,
the paper strip with the receipt. Pixels are read back from the X server,
so this checks what the window really shows."""

import time

import pytest
from PIL import Image, ImageGrab

from emulator.commands import CommandRunner
from emulator.paper import PAPER_WIDTH
from emulator.png import framebuffer_to_image
from emulator.world import World

pytestmark = pytest.mark.slow


@pytest.fixture
def window(display, make_handset, host, tmp_path):
    import tkinter
    from emulator.window import HandsetWindow
    handset = make_handset(start=False)
    world = World(handset, host)
    handset.start()
    root = tkinter.Tk()
    win = HandsetWindow(root, world, CommandRunner(world, str(tmp_path)), 2, str(tmp_path))
    win.start()
    win.display = display
    yield win
    root.destroy()
    world.close()


def pump(win, until, what, timeout_s=30):
    """Let Tk run (its timer polls the handset) until `until()` holds."""
    deadline = time.monotonic() + timeout_s
    while not until():
        if time.monotonic() > deadline:
            handset = win.world.handset
            pytest.fail("no %s after %d s; screen: %s; idle %s, printouts %d, on the strip %d, window says %r"
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


def test_a_sale_in_the_window(window):
    win = window
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
    pump(win, lambda: win._shown is not None and win._shown[1] == handset.call(handset.driver.screens), "refresh")
    win.root.update()
    time.sleep(0.1)
    win.root.update()

    # The screen area is the framebuffer scaled x2, pixel for pixel.
    width, height, framebuffer = handset.call(handset.driver.framebuffer)
    expected = framebuffer_to_image(framebuffer, width, height).resize((width * 2, height * 2), Image.NEAREST)
    shown = grab(win, win.compositor.screen_box)
    assert shown.size == (480, 640)
    assert shown.tobytes() == expected.tobytes()
    assert shown.tobytes() != Image.new("RGB", shown.size, "white").tobytes()

    # The paper strip shows the end of the receipt as the paper renderer draws it.
    left, top, right, bottom = win.compositor.paper_box
    strip = grab(win, (left, top, right, bottom))
    assert strip.size == (PAPER_WIDTH, bottom - top)
    rendered = win.strip.image.convert("RGB")
    tail = rendered.crop((0, rendered.size[1] - (bottom - top), PAPER_WIDTH, rendered.size[1]))
    assert strip.tobytes() == tail.tobytes()
    assert "RMB 12.34" in "\n".join(handset.driver.receipt_lines(handset.printout(0)[-1][1]))

    # A key shows pressed while it is held, and the lights say the paper is in.
    win.world.key_down("CANCEL")
    pump(win, lambda: win._shown[2] == frozenset({"CANCEL"}), "CANCEL drawn pressed")
    win.world.key_up("CANCEL")


def test_pos_emulator_opens_the_window_and_ctrl_c_closes_it_cleanly(display, tmp_path):
    """The README's command: a window (not the console), and Ctrl-C ends it
    with exit 0, the firmware shut down, no traceback."""
    import os
    import signal
    import subprocess
    import sys
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    env = dict(os.environ, DISPLAY=display)
    process = subprocess.Popen([sys.executable, "-m", "emulator.cli", "--data", str(tmp_path / "data"), "--out",
                                str(tmp_path / "out")], cwd=root, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            found = subprocess.run(["xdotool", "search", "--name", "POS handset emulator"], env=env,
                                   capture_output=True, text=True) if _have("xdotool") else None
            if found is not None and found.stdout.strip():
                break
            if found is None and time.monotonic() > deadline - 25:
                break      # no xdotool: give the window 5 s to come up
            time.sleep(0.2)
        assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "Traceback" not in err and "no window" not in err and "pos>" not in out


def _have(program):
    import shutil
    return shutil.which(program) is not None
