"""The Linux drivers' contracts, once more under a real MicroPython: the
peers (pty simulators, input FIFOs, a framebuffer file) live in this
CPython process, the driver in the interpreter (tests/hal/mp_driver_checks.py),
and the outcome must be what tests/hal/ demands of it under CPython."""

import json
import os
import socket
import subprocess
import threading
import time

import pytest

from tests.micropython.conftest import ROOT

CHECKS = os.path.join("tests", "hal", "mp_driver_checks.py")
JOB = b"\x1b@" + b"".join(b"line %02d of the receipt\n" % i for i in range(12)) + b"\x1bd\x04"


def check(micropython, *args, timeout=60):
    completed = subprocess.run([micropython, CHECKS] + [str(a) for a in args], cwd=ROOT, capture_output=True,
                               text=True, timeout=timeout)
    lines = completed.stdout.strip().splitlines()
    assert completed.returncode == 0 and lines, completed.stdout + completed.stderr
    return json.loads(lines[-1])


# -- printer -------------------------------------------------------------------

@pytest.fixture
def printer_peer():
    from emulator.peripherals.printer import EscPosPrinterSim
    peer = EscPosPrinterSim().start()
    yield peer
    peer.stop()


def test_printer_paper_out_mid_job_resumes_without_a_line_twice(micropython, printer_peer):
    printer_peer.paper_runs_out_after(100)

    def load_when_out():
        deadline = time.time() + 20
        while printer_peer.has_paper() and time.time() < deadline:
            time.sleep(0.01)
        time.sleep(0.3)
        printer_peer.load_paper()

    threading.Thread(target=load_when_out, daemon=True).start()
    result = check(micropython, "printer", printer_peer.path)
    assert result == {"events": ["paper_out", "paper_ok"]}
    assert bytes(printer_peer.printed) == JOB


@pytest.mark.parametrize("fault, words, code", [("silent", "not responding", "PRINTER_NO_ANSWER"),
                                                ("garble", "garbage", "PRINTER")])
def test_printer_faults_are_clear_errors(micropython, printer_peer, fault, words, code):
    setattr(printer_peer, fault, True)
    result = check(micropython, "printer", printer_peer.path)
    assert words in result["message"] and result["code"] == code


def test_an_unplugged_printer_is_not_responding(micropython, printer_peer):
    path = printer_peer.path
    printer_peer.unplug()
    result = check(micropython, "printer", path)
    # The tty is gone before the driver opens it, or goes away as it talks.
    assert result["error"] in ("DeviceError", "PrinterNotResponding"), result


# -- modem ------------------------------------------------------------------------

@pytest.fixture
def modem_peer():
    from emulator.peripherals.modem import AtModemSim
    peer = AtModemSim().start()
    yield peer
    peer.stop()


@pytest.fixture
def echo_port():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                data = conn.recv(64)
                if data:
                    conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def test_modem_state_connection_and_urcs_between_command_and_answer(micropython, modem_peer, echo_port):
    modem_peer.csq = 20
    modem_peer.urc_before_answer = "+CEREG: 5"
    result = check(micropython, "modem", modem_peer.path, echo_port)
    assert result["sim"] == "READY" and result["rssi"] == 20 and result["dbm"] == -73
    # The answer to AT+CEREG? said home, the unsolicited line after it roaming: the latest holds.
    assert result["echo"] == "ping" and result["network"] == "roaming"
    assert "+CEREG: 5" in result["unsolicited"]


@pytest.mark.parametrize("setup, words", [
    (lambda p: p.remove_sim(), "no SIM card"),
    (lambda p: p.set_registration(3), "not registered on the network (denied)"),
    (lambda p: setattr(p, "silent", True), "modem not responding"),
    (lambda p: setattr(p, "garble", True), "modem not responding"),
])
def test_modem_refusals_say_why(micropython, modem_peer, echo_port, setup, words):
    setup(modem_peer)
    result = check(micropython, "modem", modem_peer.path, echo_port)
    assert result["error"] in ("ModemError", "ModemNotResponding") and result["code"] == "MODEM", result
    assert words in result["message"], result


