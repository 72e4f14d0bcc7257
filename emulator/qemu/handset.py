"""The host side of the virtual ARM handset: everything around the VM.

    handset = VirtualHandset(work_dir, settings={"lang": "en"})
    handset.start()            # image (built once), host simulator, QEMU, peers; boots to idle
    handset.call({"op": "screen"})       # the firmware's own test port (ttyS3)
    handset.power_cut(); handset.boot()  # SIGKILL QEMU; boot the same disk again
    handset.freeze_firmware(); ...; handset.thaw_firmware()   # the app's loop held still
    handset.stop()

The firmware in the guest answers the test protocol on its UART ttyS3
(firmware/main.py, docs/HIL.md), exactly as a handset on a bench does.
ArmBridge puts that port behind a host pty or socket (emulator/hil.py's
HilPort) and answers itself what a program cannot do to a real handset,
but the host side of a virtual one can: power cut and reset (QEMU), the
acquirer host and its faults (the host simulator here).
"""

import json
import os
import random
import select
import termios
import time
import tty

from emulator.handset import EMULATOR_SETTINGS
from emulator.hil import FIRMWARE_OFF
from emulator.qemu import image as image_builder
from emulator.qemu.vm import VirtualMachine, make_data_disk
from firmware import testproto

GUEST_GATEWAY = "10.0.2.2"   # QEMU user networking: the host's loopback
TEST_BAUD = 921600           # a virtual UART: fast enough for PNG replies
BOOT_TIMEOUT_S = 120
TIME_SCALE = 6               # how much longer a test waits for the guest than for the emulator
OP_MARGIN_S = 60             # on top of an op's own timeout_ms: the guest is 12-16x slower
CONSOLE_TIMEOUT_S = 30       # for a command on the console's shell to have run
POINT_PAUSE_S = 0.01         # between two touch reports (ArmBridge._op_sign)
SIGN_TIMEOUT_S = 60          # for the guest to take every touch report of a `sign`


class GuestError(Exception):
    pass


class GuestPort:
    """The host's end of the guest's test UART (a QEMU pty): one request
    at a time, JSON Lines, ids of our own so a late reply to an earlier
    request can never be taken for the answer to this one."""

    def __init__(self, path):
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        tty.setraw(self.fd)
        attrs = termios.tcgetattr(self.fd)
        attrs[3] &= ~termios.ECHO
        termios.tcsetattr(self.fd, termios.TCSANOW, attrs)
        self._buffer = b""
        self._next_id = 1

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def _write(self, data):
        deadline = time.monotonic() + 10
        while data:
            try:
                data = data[os.write(self.fd, data):]
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise GuestError("the guest's test UART does not take input")
                select.select([], [self.fd], [], 0.1)

    def _read_line(self, deadline):
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            if select.select([self.fd], [], [], min(left, 1.0))[0]:
                try:
                    self._buffer += os.read(self.fd, 1 << 20)
                except (BlockingIOError, OSError):
                    time.sleep(0.01)
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line

    def send(self, request):
        """Send `request` (a dict) under an id of ours; -> that id."""
        ours = self._next_id
        self._next_id += 1
        message = dict(request)
        message["id"] = ours
        self._write(json.dumps(message).encode() + b"\n")
        return ours

    def receive(self, ids, deadline):
        """The next reply to one of our `ids`, or None at the deadline."""
        while True:
            line = self._read_line(deadline)
            if line is None:
                return None
            try:
                reply = json.loads(line)
            except ValueError:
                continue  # boot noise on the line, or half a reply cut by a power cut
            if isinstance(reply, dict) and reply.get("id") in ids:
                return reply

    def call(self, request, timeout_s):
        """`request` -> the guest's reply dict with the caller's id, or None on timeout."""
        ours = self.send(request)
        reply = self.receive((ours,), time.monotonic() + timeout_s)
        if reply is not None:
            reply["id"] = request.get("id")
        return reply


class Console:
    """The guest's console (ttyAMA0, a QEMU pty; QEMU logs it to
    console.log): a root shell there runs maintenance commands. Its output
    is read and dropped here all the time: a console nobody reads would
    fill the pty and stall the guest's every write to it."""

    def __init__(self, path):
        import threading
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        self._reader = threading.Thread(target=self._drain, name="vm-console", daemon=True)
        self._reader.start()

    def _drain(self):
        while True:
            try:
                if not os.read(self.fd, 65536):
                    return
            except OSError:
                return

    def run(self, command):
        os.write(self.fd, command.encode() + b"\n")

    def close(self):
        fd, self.fd = self.fd, -1
        os.close(fd)


