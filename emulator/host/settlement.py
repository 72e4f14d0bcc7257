"""Field 48 of the settlement request and reply (0500 / 0510), in the layout
UnionPay POS terminals use (public terminal code agrees on it, e.g. the
"内卡结算总额" comments and parsers found with the search tool):

    domestic cards (内卡)                      foreign cards (外卡)
    0  debit amount   n12  (借记总金额)          31 debit amount   n12
    12 debit count    n3   (借记总笔数)          43 debit count    n3
    15 credit amount  n12  (贷记总金额)          46 credit amount  n12
    27 credit count   n3   (贷记总笔数)          58 credit count   n3
    30 settle code    n1   (对账应答代码)         61 settle code    n1

62 digits in all. Debit = sales that still stand (not voided, not reversed);
credit = refunds. The terminal sends its totals with the settle codes at 0;
the host answers with the same digits and its verdict in each settle code
position: 1 balanced (对账平), 2 unbalanced (对账不平), 3 error (对账出错).
"""

SECTION_DIGITS = 31
SETTLE_CODE_OFFSET = 30

BALANCED = "1"
UNBALANCED = "2"
ERROR = "3"


def parse_totals(digits):
    """The terminal's F48 -> [(debit_amount, debit_count, credit_amount,
    credit_count)] for the domestic section and, if present, the foreign one.
    Raises ValueError on anything but 31 or 62 digits."""
    if len(digits) not in (SECTION_DIGITS, 2 * SECTION_DIGITS) or not digits.isdigit():
        raise ValueError("settlement F48 must be 31 or 62 digits, got %d" % len(digits))
    sections = []
    for start in range(0, len(digits), SECTION_DIGITS):
        s = digits[start:start + SECTION_DIGITS]
        sections.append((int(s[0:12]), int(s[12:15]), int(s[15:27]), int(s[27:30])))
    return sections


def format_totals(debit_amount, debit_count, credit_amount, credit_count, settle_code="0"):
    """One 31-digit section."""
    return "%012d%03d%012d%03d%s" % (debit_amount, debit_count % 1000, credit_amount,
                                     credit_count % 1000, settle_code)


def with_settle_codes(digits, codes):
    """The terminal's F48 with the host's verdict written into each section's
    settle code position."""
    out = list(digits)
    for i, code in enumerate(codes):
        out[i * SECTION_DIGITS + SETTLE_CODE_OFFSET] = code
    return "".join(out)