# -- card reader ---------------------------------------------------------------------

@pytest.fixture
def reader_peer():
    from emulator.peripherals.card_module import CardModuleSim
    peer = CardModuleSim().start()
    yield peer
    peer.stop()


def test_reader_swipe_insert_and_an_apdu(micropython, reader_peer):
    from hal.sim.deck import find_card
    reader_peer.swipe("debit-mag")
    reader_peer.insert("chip-pin")
    result = check(micropython, "reader", reader_peer.path)
    assert result["events"] == [["swipe", find_card("debit-mag").track2, None], ["insert", None, None]]
    assert result["present"] is True and result["response"].endswith("9000")


@pytest.mark.parametrize("fault, words", [("silent", "not responding"), ("garble", "damaged")])
def test_reader_faults_are_card_errors(micropython, reader_peer, fault, words):
    reader_peer.insert("chip-pin")
    setattr(reader_peer, fault, True)
    result = check(micropython, "reader", reader_peer.path)
    assert result["error"] == "ReaderError" and words in result["message"], result


# -- keypad and touch over FIFOs, both record sizes --------------------------------------

def fifo_with(tmp_path, records):
    path = str(tmp_path / "event")
    os.mkfifo(path)
    fd = os.open(path, os.O_RDWR | os.O_NONBLOCK)
    os.write(fd, records)

    def close_later():
        time.sleep(1.0)   # the interpreter has opened it and read by then: then "unplug"
        os.close(fd)

    threading.Thread(target=close_later, daemon=True).start()
    return path


@pytest.mark.parametrize("record", [16, 24])
def test_keypad_keys_repeat_and_unplug(micropython, tmp_path, record):
    from hal.linux import evdev as e
    events = []
    for code, value in ((2, e.PRESS), (2, e.AUTOREPEAT), (2, e.RELEASE), (28, e.PRESS), (28, e.RELEASE),
                        (14, e.PRESS), (14, e.AUTOREPEAT), (14, e.RELEASE), (30, e.PRESS)):
        events.append(e.encode_event(e.EV_KEY, code, value, record))
        events.append(e.encode_event(e.EV_SYN, 0, 0, record))
    result = check(micropython, "keypad", fifo_with(tmp_path, b"".join(events)), record)
    assert result["keys"] == ["1", "ENTER", "CLEAR", "CLEAR"]
    assert "went away" in result["failure"]
    # PyPI's MicroPython has no ioctl (no ffi): the grab is skipped, and says so.
    assert result["grabbed"] in (None, False)


