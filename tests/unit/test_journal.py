"""Journal: append-only, checksummed, a torn last record dropped on load."""

import os

import pytest

from firmware.journal import Journal, encode_record
from firmware.terminal import APPROVED, TRACE_BLOCK, TerminalState
from hal.errors import StorageFullError
from hal.storage import DirStorage


def settle_report(batch):
    """A settlement report as settle.py journals it."""
    totals = {"sale_amount": 0, "sale_count": 0, "void_amount": 0, "void_count": 0,
              "refund_amount": 0, "refund_count": 0}
    return {"batch": batch, "time": "20261201120000", "totals": totals, "balanced": True}


def make_journal(tmp_path, **kw):
    return Journal(DirStorage(str(tmp_path / "data"), **kw))


def test_records_round_trip(tmp_path):
    journal = make_journal(tmp_path)
    records = [{"k": "batch", "batch": 7}, {"k": "txn", "batch": 7, "trace": 1, "amount": 1234, "text": "消费"}]
    for r in records:
        journal.append(r)
    assert make_journal(tmp_path).load() == records


def test_a_record_cut_at_every_byte_offset_recovers_the_state_before_it(tmp_path):
    storage = DirStorage(str(tmp_path / "data"))
    journal = Journal(storage)
    before = [{"k": "batch", "batch": 1}, {"k": "txn", "batch": 1, "trace": 5, "type": "sale",
                                             "amount": 100, "state": "sent"}]
    for r in before:
        journal.append(r)
    intact = storage.read("journal.dat")
    journal.append({"k": "reply", "batch": 1, "trace": 5, "state": "approved", "rrn": "000000000001"})
    last = storage.read("journal.dat")[len(intact):]
    for cut in range(len(last)):
        storage.write_atomic("journal.dat", intact + last[:cut])
        reloaded = Journal(storage)
        assert reloaded.load() == before, "cut at %d" % cut
        assert reloaded.dropped_bytes == cut
        assert reloaded.problems == []          # a torn tail is a power cut, not damage
        # The file is repaired: the next append lands after the intact part.
        assert storage.read("journal.dat") == intact
    storage.write_atomic("journal.dat", intact + last)
    assert len(Journal(storage).load()) == 3


def test_a_flipped_bit_in_the_last_record_drops_only_that_record(tmp_path):
    storage = DirStorage(str(tmp_path / "data"))
    journal = Journal(storage)
    journal.append({"k": "batch", "batch": 1})
    first = storage.size("journal.dat")
    journal.append({"k": "batch", "batch": 2})
    damaged = bytearray(storage.read("journal.dat"))
    damaged[-3] ^= 0x01
    storage.write_atomic("journal.dat", bytes(damaged))
    assert Journal(storage).load() == [{"k": "batch", "batch": 1}]
    assert storage.size("journal.dat") == first


def test_torn_bytes_are_kept_aside_not_lost(tmp_path):
    storage = DirStorage(str(tmp_path / "data"))
    Journal(storage).append({"k": "batch", "batch": 3})
    storage.append("journal.dat", b"\xa5\x4a\x00")
    Journal(storage).load()
    assert storage.read("journal.dat.torn") == b"\xa5\x4a\x00"


def test_full_disk_refuses_the_record_and_keeps_the_file_intact(tmp_path):
    journal = make_journal(tmp_path, capacity=200)
    journal.append({"k": "batch", "batch": 1})
    with pytest.raises(StorageFullError):
        journal.append({"k": "note", "text": "x" * 300})
    assert make_journal(tmp_path).load() == [{"k": "batch", "batch": 1}]


def test_state_is_rebuilt_from_the_journal(tmp_path):
    state = TerminalState(make_journal(tmp_path)).load()
    state.record("batch", batch=4)
    trace = state.next_trace()
    state.record("txn", batch=4, trace=trace, type="sale", amount=2500, state="sent")
    state.record("reply", batch=4, trace=trace, state=APPROVED, rc="00", rrn="123456789012")
    state.reserve_trace()
    again = TerminalState(make_journal(tmp_path)).load()
    assert again.batch == 4
    assert again.find_in_batch(trace)["state"] == APPROVED
    # after a reload the trace goes on after the reserved block, never back
    assert again.next_trace() == TRACE_BLOCK + 1
    assert again.totals()["sale_amount"] == 2500


class CannotCut(DirStorage):
    """A full disk on an interpreter without in-place truncate."""

    def truncate(self, name, size):
        raise StorageFullError("no room to rewrite %s" % name)


