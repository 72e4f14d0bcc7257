"""The supervisor password: wrong tries, the lockout, and its end."""

import time

import pytest

from tests.flows import cashier


def try_supervisor(dut, password):
    dut.menu("2")
    dut.supervisor(password)


def test_wrong_supervisor_password_then_lockout_then_unlocked_after_the_wait(dut):
    tries = dut.info["pw_max_failures"]
    lockout_s = dut.info["pw_lockout_s"]
    for left in range(tries - 1, 0, -1):
        try_supervisor(dut, "000000")
        dut.wait_text("Wrong password, %d tries left" % left)
        dut.wait_idle()
    try_supervisor(dut, "000000")
    dut.wait_text("Locked: try again in")
    # counted from when the device says so: a slow handset (or the virtual
    # one, 12-16x slower) takes seconds to get there from the first key
    locked_at = time.monotonic()
    dut.wait_idle()
    # locked: refused before the password is even asked, the right one too
    dut.menu("2")
    dut.wait_text("Locked: try again in")
    dut.wait_idle()
    if dut.supports("clock"):
        dut.advance_clock(lockout_s + 1)    # the emulator's wall clock moves on
    elif lockout_s > 600:
        pytest.skip("lockout of %d s is too long to wait out on this target" % lockout_s)
    else:
        time.sleep(max(0, lockout_s + 1 - (time.monotonic() - locked_at)))
    try_supervisor(dut, cashier.SUPERVISOR_PW)
    dut.wait_text("Original trace")
    dut.cancel()
    dut.wait_text("Cancelled")
    dut.wait_idle()