@pytest.mark.parametrize("record", [16, 24])
def test_touch_stroke_in_screen_coordinates(micropython, tmp_path, record):
    from hal.linux import evdev as e
    points = [(10, 20), (100, 200), (239, 319)]
    data = b""
    for i, (x, y) in enumerate(points):
        data += e.encode_event(e.EV_ABS, e.ABS_X, 32767 - x * 32767 // 239, record)
        data += e.encode_event(e.EV_ABS, e.ABS_Y, y * 32767 // 319, record)
        if i == 0:
            data += e.encode_event(e.EV_KEY, e.BTN_TOUCH, 1, record)
        data += e.encode_event(e.EV_SYN, 0, 0, record)
    data += e.encode_event(e.EV_KEY, e.BTN_TOUCH, 0, record) + e.encode_event(e.EV_SYN, 0, 0, record)
    result = check(micropython, "touch", fifo_with(tmp_path, data), record)
    assert [ev[0] for ev in result["events"]] == ["down", "move", "move", "up"]
    (stroke,) = result["strokes"]
    assert all(abs(x - wx) <= 1 and abs(y - wy) <= 1 for (x, y), (wx, wy) in zip(stroke, points))


@pytest.mark.parametrize("record", [16, 24])
def test_keypad_overflow_mid_press_leaves_nothing_held(micropython, tmp_path, record):
    """SYN_DROPPED while 5 and CLEAR are down: the torn report (an ENTER
    press) is discarded; with no ioctl (PyPI's MicroPython) every key is
    taken as released, so CLEAR's repeats type nothing until pressed again."""
    from hal.linux import evdev as e

    def report(*events):
        return b"".join(e.encode_event(t, c, v, record) for t, c, v in events + ((e.EV_SYN, e.SYN_REPORT, 0),))
    data = (report((e.EV_KEY, 6, e.PRESS)) + report((e.EV_KEY, 14, e.PRESS))
            + report((e.EV_SYN, e.SYN_DROPPED, 0), (e.EV_KEY, 28, e.PRESS))
            + report((e.EV_KEY, 28, e.RELEASE)) + report((e.EV_KEY, 14, e.AUTOREPEAT)) * 3
            + report((e.EV_KEY, 4, e.PRESS)) + report((e.EV_KEY, 4, e.RELEASE)))
    result = check(micropython, "keypad", fifo_with(tmp_path, data), record)
    assert result["keys"] == ["5", "CLEAR", "3"]
    assert result["held"] == []


@pytest.mark.parametrize("record", [16, 24])
def test_touch_overflow_mid_stroke_never_joins_two_strokes(micropython, tmp_path, record):
    """SYN_DROPPED mid-stroke, the finger lifted and down elsewhere in what
    was dropped: the first stroke ends, nothing joins it to the moves
    after the overflow, the next touch is a stroke of its own."""
    from hal.linux import evdev as e

    def point(x, y, *more):
        return b"".join(e.encode_event(t, c, v, record) for t, c, v in
                        ((e.EV_ABS, e.ABS_X, 32767 - x * 32767 // 239), (e.EV_ABS, e.ABS_Y, y * 32767 // 319))
                        + more + ((e.EV_SYN, e.SYN_REPORT, 0),))
    touch, lift = (e.EV_KEY, e.BTN_TOUCH, 1), e.encode_event(e.EV_KEY, e.BTN_TOUCH, 0, record)
    lift += e.encode_event(e.EV_SYN, e.SYN_REPORT, 0, record)
    data = (point(10, 10, touch) + point(30, 40)
            + e.encode_event(e.EV_SYN, e.SYN_DROPPED, 0, record) + point(200, 300)
            + point(150, 250) + point(160, 260) + lift
            + point(50, 60, touch) + point(70, 90) + lift)
    result = check(micropython, "touch", fifo_with(tmp_path, data), record)
    assert [ev[0] for ev in result["events"]] == ["down", "move", "up", "down", "move", "up"]
    first, last = result["strokes"]
    assert all(abs(x - wx) <= 1 and abs(y - wy) <= 1 for (x, y), (wx, wy) in zip(first, [(10, 10), (30, 40)]))
    assert all(abs(x - wx) <= 1 and abs(y - wy) <= 1 for (x, y), (wx, wy) in zip(last, [(50, 60), (70, 90)]))
    assert len(first) == len(last) == 2


# -- display -------------------------------------------------------------------------------

def test_framebuffer_32bpp_wide_stride_matches_cpython_pixel_for_pixel(micropython, tmp_path):
    from tests.hal.rigs import FbDisplayRig
    from firmware.screen import render
    from hal import open_device
    rig = FbDisplayRig(tmp_path, 32, 64)
    rig.close()
    result = check(micropython, "display", rig.path, tmp_path / "sysfs", rig.tty)
    assert result["rows_first"] == 320 and result["rows_second"] == 1
    assert result["console"] == "cursor hidden"
    # PyPI's MicroPython has no ffi to map with: seek + write (Debian's maps).
    assert result["write"] == "seek"
    # The same screen drawn by CPython on the simulated display.
    sim = open_device("display", "sim:?width=240&height=320")
    render(sim, "消费 SALE", ["请刷卡或插卡", "Swipe or insert card", "> 1 消费"], footer="取消:返回 CANCEL")
    sim.framebuffer[100 * 240 * 2 + 10] ^= 0xFF
    assert rig.glass() == bytes(sim.framebuffer)
    assert set(rig.padding()) == {0xAA}