class VirtualHandset:
    """QEMU, the acquirer host simulator and the test port, started and
    stopped together. `settings`: firmware settings for this run (the
    boot configuration's "settings"; lang and test_protocol also go to
    settings.json on the data disk, as a bench unlocks a handset)."""

    def __init__(self, work_dir, settings=None, host_port=None, log=print):
        self.work_dir = os.path.abspath(str(work_dir))
        os.makedirs(self.work_dir, exist_ok=True)
        self.settings = dict(settings or {})
        self.log = log
        self.host = None
        self.host_port = host_port
        self._host_down = False
        self.vm = None
        self.port = None
        self.console = None
        self.peers = {}
        self.boot_seconds = None

    # -- life cycle -------------------------------------------------------------

    def start(self):
        image = image_builder.build_image(log=self.log)
        if self.host_port is None:
            from emulator.host.server import HostSimulator
            self.host = HostSimulator(os.path.join(self.work_dir, "host.sqlite"))
            self.host_port = self.host.start_in_thread("127.0.0.1", 0)
        self.vm = VirtualMachine(image, self.work_dir, self.config())
        if not os.path.exists(self.vm.data_disk):
            stored = {"test_protocol": True}
            if "lang" in self.settings:
                stored["lang"] = self.settings["lang"]
            make_data_disk(self.vm.data_disk, {"pos/settings.json": json.dumps(stored).encode()})
        self.boot()

    def config(self):
        """The boot configuration (/etc/pos.json in the guest)."""
        # EMULATOR_SETTINGS: the simulated key store holds the public test
        # master key, which a terminal refuses to sign on with otherwise.
        settings = dict(EMULATOR_SETTINGS, host_address=GUEST_GATEWAY, host_port=self.host_port)
        settings.update(self.settings)
        return {"devices": self.devices(), "settings": settings,
                "test_port": {"path": "/dev/ttyS3", "baud": TEST_BAUD}}

    def devices(self):
        """Device addresses inside the guest (hal.open_device): the Linux
        drivers on the guest kernel's devices (docs/HANDSET.md)."""
        return {"keypad": "evdev:/dev/input/event0?keymap=pc",
                "display": "fb:/dev/fb0",
                "printer": "escpos:/dev/ttyS0?baud=115200&line_ms=0",
                "modem": "at:/dev/ttyS1?baud=115200",
                "card_reader": "reader:/dev/ttyS2?baud=115200",
                "clock": "system:",
                "storage": "dir:/data/pos",
                "keystore": "sim:",
                # the virtio tablet: QEMU's absolute axes 0..32767 (the driver's default calibration)
                "touch": "evdev:/dev/input/event1?width=240&height=320"}

    def start_peers(self):
        """The printer, modem and card-reader module simulators on the
        host ptys of their guest UARTs (a new QEMU has new ptys)."""
        from emulator.peripherals.card_module import CardModuleSim
        from emulator.peripherals.modem import AtModemSim
        from emulator.peripherals.printer import EscPosPrinterSim
        self.stop_peers()
        self.peers = {"printer": EscPosPrinterSim(self.vm.ptys["printer"]).start(),
                      "modem": AtModemSim(self.vm.ptys["modem"]).start(),
                      "reader": CardModuleSim(self.vm.ptys["reader"]).start()}

    def stop_peers(self):
        for peer in self.peers.values():
            peer.stop()
        self.peers = {}

    def boot(self, timeout_s=BOOT_TIMEOUT_S):
        """Power on (or after a power cut, on again) and wait until the
        firmware answers at its idle screen; -> seconds it took."""
        started = time.monotonic()
        self._close_ports()
        if not self.vm.running:
            self.vm.start()
            self.start_peers()
        else:
            self.vm.reset()
        self.console = Console(self.vm.ptys["console"])
        self.port = GuestPort(self.vm.ptys["test"])
        self.wait_ready(started + timeout_s)
        self.boot_seconds = time.monotonic() - started
        return self.boot_seconds

    def wait_ready(self, deadline):
        """hello until the firmware answers, then its idle screen."""
        asked = []
        while True:
            # a busy guest may answer late: any of our hellos will do
            asked.append(self.port.send({"op": "hello"}))
            reply = self.port.receive(asked, time.monotonic() + 2)
            if reply is not None and reply.get("ok"):
                break
            if not self.vm.running:
                raise GuestError("QEMU ended during boot; console: %s" % self.console_tail())
            if time.monotonic() > deadline:
                raise GuestError("the virtual handset did not answer on its test port; console: %s"
                                 % self.console_tail())
        left_ms = int(max(1, deadline - time.monotonic()) * 1000)
        reply = self.port.call({"op": "wait_idle", "timeout_ms": left_ms}, left_ms / 1000 + OP_MARGIN_S)
        if reply is None or not reply.get("ok"):
            raise GuestError("the virtual handset did not reach its idle screen: %s" % (reply,))

    def _close_ports(self):
        for name in ("port", "console"):
            if getattr(self, name) is not None:
                getattr(self, name).close()
                setattr(self, name, None)

    def power_cut(self):
        self._close_ports()
        self.vm.power_cut()
        self.stop_peers()

    def advance_clock(self, seconds):
        """The guest's wall clock moves on (a lockout waited out in no
        time): `date -s` on the console's shell, as a service engineer
        would set a handset's clock."""
        if self.console is None:
            raise GuestError(FIRMWARE_OFF)
        self.console.run("date -s @$(( $(date +%%s) + %d )) > /dev/null" % seconds)

    def console_command(self, command, timeout_s=CONSOLE_TIMEOUT_S):
        """`command` on the console's shell, done when it has run and
        succeeded: the shell then echoes a marker that shows in
        console.log (a failed command: GuestError at the timeout, with the
        console's tail). The marker is the shell's sum of two numbers, so
        the command line echoed as it is typed never matches it."""
        if self.console is None:
            raise GuestError(FIRMWARE_OFF)
        base = random.randrange(1 << 30)
        marker = ("pos-console-done-%d" % (base + 1)).encode()
        try:
            start = os.path.getsize(self.vm.console_log)
        except OSError:
            start = 0
        self.console.run("%s && echo pos-console-done-$((%d + 1))" % (command, base))
        deadline = time.monotonic() + timeout_s
        while True:
            with open(self.vm.console_log, "rb") as f:
                f.seek(start)
                if marker in f.read():
                    return
            if time.monotonic() > deadline:
                raise GuestError("the console did not run %r within %d s; console: %s"
                                 % (command, timeout_s, self.console_tail()))
            time.sleep(0.05)

    def freeze_firmware(self):
        """The app's loop held still, as a long busy step holds it, for as
        long as the test likes (SIGSTOP to the firmware's process): the
        kernel goes on queuing input events for it, and past its buffer
        for the reader drops them (SYN_DROPPED). thaw_firmware() lets it go on."""
        self.console_command("kill -STOP $(pidof micropython)")

    def thaw_firmware(self):
        self.console_command("kill -CONT $(pidof micropython)")

    def stop(self):
        self._close_ports()
        if self.vm is not None:
            self.vm.quit()
        self.stop_peers()
        if self.host is not None and not self._host_down:
            self.host.stop_thread()

    def console_tail(self, lines=20):
        try:
            with open(self.vm.console_log, errors="replace") as f:
                return "".join(f.readlines()[-lines:])
        except OSError:
            return ""

    # -- the firmware's own test port ------------------------------------------------

    def call(self, request, timeout_s=None):
        """A test-protocol request to the firmware in the guest -> its reply."""
        if self.port is None or not self.vm.running:
            return testproto.error_reply(request.get("id"), FIRMWARE_OFF)
        if timeout_s is None:
            timeout_s = request.get("timeout_ms", 0) / 1000 + OP_MARGIN_S
        reply = self.port.call(request, timeout_s)
        if reply is None:
            return testproto.error_reply(request.get("id"), "the virtual handset did not answer within %d s"
                                         % timeout_s)
        return reply

    # -- the acquirer host -------------------------------------------------------------

    def host_state(self, up):
        """Host down: the simulator stops; the guest's connects to
        10.0.2.2 are refused (QEMU's user networking passes the refusal on)."""
        if self.host is None:
            raise GuestError("the host is not the virtual handset's own")
        if not up and not self._host_down:
            self.host.stop_thread()
            self._host_down = True
        elif up and self._host_down:
            self.host.start_in_thread("127.0.0.1", self.host_port)
            self._host_down = False


