"""pytest plugin for the hardware-in-loop suite.

    pytest tests/hil                               the emulator, started here, on a pty
    pytest tests/hil --hil-via socket              the same emulator over socket://
    pytest tests/hil --hil-port /dev/ttyUSB0       a handset on a serial cable
    pytest tests/hil --hil-port socket://127.0.0.1:7000   an emulator started by hand
    pytest tests/hil --hil-target arm              the virtual ARM handset (pos-vm, QEMU), started here

--hil-port takes anything pyserial's serial_for_url() does (a device path,
socket://, rfc2217://, loop://...). The `dut` fixture is the device under
test (tests/hil/dut.py); every test in tests/hil is marked `hil`, starts at
the idle screen and must leave the device there.
"""

import os
import select
import subprocess
import sys
import time

import pytest
import serial

from tests.flows import cashier
from tests.hil.dut import Dut, HilError

# Short waits so the suite runs in a minute or two; the flows are the same.
EMULATOR_SETTINGS = {"message_ms": 200, "reply_timeout_ms": 1500, "connect_timeout_ms": 1500,
                     "ui_timeout_ms": 20000, "tear_pause_ms": 200}
# The virtual ARM handset's guest runs 12-16x slower than native (QEMU
# TCG): a step that takes 100 ms here takes over a second there, so its
# host timeouts get the room a slow handset would get.
ARM_SETTINGS = dict(EMULATOR_SETTINGS, reply_timeout_ms=5000, connect_timeout_ms=5000)
STARTUP_TIMEOUT_S = 60
# The virtual ARM handset may build its image first (downloads once), then boots.
ARM_STARTUP_TIMEOUT_S = 900


def pytest_addoption(parser):
    group = parser.getgroup("hil", "hardware-in-loop (tests/hil, docs/HIL.md)")
    group.addoption("--hil-port", metavar="URL",
                    help="the device's test port, any pyserial URL (/dev/ttyUSB0, socket://HOST:PORT, "
                         "rfc2217://HOST:PORT); default: start the emulator on a pty")
    group.addoption("--hil-baud", type=int, default=115200, help="baud rate (default: %(default)s, 8N1)")
    group.addoption("--hil-via", choices=("pty", "socket"), default="pty",
                    help="without --hil-port: how to reach the emulator this plugin starts "
                         "(default: %(default)s)")
    group.addoption("--hil-target", choices=("emulator", "arm"), default="emulator",
                    help="without --hil-port: what this plugin starts: the desktop emulator, or the "
                         "virtual ARM handset (pos-vm: QEMU, docs/HANDSET.md) (default: %(default)s)")


def pytest_configure(config):
    config.addinivalue_line("markers", "hil: hardware-in-loop test over the serial test protocol")


def pytest_collection_modifyitems(config, items):
    here = os.path.dirname(os.path.abspath(__file__))
    for item in items:
        if str(item.fspath).startswith(here):
            item.add_marker(pytest.mark.hil)


class Emulator:
    """pos-emulator --hil, in a process of its own, as a bench would see a handset."""

    def __init__(self, work_dir, via, target="emulator"):
        self.work_dir = str(work_dir)
        self.via = via
        self.target = target
        self.log_path = os.path.join(self.work_dir, "emulator.log")
        self.process = None
        self.url = None

    def start(self):
        hil = "pty" if self.via == "pty" else "socket://127.0.0.1:0"
        if self.target == "arm":
            # the firmware's log is the guest's console: work_dir/vm/console.log
            command = [sys.executable, "-m", "emulator.qemu.cli", "--lang", "en",
                       "--work", os.path.join(self.work_dir, "vm"), "--hil", hil]
            timeout_s = ARM_STARTUP_TIMEOUT_S
            settings = ARM_SETTINGS
        else:
            command = [sys.executable, "-m", "emulator.cli", "--log", "--lang", "en",
                       "--data", os.path.join(self.work_dir, "data"), "--hil", hil]
            timeout_s = STARTUP_TIMEOUT_S
            settings = EMULATOR_SETTINGS
        for name, value in settings.items():
            command += ["--set", "%s=%s" % (name, value)]
        log = open(self.log_path, "w")
        self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                        stderr=log, cwd=self.work_dir)
        log.close()
        deadline = time.monotonic() + timeout_s
        output = b""
        while b"\n" not in output:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.process.stdout], [], [], max(0, left))
            chunk = os.read(self.process.stdout.fileno(), 4096) if ready else b""
            if not chunk:
                self.stop()
                raise RuntimeError("%s did not start (%s); log: %s\n%s"
                                   % (command[2], "timed out" if not ready else "exited", self.log_path,
                                      self.log_tail()))
            output += chunk
        first = output.split(b"\n")[0].decode()
        if not first.startswith("HIL port: "):
            self.stop()
            raise RuntimeError("pos-emulator printed %r, not the HIL port; log: %s" % (first, self.log_path))
        self.url = first[len("HIL port: "):].strip()
        return self.url

    def stop(self):
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)
        self.process.stdout.close()
        self.process = None

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""


def open_port(url, baud):
    # write_timeout: a device that stopped reading fails the test, not hangs the run.
    return serial.serial_for_url(url, baudrate=baud, bytesize=8, parity="N", stopbits=1, timeout=1,
                                 write_timeout=30)


@pytest.fixture(scope="session")
def hil_device(request, tmp_path_factory):
    """The session's device: opened once, the supervisor password set once."""
    url = request.config.getoption("--hil-port")
    emulator = None
    log_path = None
    if url is None:
        target = request.config.getoption("--hil-target")
        emulator = Emulator(tmp_path_factory.mktemp("hil-" + target), request.config.getoption("--hil-via"), target)
        url = emulator.start()
        log_path = emulator.log_path
    port = open_port(url, request.config.getoption("--hil-baud"))
    try:
        device = Dut(port, log_path)
        device.url = url
        info = device.hello()
        if info.get("protocol") != 1:
            pytest.exit("the device speaks test protocol %r; this suite speaks 1" % info.get("protocol"), 3)
        if info.get("lang") != "en":
            pytest.exit("the device's language is %r: switch it to English (Admin, 3) before the run "
                        "(the suite reads English screens)" % info.get("lang"), 3)
        device.back_to_idle()
        if info.get("supervisor_factory"):
            # The factory password must be changed before the first void or refund.
            cashier.unlock_supervisor(device)
        yield device
    finally:
        port.close()
        if emulator is not None:
            emulator.stop()


@pytest.fixture
def dut(hil_device):
    """The device under test at the idle screen; left at the idle screen."""
    device = hil_device
    if device.is_emulator and not device.call("hello").get("ok"):
        device.reset()  # a test before this one cut the power and failed before the reboot
    device.back_to_idle()
    yield device
    if device.is_emulator and not device.call("hello").get("ok"):
        device.reset()
        raise HilError("the test left the firmware off (power cut without reset)")
    device.restore()
    try:
        device.wait_idle(20000)
    except HilError as e:
        device.back_to_idle()
        raise HilError("the test left the device off the idle screen: %s" % e)
