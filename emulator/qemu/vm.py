"""QEMU for the virtual ARM handset, and QMP to push its buttons.

    vm = VirtualMachine(image_paths, work_dir, config)
    vm.start()                      # qemu-system-aarch64 -machine virt under TCG
    vm.ptys["test"]                 # host pty of a guest UART (QMP query-chardev)
    vm.send_keys(["ret"]); vm.key("1", down=True); vm.pointer(x, y, down=True)
    vm.screendump("screen.png")
    vm.power_cut()                  # SIGKILL: nothing of the guest's RAM survives
    vm.start()                      # boot again on the same data disk

Guest devices (docs/HANDSET.md has the map onto a real handset):
- virtio-gpu-pci (xres x yres)    -> /dev/fb0, XRGB8888
- virtio-keyboard-pci             -> /dev/input/event0 (the keypad)
- virtio-tablet-pci               -> /dev/input/event1 (touch, axes 0..32767)
- pci-serial-4x (16550 UARTs)     -> /dev/ttyS0 printer, ttyS1 modem, ttyS2 card reader,
                                     ttyS3 test port; each a host pty
- PL011 ttyAMA0                   -> the console (a root shell), a host pty, logged to console.log
- virtio-net-pci, user networking -> 10.0.2.2 is the host's loopback
- virtio-blk-pci                  -> /dev/vda, the ext4 data disk (raw file)
- fw_cfg opt/pos/config           -> /etc/pos.json, the boot configuration
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time

# Guest UARTs on the PCI serial card, in port order: ttyS0..ttyS3.
UARTS = ("printer", "modem", "reader", "test")
DATA_DISK_MB = 64


class VmError(Exception):
    pass


def die_with_parent():
    """In the QEMU child before exec: SIGKILL it when the process that
    started it dies, however that dies (no VM left running behind a
    crashed test run). Linux prctl(PR_SET_PDEATHSIG)."""
    import ctypes
    PR_SET_PDEATHSIG = 1
    try:
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


def make_data_disk(path, files, size_mb=DATA_DISK_MB):
    """A raw ext4 image holding `files` ({relative path: bytes}); no root
    needed (mkfs.ext4 -d copies a directory in)."""
    staging = tempfile.mkdtemp(prefix="pos-vm-data-")
    try:
        for rel, data in files.items():
            target = os.path.join(staging, rel)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with open(target, "wb") as f:
                f.write(data)
        mkfs = shutil.which("mkfs.ext4", path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
        if mkfs is None:
            raise VmError("mkfs.ext4 not found: apt-get install e2fsprogs")
        result = subprocess.run([mkfs, "-q", "-F", "-L", "posdata", "-d", staging, path, "%dM" % size_mb],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if result.returncode != 0:
            raise VmError("mkfs.ext4 failed: %s" % result.stdout.decode(errors="replace"))
    finally:
        shutil.rmtree(staging)


class Qmp:
    """A QMP client on a unix socket: one command at a time, events skipped."""

    def __init__(self, path, timeout_s=30):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout_s)
        self.sock.connect(path)
        self._buffer = b""
        self._read()  # the greeting
        self.execute("qmp_capabilities")

    def _read(self):
        while b"\n" not in self._buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise VmError("QMP connection closed")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    def execute(self, command, **arguments):
        message = {"execute": command}
        if arguments:
            message["arguments"] = arguments
        self.sock.sendall(json.dumps(message).encode() + b"\n")
        while True:
            reply = self._read()
            if "return" in reply:
                return reply["return"]
            if "error" in reply:
                raise VmError("QMP %s: %s" % (command, reply["error"].get("desc")))
            # an asynchronous event: not our answer

    def close(self):
        self.sock.close()


class VirtualMachine:
    """One qemu-system-aarch64 process at a time; start() again after a
    power cut boots the same disk with the same configuration."""

    def __init__(self, image, work_dir, config, width=240, height=320, cpus=2, memory_mb=512):
        self.image = image
        self.work_dir = work_dir
        self.config = config
        self.width = width
        self.height = height
        self.cpus = cpus
        self.memory_mb = memory_mb
        self.data_disk = os.path.join(work_dir, "data.img")
        self.console_log = os.path.join(work_dir, "console.log")
        self.qmp_path = os.path.join(work_dir, "qmp.sock")
        self.config_path = os.path.join(work_dir, "pos.json")
        self.process = None
        self.qmp = None
        self.ptys = {}
        self.boots = 0

    def command(self):
        qemu = shutil.which("qemu-system-aarch64")
        if qemu is None:
            raise VmError("qemu-system-aarch64 not found: apt-get install qemu-system-arm")
        # the console: a pty with a root shell on it (the bench's maintenance
        # shell; the host side sets the clock there), everything logged
        append = "console=ttyAMA0 quiet pos.shell"
        console = "pty,id=console,logfile=%s,logappend=on" % self.console_log
        uarts = []
        serial_card = "pci-serial-4x"
        for index, name in enumerate(UARTS):
            uarts += ["-chardev", "pty,id=%s" % name]
            serial_card += ",chardev%d=%s" % (index + 1, name)
        return [qemu, "-machine", "virt", "-cpu", "cortex-a57", "-smp", str(self.cpus),
                "-m", str(self.memory_mb), "-accel", "tcg,thread=multi", "-nodefaults", "-display", "none",
                "-kernel", self.image.kernel, "-initrd", self.image.initrd, "-append", append,
                "-chardev", console, "-serial", "chardev:console",
                "-device", "virtio-gpu-pci,xres=%d,yres=%d" % (self.width, self.height),
                "-device", "virtio-keyboard-pci", "-device", "virtio-tablet-pci"] + uarts + [
                "-device", serial_card,
                "-netdev", "user,id=net0,restrict=off", "-device", "virtio-net-pci,netdev=net0,romfile=",
                "-drive", "file=%s,format=raw,if=none,id=data,cache=writeback" % self.data_disk,
                "-device", "virtio-blk-pci,drive=data",
                "-fw_cfg", "name=opt/pos/config,file=%s" % self.config_path,
                "-qmp", "unix:%s,server=on,wait=off" % self.qmp_path]

    def start(self, timeout_s=30):
        if self.running:
            raise VmError("the virtual handset is already running")
        with open(self.config_path, "w") as f:
            json.dump(self.config, f)
        if os.path.exists(self.qmp_path):
            os.unlink(self.qmp_path)
        with open(os.path.join(self.work_dir, "qemu.log"), "ab") as log:
            self.process = subprocess.Popen(self.command(), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                            start_new_session=True, preexec_fn=die_with_parent)
        deadline = time.monotonic() + timeout_s
        while True:
            if self.process.poll() is not None:
                raise VmError("qemu-system-aarch64 exited (%s); see %s"
                              % (self.process.returncode, os.path.join(self.work_dir, "qemu.log")))
            try:
                self.qmp = Qmp(self.qmp_path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    self.kill()
                    raise VmError("QEMU's QMP socket did not open within %d s" % timeout_s)
                time.sleep(0.05)
        self.ptys = {}
        for chardev in self.qmp.execute("query-chardev"):
            if chardev["filename"].startswith("pty:"):
                self.ptys[chardev["label"]] = chardev["filename"][len("pty:"):]
        self.boots += 1

    @property
    def running(self):
        return self.process is not None and self.process.poll() is None

    def send_keys(self, qcodes, hold_ms=50):
        """Press and release keys at once (a chord), as the keyboard would."""
        self.qmp.execute("send-key", keys=[{"type": "qcode", "data": q} for q in qcodes], **{"hold-time": hold_ms})

    def key(self, qcode, down):
        """One key goes down (and stays down: the kernel's autorepeat runs)
        or comes up: a finger holding a key, one report."""
        self.qmp.execute("input-send-event",
                         events=[{"type": "key", "data": {"down": down, "key": {"type": "qcode", "data": qcode}}}])

    def pointer(self, x, y, down=None):
        """The tablet (axes 0..32767) at screen pixel (x, y), its button
        pressed (down True), released (False) or as it was (None): one
        report (QEMU ends it with SYN_REPORT), as a finger's move is."""
        events = [{"type": "abs", "data": {"axis": "x", "value": x * 32767 // max(1, self.width - 1)}},
                  {"type": "abs", "data": {"axis": "y", "value": y * 32767 // max(1, self.height - 1)}}]
        if down is not None:
            events.append({"type": "btn", "data": {"down": down, "button": "left"}})
        self.qmp.execute("input-send-event", events=events)

    def touch(self, x, y):
        """A tap at screen pixel (x, y) on the tablet."""
        self.pointer(x, y, True)
        self.pointer(x, y, False)

    def screendump(self, path):
        """What the GPU scans out, as a PNG file."""
        self.qmp.execute("screendump", filename=os.path.abspath(path), format="png")

    def reset(self):
        """The reset line: the guest reboots, RAM is lost, disks stay."""
        self.qmp.execute("system_reset")
        self.boots += 1

    def power_cut(self):
        """Pull the battery: SIGKILL, no shutdown of any kind."""
        self.kill()

    def quit(self):
        """QEMU's own quit: it stops at once, like a power cut, but closes its files."""
        if self.running:
            try:
                self.qmp.execute("quit")
            except (VmError, OSError):
                pass
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self.kill()

    def kill(self):
        if self.process is not None:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        if self.qmp is not None:
            self.qmp.close()
            self.qmp = None
        self.process = None
