"""QR payments (扫码): the payment codes a cashier scans, and field 59 as the
acquirer wants it. Plain functions over str; no flow logic here.

    channel_of("134567890123456789")  -> "wechat"
    field59({"A3": code, "A2": device_info(...)}) -> "A3018134567890123456789A2..."
    parse_field59(text) -> {"A3": ..., "A2": ...}

Payment codes (the customer's phone shows them; we scan them, B2C) are
told apart by their shape, the way public acquirer integrations do:
WeChat Pay 18 digits starting 10-15, Alipay 16-24 digits starting 25-30,
UnionPay QR 19 digits starting 62. Anything else is refused before a
message is built: a misread or a code from another wallet must never reach
the host as a payment attempt.

Field 59 is a list of TLVs in ASCII: a 2-character tag, a 3-digit length,
the value (public UnionPay QR implementations use this form):
  A2  the device, itself made of sub-TLVs: 01 device type (2 digits),
      02 serial number (up to 50), 03 app version (up to 8)
  A3  the scanned payment code (B2C)
  A4  the order number the host gave (C2B, queries, refunds)
  A5  the order's status in a reply: "PAID", "WAITING", "CLOSED", "FAILED"
  A6  the code's text for the customer to scan (C2B reply)
"""

WECHAT = "wechat"
ALIPAY = "alipay"
UNIONPAY_QR = "unionpay"
CHANNELS = (WECHAT, ALIPAY, UNIONPAY_QR)

# Device type of a payment terminal that scans codes (条码支付受理终端).
DEVICE_TYPE_SCANNER = "10"


class QrPayError(ValueError):
    """`code` names the message in firmware/texts.py."""

    def __init__(self, code, detail=""):
        super().__init__(detail or code)
        self.code = code


def _digits(text):
    return isinstance(text, str) and len(text) > 0 and not text.strip("0123456789")


def channel_of(code):
    """The wallet a scanned payment code belongs to, or QrPayError."""
    if not _digits(code):
        raise QrPayError("QR_CODE_UNKNOWN", "not a payment code: not digits")
    head = int(code[:2])
    if len(code) == 18 and 10 <= head <= 15:
        return WECHAT
    if 16 <= len(code) <= 24 and 25 <= head <= 30:
        return ALIPAY
    if len(code) == 19 and head == 62:
        return UNIONPAY_QR
    raise QrPayError("QR_CODE_UNKNOWN", "not a payment code: %d digits starting %02d" % (len(code), head))


def tlv(tag, value):
    if len(tag) != 2:
        raise QrPayError("QR_FORMAT", "tag %r is not 2 characters" % (tag,))
    if len(value) > 999:
        raise QrPayError("QR_FORMAT", "value of %s is %d characters (999 at most)" % (tag, len(value)))
    return "%s%03d%s" % (tag, len(value), value)


def parse_tlvs(text):
    """'A3018...' -> {tag: value}; malformed text raises QrPayError."""
    out = {}
    pos = 0
    while pos < len(text):
        if pos + 5 > len(text) or not _digits(text[pos + 2:pos + 5]):
            raise QrPayError("QR_FORMAT", "TLV header cut short or not digits at %d" % pos)
        tag = text[pos:pos + 2]
        length = int(text[pos + 2:pos + 5])
        end = pos + 5 + length
        if end > len(text):
            raise QrPayError("QR_FORMAT", "%s needs %d characters, %d left" % (tag, length, len(text) - pos - 5))
        out[tag] = text[pos + 5:end]
        pos = end
    return out


def device_info(serial, app_version, device_type=DEVICE_TYPE_SCANNER):
    if len(serial) > 50 or len(app_version) > 8:
        raise QrPayError("QR_FORMAT", "serial (50) or app version (8) too long")
    return tlv("01", device_type) + tlv("02", serial) + tlv("03", app_version)


def field59(items):
    """[(tag, value), ...] or {tag: value} -> F59 text, tags in the order given
    (a dict: sorted, so the same request always makes the same bytes)."""
    if isinstance(items, dict):
        items = sorted(items.items())
    return "".join([tlv(tag, value) for tag, value in items])


def parse_field59(text):
    """F59 text -> {tag: value}, with A2 opened into {"A2": {...}}."""
    out = parse_tlvs(text)
    if "A2" in out:
        out["A2"] = parse_tlvs(out["A2"])
    return out
