"""The desktop emulator speaks the update protocol too (slots as folders):
pos-flash --port socket://... updates it, the new version boots on trial,
passes its health check and answers `hello` with its version."""

import json
import os
import re
import subprocess
import sys
import time

import pytest
import serial

from hosttools import bundle as tool
from tests.update.support import make_bundle, new_key

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def emulator(tmp_path):
    stem = str(tmp_path / "vendor")
    tool.keygen(stem)
    process = subprocess.Popen([sys.executable, "-m", "emulator.cli", "--data", str(tmp_path / "data"),
                                "--lang", "en", "--hil", "socket://127.0.0.1:0", "--trust", stem + ".pub",
                                "--set", "message_ms=200"],
                               cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    line = process.stdout.readline()
    match = re.search(r"HIL port: (\S+)", line)
    assert match, line + process.stdout.read() if process.poll() is not None else line
    yield match.group(1), tool.load_private(stem + ".key"), tmp_path
    process.terminate()
    process.wait(10)


def pos_flash(url, *args):
    result = subprocess.run([sys.executable, "-m", "hosttools.flash", "--port", url, "--no-progress"] + list(args),
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    return result.returncode, result.stdout + result.stderr


def hello(url):
    port = serial.serial_for_url(url, timeout=5)
    try:
        port.write(b'{"id": 9, "op": "hello"}\n')
        return json.loads(port.readline())
    finally:
        port.close()


def test_pos_flash_updates_the_emulator_over_a_socket(emulator):
    url, key, tmp_path = emulator
    code, out = pos_flash(url, "--status")
    assert code == 0 and "pos-emulator serial EMULATOR: version 0.1.0 in slot a" in out, out
    bundle = tmp_path / "app.bundle"
    bundle.write_bytes(make_bundle(key, "0.2.0"))
    code, out = pos_flash(url, str(bundle))
    assert code == 0, out
    assert "version 0.2.0 runs in slot b and passed its health check (marked good)" in out
    assert hello(url)["firmware"] == "0.2.0"
    assert os.path.exists(tmp_path / "data" / "image" / "slot-b" / "firmware" / "app.mpy")
    # a bundle from a key the emulator was not told to trust
    bundle.write_bytes(make_bundle(new_key(), "0.3.0"))
    code, out = pos_flash(url, str(bundle))
    assert code == 1 and "signed by an unknown key" in out and "Traceback" not in out
    code, out = pos_flash(url, "--rollback")
    assert code == 0 and "slot a boots next" in out
    deadline = time.monotonic() + 30
    while hello(url).get("firmware") != "0.1.0":
        assert time.monotonic() < deadline
        time.sleep(0.5)


def test_pos_flash_says_plainly_when_nothing_answers(tmp_path):
    code, out = pos_flash("socket://127.0.0.1:1", "--status")
    assert code == 1 and "cannot open port socket://127.0.0.1:1" in out and "Traceback" not in out
    code, out = pos_flash("/dev/nonexistent-tty", "--status")
    assert code == 1 and "check the name" in out
    code, out = pos_flash("loop://", "--status")        # a port where no handset answers
    assert code == 1 and "no device answering on loop://" in out, out
