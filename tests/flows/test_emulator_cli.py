"""pos-emulator --script: the headless mode CI and the docs use."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_emulator(tmp_path, script_text, *extra):
    script = tmp_path / "script.txt"
    script.write_text(script_text, encoding="utf-8")
    return subprocess.run([sys.executable, "-m", "emulator.cli", "--lang", "en", "--data", str(tmp_path / "data"),
                           "--script", str(script), "--out", str(tmp_path / "out")] + list(extra),
                          cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def test_demo_script_runs_and_writes_pngs(tmp_path):
    with open(os.path.join(ROOT, "docs", "demo.txt"), encoding="utf-8") as f:
        result = run_emulator(tmp_path, f.read())
    assert result.returncode == 0, result.stderr
    for name in ("idle.png", "amount.png", "approved.png", "receipt.png"):
        assert (tmp_path / "out" / name).stat().st_size > 500
    assert "RMB 12.34" in result.stdout
    assert "6222021000000000017" not in result.stdout


def test_a_script_that_waits_for_what_never_comes_fails_with_the_screen(tmp_path):
    result = run_emulator(tmp_path, "idle\nwait Something else\n")
    assert result.returncode == 1
    assert "line 2" in result.stderr and "POS Terminal" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_commands_and_cards_are_explained(tmp_path):
    result = run_emulator(tmp_path, "idle\nswipe no-such-card\n")
    assert result.returncode == 1
    assert "no test card 'no-such-card'" in result.stderr and "debit-mag" in result.stderr
    result = run_emulator(tmp_path, "frobnicate\n")
    assert result.returncode == 1 and "unknown command" in result.stderr
