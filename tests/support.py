"""Helpers shared by test folders (not fixtures: plain functions)."""

import os
import shutil
import sys


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