def test_a_torn_tail_that_cannot_be_cut_keeps_the_records_and_refuses_new_ones(tmp_path):
    from firmware.journal import JournalError
    storage = CannotCut(str(tmp_path / "data"))
    storage.append("journal.dat", encode_record({"k": "batch", "batch": 3}) + b"\xa5\x4a\x00\x09")
    journal = Journal(storage)
    assert journal.load() == [{"k": "batch", "batch": 3}]
    assert journal.broken
    with pytest.raises(JournalError):
        journal.append({"k": "batch", "batch": 4})


def test_an_unreadable_journal_is_an_error_not_an_empty_one(tmp_path):
    from hal.errors import StorageError
    storage = DirStorage(str(tmp_path / "data"))
    (tmp_path / "data" / "journal.dat").mkdir()   # exists, cannot be read as a file (even by root)
    with pytest.raises(StorageError):
        Journal(storage).load()


def test_new_transactions_leave_room_for_the_records_that_close_them(tmp_path):
    from firmware.terminal import TXN_RESERVE
    storage = DirStorage(str(tmp_path / "data"), capacity=TXN_RESERVE + 150)
    state = TerminalState(Journal(storage)).load()
    state.record("txn", batch=1, trace=1, type="sale", amount=100, state="sent")
    with pytest.raises(StorageFullError):
        state.record("txn", batch=1, trace=2, type="sale", amount=100, state="sent")
    # ...but the answer, a reversal, a settlement still go in
    state.record("unknown", batch=1, trace=1, reason="98")
    state.record("reversal", batch=1, trace=1, result="done")
    state.record("settle", batch=1, report=settle_report(1))
    assert state.batch == 2


def approved(state, batch, trace, kind, amount, rrn, **fields):
    """A transaction sent, approved and printed."""
    state.record("txn", batch=batch, trace=trace, type=kind, amount=amount, state="sent", **fields)
    state.record("reply", batch=batch, trace=trace, state=APPROVED, rc="00", rrn=rrn)
    state.record("printed", batch=batch, trace=trace)


def test_compaction_keeps_counters_and_what_old_sales_can_still_refund(tmp_path):
    state = TerminalState(make_journal(tmp_path)).load()
    approved(state, 1, 1, "sale", 1000, "000000000001")
    approved(state, 1, 2, "refund", 300, "000000000002", orig={"rrn": "000000000001"})
    approved(state, 1, 3, "sale", 500, "000000000003")
    approved(state, 1, 4, "refund", 500, "000000000004", orig={"rrn": "000000000003"})
    state.record("settle", batch=1, report=settle_report(1))
    state.compact()
    again = TerminalState(make_journal(tmp_path)).load()
    assert again.batch == 2 and again.next_trace() == TRACE_BLOCK + 1
    assert again.settled_batches == [1]
    # in RAM: the last approved transaction only (reprint); the sales are in the index
    assert [t["trace"] for t in again.batch_txns(1)] == [4]
    assert again.batch_txns() == []
    assert again.last_settlement == settle_report(1)
    assert again.index.count == 2
    # a second settlement: batch 1 stays refundable through the index
    approved(again, 2, 5, "sale", 200, "000000000005")
    again.record("settle", batch=2, report=settle_report(2))
    size_before = (tmp_path / "data" / "journal.dat").stat().st_size
    again.compact()
    assert (tmp_path / "data" / "journal.dat").stat().st_size < size_before
    third = TerminalState(make_journal(tmp_path)).load()
    sale = third.find_by_rrn("000000000001")
    assert sale["batch"] == 1 and third.refunded_total(sale) == 300
    # fully refunded, but still known: a further refund is refused on the terminal
    gone = third.find_by_rrn("000000000003")
    assert third.refunded_total(gone) == gone["amount"] == 500
    assert third.find_by_rrn("000000000005")["amount"] == 200
    assert third.index.count == 3
    assert third.batch == 3 and third.next_trace() == 5 + TRACE_BLOCK   # after the block trace 5 reserved
    assert 1 in third.settled_batches and 2 in third.settled_batches
    # one index file: the old generation is gone
    assert sorted(n for n in os.listdir(tmp_path / "data") if n.endswith(".idx")) == ["sales.2.idx"]


