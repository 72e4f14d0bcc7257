"""Makes the README's pictures: the emulator's window after a sale (read
back from the X server, panels and all) and the merchant's receipt as the
paper renderer draws it, on a stopped clock.

    python tools/readme_images.py            writes docs/img/window.png, docs/img/receipt.png

Needs $DISPLAY or Xvfb (started here when installed).
"""

import datetime
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

CLOCK = "20261201093000"


def pump(root, until, timeout_s=30):
    deadline = time.monotonic() + timeout_s
    while not until():
        if time.monotonic() > deadline:
            raise RuntimeError("timed out")
        root.update()
        time.sleep(0.005)


def main():
    from bench.window_latency import start_xvfb
    xvfb = None
    if not os.environ.get("DISPLAY"):
        display, xvfb = start_xvfb()
        if display is None:
            print("no display and no Xvfb", file=sys.stderr)
            return 1
        os.environ["DISPLAY"] = display
    import tkinter
    from PIL import ImageGrab
    from emulator.commands import CommandRunner
    from emulator.handset import Handset
    from emulator.host.server import HostSimulator
    from emulator.paper import receipt_image
    from emulator.window import HandsetWindow
    from emulator.world import World
    out = os.path.join(ROOT, "docs", "img")
    os.makedirs(out, exist_ok=True)
    moment = datetime.datetime.strptime(CLOCK, "%Y%m%d%H%M%S")
    try:
        with tempfile.TemporaryDirectory() as folder:
            host = HostSimulator(None, now=lambda: moment)
            host.start_in_thread()
            handset = Handset(folder, settings={"host_port": host.port, "lang": "zh", "message_ms": 60000,
                                                "tear_pause_ms": 100},
                              devices={"clock": "sim:?fixed=" + CLOCK})
            world = World(handset, host)
            handset.start()
            root = tkinter.Tk()
            window = HandsetWindow(root, world, CommandRunner(world, folder), 2, folder)
            window.start()
            pump(root, window.glass.winfo_viewable)
            handset.keys("1234")
            handset.enter()
            handset.wait_text("请刷卡", 10000)
            handset.card("swipe", "debit-mag")
            pump(root, lambda: window.strip.slips == 2 and "消费成功" in handset.screen_text())
            for _ in range(20):
                root.update()
                time.sleep(0.02)
            x, y = root.winfo_rootx(), root.winfo_rooty()
            width, height = root.winfo_width(), root.winfo_height()
            ImageGrab.grab(bbox=(x, y, x + width, y + height), xdisplay=os.environ["DISPLAY"]).save(
                os.path.join(out, "window.png"), optimize=True)
            slips = handset.printout(0)
            receipt_image(slips[0][1], handset.app.gb_table).save(os.path.join(out, "receipt.png"), optimize=True)
            root.destroy()
            handset.power_cut()
            world.close()
            host.close()
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(10)
    print("written: docs/img/window.png, docs/img/receipt.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
