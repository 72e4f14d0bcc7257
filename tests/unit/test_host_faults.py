"""Fault injection in the host simulator: each kind, over real TCP, and what
it did (or did not do) to the ledger."""

import socket
import time

import pytest

from firmware import iso8583
from hal.sim.deck import find_card
from emulator.host.server import HostSimulator
from tests.unit.test_host_terminal import Terminal, read_frame

DEBIT = find_card("debit-mag")


@pytest.fixture
def host():
    simulator = HostSimulator(None)
    simulator.start_in_thread()
    yield simulator
    simulator.close()


@pytest.fixture
def term(host):
    t = Terminal(host.port)
    assert t.sign_on()[1][39] == "00"
    return t


def test_delay_answers_late_and_applies(host, term):
    host.faults.add("delay", mti="0200", delay_ms=300)
    started = time.monotonic()
    mti, reply = term.sale(DEBIT, 100)
    assert time.monotonic() - started >= 0.3
    assert reply[39] == "00"
    assert host.balance(DEBIT.pan) == DEBIT.balance - 100


def test_delay_longer_than_the_terminal_waits(host, term):
    host.faults.add("delay", mti="0200", delay_ms=600)
    with pytest.raises(socket.timeout):
        term.exchange("0200", term.sale_fields(DEBIT, 100), timeout=0.2)
    assert host.count_applied("sale") == 1


def test_drop_applies_then_hangs_up_and_a_reversal_repairs_it(host, term):
    host.faults.add("drop", mti="0200")
    fields = term.sale_fields(DEBIT, 4200)
    with pytest.raises(ConnectionError):
        term.exchange("0200", fields)
    assert host.balance(DEBIT.pan) == DEBIT.balance - 4200  # the scary case
    assert term.reverse(fields)[1][39] == "00"
    assert host.balance(DEBIT.pan) == DEBIT.balance
    assert host.faults.pending() == []


def test_drop_before_applies_nothing(host, term):
    host.faults.add("drop_before", mti="0200")
    fields = term.sale_fields(DEBIT, 4200)
    with pytest.raises(ConnectionError):
        term.exchange("0200", fields)
    assert host.transactions() == []
    assert term.reverse(fields)[1][39] == "00"
    assert host.reversals()[0]["effect"] == "original unknown"


def test_no_reply_applies_and_keeps_the_connection_open(host, term):
    host.faults.add("no_reply", mti="0200")
    with term.connect() as sock:
        sock.sendall(term.request_frame("0200", term.sale_fields(DEBIT, 100)))
        sock.settimeout(0.3)
        with pytest.raises(socket.timeout):
            sock.recv(10)  # open, silent: not an EOF
    assert host.count_applied("sale") == 1


def test_stop_closes_a_connection_held_by_no_reply(host, term):
    host.faults.add("no_reply")
    sock = term.connect()
    sock.sendall(term.request_frame("0200", term.sale_fields(DEBIT, 100)))
    time.sleep(0.1)
    started = time.monotonic()
    host.stop_thread()
    assert time.monotonic() - started < 2
    sock.settimeout(1)
    assert sock.recv(10) == b""
    sock.close()


def test_bad_mac_applies_and_answers_with_a_wrong_mac(host, term):
    host.faults.add("bad_mac", mti="0200")
    mti, reply = term.sale(DEBIT, 100)
    assert reply[39] == "00"
    assert 64 in reply and not term.mac_ok(mti, reply)
    assert host.count_applied("sale") == 1
    mti, reply = term.sale(DEBIT, 100)  # used up: the next reply is fine
    assert term.mac_ok(mti, reply)


def test_garbage_applies_and_answers_noise(host, term):
    host.faults.add("garbage", mti="0200")
    with term.connect() as sock:
        sock.sendall(term.request_frame("0200", term.sale_fields(DEBIT, 100)))
        payload = read_frame(sock)
    tpdu, header, body = iso8583.unframe(payload)
    with pytest.raises(iso8583.Iso8583Error):
        iso8583.unpack(body)
    assert host.count_applied("sale") == 1


def test_unsigned_applies_and_answers_a_final_looking_code_without_a_mac(host, term):
    host.faults.add("unsigned", mti="0200")
    host.faults.add("unsigned", mti="0200", code="99")
    mti, reply = term.sale(DEBIT, 2345)
    assert reply[39] == "A0" and 64 not in reply and 37 not in reply and 38 not in reply
    assert term.sale(DEBIT, 100)[1][39] == "99"
    assert host.count_applied("sale") == 2
    assert host.balance(DEBIT.pan) == DEBIT.balance - 2445


def test_decline_answers_the_code_and_applies_nothing(host, term):
    host.faults.add("decline", mti="0220", code="96")
    host.faults.add("decline", mti="0200")
    sale = term.sale(DEBIT, 5000)[1]
    assert sale[39] == "96"
    assert host.transactions() == []
    sale = term.sale(DEBIT, 5000)[1]
    assert sale[39] == "00"
    mti, reply = term.refund(DEBIT, 100, sale[37])
    assert reply[39] == "96" and term.mac_ok(mti, reply)
    assert host.refunded_total(sale[37]) == 0


def test_decline_with_another_code(host, term):
    host.faults.add("decline", mti="0200", code="51")
    assert term.sale(DEBIT, 100)[1][39] == "51"


def test_refuse_resets_new_connections(host, term):
    host.faults.add("refuse", count=2)
    for _ in range(2):
        with pytest.raises(ConnectionError):
            term.sale(DEBIT, 100)
    assert term.sale(DEBIT, 100)[1][39] == "00"
    assert host.count_applied("sale") == 1


def test_fault_counts_and_mti_filter(host, term):
    host.faults.add("drop_before", mti="0220", count=2)
    approved = term.sale(DEBIT, 100)[1]
    assert approved[39] == "00"  # a sale is not a refund
    fields = term.refund_fields(DEBIT, 100, approved[37])
    for _ in range(2):
        with pytest.raises(ConnectionError):
            term.exchange("0220", fields)
    assert term.exchange("0220", fields)[1][39] == "00"


def test_refund_resent_after_a_dropped_reply_is_paid_once(host, term):
    sale = term.sale(DEBIT, 5000)[1]
    host.faults.add("drop", mti="0220")
    fields = term.refund_fields(DEBIT, 2000, sale[37])
    with pytest.raises(ConnectionError):
        term.exchange("0220", fields)
    mti, reply = term.exchange("0220", fields)  # same trace, as DESIGN says
    assert reply[39] == "00"
    assert host.refunded_total(sale[37]) == 2000
    assert host.balance(DEBIT.pan) == DEBIT.balance - 3000


def test_faults_fire_on_sign_on_too(host):
    host.faults.add("no_reply", mti="0800")
    t = Terminal(host.port)
    with pytest.raises(socket.timeout):
        t.exchange("0800", {**t.base(), 60: "00000001003"}, with_mac=False, timeout=0.2)


def test_bad_fault_arguments_are_refused(host):
    with pytest.raises(ValueError):
        host.faults.add("explode")
    with pytest.raises(ValueError):
        host.faults.add("drop", delay_ms=5)
    with pytest.raises(ValueError):
        host.faults.add("decline", code="5")