def test_a_refund_in_a_later_batch_is_counted_once_however_often_the_journal_is_compacted(tmp_path):
    state = TerminalState(make_journal(tmp_path)).load()
    state.record("txn", batch=1, trace=1, type="sale", amount=10000, state="sent")
    state.record("reply", batch=1, trace=1, state=APPROVED, rc="00", rrn="000000000001")
    state.record("settle", batch=1, report=settle_report(1))
    state.compact()
    state.record("txn", batch=2, trace=2, type="refund", amount=3000, state="sent",
                 orig={"rrn": "000000000001"})
    state.record("reply", batch=2, trace=2, state=APPROVED, rc="00", rrn="000000000002")
    for _ in range(3):
        state.record("settle", batch=state.batch, report=settle_report(state.batch))
        state.compact()
        again = TerminalState(make_journal(tmp_path)).load()
        assert again.refunded_total(again.find_by_rrn("000000000001")) == 3000


def test_a_voided_sale_stays_voided_after_its_void_is_compacted_away(tmp_path):
    state = TerminalState(make_journal(tmp_path)).load()
    state.record("txn", batch=1, trace=1, type="sale", amount=500, state="sent")
    state.record("reply", batch=1, trace=1, state=APPROVED, rc="00", rrn="000000000001")
    state.record("txn", batch=1, trace=2, type="void", amount=500, state="sent",
                 orig={"batch": 1, "trace": 1, "rrn": "000000000001"})
    state.record("reply", batch=1, trace=2, state=APPROVED, rc="00")
    for _ in range(2):
        state.record("settle", batch=state.batch, report=settle_report(state.batch))
        state.compact()
    again = TerminalState(make_journal(tmp_path)).load()
    sale = again.find_by_rrn("000000000001")
    assert sale["indexed"] and sale["voided"] and again.voided_by(sale)


def test_a_big_batch_goes_to_the_sale_index_and_unprinted_stays_unprinted(tmp_path):
    state = TerminalState(make_journal(tmp_path)).load()
    for trace in range(1, 401):
        state.record("txn", batch=1, trace=trace, type="sale", amount=100, state="sent",
                     pan="622202*********0017", time="20261122120000", op="01")
        state.record("reply", batch=1, trace=trace, state=APPROVED, rc="00", rrn="%012d" % trace)
        if trace != 400:
            state.record("printed", batch=1, trace=trace)
    state.record("settle", batch=1, report=settle_report(1))
    state.compact()
    again = TerminalState(make_journal(tmp_path)).load()
    assert again.index.count == 400
    assert again.find_by_rrn("%012d" % 123)["trace"] == 123     # found on disk
    assert [t["trace"] for t in again.batch_txns(1)] == [400]    # RAM: the receipt still owed
    assert [t["trace"] for t in again.unprinted()] == [400]


def test_a_failed_write_on_the_open_file_is_undone_and_the_next_append_lands_right(tmp_path):
    storage = DirStorage(str(tmp_path / "data"))
    journal = Journal(storage)
    journal.append({"k": "batch", "batch": 1})
    real_open = storage.open_append

    class HalfWrite:
        """A disk that fills up in the middle of the frame."""
        def __init__(self, name):
            self.inner = real_open(name)
            self.size = self.inner.size

        def append(self, data, reserve=0):
            self.inner._file.write(data[:len(data) // 2])
            self.inner._file.flush()
            raise StorageFullError("disk full")

        def close(self):
            self.inner.close()

    journal.close()
    storage.open_append = HalfWrite
    with pytest.raises(StorageFullError):
        journal.append({"k": "batch", "batch": 2})
    storage.open_append = real_open
    journal.append({"k": "batch", "batch": 3})        # the same journal object goes on
    again = Journal(storage)                          # and after a reboot
    assert again.load() == [{"k": "batch", "batch": 1}, {"k": "batch", "batch": 3}]
    assert again.problems == [] and again.dropped_bytes == 0


def test_appends_keep_one_file_open_and_ask_no_stat(tmp_path, monkeypatch):
    import hal.storage
    storage = DirStorage(str(tmp_path / "data"))
    journal = Journal(storage)
    journal.append({"k": "batch", "batch": 1})
    calls = []
    monkeypatch.setattr(hal.storage.os, "stat", lambda *a: calls.append(("stat", a)))
    monkeypatch.setattr(hal.storage.os, "statvfs", lambda *a: calls.append(("statvfs", a)))
    monkeypatch.setattr(hal.storage.os, "listdir", lambda *a: calls.append(("listdir", a)))
    for batch in range(2, 20):
        journal.append({"k": "batch", "batch": batch})
    assert calls == []
    monkeypatch.undo()
    assert len(Journal(storage).load()) == 19
