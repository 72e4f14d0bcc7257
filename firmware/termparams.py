"""The terminal parameter download (参数下载): what the acquirer sets on this
terminal, carried in field 62 of the 0810 that answers a 0800 with 60.3 =
360, sent right after a sign-on (firmware/flows/signon.py). Plain functions
over bytes; the parameters become a layer of the settings
(firmware/settings.py, Settings.set_acquirer).

UnionPay's terminal specification names this exchange 参数传递 (network code
360) and has field 62 carry "code + value" pairs in ASCII. Its code table
has no entry for the 小额双免 limits or the e-signature rules, and its
values are fixed-width per code, so our acquirer link uses the same ASCII
TLV form as field 59 (firmware/qrpay.py): a 2-character tag, a 3-digit
length, the value.

    tag  setting                       value
    Q1   qps_no_pin_limit_fen          digits (fen), 1-12 of them
    Q2   qps_no_signature_limit_fen    digits (fen), 1-12 of them
    E1   esign_void                    "1" the cardholder signs a void, "0" not
    E2   esign_refund                  "1" the cardholder signs a refund, "0" not

    b"Q100530000Q200550000E10011E20010"
      -> {"qps_no_pin_limit_fen": 30000, "qps_no_signature_limit_fen": 50000,
          "esign_void": True, "esign_refund": False}

The reply is taken whole or not at all: a malformed TLV, a tag this
terminal does not know, a tag twice, a value of the wrong form or outside
the setting's own rule refuses every parameter in it (ParamsError), and
the ones in force stay. A parameter the host leaves out falls back to the
merchant's setting or the default: each download replaces the whole set.
"""

from firmware import settings as settings_table

NETWORK_CODE = "360"     # 60.3 of the 0800 that asks for the parameters

AMOUNT = "amount"
FLAG = "flag"
# tag, setting, kind: one line a parameter.
TAGS = (
    ("Q1", "qps_no_pin_limit_fen", AMOUNT),
    ("Q2", "qps_no_signature_limit_fen", AMOUNT),
    ("E1", "esign_void", FLAG),
    ("E2", "esign_refund", FLAG),
)
AMOUNT_DIGITS = 12        # F4's width: no amount needs more
DIGITS = b"0123456789"
TAG_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


class ParamsError(ValueError):
    """The download cannot be used; the text says why (for the log)."""


def _entry(tag):
    for entry in TAGS:
        if entry[0] == tag:
            return entry
    return None


def _entry_of_setting(name):
    for entry in TAGS:
        if entry[1] == name:
            return entry
    return None


def _is_digits(data):
    if not data:
        return False
    for byte in data:
        if byte not in DIGITS:
            return False
    return True


def parse_tlvs(data):
    """Field 62 bytes -> [(tag, value bytes), ...] in the order sent;
    ParamsError if it is not a whole list of ASCII TLVs or a tag comes twice."""
    items = []
    seen = []
    pos = 0
    while pos < len(data):
        if pos + 5 > len(data):
            raise ParamsError("TLV header cut short at byte %d" % pos)
        tag_bytes = data[pos:pos + 2]
        for byte in tag_bytes:
            if byte not in TAG_CHARS:
                raise ParamsError("tag at byte %d is not 2 letters or digits" % pos)
        if not _is_digits(data[pos + 2:pos + 5]):
            raise ParamsError("length at byte %d is not 3 digits" % (pos + 2))
        tag = tag_bytes.decode()
        length = int(data[pos + 2:pos + 5])
        end = pos + 5 + length
        if end > len(data):
            raise ParamsError("%s needs %d bytes, %d left" % (tag, length, len(data) - pos - 5))
        if tag in seen:
            raise ParamsError("%s comes twice" % tag)
        seen.append(tag)
        items.append((tag, bytes(data[pos + 5:end])))
        pos = end
    return items


def _value(tag, kind, raw):
    if kind == AMOUNT:
        if len(raw) > AMOUNT_DIGITS or not _is_digits(raw):
            raise ParamsError("%s is not 1-%d digits" % (tag, AMOUNT_DIGITS))
        return int(raw)
    if raw == b"1":
        return True
    if raw == b"0":
        return False
    raise ParamsError("%s is not 0 or 1" % tag)


def parse_field62(data):
    """Field 62 of a parameter download -> {setting: value}, every value
    within its setting's rule; ParamsError otherwise (nothing to apply)."""
    if not data:
        raise ParamsError("no parameters (field 62 empty or missing)")
    values = {}
    for tag, raw in parse_tlvs(data):
        entry = _entry(tag)
        if entry is None:
            raise ParamsError("unknown parameter tag %s" % tag)
        values[entry[1]] = _value(tag, entry[2], raw)
    for name in values:
        try:
            settings_table.check(name, values[name])
        except settings_table.SettingsError as e:
            raise ParamsError(str(e))
    return values


def build_field62(values, extra=()):
    """{setting: value} -> field 62 bytes, in TAGS order (the host's side,
    and the tests'). `extra`: (tag, bytes) pairs appended as they are (a
    host simulator playing a broken acquirer). Values are not checked
    against the settings' rules: that is the terminal's job."""
    out = bytearray()
    for tag, name, kind in TAGS:
        if name not in values:
            continue
        value = values[name]
        if kind == AMOUNT:
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ParamsError("%s must be a whole number of fen, not %r" % (name, value))
            raw = b"%d" % value
        else:
            if not isinstance(value, bool):
                raise ParamsError("%s must be true or false, not %r" % (name, value))
            raw = b"1" if value else b"0"
        out.extend(b"%s%03d" % (tag.encode(), len(raw)) + raw)
    for name in values:
        if _entry_of_setting(name) is None:
            raise ParamsError("no parameter tag for setting %r" % name)
    for tag, raw in extra:
        out.extend(b"%s%03d" % (tag.encode(), len(raw)) + bytes(raw))
    return bytes(out)


def setting_names():
    """The settings an acquirer may set."""
    return [entry[1] for entry in TAGS]


def describe(values):
    """One log line's worth: 'qps_no_pin_limit_fen=30000 esign_void=1'."""
    parts = []
    for _tag, name, _kind in TAGS:
        if name in values:
            value = values[name]
            parts.append("%s=%s" % (name, (1 if value else 0) if isinstance(value, bool) else value))
    return " ".join(parts)
