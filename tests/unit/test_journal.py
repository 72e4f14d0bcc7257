"""Journal: append-only, checksummed, a torn last record dropped on load."""

import pytest

from firmware.journal import Journal, decode_records, encode_record
from firmware.terminal import APPROVED, TerminalState
from hal.errors import StorageFullError
from hal.storage import DirStorage


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
    last = encode_record({"k": "reply", "batch": 1, "trace": 5, "state": "approved", "rrn": "000000000001"})
    for cut in range(len(last)):
        storage.write_atomic("journal.dat", intact + last[:cut])
        reloaded = Journal(storage)
        assert reloaded.load() == before, "cut at %d" % cut
        assert reloaded.dropped_bytes == cut
        # The file is repaired: the next append lands after the intact part.
        assert storage.read("journal.dat") == intact
    storage.write_atomic("journal.dat", intact + last)
    assert len(Journal(storage).load()) == 3


def test_a_flipped_bit_in_the_last_record_drops_only_that_record(tmp_path):
    data = encode_record({"k": "batch", "batch": 1}) + encode_record({"k": "batch", "batch": 2})
    damaged = bytearray(data)
    damaged[-3] ^= 0x01
    records, good = decode_records(bytes(damaged))
    assert records == [{"k": "batch", "batch": 1}]
    assert good == len(encode_record({"k": "batch", "batch": 1}))


def test_torn_bytes_are_kept_aside_not_lost(tmp_path):
    storage = DirStorage(str(tmp_path / "data"))
    storage.append("journal.dat", encode_record({"k": "batch", "batch": 3}) + b"\xa5\x00")
    Journal(storage).load()
    assert storage.read("journal.dat.torn") == b"\xa5\x00"


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
    assert again.next_trace() == trace + 2
    assert again.totals()["sale_amount"] == 2500
