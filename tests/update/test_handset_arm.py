"""The virtual ARM handset (Debian's arm64 kernel and MicroPython 1.25
under qemu-system-aarch64, emulator/qemu), flashed over its serial pty:
build, flash, reboot, health check, mark-good and the new version's
`hello` over the test protocol; then real power cuts (QMP quit) at the
risky points: mid-upload, right after the install, during the trial boot.

Slow (minutes): it runs in `tox -e arm` (POS_ARM_TESTS=1), not in the
other environments.
"""

import os
import threading
import time

import pytest

from hosttools import bundle as tool
from hosttools.flash import Device, FlashError, flash, upload, wait_healthy
from tests.update.support import new_key

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(os.environ.get("POS_ARM_TESTS") != "1",
                                 reason="the virtual ARM handset runs in tox -e arm (POS_ARM_TESTS=1)")]
IMAGE_ROOT = "/data/image"
WAIT_S = 900       # a health check of a guest 12-16x slower than native
BOOT_S = 300       # a boot to the idle screen (the test protocol takes at most 600 s a wait)


@pytest.fixture(scope="module")
def bundles(tmp_path_factory):
    work = tmp_path_factory.mktemp("arm-bundles")
    mpy_cross = tool.default_mpy_cross()
    mpy = tool.mpy_cross_version(mpy_cross)
    files = tool.compile_files(ROOT, mpy_cross, str(work / "mpy"))
    key = new_key()
    out = {"trust": tool.raw_public(key.public_key())}
    for version in ("0.1.0", "0.2.0", "0.3.0"):
        out[version] = tool.build(key, version, files, mpy=mpy)
    return out


@pytest.fixture(scope="module")
def arm(tmp_path_factory, bundles):
    from emulator.qemu.handset import VirtualHandset
    from emulator.qemu.vm import make_data_disk

    class FlashableHandset(VirtualHandset):
        """The virtual handset with its firmware in slots on the data disk,
        booted by the boot stage (emulator/qemu/init.sh runs /data/image/boot.py
        when there is one), pos-flash on the same UART as the test protocol."""

        def config(self):
            config = VirtualHandset.config(self)
            config["update"] = {"root": IMAGE_ROOT, "serial": "VM0001", "health_timeout_ms": WAIT_S * 1000}
            return config

    work = tmp_path_factory.mktemp("arm")
    image = work / "factory"
    tool.write_image(bundles["0.1.0"], [bundles["trust"]], str(image))
    handset = FlashableHandset(work / "vm", settings={"lang": "en", "reply_timeout_ms": 5000,
                                                      "connect_timeout_ms": 5000, "message_ms": 500})
    files = {"pos/settings.json": b'{"test_protocol": true, "lang": "en"}'}
    for folder, _, names in os.walk(image):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                files["image/" + os.path.relpath(path, image)] = f.read()
    os.makedirs(work / "vm", exist_ok=True)
    make_data_disk(str(work / "vm" / "data.img"), files)
    handset.start()
    yield handset
    handset.stop()


def console(handset):
    with open(handset.vm.console_log, errors="replace") as f:
        return f.read()


def bench_port(handset):
    """pos-flash's end of the guest's UART: the test port's reader steps aside."""
    handset.port.close()
    handset.port = None
    return Device.open(handset.vm.ptys["test"], 921600, reply_timeout_s=120)


def back_to_the_test_protocol(handset, device):
    from emulator.qemu.handset import GuestPort
    device.close()
    handset.port = GuestPort(handset.vm.ptys["test"])
    return handset.call({"op": "hello"}, 60)


def test_full_update_of_the_virtual_arm_handset_then_power_cuts(arm, bundles, tmp_path):
    assert arm.call({"op": "hello"}, 60)["firmware"] == "0.1.0"
    device = bench_port(arm)
    hello = device.request("hello")
    assert hello["mpy"] == "6.3" and hello["version"] == "0.1.0", hello
    lines = []
    flash(device, bundles["0.2.0"], out=lines.append, progress=False, wait_s=WAIT_S)
    assert "version 0.2.0 runs in slot b and passed its health check (marked good)" in lines[-1], lines
    hello = back_to_the_test_protocol(arm, device)
    assert hello["ok"] and hello["firmware"] == "0.2.0", hello

    # a real power cut mid-upload (QMP quit), then on again: the upload resumes
    device = bench_port(arm)
    data = bundles["0.3.0"]
    cut = {}

    def cut_at_half(received, total):
        if received > total // 2 and not cut:
            cut["at"] = received
            arm.vm.quit()
    with pytest.raises(FlashError):
        device.reply_timeout_s = 15
        upload(device, data, on_chunk=cut_at_half, retries=0)
    device.close()
    arm.port = None
    arm.boot(BOOT_S)
    device = bench_port(arm)
    resumed = upload(device, data)
    assert resumed >= cut["at"] - 2 * 8192, (resumed, cut)
    # a cut right after the install (the trial is on disk), then one during
    # the trial boot itself, before its health check: each boot pays a try
    assert device.request("install")["ok"]
    device.close()
    arm.vm.quit()
    arm.port = None
    arm.vm.start()
    deadline = time.monotonic() + BOOT_S
    while console(arm).count("version 0.3.0 (trial)") < 1:
        assert time.monotonic() < deadline, console(arm)[-2000:]
        time.sleep(0.2)
    arm.vm.quit()                                           # the app of the trial is starting
    assert "passed its health check" not in console(arm).split("version 0.3.0 (trial)")[-1]
    arm.boot(BOOT_S)                                        # the second trial boot
    assert console(arm).count("version 0.3.0 (trial)") == 2
    device = bench_port(arm)
    final = wait_healthy(device, "0.3.0", out=lambda line: None, wait_s=WAIT_S)
    assert final["version"] == "0.3.0" and not final["on_trial"]
    hello = back_to_the_test_protocol(arm, device)
    assert hello["firmware"] == "0.3.0"
    journal = arm.call({"op": "journal"}, 60)
    assert journal["ok"], journal
