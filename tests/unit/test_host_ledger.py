"""The host simulator's ledger, faults parser and settlement F48 layout,
without sockets."""

import pytest

from hal.sim import deck
from hal.sim.deck import find_card
from emulator.host.faults import Faults, parse_fault_spec
from emulator.host.ledger import Ledger, mask_pan
from emulator.host import settlement


@pytest.fixture
def ledger():
    led = Ledger(":memory:")
    led.seed_accounts(deck.test_deck())
    yield led
    led.close()


def test_accounts_seeded_from_the_deck_on_host_cards_only(ledger):
    assert ledger.balance(find_card("debit-mag").pan) == 10000000
    assert ledger.account(find_card("debit-pin").pan)["pin"] == "123456"
    assert ledger.account(find_card("unknown").pan) is None
    with pytest.raises(KeyError) as err:
        ledger.balance(find_card("unknown").pan)
    assert "622588*********0085" in str(err.value)  # masked, never in full


def test_reseeding_keeps_balances(tmp_path):
    path = tmp_path / "host.sqlite"
    led = Ledger(path)
    led.seed_accounts(deck.test_deck())
    pan = find_card("debit-mag").pan
    with led.transaction():
        led.adjust_balance(pan, -500)
    led.close()
    led = Ledger(path)
    led.seed_accounts(deck.test_deck())
    assert led.balance(pan) == 10000000 - 500
    led.close()


def test_a_failed_transaction_rolls_back_everything(ledger):
    pan = find_card("debit-mag").pan
    with pytest.raises(RuntimeError):
        with ledger.transaction():
            ledger.adjust_balance(pan, -100)
            ledger.add_refunded(1, 100)
            raise RuntimeError("host bug")
    assert ledger.balance(pan) == 10000000
    assert ledger.refunded(1) == 0


def test_batch_advances_once_per_settled_batch(ledger):
    with ledger.transaction():
        ledger.sign_on("T0000001", "M00000000000001", b"p" * 16, b"m" * 16, "now")
        ledger.advance_batch("T0000001", 1)
        ledger.advance_batch("T0000001", 1)  # settlement resent: still batch 2
    assert ledger.terminal("T0000001")["batch"] == 2


def test_counters_and_masking(ledger):
    with ledger.transaction():
        assert [ledger.next_counter("rrn") for _ in range(3)] == [1, 2, 3]
    assert mask_pan("6222021000000000017") == "622202*********0017"
    assert ledger.count_applied("sale") == 0
    with pytest.raises(ValueError):
        ledger.count_applied("bogus")


def test_fault_specs():
    assert parse_fault_spec("no_reply:0200:1") == {"kind": "no_reply", "mti": "0200", "count": 1}
    assert parse_fault_spec("refuse") == {"kind": "refuse", "mti": None, "count": 1}
    assert parse_fault_spec("drop:*:*") == {"kind": "drop", "mti": None, "count": None}
    assert parse_fault_spec("delay:0200:2:50")["delay_ms"] == 50
    assert parse_fault_spec("decline:0220:1:51")["code"] == "51"
    for bad in ("", "explode:0200", "drop:200", "drop:0200:x", "drop:0200:1:5", "a:b:c:d:e"):
        with pytest.raises(ValueError):
            parse_fault_spec(bad)


def test_faults_fire_count_times_on_matching_mti():
    faults = Faults()
    faults.add("drop", mti="0200", count=2)
    faults.add("refuse")
    assert faults.take_for_request("0800") is None
    assert faults.take_for_request("0200").kind == "drop"
    assert faults.take_for_request("0200").kind == "drop"
    assert faults.take_for_request("0200") is None
    assert faults.take_for_connection().kind == "refuse"
    assert faults.pending() == []
    forever = faults.add("delay", count=None, delay_ms=1)
    for _ in range(5):
        assert faults.take_for_request("0400") is forever
    faults.clear()
    assert faults.take_for_request("0400") is None


def test_settlement_f48_layout():
    """The layout public UnionPay terminal code uses: domestic debit amount
    n12, count n3, credit amount n12, count n3, settle code n1, then the same
    31 digits for foreign cards. Sources (found with the search tool): a
    Newland payment app, com/newland/payment/trans/impl/Settle.java, reads
    the reply's settle codes at field48[30] and field48[61] (1 balanced, 2
    unbalanced, 3 error); a C terminal library builds the request as
    "%012s%03s%012s%03s" + "0" + 31 zeros for the foreign section."""
    domestic = settlement.format_totals(12345, 2, 100, 1)
    assert domestic == "000000012345" "002" "000000000100" "001" "0"
    digits = domestic + settlement.format_totals(0, 0, 0, 0)
    assert len(digits) == 62
    assert settlement.parse_totals(digits) == [(12345, 2, 100, 1), (0, 0, 0, 0)]
    answered = settlement.with_settle_codes(digits, ["1", "2"])
    assert answered[30] == "1" and answered[61] == "2"
    assert answered[:30] == digits[:30]
    with pytest.raises(ValueError):
        settlement.parse_totals("123")
