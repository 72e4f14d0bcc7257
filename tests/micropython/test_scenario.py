"""The real thing: the firmware runs under MicroPython, a cashier drives it
(scenario.py, run BY micropython) against the CPython host simulator on
loopback, and the host's ledger and the terminal's journal must agree to
the fen.

The same scenario runs twice on ONE data directory: the second boot
replays the journal the first MicroPython process wrote (batch advanced by
the settlement, trace numbers going on, the changed supervisor password
kept), which is the handset's real life, power off and on; two fresh
directories would only repeat the first run. It runs once more under
CPython, and both interpreters must journal the same thing.
"""

import json
import os
import sys
import time

import pytest

from emulator.host.record import read_record
from emulator.host.server import HostSimulator
from firmware import iso8583
from hal.sim.deck import find_card
from tests.conftest import TEST_SETTINGS
from tests.micropython.conftest import HERE, run_json

SCENARIO = os.path.join(HERE, "scenario.py")
CARD = find_card("debit-mag")
# What the full scenario does, in the terminal's words.
# the journal op shows a sale voided since as "voided", one refunded (in part) as "refunded"
FULL_SESSION = [("sale", 1234, "voided"), ("void", 1234, "approved"), ("sale", 10000, "refunded"),
                ("refund", 3000, "approved"), ("refund", 2500, "approved")]
REFUNDED = 3000 + 2500
NET_PER_SESSION = -10000 + REFUNDED   # the first sale is voided
SLIPS_PER_SESSION = 2 * 5 + 1 + 1     # two copies each, one reprint, one settlement report
# (sign-on, then its parameter download: two 0800s)
REQUESTS_PER_SESSION = ["0800", "0800", "0200", "0200", "0200", "0220", "0220", "0500"]


def scenario_settings(**more):
    # Results stay up 50 ms: the driver sees short-lived screens (display.recent).
    return json.dumps(dict(TEST_SETTINGS, message_ms=50, **more))


def run_scenario(interpreter, host, data_dir, mode="full", cwd=None, **settings):
    """-> (output, wall seconds of the whole interpreter process)."""
    started = time.monotonic()
    out, completed = run_json([interpreter, SCENARIO, "--path", os.path.dirname(os.path.dirname(HERE)),
                               "--data", str(data_dir), "--port", str(host.port), "--mode", mode,
                               "--settings", scenario_settings(**settings)], cwd=cwd or str(data_dir.parent))
    wall = time.monotonic() - started
    assert "error" not in out, "%s\nscreen: %s\n--- firmware log\n%s" % (
        out["error"], out.get("screen"), completed.stderr[-4000:])
    assert completed.returncode == 0, completed.stderr[-4000:]
    return out, wall


def journal_of(out):
    return out["batches"][str(out["first_batch"])]


def requests(record_path):
    return [iso8583.unpack(iso8583.unframe(frame[2:])[2])[0]
            for _, direction, frame in read_record(record_path) if direction == "in"]


def assert_ledger_agrees(host, journal):
    """Each journal entry is on the host with the same kind, amount, RRN and
    response code; voids are what turned a sale to 'voided' on the host; and
    nothing is on the host for these batches that the terminal does not know."""
    rows = {}
    batches = set(t["batch"] for t in journal)
    for row in host.transactions():
        if row["batch"] in batches:
            rows[(row["batch"], row["trace"])] = row
    voided = set((r["orig_batch"], r["orig_trace"]) for r in rows.values()
                 if r["kind"] == "void" and r["status"] == "approved")
    assert sorted(rows) == sorted((t["batch"], t["trace"]) for t in journal)
    for txn in journal:
        row = rows[(txn["batch"], txn["trace"])]
        assert (row["kind"], row["amount"], row["rrn"], row["response_code"]) == \
            (txn["type"], txn["amount"], txn["rrn"], txn["rc"]), txn
        assert (txn["status"] == "voided") == ((txn["batch"], txn["trace"]) in voided), txn
        # the host keeps a refunded sale "approved" (refunds are rows of their own)
        expected = "approved" if txn["status"] == "refunded" else txn["status"]
        assert row["status"] == expected, (txn, row["status"])
        assert row["pan_masked"] == txn["card"]


