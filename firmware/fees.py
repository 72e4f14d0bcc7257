"""The merchant discount (手续费, 费率) on the settlement report: integer fen,
no floats anywhere near money.

A rate is in hundredths of a percent (basis points: 0.38 % is 38) with an
optional cap in fen (debit cards in China: 0.50 % capped at 20.00 yuan,
i.e. (50, 2000)). The fee is computed per transaction and rounded half up
to the fen (0.5 fen and above goes up), then capped; totals are the sums of
those per-transaction fees, as an acquirer's statement adds them up.
Refunds and voids give their fee back the same way (a negative amount).
"""

BASIS = 10000   # a rate counts in 1/10000 of the amount


class FeeError(ValueError):
    pass


def check_rate(rate):
    """(basis points, cap fen or None) -> the same, or FeeError."""
    if not isinstance(rate, (list, tuple)) or len(rate) != 2:
        raise FeeError("a rate is [basis points, cap in fen or null], not %r" % (rate,))
    points, cap = rate
    if type(points) is not int or not (0 <= points <= 1000):
        raise FeeError("rate %r is not 0..1000 basis points (0 %%..10 %%)" % (points,))
    if cap is not None and (type(cap) is not int or cap < 0):
        raise FeeError("cap %r is not a number of fen" % (cap,))
    return points, cap


def fee_fen(amount, rate):
    """The fee of one transaction of `amount` fen (negative for money given
    back), rounded half up, capped; it has the amount's sign."""
    points, cap = check_rate(rate)
    if type(amount) is not int:
        raise FeeError("amount %r is not an integer number of fen" % (amount,))
    size = abs(amount)
    fee = (size * points * 2 + BASIS) // (2 * BASIS)     # half up, in integers
    if cap is not None and fee > cap:
        fee = cap
    return fee if amount >= 0 else -fee


def totals(items, rates):
    """items: [(class, amount fen), ...]; rates: {class: rate}. -> {class:
    {"gross", "fee", "net", "count"}} plus "total" over all classes. A class
    without a rate is an error: a report must never show a fee of 0 by
    omission."""
    out = {}
    for name, amount in items:
        if name not in rates:
            raise FeeError("no rate for %r" % (name,))
        row = out.get(name)
        if row is None:
            row = out[name] = {"gross": 0, "fee": 0, "net": 0, "count": 0}
        fee = fee_fen(amount, rates[name])
        row["gross"] += amount
        row["fee"] += fee
        row["net"] += amount - fee
        row["count"] += 1
    total = {"gross": 0, "fee": 0, "net": 0, "count": 0}
    for row in out.values():
        for key in total:
            total[key] += row[key]
    out["total"] = total
    return out


# UnionPay chip AIDs whose cards are credit (贷记卡) or quasi-credit (准贷记卡).
CREDIT_AIDS = ("A000000333010102", "A000000333010103")


def card_class(txn):
    """"qr" for a QR payment, "credit" for a credit chip card, else
    "debit". A swiped card carries no class on the terminal (that needs
    the acquirer's BIN table): it counts as debit, whose cap keeps the
    error small and on the merchant's side."""
    if txn.get("order"):
        return "qr"
    if (txn.get("aid") or "").upper() in CREDIT_AIDS:
        return "credit"
    return "debit"


def rates_from(settings):
    cap = settings.fee_debit_cap_fen
    return {"debit": (settings.fee_debit_bp, cap or None), "credit": (settings.fee_credit_bp, None),
            "qr": (settings.fee_qr_bp, None)}
