"""What the merchant meets in the field: paper out, a dead modem, a full
disk, and card data where it must never be."""

import os
from pathlib import Path
import re

from hal.sim import deck
from tests.flows import cashier


def test_paper_out_mid_receipt_waits_then_resumes_without_repeating_the_sale(handset, host):
    h = handset
    h.call(h.app.devices.printer.paper_runs_out_after, 300)
    h.wait_idle()
    h.keys("1000")
    h.enter()
    h.wait_text("Swipe, insert or tap card")
    h.card("swipe", "debit-mag")
    h.wait_text("Printer out of paper")
    assert h.journal()[-1]["status"] == "approved"
    h.call(h.app.devices.printer.load_paper)
    h.wait_text("Sale approved")
    h.wait_idle()
    slips = cashier.receipts_text(h)
    assert len(slips) == 2
    merchant = slips[0]
    # every line once, none lost at the paper break
    assert merchant.count("签购单 POS SALES SLIP") == 1
    assert "RMB 10.00" in merchant
    assert len([t for t in h.journal() if t["type"] == "sale"]) == 1
    printed = h.app.devices.printer.printed
    assert printed.count(b"RMB 10.00") == 2   # one per copy, nothing printed twice


def test_dead_modem_gives_a_clear_message_and_no_transaction(handset, host):
    h = handset
    h.app.devices.modem.powered = False
    cashier.sale(h, 100, "debit-mag", expect="Host unreachable")
    assert h.journal()[-1]["status"] == "not_sent"
    h.app.devices.modem.powered = True
    cashier.sale(h, 100, "debit-mag")


def test_full_disk_refuses_before_anything_leaves(make_handset, host, tmp_path):
    h = make_handset()
    cashier.sale(h, 100, "debit-mag")
    used = sum(os.path.getsize(os.path.join(tmp_path / "handset", f)) for f in os.listdir(tmp_path / "handset"))
    h.app.devices.storage.capacity = used + 10
    sent = host.count_applied("sale")
    cashier.sale(h, 200, "debit-mag", expect="Storage full, settle first")
    assert host.count_applied("sale") == sent


def test_no_full_card_number_on_screens_receipts_logs_or_storage(handset, host, tmp_path):
    h = handset
    cashier.unlock_supervisor(h)
    cashier.sale(h, 1000, "debit-mag")
    cashier.sale(h, 1000, "debit-pin", pin="123456")
    cashier.sale(h, 1000, "chip-pin", action="insert", pin="888888")
    sale = cashier.last_txn(h)
    cashier.void(h, sale["trace"], card="chip-pin", action="insert", pin="888888")
    pans = [c.pan for c in deck.test_deck()]
    tracks = [c.track2 for c in deck.test_deck()] + [c.track2.replace("=", "D") for c in deck.test_deck()]
    screens = "\n".join("\n".join([t] + list(l)) for _g, t, l in h.app.devices.display.recent)
    receipts = "\n".join("\n".join(s) for s in cashier.receipts_text(h))
    log = "\n".join(h.app.log.lines)
    journal = str(h.journal())
    for text in (screens, receipts, log, journal):
        for pan in pans:
            assert pan not in text
    # storage: every file of the handset, as bytes, folders too (sig/: the e-signatures)
    data = b""
    for folder, _dirs, files in os.walk(tmp_path / "handset"):
        for name in files:
            data += (Path(folder) / name).read_bytes()
    for secret in pans + tracks:
        assert secret.encode() not in data
    # the PINs typed (the sim key store's test master key happens to hold "123456")
    without_master_key = data.replace(b"0123456789abcdeffedcba9876543210", b"")
    assert b"123456" not in without_master_key and b"888888" not in without_master_key
    # no digit run anywhere that looks like a UnionPay card number (62 + 14..17 digits)
    assert not re.search(rb"(?<![0-9a-fA-F])62\d{14,17}(?![0-9a-fA-F])", data)


def test_power_cut_before_the_receipt_prints_it_at_boot(make_handset, host):
    h = make_handset()
    h.call(h.app.devices.printer.remove_paper)
    h.wait_idle()
    h.keys("4200")
    h.enter()
    h.wait_text("Swipe, insert or tap card")
    h.card("swipe", "debit-mag")
    h.wait_text("Printer out of paper")
    h.power_cut()
    h.start()                         # a new roll in the new (simulated) printer
    slips = cashier.receipts_text(h)
    assert len(slips) == 2 and "RMB 42.00" in slips[0]
    assert h.journal()[-1]["status"] == "approved"
    h.reboot()                        # printed once: not again at the next boot
    assert cashier.receipts_text(h) == []


def test_a_printer_fault_after_approval_still_says_approved(handset, host):
    from hal.errors import PrinterError
    h = handset

    async def broken(data):
        raise PrinterError("print head overheated")
    h.app.devices.printer._write = broken
    cashier.sale(h, 1000, "debit-mag", expect="Sale approved")
    h.wait_idle()
    assert h.journal()[-1]["status"] == "approved"
    assert any("Printer error" in "\n".join(lines) for _g, _t, lines in h.app.devices.display.recent)


def test_storage_full_then_settlement_frees_room(make_handset, host, tmp_path):
    """'Storage full, settle first' must be a message the merchant can follow."""
    from tests.flows.test_settle_reprint import settle
    from firmware.terminal import TXN_RESERVE
    h = make_handset()
    cashier.unlock_supervisor(h)
    for amount in (100, 200, 300):
        cashier.sale(h, amount, "debit-mag")
    used = h.app.devices.storage._used()
    # a new transaction must leave the reserve and room for the next snapshot
    h.app.devices.storage.capacity = used + TXN_RESERVE + h.app.journal.size() + 50
    cashier.sale(h, 400, "debit-mag", expect="Storage full, settle first")
    settle(h)
    assert host.settlements()[-1]["result"].startswith("1")
    cashier.sale(h, 400, "debit-mag")       # the compacted journal has room again
    assert h.journal()[-1]["status"] == "approved"


def test_an_unreadable_journal_stops_transactions_with_a_message(make_handset, host, tmp_path):
    h = make_handset()
    cashier.sale(h, 100, "debit-mag")
    h.power_cut()
    journal = tmp_path / "handset" / "journal.dat"
    journal.rename(tmp_path / "journal.saved")
    journal.mkdir()                         # there, but not readable as a file
    h.start(wait_idle=False)
    h.wait_text("Journal error, nothing done")
    h.wait_idle()
    sent = host.count_applied("sale")
    h.keys("100")                           # a sale cannot even sign on: it needs a trace number
    h.wait_text("Journal error, nothing done")
    h.wait_idle()
    assert host.count_applied("sale") == sent


def test_power_cut_between_the_two_copies_prints_only_the_missing_one(make_handset, host):
    h = make_handset()
    h.call(h.app.devices.printer.paper_runs_out_after, 1300)   # the merchant copy fits, the cardholder's not
    h.wait_idle()
    h.keys("4300")
    h.enter()
    h.wait_text("Swipe, insert or tap card")
    h.card("swipe", "debit-mag")
    h.wait_text("Printer out of paper")
    merchant = cashier.receipts_text(h)
    assert len(merchant) == 1 and "MERCHANT COPY" in "\n".join(merchant[0])
    h.power_cut()
    h.start()
    slips = cashier.receipts_text(h)
    assert len(slips) == 1 and "CARDHOLDER COPY" in "\n".join(slips[0])
    h.reboot()
    assert cashier.receipts_text(h) == []
