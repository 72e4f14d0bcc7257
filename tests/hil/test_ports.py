"""Only the port changes: the same device over a pty and over socket://,
and the firmware's own test port under MicroPython on a tty, as on a
handset's debug UART."""

import json
import os
import select
import subprocess
import time
import tty

import pytest

from emulator.hil import Bridge, HilPort
from emulator.world import World
from tests.flows import cashier
from tests.hil.dut import Dut
from tests.hil.plugin import open_port
from tests.support import micropython_path

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def two_ports(make_handset, host):
    handset = make_handset(test_protocol=True)
    world = World(handset, host)
    ports = [HilPort(Bridge(world), "pty"), HilPort(Bridge(world), "socket://127.0.0.1:0")]
    devices = []
    for port in ports:
        url = port.start()
        devices.append(Dut(open_port(url, 115200)))
    yield handset, devices
    for device in devices:
        device.port.close()
    for port in ports:
        port.stop()


def test_pty_and_socket_reach_the_same_handset_and_survive_a_power_cut(two_ports):
    handset, (over_pty, over_socket) = two_ports
    assert over_pty.hello()["target"] == over_socket.hello()["target"] == "emulator"
    over_socket.key("MENU")
    over_pty.wait_text("Main menu")
    assert over_pty.screen()["sha256"] == over_socket.screen()["sha256"]
    over_pty.cancel()
    over_socket.wait_idle()
    over_socket.request("power_cut")
    reply = over_pty.call("screen")
    assert reply["ok"] is False and "power cut" in reply["error"]
    over_pty.reset()
    assert over_socket.hello()["idle"] is True


class MasterSide:
    """The bench's end of a pty, with the few pyserial methods Dut uses."""

    def __init__(self, fd):
        self.fd = fd
        self.timeout = 1

    def write(self, data):
        while data:
            written = os.write(self.fd, data)
            data = data[written:]

    @property
    def in_waiting(self):
        return 65536 if select.select([self.fd], [], [], 0)[0] else 0

    def read(self, n):
        if not select.select([self.fd], [], [], self.timeout)[0]:
            return b""
        return os.read(self.fd, n)


MP_HANDSET = """
import sys
sys.path.insert(0, sys.argv[1])
from firmware import main
main.main([sys.argv[2]])
"""


def test_the_firmware_answers_on_its_own_uart_under_micropython(host, tmp_path):
    mp = micropython_path()
    if mp is None:
        pytest.skip("no micropython interpreter")
    master, slave = os.openpty()
    tty.setraw(slave)
    script = tmp_path / "handset.py"
    script.write_text(MP_HANDSET)
    (tmp_path / "data").mkdir()
    # PyPI's MicroPython has no fsync (nor ffi): this desk run may take money without it.
    settings = {"test_protocol": True, "test_keys": True, "lang": "en", "host_port": host.port,
                "message_ms": 200, "reply_timeout_ms": 3000, "connect_timeout_ms": 3000,
                "allow_volatile_storage": True}
    config = tmp_path / "pos.json"      # the handset's boot configuration, test port unlocked
    config.write_text(json.dumps({"devices": {"storage": "dir:" + str(tmp_path / "data")},
                                  "settings": settings,
                                  "test_port": {"path": os.ttyname(slave), "baud": 115200}}))
    process = subprocess.Popen([mp, "-X", "heapsize=8M", str(script), ROOT, str(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        device = Dut(MasterSide(master))
        deadline = time.monotonic() + 30
        while True:
            device.send_line(b'{"id": 0, "op": "hello"}')
            try:
                info = device.read_reply(2)
                break
            except AssertionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
        assert info["target"] == "handset" and "power_cut" not in info["ops"] and "reset" in info["ops"]
        device.info = info
        device.wait_idle(30000)
        reply = device.call("power_cut")
        assert reply == {"id": device._next_id - 1, "ok": False, "error": "unsupported on this target",
                         "screens": reply["screens"]} and reply["screens"] > 0
        cashier.sale(device, 1234, "debit-mag")
        txn = device.journal()[-1]
        assert txn["status"] == "approved" and txn["amount"] == 1234
        assert len(device.printout(0)) == 2
        assert device.screen_png()[:8] == b"\x89PNG\r\n\x1a\n"
        # reset reboots the firmware on the handset too: the journal replays
        assert device.call("reset", timeout_s=60)["ok"] is True
        assert device.journal()[-1]["trace"] == txn["trace"]
        cashier.sale(device, 100, "debit-mag")
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
        os.close(master)
        os.close(slave)
    assert b"Traceback" not in output, output.decode(errors="replace")
