"""A journal record that decodes but does not fit its schema: the terminal
still boots, in a "service needed" state that names the problem, refuses
new transactions, and still settles, reprints and exports for support."""

import os

from firmware.journal import Journal
from hal.sim.keystore import SimKeyStore
from hal.storage import DirStorage
from tests.flows import cashier
from tests.flows.test_settle_reprint import reprint, settle


def append_behind_its_back(data_dir, record):
    """A record with a valid CRC and MAC (as a bug of an older firmware
    would have written it), appended while the handset is off."""
    storage = DirStorage(str(data_dir))
    journal = Journal(storage, mac=SimKeyStore(storage).journal_mac)
    journal.load()
    journal.append(record)


def test_a_bad_record_boots_into_service_needed_then_settlement_clears_it(make_handset, host, tmp_path):
    h = make_handset()
    cashier.unlock_supervisor(h)
    cashier.sale(h, 1500, "debit-mag")
    sale = cashier.last_txn(h)
    h.power_cut()
    append_behind_its_back(tmp_path / "handset", {"k": "txn", "batch": 1})   # KeyError at every boot before
    h.start()
    screen = h.screen_text()
    assert "Service needed" in screen and "Journal: 1 problem(s) found" in screen
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


def test_a_deleted_journal_never_makes_a_trace_come_round_again(make_handset, host, tmp_path):
    h = make_handset()
    cashier.sale(h, 3000, "debit-mag")
    first = cashier.last_txn(h)
    h.power_cut()
    os.remove(tmp_path / "handset" / "journal.dat")
    h.start()
    cashier.sale(h, 1000, "debit-mag")      # before: the same trace, "approved" from the host's duplicate
    second = cashier.last_txn(h)
    assert second["trace"] > first["trace"]
    assert host.count_applied("sale") == 2