APPROVED_SALE = ("approved", "voided", "refunded")   # approved by the host, whatever came after


def net_of(journal):
    """What the journal says the card account moved, in fen."""
    sales = sum(t["amount"] for t in journal if t["type"] == "sale" and t["status"] in APPROVED_SALE)
    voids = sum(t["amount"] for t in journal if t["type"] == "void" and t["status"] == "approved")
    refunds = sum(t["amount"] for t in journal if t["type"] == "refund" and t["status"] == "approved")
    return -sales + voids + refunds


@pytest.fixture(scope="module")
def twice(micropython, tmp_path_factory):
    """The full scenario twice under MicroPython, one data directory, one host."""
    base = tmp_path_factory.mktemp("twice")
    host = HostSimulator(str(base / "host.sqlite"), record_path=str(base / "frames.log"))
    host.start_in_thread()
    try:
        opening = host.balance(CARD.pan)
        runs = []
        for _ in range(2):
            out, wall = run_scenario(micropython, host, base / "handset")
            runs.append(dict(out, wall=wall, balance_after=host.balance(CARD.pan)))
        yield host, opening, runs
    finally:
        host.close()


def test_each_run_journals_the_whole_session(twice):
    _, _, runs = twice
    for out in runs:
        assert out["interpreter"] == "micropython"
        assert [(t["type"], t["amount"], t["status"]) for t in journal_of(out)] == FULL_SESSION
        assert all(t["rc"] == "00" and t["card"] == "622202*********0017" for t in journal_of(out))
        assert out["reprinted"] == 1 and out["reprint_marked"]
        assert out["printouts"] == SLIPS_PER_SESSION
        assert out["current_batch"] == out["first_batch"] + 1     # settled: a new batch


def test_host_ledger_and_terminal_journal_agree_to_the_fen(twice):
    host, opening, runs = twice
    balance = opening
    for out in runs:
        journal = journal_of(out)
        assert_ledger_agrees(host, journal)
        assert net_of(journal) == NET_PER_SESSION
        balance += net_of(journal)
        assert out["balance_after"] == balance
        sale = [t for t in journal if t["type"] == "sale"][-1]
        refunds = sum(t["amount"] for t in journal if t["type"] == "refund" and t["status"] == "approved")
        assert host.refunded_total(sale["rrn"]) == refunds == REFUNDED
    assert host.balance(CARD.pan) == opening + 2 * NET_PER_SESSION


def test_the_host_settled_each_batch_balanced(twice):
    host, _, runs = twice
    settled = [(row["batch"], row["result"]) for row in host.settlements()]
    assert [batch for batch, _ in settled] == [out["settled_batch"] for out in runs]
    assert host.batch_uploads() == []     # balanced: nothing to upload
    assert len(settled) == 2


def test_second_run_continues_the_first_ones_journal(twice):
    _, _, (first, second) = twice
    assert first["factory_password_at_start"] is True
    assert second["factory_password_at_start"] is False      # the changed one was kept
    assert second["first_batch"] == first["current_batch"]
    # No trace number ever repeats, the reboot included.
    first_traces = [t["trace"] for t in journal_of(first)]
    second_traces = [t["trace"] for t in journal_of(second)]
    assert len(set(first_traces + second_traces)) == len(first_traces + second_traces)


def test_every_recorded_frame_decodes_and_the_refused_refund_never_left(twice):
    host, _, _ = twice
    frames = read_record(host.record_path)
    assert frames
    for _, direction, frame in frames:
        assert int.from_bytes(frame[:2], "big") == len(frame) - 2
        tpdu, _header, body = iso8583.unframe(frame[2:])
        mti, fields = iso8583.unpack(body)
        assert direction in ("in", "out") and len(tpdu) == 5
        if direction == "out":
            assert 39 in fields
    assert requests(host.record_path) == REQUESTS_PER_SESSION * 2