def touch_reports(strokes):
    """How many touch events (hal/touch.py: down, move, up) the strokes
    give: a move to the pixel the finger is on gives none."""
    count = 0
    for stroke in strokes:
        count += 2 + sum(1 for a, b in zip(stroke, stroke[1:]) if tuple(a) != tuple(b))
    return count


class ArmBridge:
    """Test-protocol requests for the virtual handset (the `answer` that
    emulator.hil.HilPort serves): the firmware's ops go to its UART in the
    guest, the rest are done here."""

    HOST_OPS = ("reset", "power_cut", "host", "fault", "clock", "paper", "modem", "card", "qr_customer", "sign")

    def __init__(self, handset):
        self.handset = handset
        self._lock = None

    def ops(self, firmware_ops):
        ops = set(firmware_ops) | set(self.HOST_OPS)
        if self.handset.host is None:
            ops -= {"host", "fault", "qr_customer"}
        return sorted(ops)

    async def answer(self, request):
        import asyncio
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            op = request["op"]
            if op in self.HOST_OPS:
                try:
                    result = await asyncio.to_thread(getattr(self, "_op_" + op), request)
                except Exception as e:  # noqa: BLE001 - reported to the test, the bridge goes on
                    return testproto.error_reply(request["id"], "%s: %s" % (op, e))
                reply = {"id": request["id"], "ok": True}
                reply.update(result or {})
                return reply
            reply = await asyncio.to_thread(self.handset.call, request)
            if op == "hello" and reply.get("ok"):
                # a virtual handset: a test may cut its power, like the emulator's
                reply["target"] = "emulator"
                reply["machine"] = "qemu-system-aarch64 virt (TCG)"
                reply["ops"] = self.ops(reply.get("ops", ()))
                # the test deck reaches the reader through the module simulator
                reply["card_reader"] = "sim"
                if reply.get("touch"):
                    # `sign` moves the virtio tablet (QMP), through the guest's kernel and evdev driver
                    reply["touch"] = "sim"
                # waits stretch by this (tests/hil/dut.py): TCG runs the guest 12-16x slower
                reply["time_scale"] = TIME_SCALE
            return reply

    def _op_power_cut(self, request):
        self.handset.power_cut()

    def _op_reset(self, request):
        self.handset.boot()

    def _peer(self, name):
        peer = self.handset.peers.get(name)
        if peer is None:
            raise GuestError(FIRMWARE_OFF)
        return peer

    def _op_paper(self, request):
        printer = self._peer("printer")
        if request["state"] == "in":
            printer.load_paper()
        elif "after" in request:
            printer.paper_runs_out_after(request["after"])   # runs out mid-receipt
        else:
            printer.remove_paper()

    def _op_modem(self, request):
        """A dead modem: off the network and silent; back: answers, registered."""
        modem = self._peer("modem")
        if request["state"] == "down":
            modem.set_registration(0)
            modem.silent = True
        else:
            modem.silent = False
            modem.set_registration(1)

    def _op_card(self, request):
        from hal.sim.deck import find_card
        reader = self._peer("reader")
        if request["action"] == "remove":
            reader.remove()
            return
        try:
            card = find_card(request["card"])
        except KeyError as e:
            raise GuestError(e.args[0])
        getattr(reader, request["action"])(card)

    def _op_sign(self, request):
        """The strokes on the virtio tablet, one report a point, as a finger
        gives them: they go through the guest's kernel and its evdev touch
        driver (hal/linux/evdev.py). Paced: the kernel keeps a few dozen
        events for a reader and drops them all (SYN_DROPPED) when the
        guest, 12-16x slower than here, falls behind."""
        vm = self.handset.vm
        if vm is None or not vm.running:
            raise GuestError(FIRMWARE_OFF)
        before = self._touch_reports()
        for stroke in request["strokes"]:
            x, y = stroke[0]
            vm.pointer(x, y, True)
            time.sleep(POINT_PAUSE_S)
            for x, y in stroke[1:]:
                vm.pointer(x, y)
                time.sleep(POINT_PAUSE_S)
            vm.pointer(x, y, False)
            time.sleep(POINT_PAUSE_S)
        # Done when the firmware has every point, as the emulator's `sign`
        # is: a `screen` right after must show the whole stroke.
        expected = before + touch_reports(request["strokes"])
        deadline = time.monotonic() + SIGN_TIMEOUT_S
        while True:
            got = self._touch_reports()
            if got >= expected:
                return
            if time.monotonic() > deadline:
                raise GuestError("the handset took %d of the %d touch reports sent within %d s"
                                 % (got - before, expected - before, SIGN_TIMEOUT_S))
            time.sleep(0.05)

    def _touch_reports(self):
        reply = self.handset.call({"op": "hello"})
        if not reply.get("ok") or reply.get("touch_reports") is None:
            raise GuestError("the handset has no touch panel: %s" % reply.get("error", reply.get("touch")))
        return reply["touch_reports"]

    def _op_clock(self, request):
        self.handset.advance_clock(request["advance_s"])

    def _op_host(self, request):
        self.handset.host_state(request["state"] == "up")

    def _op_qr_customer(self, request):
        from emulator.hil import qr_customer
        return qr_customer(self.handset.host, request)

    def _op_fault(self, request):
        faults = self.handset.host.faults
        if request["kind"] == "clear":
            faults.clear()
            return
        faults.add(request["kind"], mti=request.get("mti"), count=request.get("count", 1) or None,
                   delay_ms=request.get("delay_ms"), code=request.get("code"))
