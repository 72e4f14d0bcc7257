"""Decommission (退机) at the counter: settled, nothing owed, a slip, the
host's confirmation, then keys and data wiped; refused while anything is
owed; a power cut after the host confirmed finishes the wipe at boot."""

import os

from firmware import decommission
from tests.flows import cashier


def start_decommission(h):
    cashier.menu(h, "7")
    h.wait_text("6.Decommission")
    h.keys("6")
    cashier.supervisor(h)
    h.wait_text("Settles, then wipes keys, data")
    h.enter()


def test_decommission_settles_prints_and_wipes(make_handset, host, tmp_path):
    h = make_handset()
    cashier.unlock_supervisor(h)
    cashier.sale(h, 1500, "debit-mag")
    batch = h.app.state.batch
    before = h.printout_count()
    assert (tmp_path / "handset" / "acquirer.json").exists()   # the acquirer's parameters: wiped too
    start_decommission(h)
    h.wait_text("Returned: power off", timeout_ms=20000)
    settled = host.settlements()[-1]
    assert settled["batch"] == batch and settled["result"].startswith("1")
    slips = ["\n".join(lines) for lines in cashier.receipts_text(h, before)]
    assert any("SETTLEMENT" in s for s in slips) and "DEVICE RETURN" in slips[-1]
    assert host.terminal("10000001")["status"] == "unknown"
    data = tmp_path / "handset"
    for name in decommission.wiped_files(h.app.devices.storage):
        assert not (data / name).exists(), name
    h.power_cut()
    # The next boot is a factory terminal: factory passwords, an empty
    # journal, and the host no longer knows it.
    h2 = make_handset()
    h2.wait_idle()
    assert h2.app.operators.is_factory("00")
    assert h2.journal() == []
    assert not h2.app.signed_on


def test_refused_while_a_reversal_is_owed(make_handset, host):
    h = make_handset()
    cashier.unlock_supervisor(h)
    host.faults.add("no_reply", mti="0200")
    host.faults.add("no_reply", mti="0400", count=None)        # the reversal gets no answer either
    h.keys("700")
    h.enter()
    h.wait_text("Swipe, insert or tap card")
    h.card("swipe", "debit-mag")
    h.wait_idle(timeout_ms=30000)
    assert len(h.app.state.pending_reversals()) == 1
    host.faults.clear()
    host.faults.add("refuse", count=None)                      # and now nothing gets through
    start_decommission(h)
    h.wait_idle(timeout_ms=30000)
    assert len(h.app.state.pending_reversals()) == 1           # still owed...
    assert h.app.devices.keystore.has_master_key()             # ...so nothing was wiped
    assert h.journal() != []
    assert decommission.stage(h.app.devices.storage) in ("started", "settled")
    assert host.terminal("10000001")["status"] != "unknown"


def test_a_power_cut_after_the_host_confirmed_finishes_the_wipe_at_boot(make_handset, host, tmp_path):
    h = make_handset()
    cashier.unlock_supervisor(h)
    cashier.sale(h, 1500, "debit-mag")
    storage = h.app.devices.storage
    # The cut falls right after the host's confirmation was written down.
    real_set_stage = decommission.set_stage

    def cut_after_confirmed(target, name):
        real_set_stage(target, name)
        if name == "confirmed":
            raise RuntimeError("power cut")

    decommission.set_stage = cut_after_confirmed
    try:
        start_decommission(h)
        h.wait_text("Internal error", timeout_ms=20000)
    finally:
        decommission.set_stage = real_set_stage
    h.power_cut()
    assert (tmp_path / "handset" / "journal.dat").exists()
    assert decommission.stage(storage) == "confirmed"
    h2 = make_handset()
    h2.wait_idle()
    assert h2.journal() == []                         # the sale's journal is gone (a new one began)
    assert not os.path.exists(str(tmp_path / "handset" / decommission.DECOMMISSION_FILE))
    assert h2.app.operators.is_factory("00")
