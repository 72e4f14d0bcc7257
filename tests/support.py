"""Helpers shared by test folders (not fixtures: plain functions)."""

import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def micropython_path():
    """The MicroPython interpreter: $MICROPYTHON, beside this python (the tox
    env's bin), or on PATH; None if there is none."""
    for candidate in (os.environ.get("MICROPYTHON"),
                      os.path.join(os.path.dirname(sys.executable), "micropython"),
                      shutil.which("micropython")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


def in_ci():
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def run_script(interpreter, script, timeout=60):
    """Run `script` with `interpreter -c` from the repository root; -> stdout.
    A failure shows what the interpreter printed."""
    result = subprocess.run([interpreter, "-c", script], cwd=ROOT, capture_output=True, text=True,
                            timeout=timeout)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout
