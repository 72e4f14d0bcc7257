"""A display for the window tests: $DISPLAY when there is one, else an
Xvfb of our own (started here, stopped after the session). Without either,
outside CI the tests skip and say why; in CI (CI=true) that is a failure,
since .ci/run installs xvfb."""

import os
import shutil
import subprocess

import pytest


def _no_window(reason):
    if os.environ.get("CI") == "true":
        pytest.fail("window tests need %s in CI (.ci/run installs xvfb)" % reason)
    pytest.skip("no window test: %s" % reason)


@pytest.fixture(scope="session")
def display():
    try:
        import tkinter  # noqa: F401
    except ImportError as e:
        _no_window("tkinter (%s)" % e)
    if os.environ.get("DISPLAY"):
        yield os.environ["DISPLAY"]
        return
    xvfb = shutil.which("Xvfb")
    if xvfb is None:
        _no_window("a display: DISPLAY is not set and Xvfb is not installed (apt install xvfb)")
    read_end, write_end = os.pipe()
    proc = subprocess.Popen([xvfb, "-displayfd", str(write_end), "-screen", "0", "1400x1000x24",
                             "-nolisten", "tcp"], pass_fds=(write_end,),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_end)
    number = b""
    with os.fdopen(read_end, "rb") as pipe:
        while not number.endswith(b"\n"):
            chunk = pipe.read(1)
            if not chunk:
                break
            number += chunk
    if not number.strip().isdigit():
        proc.kill()
        _no_window("a display: Xvfb did not start")
    name = ":" + number.strip().decode()
    os.environ["DISPLAY"] = name
    try:
        yield name
    finally:
        del os.environ["DISPLAY"]
        proc.terminate()
        proc.wait(10)
