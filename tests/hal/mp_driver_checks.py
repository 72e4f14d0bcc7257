"""The Linux drivers under MicroPython: each check drives one driver
against a peer the CPython test set up (a pty simulator, a FIFO of input
events, a framebuffer file) and prints what it saw as one JSON line; the
CPython side (tests/micropython/test_linux_drivers.py) holds it to the
same contract as tests/hal/.

    micropython tests/hal/mp_driver_checks.py CHECK ARG...
"""

import json
import sys

sys.path.insert(0, "")

from hal import open_device  # noqa: E402
from hal.compat import asyncio, sleep_ms  # noqa: E402

JOB = b"\x1b@" + b"".join(b"line %02d of the receipt\n" % i for i in range(12)) + b"\x1bd\x04"
SELECT_PSE = b"\x00\xa4\x04\x00\x0e1PAY.SYS.DDF01\x00"


def failure(e):
    return {"error": type(e).__name__, "message": str(e), "code": getattr(e, "code", None)}


async def printer(path):
    seen = []
    try:
        device = open_device("printer", "escpos:%s?line_ms=0&answer_ms=500&paper_poll_ms=20" % path)
        device.set_listener(seen.append)
        await device.print_job(JOB)
        return {"events": [e[1] for e in seen]}
    except Exception as e:  # noqa: BLE001 - reported to the test
        out = failure(e)
        out["events"] = [e[1] for e in seen]
        return out


async def modem(path, port):
    device = open_device("modem", "at:%s?answer_ms=1000" % path)
    try:
        link = await device.connect("127.0.0.1", int(port), 2000)
        await link.send(b"ping")
        echoed = await link.recv_exact(4, 2000)
        link.close()
        return {"sim": device.sim_status(), "rssi": device.signal(), "dbm": device.signal_dbm(),
                "network": device.registration(), "echo": echoed.decode(), "unsolicited": device.unsolicited}
    except Exception as e:  # noqa: BLE001
        out = failure(e)
        out.update({"sim": device.sim_status(), "network": device.registration()})
        return out


async def reader(path):
    device = open_device("card_reader", "reader:%s?poll_ms=10&answer_ms=1000" % path)
    seen = []
    device.set_listener(lambda event: seen.append(event[1]))
    device.start()
    await sleep_ms(150)
    out = {"events": [[e.action, e.track2, e.error] for e in seen], "present": device.card_present()}
    try:
        out["response"] = (await device.transceive(SELECT_PSE)).hex()
    except Exception as e:  # noqa: BLE001
        out.update(failure(e))
    device.close()
    return out


async def keypad(path, record):
    device = open_device("keypad", "evdev:%s?keymap=pc&record=%s" % (path, record))
    seen = []
    device.set_listener(lambda event: seen.append(event[1]))
    device.start()
    for _ in range(100):
        await sleep_ms(20)
        if device.failure:
            break
    return {"keys": seen, "held": sorted(device.held), "failure": device.failure, "grabbed": device.events.grabbed}


async def touch(path, record):
    device = open_device("touch", "evdev:%s?calibration=32767,0,0,32767&record=%s" % (path, record))
    seen = []
    device.set_listener(lambda event: seen.append(list(event[1])))
    device.start()
    for _ in range(100):
        await sleep_ms(20)
        if device.failure:
            break
    return {"events": seen, "strokes": [[list(p) for p in s] for s in device.take_strokes()],
            "failure": device.failure}


async def display(path, sysfs, tty):
    from firmware.screen import render
    device = open_device("display", "fb:%s?sysfs=%s&tty=%s" % (path, sysfs, tty))
    render(device, "消费 SALE", ["请刷卡或插卡", "Swipe or insert card", "> 1 消费"], footer="取消:返回 CANCEL")
    first = device.rows_written
    device.framebuffer[100 * device.width * 2 + 10] ^= 0xFF
    device.show("消费 SALE", [])
    return {"rows_first": first, "rows_second": device.rows_written - first, "console": device.console,
            "write": device.write_method}


CHECKS = {"printer": printer, "modem": modem, "reader": reader, "keypad": keypad, "touch": touch,
          "display": display}


def main():
    check = CHECKS[sys.argv[1]]
    result = asyncio.run(check(*sys.argv[2:]))
    print(json.dumps(result))


main()
