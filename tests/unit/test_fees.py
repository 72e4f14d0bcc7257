"""firmware/fees.py against an independent calculation in decimal.Decimal
with ROUND_HALF_UP, over many random amounts and the rates merchants see."""

import random
from decimal import ROUND_HALF_UP, Decimal

import pytest

from firmware import fees
from tests.support import micropython_path, run_script

RATES = {"debit": (50, 2000), "credit": (60, None), "qr": (38, None)}


def reference_fee(amount, rate):
    points, cap = rate
    fee = (Decimal(abs(amount)) * Decimal(points) / Decimal(10000)).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    fee = int(fee)
    if cap is not None:
        fee = min(fee, cap)
    return fee if amount >= 0 else -fee


def test_worked_examples():
    assert fees.fee_fen(10000, (60, None)) == 60          # 100.00 at 0.60 % = 0.60
    assert fees.fee_fen(1234, (38, None)) == 5            # 4.6892 fen -> 5
    assert fees.fee_fen(1250, (40, None)) == 5            # exactly 5.0
    assert fees.fee_fen(125, (40, None)) == 1             # 0.5 fen: half up
    assert fees.fee_fen(124, (40, None)) == 0             # 0.496 fen
    assert fees.fee_fen(1000000, (50, 2000)) == 2000      # 10,000.00 debit: 50.00 capped at 20.00
    assert fees.fee_fen(-1234, (38, None)) == -5          # a refund gives its fee back


def test_against_decimal_half_up():
    rng = random.Random(11)
    for _ in range(5000):
        amount = rng.choice((1, -1)) * rng.randint(1, 10 ** 8)
        name = rng.choice(sorted(RATES))
        assert fees.fee_fen(amount, RATES[name]) == reference_fee(amount, RATES[name]), (amount, name)


def test_totals_are_sums_of_per_transaction_fees():
    rng = random.Random(12)
    items = [(rng.choice(sorted(RATES)), rng.randint(1, 500000)) for _ in range(300)]
    items += [(name, -amount // 3) for name, amount in items[:40]]
    report = fees.totals(items, RATES)
    for name in RATES:
        mine = [(n, a) for n, a in items if n == name]
        expect_fee = sum(reference_fee(a, RATES[name]) for _, a in mine)
        assert report[name]["fee"] == expect_fee
        assert report[name]["gross"] == sum(a for _, a in mine)
        assert report[name]["net"] == report[name]["gross"] - expect_fee
        assert report[name]["count"] == len(mine)
    assert report["total"]["fee"] == sum(report[n]["fee"] for n in RATES)
    assert report["total"]["net"] == report["total"]["gross"] - report["total"]["fee"]


@pytest.mark.parametrize("bad", [(-1, None), (1001, None), (50.0, None), (50, -1), (50, 1.5), (50,), "50"])
def test_bad_rates_are_refused(bad):
    with pytest.raises(fees.FeeError):
        fees.fee_fen(100, bad)


def test_no_rate_is_an_error_not_a_zero_fee():
    with pytest.raises(fees.FeeError):
        fees.totals([("unknown", 100)], RATES)
    with pytest.raises(fees.FeeError):
        fees.fee_fen(1.5, (50, None))


def test_same_fees_under_micropython():
    interpreter = micropython_path()
    if interpreter is None:
        pytest.skip("no micropython interpreter")
    amounts = [1, 124, 125, 1234, 99999, 1000000, -1234, 123456789]
    script = ("import sys\nsys.path.insert(0, '')\nfrom firmware import fees\n"
              "print([fees.fee_fen(a, r) for a in %r for r in %r])\n" % (amounts, list(RATES.values())))
    out = run_script(interpreter, script).strip()
    assert out == str([reference_fee(a, r) for a in amounts for r in RATES.values()])
