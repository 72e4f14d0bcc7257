"""Golden screens: idle, amount entry, approved, declined, void
confirmation, refund (what is left), reprint and settlement, in English and
Chinese; with setting paper none the electronic receipt's QR screen; with
setting esign the signing screen with a signature drawn. Each is an
emulator script a language (tests/golden/screens/golden_LANG.txt,
golden_paper_LANG.txt, golden_esign_LANG.txt) whose `screenshot NAME
compare REF` lines compare the
framebuffer with the committed PNGs, on a stopped clock.

A screen changed on purpose: run the command the failure prints with
--bless, look at the PNGs, commit them."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCREENS = os.path.join(ROOT, "tests", "golden", "screens")
# script -> (its screenshots, the settings it runs with besides the common ones)
SCRIPTS = {
    "golden": (("idle", "amount", "approved", "declined", "void-confirm", "refund-left", "reprint", "settlement",
                "qr-show"), ()),
    "golden_paper": (("ereceipt",), ("paper=none",)),
    "golden_esign": (("esign-signed",), ("esign=true",)),
}


def command(script, lang, out, data):
    settings = ("message_ms=60000", "tear_pause_ms=100", "qr_poll_ms=10000") + SCRIPTS[script][1]
    options = []
    for setting in settings:
        options += ["--set", setting]
    return [sys.executable, "-m", "emulator.cli", "--script", os.path.join(SCREENS, "%s_%s.txt" % (script, lang)),
            "--lang", lang, "--clock", "20261201093000"] + options + ["--out", str(out), "--data", str(data)]


@pytest.mark.parametrize("script", sorted(SCRIPTS))
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_golden_screens(lang, script, tmp_path):
    names = SCRIPTS[script][0]
    for name in names:
        assert os.path.exists(os.path.join(SCREENS, lang, name + ".png")), name
    result = subprocess.run(command(script, lang, tmp_path / "out", tmp_path / "data"), cwd=ROOT,
                            capture_output=True, text=True, timeout=240, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, (
        "%s\nactual and diff PNGs in %s; to accept: %s --bless"
        % (result.stderr, tmp_path / "out", " ".join(command(script, lang, "OUT", "DATA"))))
    for name in names:
        assert "screenshot %s matches" % name in result.stdout