def test_cpython_journals_the_same_session(twice, tmp_path):
    """Same scenario, same firmware, CPython: the same journal (RRNs aside,
    they carry the host's clock), and the two wall times for the report."""
    _, _, runs = twice
    with HostSimulator(str(tmp_path / "host.sqlite")) as host:
        out, wall = run_scenario(sys.executable, host, tmp_path / "handset")

    def shape(o):
        # RRNs are the host's (time-based); the originals they point at too
        return [dict(t, rrn=None, orig=dict(t["orig"], rrn=None) if t.get("orig") else None)
                for t in journal_of(o)]

    assert out["interpreter"] == "cpython"
    assert shape(out) == shape(runs[0])
    first = runs[0]
    print("\nscenario wall time: micropython %.2f s (second run %.2f s), cpython %.2f s; micropython "
          "heap held after boot %s, at the end %s (heap %s)" % (
              first["wall"], runs[1]["wall"], wall, first["heap_after_boot"], first["heap_at_end"],
              first["heap_size"]))


def test_no_reply_is_reversed_exactly_once_under_micropython(micropython, tmp_path):
    with HostSimulator(str(tmp_path / "host.sqlite"), record_path=str(tmp_path / "frames.log")) as host:
        before = host.balance(CARD.pan)
        host.faults.add("no_reply", mti="0200")
        out, _ = run_scenario(micropython, host, tmp_path / "handset", mode="reversal")
        journal = journal_of(out)
        assert [(t["type"], t["amount"], t["status"]) for t in journal] == [("sale", 4321, "reversed")]
        assert host.balance(CARD.pan) == before
        assert host.count_applied("reversal") == 1
        assert [r["effect"] for r in host.reversals()] == ["undone"]
        sent = [mti for mti in requests(host.record_path)]
        assert sent == ["0800", "0800", "0200", "0400"]   # sign-on, parameters, sale, reversal
        reversal = [iso8583.unpack(iso8583.unframe(frame[2:])[2])[1]
                    for _, direction, frame in read_record(host.record_path)
                    if direction == "in" and frame[2 + 11:2 + 13] == b"\x04\x00"][0]
        assert reversal[39] == "98" and reversal[11] == "%06d" % journal[0]["trace"]
        assert [row["status"] for row in host.transactions()] == ["reversed"]


def test_paper_none_under_micropython_shows_the_e_receipt_and_prints_nothing(micropython, tmp_path):
    """The QR e-receipt drawn by MicroPython: the link holds this terminal,
    the sale's RRN and a code the host accepts as the cardholder copy's;
    Reprint shows the same link; the settlement report is on the screen."""
    with HostSimulator(str(tmp_path / "host.sqlite")) as host:
        out, _ = run_scenario(micropython, host, tmp_path / "handset", mode="paper", paper="none")
        sale, = journal_of(out)
        assert (sale["type"], sale["amount"], sale["status"]) == ("sale", 2500, "approved")
        base, query = out["qr"].split("?", 1)
        query = dict(pair.split("=", 1) for pair in query.split("&"))
        assert (query["t"], query["r"]) == (host.transactions()[0]["tid"], sale["rrn"])
        found = host.verify_receipt(query["c"])
        assert found["valid"] and (found["trace"], found["copy"], found["reprint"]) == (sale["trace"], "cardholder", 0)
        assert out["qr_copy"] == out["qr"]
        assert "Sales 1: 25.00" in out["settle_screen"] and "Balanced" in out["settle_screen"]
        assert out["printouts"] == 0


def test_a_sale_signed_on_the_screen_under_micropython(micropython, tmp_path):
    """The signing screen run by MicroPython: the touch panel's strokes,
    CONFIRM tapped, the image at the host byte for byte what CPython's
    esign makes of the same strokes (rasterize, encode); in packets of 64
    bytes, each acknowledged by an 0830 that names it, so nothing is owed."""
    from firmware import esign
    with HostSimulator(str(tmp_path / "host.sqlite")) as host:
        out, _ = run_scenario(micropython, host, tmp_path / "handset", mode="esign", esign=True,
                              esign_packet_bytes=64)
        sale, = journal_of(out)
        assert (sale["type"], sale["amount"], sale["status"]) == ("sale", 2600, "approved")
        tid = host.transactions()[0]["tid"]
        signature, = [s for s in host.ledger.signatures(tid) if s["trace"] == sale["trace"]]
        assert signature["completed_at"] and signature["packet_count"] >= 2
        assert out["uploads_owed"] == 0
        assert signature["image"] == esign.encode(esign.rasterize(out["signature"]), esign.IMAGE_WIDTH,
                                                  esign.IMAGE_HEIGHT)
