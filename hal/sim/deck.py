"""The deck of test cards, shared by the simulated card reader, the acquirer
host simulator (which opens an account for each) and the tests.

All numbers are test numbers: Luhn-valid (but "bad-luhn") 19-digit PANs on
UnionPay BINs, never issued to anyone. Expiry is YYMM. `pin` is what the
host expects (None: the card needs no PIN); `pin_always`: the chip demands
it at every amount, a tap below the QuickPass limit too. `balance` is the host account's
opening balance in fen. `chip` cards can be inserted; `contactless` ones
tapped; every card has a magstripe (a chip card swiped asks for the chip:
service code 2xx).
"""


class TestCard:
    def __init__(self, name, label, pan, expiry, service_code="101", pin=None,
                 balance=10000000, chip=False, contactless=False, on_host=True,
                 card_seq="001", track2=None, pin_always=False):
        self.name = name
        self.label = label
        self.pan = pan
        self.expiry = expiry
        self.service_code = service_code
        self.pin = pin
        self.balance = balance
        self.chip = chip
        self.contactless = contactless
        self.on_host = on_host
        self.card_seq = card_seq
        # The issuer wants the PIN at every amount, tapped too (no 小额双免).
        self.pin_always = pin_always
        # A garbled track overrides the normal one.
        self._track2 = track2

    @property
    def track2(self):
        if self._track2 is not None:
            return self._track2
        return "%s=%s%s%s" % (self.pan, self.expiry, self.service_code, "0000000000")

    def __repr__(self):
        return "TestCard(%s)" % self.name


def test_deck():
    """A new list of the deck's cards (a function, not a module-level list:
    nothing is built at import time)."""
    return [
        TestCard("debit-mag", "Debit, magstripe, no PIN", "6222021000000000017", "3012"),
        TestCard("debit-pin", "Debit, magstripe, PIN 123456", "6228480000000000026", "3012",
                 service_code="120",
                 pin="123456"),
        TestCard("chip-pin", "Debit chip + contactless, PIN 888888", "6217000000000000038", "3106",
                 service_code="220", pin="888888", chip=True, contactless=True),
        TestCard("chip-pin-always", "Debit chip + contactless, PIN 246810 at every amount",
                 "6217000000000000046", "3106", service_code="220", pin="246810", chip=True,
                 contactless=True, pin_always=True),
        TestCard("credit-chip", "Credit chip, no PIN", "6258070000000000045", "2912",
                 service_code="201", chip=True, contactless=True, balance=5000000),
        TestCard("low-funds", "Debit, 10.00 yuan left", "6222021000000000058", "3012",
                 balance=1000),
        TestCard("expired", "Expired 01/20", "6214830000000000064", "2001"),
        TestCard("bad-luhn", "Bad check digit", "6230580000000000071", "3012"),
        TestCard("unknown", "Not known to the host", "6225880000000000085", "3012", on_host=False),
        TestCard("garbled", "Unreadable magstripe", "6222620000000000095", "3012",
                 track2="6222620000?=3O1#"),
    ]


def find_card(name):
    for card in test_deck():
        if card.name == name:
            return card
    raise KeyError("no test card named %r (known: %s)" % (name, ", ".join(c.name for c in test_deck())))


class PaymentCode:
    """A customer's payment code as a phone shows it (B2C). `pays`:
    "at_once" (the wallet pays without asking), "confirm" (the customer
    must confirm on the phone: the host answers 09 until they do, or until
    the test says so), "decline" (the wallet refuses: 51)."""

    def __init__(self, name, label, code, pays="at_once", balance=10000000):
        self.name = name
        self.label = label
        self.code = code
        self.pays = pays
        self.balance = balance

    def __repr__(self):
        return "PaymentCode(%s)" % self.name


def payment_codes():
    """A new list of the deck's payment codes (test numbers of each family's shape)."""
    return [
        PaymentCode("wx-pay", "WeChat Pay, pays at once", "134567890123456789"),
        PaymentCode("ali-confirm", "Alipay, customer confirms on the phone", "281234567890123456",
                    pays="confirm"),
        PaymentCode("up-pay", "UnionPay QR, pays at once", "6212345678901234567"),
        PaymentCode("wx-low", "WeChat Pay, 10.00 yuan left", "101234567890123456", balance=1000),
        PaymentCode("ali-refuse", "Alipay, the wallet refuses", "251234567890123456", pays="decline"),
    ]


def find_payment_code(name):
    for code in payment_codes():
        if code.name == name:
            return code
    raise KeyError("no payment code named %r (known: %s)" % (name, ", ".join(c.name for c in payment_codes())))
