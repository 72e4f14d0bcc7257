"""A journal record that decodes but does not fit its schema: the terminal
still boots, in a "service needed" state that names the problem, refuses
new transactions, and still settles, reprints and exports for support."""

import os

from firmware.journal import encode_record
from tests.flows import cashier
from tests.flows.test_settle_reprint import reprint, settle


def test_a_bad_record_boots_into_service_needed_then_settlement_clears_it(make_handset, host, tmp_path):
    h = make_handset()
    cashier.unlock_supervisor(h)
    cashier.sale(h, 1500, "debit-mag")
    sale = cashier.last_txn(h)
    h.power_cut()
    with open(tmp_path / "handset" / "journal.dat", "ab") as f:
        f.write(encode_record({"k": "txn", "batch": 1}))   # a valid CRC: KeyError at every boot before
    h.start()
    screen = h.screen_text()
    assert "Service needed" in screen and "Journal: 1 bad record" in screen
    assert os.path.exists(tmp_path / "handset" / "journal.dat.quarantine")
    # no new sale...
    h.keys("100")
    h.wait_text("Service needed")
    h.wait_idle()
    assert host.count_applied("sale") == 1
    # ...but what the terminal holds is still there: reprint, support export, settlement
    before = h.printout_count()
    reprint(h, "1")
    assert h.printout_count() == before + 1
    cashier.menu(h, "7")
    h.wait_text("5.Support export")
    h.keys("5")
    h.wait_text("Support data saved")
    h.wait_idle()
    exported = (tmp_path / "handset" / "support.dat").read_bytes()
    assert b"== journal.dat.quarantine " in exported and b"record quarantined (txn: missing trace)" in exported
    assert sale["rrn"].encode() in exported
    settle(h)
    assert host.settlements()[-1]["result"].startswith("1")   # the sale was counted
    assert "Service needed" not in h.screen_text()
    cashier.sale(h, 200, "debit-mag")
    h.reboot()
    assert "Service needed" not in h.screen_text()
