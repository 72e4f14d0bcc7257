"""Golden screens: idle, amount entry, approved, declined, void
confirmation, refund (what is left), reprint, settlement, a QR code shown and
the signing screen with a signature drawn, in English and
Chinese. Each language is one emulator script (tests/golden/screens/
golden_LANG.txt) whose `screenshot NAME compare REF` lines compare the
framebuffer with the committed PNGs, on a stopped clock.

A screen changed on purpose: run the command the failure prints with
--bless, look at the PNGs, commit them."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCREENS = os.path.join(ROOT, "tests", "golden", "screens")
NAMES = ("idle", "amount", "approved", "declined", "void-confirm", "refund-left", "reprint", "settlement",
         "qr-show", "esign-signed")


def command(lang, out, data):
    return [sys.executable, "-m", "emulator.cli", "--script", os.path.join(SCREENS, "golden_%s.txt" % lang),
            "--lang", lang, "--clock", "20261201093000", "--set", "message_ms=60000", "--set",
            "tear_pause_ms=100", "--set", "qr_poll_ms=10000", "--out", str(out), "--data", str(data)]


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_golden_screens(lang, tmp_path):
    for name in NAMES:
        assert os.path.exists(os.path.join(SCREENS, lang, name + ".png")), name
    result = subprocess.run(command(lang, tmp_path / "out", tmp_path / "data"), cwd=ROOT, capture_output=True,
                            text=True, timeout=240, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, (
        "%s\nactual and diff PNGs in %s; to accept: %s --bless"
        % (result.stderr, tmp_path / "out", " ".join(command(lang, "OUT", "DATA"))))
    for name in NAMES:
        assert "screenshot %s matches" % name in result.stdout
