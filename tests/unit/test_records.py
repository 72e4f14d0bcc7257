"""Typed journal records: a schema a kind; writing a record that does not
fit raises at once; at boot one that does not fit is quarantined, never
stops the boot."""

import json

import pytest

from firmware.journal import Journal
from firmware.records import RecordError, RecordSchemas
from firmware.terminal import TerminalState
from hal.storage import DirStorage


def make_state(tmp_path):
    storage = DirStorage(str(tmp_path / "data"))
    journal = Journal(storage)
    return storage, journal, TerminalState(journal).load()


@pytest.mark.parametrize("kind, fields, why", [
    ("nonsense", {"batch": 1}, "unknown kind"),
    ("txn", {"batch": 1}, "missing trace"),
    ("txn", {"batch": 1, "trace": 2, "type": "sale", "amount": 100, "state": "sent", "colour": "red"},
     "unexpected field colour"),
    ("txn", {"batch": 1, "trace": 2, "type": "sale", "amount": "100", "state": "sent"}, "amount is str"),
    ("txn", {"batch": 1, "trace": 2, "type": "sale", "amount": True, "state": "sent"}, "amount is bool"),
    ("reply", {"batch": 1, "trace": 2, "state": "approved"}, "missing rc"),
    ("settle", {"batch": 1}, "missing report"),
])
def test_writing_a_record_that_does_not_fit_raises_and_writes_nothing(tmp_path, kind, fields, why):
    storage, _, state = make_state(tmp_path)
    state.record("batch", batch=1)
    before = storage.read("journal.dat")
    with pytest.raises(RecordError, match=why):
        state.record(kind, **fields)
    assert storage.read("journal.dat") == before


def test_every_kind_has_exactly_one_handler():
    kinds = set(RecordSchemas().kinds)
    handlers = {name[4:] for name in dir(TerminalState) if name.startswith("_on_")}
    assert kinds == handlers


@pytest.mark.parametrize("bad", [
    {"k": "txn", "batch": 1},                                      # KeyError at every boot before
    {"k": "reply", "batch": 1, "trace": 1, "state": "approved", "rc": 0},
    {"k": "teleport", "to": "mars"},
    {"k": "settle", "batch": 1, "report": {"batch": 1}},           # a report no slip can be printed from
    {"k": "snapshot", "batch": 2, "last_trace": 9, "settled": [], "last_settlement": {"time": "x"}},
    [1, 2, 3],                                                     # JSON, not a record
])
def test_a_record_that_decodes_but_does_not_fit_is_quarantined_not_fatal(tmp_path, bad):
    storage, journal, state = make_state(tmp_path)
    state.record("batch", batch=3)
    state.record("txn", batch=3, trace=1, type="sale", amount=100, state="sent")
    journal.append(bad)     # intact, chained: only its content is wrong
    state.record("reply", batch=3, trace=1, state="approved", rc="00", rrn="000000000001")
    again = TerminalState(Journal(storage)).load()       # must not raise
    assert again.find(3, 1)["state"] == "approved"     # the records around it are applied
    assert len(again.problems) == 1 and "quarantined" in again.problems[0]
    kept = json.dumps(bad).encode() + b"\n"
    assert storage.read("journal.dat.quarantine") == kept
    TerminalState(Journal(storage)).load()                # a second boot keeps it once
    assert storage.read("journal.dat.quarantine") == kept
