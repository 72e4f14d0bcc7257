"""Key press -> framebuffer, measured inside the firmware's own loop, run BY
MicroPython or CPython (this file runs under both unchanged):

    micropython keypress_probe.py --path ROOT --data DIR --port PORT --count N

Boots the firmware on simulated devices, opens the sale's amount entry and,
while a host request is in flight (echo tests, 0820, that the host answers
only after a delay: the test arms it), presses keys 1 and CLEAR in turn. A
key's latency runs from the press to the display's next show(), which
comes after the screen's pixels are in the framebuffer. Prints one line of
JSON: {"latency_us": [...], "echoes": n}.
"""

import json
import sys

from probe_support import now_us, parse_args, us_since


def main():
    args = parse_args(sys.argv[1:], ("path", "data", "port", "count"), "keypress_probe.py")
    sys.path.insert(0, args["path"])
    from hal.compat import asyncio
    from firmware.driver import Driver
    from firmware.main import build_app

    # PyPI's MicroPython has no fsync: allowed here, a desk measurement.
    settings = {"host_port": int(args["port"]), "lang": "en", "reply_timeout_ms": 20000,
                "allow_volatile_storage": True}
    app = build_app({"devices": {"storage": "dir:" + args["data"]}, "settings": settings})
    driver = Driver(app)
    display = app.devices.display
    keypad = app.devices.keypad
    out = {"latency_us": [], "echoes": 0}

    async def echoes():
        trace = 900000
        while True:
            trace += 1
            fields = {11: "%06d" % trace, 41: app.settings.terminal_id, 42: app.settings.merchant_id,
                      60: "00000001301"}
            try:
                await app.host.exchange("0820", fields, with_mac=False)
                out["echoes"] += 1
            except Exception:  # noqa: BLE001 - the load, not the subject
                await asyncio.sleep(0.05)

    async def press(key):
        generation = display.generation
        display.changed.clear()
        start = now_us()
        keypad.press(key)
        while display.generation == generation:
            await display.changed.wait()
            display.changed.clear()
        return us_since(start)

    async def probe():
        await driver.wait_idle(30000)
        await press("1")                      # the idle screen opens the sale's amount entry
        load = asyncio.create_task(echoes())
        await asyncio.sleep(0.2)              # the first echo is on its way
        for i in range(int(args["count"])):
            out["latency_us"].append(await press("CLEAR" if i % 2 else "1"))
            await asyncio.sleep(0.01)         # a cashier's keys come tens of ms apart
        load.cancel()
        keypad.press("CANCEL")

    async def session():
        app_task = asyncio.create_task(app.run())
        try:
            await probe()
        finally:
            app.stop()
            try:
                await asyncio.wait_for(app_task, 5)
            except Exception:  # noqa: BLE001 - a flow still waiting is cut off, as at power-off
                app_task.cancel()

    asyncio.run(session())
    print(json.dumps(out))


main()
