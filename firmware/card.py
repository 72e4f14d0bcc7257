"""Reading a card of any kind into the data a transaction needs.

    swipe   parse_track2(event.track2) -> CardData; then check_swiped_card()
            refuses a chip card (service code 2xx/6xx) unless the chip failed
            and fallback is allowed, and check_expiry().
    insert  read_chip(reader, amount_fen, now) -> CardData with icc_data
    tap     read_chip(reader, amount_fen, now, contactless=True)

read_chip() is read_chip_application() (select, GET PROCESSING OPTIONS,
records) followed by generate_arqc() (cardholder verification results, the
first GENERATE AC, field 55). A flow that asks for the PIN in between (as
EMV orders it: the PIN is known before the card computes its cryptogram)
calls the two itself. complete_chip() sends the host's answer to the card
(second GENERATE AC) and says whether the card accepts it.

The amount must be known before a chip read: a contact card may sit in the
slot while the amount is keyed, but a contactless card (qPBOC) computes its
cryptogram during the tap, so the amount comes first there.

Errors are CardDataError(code); the codes are in CARD_ERROR_CODES and are
mapped to screen text in one place elsewhere. A card number leaves this
module only masked (mask_pan); CardData's repr shows nothing else.
"""

from hal.card_reader import SWIPE, INSERT, TAP
from hal.compat import urandom
from hal.errors import CardError
from firmware import tlv
from firmware.errors import PosError

# -- error codes -------------------------------------------------------------
CARD_READ = "CARD_READ"          # a track or chip record that does not parse
BAD_LUHN = "BAD_LUHN"            # the card number's check digit is wrong
CARD_EXPIRED = "CARD_EXPIRED"
USE_CHIP = "USE_CHIP"            # a chip card was swiped: insert it
CHIP_ERROR = "CHIP_ERROR"          # the chip did not answer or answered nonsense: fallback possible
NO_APP = "NO_APP"                # no UnionPay application on the chip: fallback possible
CARD_REMOVED = "CARD_REMOVED"    # the card left the slot/field during the read
CHIP_DECLINED = "CHIP_DECLINED"  # the card refused the transaction itself (AAC)
CARD_ERROR_CODES = (CARD_READ, BAD_LUHN, CARD_EXPIRED, USE_CHIP, CHIP_ERROR, NO_APP,
                    CARD_REMOVED, CHIP_DECLINED)
# Codes after which the cardholder may swipe a chip card instead (fallback).
FALLBACK_CODES = (CHIP_ERROR, NO_APP)

# Tag 9C (transaction type) by transaction kind: the first two digits of the
# request's processing code (F3), as EMV Book 3 defines 9C: a sale 00
# (goods and services), a refund 20, and a void, whose F3 is 200000, 20.
TRANSACTION_TYPES = {"sale": 0x00, "void": 0x20, "refund": 0x20}


class CardDataError(PosError):
    """The card cannot be used as read; `code` says why (one of CARD_ERROR_CODES),
    `detail` what exactly (for the log). Neither ever holds card data."""

    def __init__(self, code, detail=None):
        # Not PosError.__init__: it calls Exception.__init__, which MicroPython
        # does not have. super(PosError, ...) reaches Exception's own init on both.
        super(PosError, self).__init__(code)
        self.code = code
        self.args_ = ()
        self.detail = detail


# -- terminal facts (EMV Book 4 Annex A codings) -------------------------------
CNY = b"\x01\x56"                       # 5F2A currency and 9F1A country: 156, China
# 9F33: IC with contacts + magnetic stripe; enciphered PIN online, signature,
# no CVM; no offline data authentication (we hold no CA keys).
TERMINAL_CAPABILITIES = b"\x60\x68\x00"
TERMINAL_TYPE = b"\x21"                 # 9F35: attended, merchant, online only
TERMINAL_APP_VERSION = b"\x00\x20"      # 9F09 for the UnionPay AIDs, as public terminal configs set it
# 9F66 (qPBOC): qPBOC + contact chip + online PIN + signature supported; an
# online cryptogram is required (we never approve offline).
TERMINAL_TRANSACTION_QUALIFIERS = b"\x36\x80\x00\x00"
# 9F66 byte 2 bit 7, "CVM required" (PBOC 3.0 part 12, JR/T 0025.12): set
# when the amount is above the terminal's no-PIN limit (小额双免); the card
# answers with its card transaction qualifiers (9F6C) which CVM it wants.
TTQ_CVM_REQUIRED = 0x40
# The application identifiers this terminal accepts: UnionPay debit, credit, quasi-credit.
SUPPORTED_AIDS = (b"\xa0\x00\x00\x03\x33\x01\x01\x01", b"\xa0\x00\x00\x03\x33\x01\x01\x02",
                  b"\xa0\x00\x00\x03\x33\x01\x01\x03")
PSE_NAME = b"1PAY.SYS.DDF01"
PPSE_NAME = b"2PAY.SYS.DDF01"
# Field 60.4: what this terminal can read (6: magnetic stripe, contact and contactless chip).
READ_CAPABILITY = "6"

# Field 55 as UnionPay terminals send it for a sale, in this order.
FIELD55_TAGS = (0x9F26, 0x9F27, 0x9F10, 0x9F37, 0x9F36, 0x95, 0x9A, 0x9C, 0x9F02, 0x5F2A,
                0x82, 0x9F1A, 0x9F03, 0x9F33, 0x9F34, 0x9F35, 0x9F1E, 0x84, 0x9F09, 0x9F41,
                0x9F63)
# Tags of format n (BCD numbers): a data object list pads them on the left.
NUMERIC_TAGS = (0x9F02, 0x9F03, 0x5F2A, 0x9F1A, 0x9A, 0x9C, 0x9F21, 0x9F41, 0x5F36, 0x9F15,
                0x5F34, 0x5F24, 0x5F25, 0x5F28, 0x9F42)


class CardData:
    """What a transaction needs from a card.

    pan, expiry (YYMM), service_code (3 digits or None), card_seq ("001" or
    None: F23), entry_mode ("swipe" | "insert" | "tap"), track2 (F35: held in
    memory only, never logged or stored), icc_data (F55 bytes or None),
    fallback (a chip card swiped after its chip failed).
    Chip reads also fill aid (hex), app_label, amount_fen, and icc_tags
    ({tag: value}: card and terminal data objects, for receipts and the
    second GENERATE AC); tc holds the card's final cryptogram once
    complete_chip() has run.
    """

    def __init__(self, pan, expiry, service_code=None, card_seq=None, entry_mode=SWIPE,
                 track2=None, icc_data=None, fallback=False):
        if entry_mode not in (SWIPE, INSERT, TAP):
            raise ValueError("entry_mode must be swipe, insert or tap, not %r" % (entry_mode,))
        self.pan = pan
        self.expiry = expiry
        self.service_code = service_code
        self.card_seq = card_seq
        self.entry_mode = entry_mode
        self.track2 = track2
        self.icc_data = icc_data
        self.fallback = fallback
        self.aid = None
        self.app_label = None
        self.amount_fen = None
        self.icc_tags = {}
        self.tc = None

    @property
    def masked_pan(self):
        return mask_pan(self.pan)

    @property
    def is_chip(self):
        return self.entry_mode in (INSERT, TAP)

    def __repr__(self):
        # Only the masked number: this object holds track 2 and the full PAN.
        return "CardData(%s, %s%s)" % (mask_pan(self.pan), self.entry_mode,
                                       ", fallback" if self.fallback else "")

    __str__ = __repr__


# -- numbers -------------------------------------------------------------------

def luhn_ok(pan):
    """ISO/IEC 7812-1 check digit (the Luhn formula)."""
    if not pan or not pan.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(pan)):
        digit = ord(ch) - 48
        if i % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def mask_pan(pan):
    """First 6 and last 4 digits, '*' between: 622202*********0017.
    Shorter than 11 digits: only the last 4 show."""
    if not pan:
        return ""
    if len(pan) <= 10:
        return "*" * max(len(pan) - 4, 0) + pan[-4:]
    return pan[:6] + "*" * (len(pan) - 10) + pan[-4:]


# -- magnetic stripe -------------------------------------------------------------

def parse_track2(text, entry_mode=SWIPE):
    """Track 2 (ISO/IEC 7813) 'PAN=YYMMSSSdiscretionary' -> CardData.

    Start (';') and end ('?') sentinels are dropped if the reader left them;
    'D' is accepted as the separator (a chip's track 2 equivalent). Raises
    CardDataError: CARD_READ for anything that does not parse, BAD_LUHN for a
    wrong check digit.
    """
    if not text:
        raise CardDataError(CARD_READ, "no track 2")
    if text[0] == ";":
        text = text[1:]
    if text and text[-1] == "?":
        text = text[:-1]
    text = text.replace("D", "=").replace("d", "=")
    if len(text) > 37 or text.count("=") != 1:
        raise CardDataError(CARD_READ, "track 2 has no single separator or is too long")
    pan, rest = text.split("=")
    if not (12 <= len(pan) <= 19) or not pan.isdigit():
        raise CardDataError(CARD_READ, "card number is not 12-19 digits")
    if len(rest) < 7 or not rest.isdigit():
        raise CardDataError(CARD_READ, "expiry and service code are not digits")
    expiry = rest[:4]
    month = int(expiry[2:4])
    if month < 1 or month > 12:
        raise CardDataError(CARD_READ, "expiry month out of range")
    if not luhn_ok(pan):
        raise CardDataError(BAD_LUHN)
    return CardData(pan, expiry, service_code=rest[4:7], entry_mode=entry_mode, track2=text)


def check_expiry(card, now_tuple):
    """Raises CardDataError(CARD_EXPIRED) after the last day of the expiry month.
    now_tuple: (Y, M, D, ...) from the clock."""
    year = 2000 + int(card.expiry[:2])
    month = int(card.expiry[2:4])
    if (year, month) < (now_tuple[0], now_tuple[1]):
        raise CardDataError(CARD_EXPIRED)


def service_code_requires_chip(card):
    """A service code starting with 2 or 6 marks a chip card (ISO/IEC 7813):
    such a card must be inserted, not swiped."""
    return bool(card.service_code) and card.service_code[0] in "26"


def check_swiped_card(card, chip_failed=False, fallback_allowed=True):
    """For a swiped card: a chip card is refused with USE_CHIP unless its chip
    failed just before (chip_failed) and the setting allows fallback; a card
    that falls back is marked so (F22 80x, F60.5 = 2). Returns the card."""
    if service_code_requires_chip(card):
        if not (chip_failed and fallback_allowed):
            raise CardDataError(USE_CHIP)
        card.fallback = True
    return card


# -- field 22, 60 and PIN --------------------------------------------------------

def entry_mode_code(card, pin_entered):
    """Field 22 as UnionPay terminals send it: entry mode (02 swipe, 05 chip,
    07 contactless, 80 fallback to swipe) + PIN digit (1 PIN entered, 2 no PIN).
    Three digits; iso8583 packs F22 left-aligned (071 -> 0710)."""
    if card.fallback:
        mode = "80"
    elif card.entry_mode == INSERT:
        mode = "05"
    elif card.entry_mode == TAP:
        mode = "07"
    else:
        mode = "02"
    return mode + ("1" if pin_entered else "2")


def ic_condition_code(card):
    """Field 60.5: 2 for a fallback swipe of a chip card whose chip failed, else 0."""
    return "2" if card.fallback else "0"


def pin_required(card):
    """True if the card demands a PIN: an empty PIN entry must then be refused.

    Swipe: service code 3rd digit 0, 3, 5 (PIN required) or 6, 7 (PIN if a PIN
    pad is present: this terminal has one). Chip: the first CVM-list rule
    that applies (EMV Book 3 10.5) is online enciphered PIN and does not let
    a failed PIN fall through to the next rule. Contactless: the card
    transaction qualifiers (9F6C) ask for online PIN; the card sets that
    bit from the terminal's "CVM required" (9F66) and its issuer's rules,
    and it binds the terminal whatever its no-PIN limit (小额双免 waives
    the PIN only where the card lets it: docs/QUICKPASS.md).

    False does not mean "no PIN prompt": UnionPay terminals offer the PIN pad
    to every card ("no PIN: press ENTER") and send F22 x2 when nothing is keyed.
    """
    if card.entry_mode == SWIPE:
        code = card.service_code or ""
        return len(code) == 3 and code[2] in "03567"
    if card.entry_mode == TAP:
        ctq = card.icc_tags.get(0x9F6C)
        return bool(ctq) and bool(ctq[0] & 0x80)
    rule = _applicable_cvm_rule(card)
    return rule is not None and rule[0] & 0x3F == 0x02 and not rule[0] & 0x40


def _cvm_rules(card):
    cvm_list = card.icc_tags.get(0x8E)
    if not cvm_list or len(cvm_list) < 10 or len(cvm_list) % 2:
        return 0, 0, []
    x = int.from_bytes(cvm_list[0:4], "big")
    y = int.from_bytes(cvm_list[4:8], "big")
    rules = [(cvm_list[i], cvm_list[i + 1]) for i in range(8, len(cvm_list), 2)]
    return x, y, rules


def _terminal_supports_cvm(method):
    # Online enciphered PIN, signature, no CVM; no offline PIN (no PIN pad in the card path).
    return method in (0x02, 0x1E, 0x1F)


def _applicable_cvm_rule(card):
    """The first rule whose condition holds for a purchase here, or None."""
    x, y, rules = _cvm_rules(card)
    amount = card.amount_fen or 0
    for method_byte, condition in rules:
        method = method_byte & 0x3F
        if condition in (0x00, 0x02):       # always; not cash or cashback
            applies = True
        elif condition == 0x03:             # if the terminal supports this CVM
            applies = _terminal_supports_cvm(method)
        elif condition == 0x06:             # amounts in the application currency (CNY here)
            applies = amount < x
        elif condition == 0x07:
            applies = amount > x
        elif condition == 0x08:
            applies = amount < y
        elif condition == 0x09:
            applies = amount > y
        else:                               # unattended cash, manual cash, cashback
            applies = False
        if applies:
            return method_byte, condition
    return None


# -- chip ----------------------------------------------------------------------

def _apdu(cla, ins, p1, p2, data=None, le=True):
    out = bytearray([cla, ins, p1, p2])
    if data is not None:
        out.append(len(data))
        out.extend(data)
    if le:
        out.append(0x00)
    return bytes(out)


async def _exchange(reader, apdu):
    """-> (data, sw int). A reader error becomes CARD_REMOVED or CHIP_ERROR;
    so does a reader that hangs (CardReader.transceive's own timeout): a
    flow never waits for ever on a card."""
    try:
        response = await reader.transceive(apdu)
    except CardError:
        if not reader.card_present():
            raise CardDataError(CARD_REMOVED)
        raise CardDataError(CHIP_ERROR, "the chip does not answer")
    if len(response) < 2:
        raise CardDataError(CHIP_ERROR, "response shorter than a status word")
    return bytes(response[:-2]), (response[-2] << 8) | response[-1]


def _parse_or_fail(data):
    try:
        return tlv.parse(data)
    except tlv.TlvError:
        raise CardDataError(CHIP_ERROR, "card answered malformed TLV")


def _find_or_fail(data, tag):
    try:
        return tlv.find(data, tag)
    except tlv.TlvError:
        raise CardDataError(CHIP_ERROR, "card answered malformed TLV")


def _bcd_number(number, size):
    """An int as `size` bytes of BCD, right-aligned: 1234, 6 -> 00 00 00 00 12 34."""
    return bytes.fromhex("%0*d" % (size * 2, number))


def _dol_data(dol, tags):
    """The values a data object list asks for, concatenated (EMV Book 3 5.4):
    a missing tag is zeros; a numeric value is cut or padded on the left,
    anything else on the right."""
    out = bytearray()
    for tag, length in dol:
        value = tags.get(tag) or b""
        if len(value) > length:
            value = value[-length:] if tag in NUMERIC_TAGS else value[:length]
        elif len(value) < length:
            pad = bytes(length - len(value))
            value = pad + value if tag in NUMERIC_TAGS else value + pad
        out.extend(value)
    return bytes(out)


def _directory_entries(data):
    """(priority, AID, label) of every 61 application template in `data`."""
    entries = []
    try:
        objects = tlv.walk(data)
    except tlv.TlvError:
        raise CardDataError(CHIP_ERROR, "card answered malformed TLV")
    for tag, value in objects:
        if tag != 0x61:
            continue
        aid = tlv.find(value, 0x4F)
        if not aid:
            continue
        label = tlv.find(value, 0x50) or b""
        priority = tlv.find(value, 0x87)
        # Priority 1 is the highest; 0 or none means "no priority": last.
        rank = (priority[0] & 0x0F) if priority else 0
        entries.append((rank or 16, aid, label))
    return entries


def _supported(aid):
    # A card's AID may extend ours with more PIX bytes.
    for ours in SUPPORTED_AIDS:
        if aid[:len(ours)] == ours:
            return True
    return False


async def _candidates(reader, contactless):
    """The card's applications this terminal supports, best first (EMV Book 1 12.3)."""
    if contactless:
        fci, sw = await _exchange(reader, _apdu(0x00, 0xA4, 0x04, 0x00, PPSE_NAME))
        if sw != 0x9000:
            raise CardDataError(NO_APP, "no PPSE (SW %04X)" % sw)
        entries = _directory_entries(fci)
    else:
        fci, sw = await _exchange(reader, _apdu(0x00, 0xA4, 0x04, 0x00, PSE_NAME))
        entries = []
        if sw == 0x9000:
            sfi = _find_or_fail(fci, 0x88)
            sfi = sfi[0] if sfi else 1
            if not 1 <= sfi <= 30:
                # EMV Book 1 11.3.4: an SFI is 1..30. Anything else (0x81...)
                # cannot be read; a broken chip, not a terminal fault.
                raise CardDataError(CHIP_ERROR, "PSE directory SFI %d out of range" % sfi)
            record = 1
            while record < 32:
                data, sw = await _exchange(reader, _apdu(0x00, 0xB2, record, (sfi << 3) | 4))
                if sw != 0x9000:
                    break  # 6A83: no more records
                entries.extend(_directory_entries(data))
                record += 1
        entries = [e for e in entries if _supported(e[1])]
        if not entries:
            # No PSE: select the AIDs we know one by one (list of AIDs method).
            for aid in SUPPORTED_AIDS:
                entries.append((16, aid, b""))
    entries = [e for e in entries if _supported(e[1])]
    entries.sort(key=lambda e: e[0])
    return entries


async def _select_application(reader, contactless):
    for _rank, aid, _label in await _candidates(reader, contactless):
        fci, sw = await _exchange(reader, _apdu(0x00, 0xA4, 0x04, 0x00, aid))
        if sw != 0x9000:
            continue  # 6A82 not there, 6283 blocked: try the next one
        df_name = _find_or_fail(fci, 0x84) or aid
        return df_name, fci
    raise CardDataError(NO_APP, "no supported application")


def _terminal_tags(amount_fen, now_tuple, contactless, unpredictable_number,
                   sequence_counter, ifd_serial, transaction_type, cvm_required=True):
    year, month, day = now_tuple[0], now_tuple[1], now_tuple[2]
    hour, minute, second = (tuple(now_tuple[3:6]) + (0, 0, 0))[:3]
    if unpredictable_number is None:
        unpredictable_number = urandom(4)
    if len(unpredictable_number) != 4:
        raise ValueError("unpredictable number is 4 bytes")
    serial = ifd_serial.encode() if isinstance(ifd_serial, str) else bytes(ifd_serial)
    tags = {
        0x9F02: _bcd_number(amount_fen, 6),
        0x9F03: bytes(6),
        0x9F1A: CNY,
        0x5F2A: CNY,
        0x9A: bytes.fromhex("%02d%02d%02d" % (year % 100, month, day)),
        0x9F21: bytes.fromhex("%02d%02d%02d" % (hour, minute, second)),
        0x9C: bytes([transaction_type]),
        0x9F37: bytes(unpredictable_number),
        # TVR: offline data authentication was not performed (we have no CA keys).
        0x95: b"\x80\x00\x00\x00\x00",
        0x9F33: TERMINAL_CAPABILITIES,
        0x9F35: TERMINAL_TYPE,
        0x9F09: TERMINAL_APP_VERSION,
        0x9F1E: (serial + b"        ")[:8],
        0x9F41: _bcd_number(sequence_counter % 100000000, 4),
    }
    if contactless:
        ttq = bytearray(TERMINAL_TRANSACTION_QUALIFIERS)
        if cvm_required:
            ttq[1] |= TTQ_CVM_REQUIRED
        tags[0x9F66] = bytes(ttq)
    return tags


def _tvr_set(tags, byte_index, bits):
    tvr = bytearray(tags[0x95])
    tvr[byte_index] |= bits
    tags[0x95] = bytes(tvr)


def _digits(value):
    return value.hex().upper()


def _label(value):
    if not value:
        return None
    try:
        return value.decode()
    except UnicodeError:
        return None


def _card_from_tags(tags, entry_mode):
    """CardData from the records read: 57 (track 2), 5A (PAN), 5F24, 5F34."""
    track2_equivalent = tags.get(0x57)
    if not track2_equivalent:
        raise CardDataError(CARD_READ, "chip has no track 2 equivalent (57)")
    text = _digits(track2_equivalent).rstrip("F")
    card = parse_track2(text, entry_mode=entry_mode)
    pan_tag = tags.get(0x5A)
    if pan_tag:
        pan = _digits(pan_tag).rstrip("F")
        if pan != card.pan:
            raise CardDataError(CARD_READ, "PAN (5A) and track 2 equivalent (57) differ")
    expiry_tag = tags.get(0x5F24)
    if expiry_tag and len(expiry_tag) == 3:
        expiry = _digits(expiry_tag)[:4]
        if expiry.isdigit() and 1 <= int(expiry[2:]) <= 12:
            card.expiry = expiry
    seq = _digits(tags.get(0x5F34) or b"")
    if len(seq) == 2 and seq.isdigit():
        card.card_seq = "0" + seq  # n2 on the card, n3 in field 23
    return card


async def read_chip_application(reader, amount_fen, now_tuple, contactless=False,
                                unpredictable_number=None, sequence_counter=0,
                                ifd_serial="00000000", transaction_type=0x00, cvm_required=True):
    """Select the UnionPay application, GET PROCESSING OPTIONS, read the
    records -> CardData (icc_data still None: generate_arqc() makes it).

    sequence_counter (9F41): the transaction's trace number. ifd_serial
    (9F1E): 8 characters, the terminal's serial. transaction_type (9C): 00
    goods and services, 20 refund. unpredictable_number (9F37): 4 bytes,
    random unless a test fixes it. cvm_required (contactless): the TTQ
    tells the card a CVM is required (False: a QuickPass sale at or below
    the no-PIN limit; the card may still demand its PIN in 9F6C).
    """
    entry_mode = TAP if contactless else INSERT
    tags = _terminal_tags(amount_fen, now_tuple, contactless, unpredictable_number,
                          sequence_counter, ifd_serial, transaction_type, cvm_required)
    df_name, fci = await _select_application(reader, contactless)
    tags[0x84] = df_name
    for tag in (0x50, 0x87, 0x9F38, 0x9F12):
        value = _find_or_fail(fci, tag)
        if value is not None:
            tags[tag] = value

    pdol = tlv.parse_dol(tags[0x9F38]) if 0x9F38 in tags else []
    pdol_data = _dol_data(pdol, tags)
    data, sw = await _exchange(reader, _apdu(0x80, 0xA8, 0x00, 0x00,
                                             tlv.build([(0x83, pdol_data)])))
    if sw == 0x6985:
        raise CardDataError(NO_APP, "card refused GET PROCESSING OPTIONS")
    if sw != 0x9000:
        raise CardDataError(CHIP_ERROR, "GET PROCESSING OPTIONS failed (SW %04X)" % sw)
    top = _parse_or_fail(data)
    if len(top) != 1 or top[0][0] not in (0x77, 0x80):
        raise CardDataError(CHIP_ERROR, "GET PROCESSING OPTIONS answer is not 77 or 80")
    if top[0][0] == 0x80:
        value = top[0][1]
        if len(value) < 2:
            raise CardDataError(CHIP_ERROR, "GET PROCESSING OPTIONS answer too short")
        tags[0x82] = value[:2]
        tags[0x94] = value[2:]
    else:
        for tag, value in _parse_or_fail(top[0][1]):
            tags[tag] = value
    afl = tags.get(0x94) or b""
    if 0x82 not in tags or len(afl) % 4:
        raise CardDataError(CHIP_ERROR, "no AIP or a bad AFL")

    for i in range(0, len(afl), 4):
        sfi = afl[i] >> 3
        first, last = afl[i + 1], afl[i + 2]
        if not (1 <= sfi <= 30) or first == 0 or last < first:
            raise CardDataError(CHIP_ERROR, "bad AFL entry")
        for number in range(first, last + 1):
            data, sw = await _exchange(reader, _apdu(0x00, 0xB2, number, (sfi << 3) | 4))
            if sw != 0x9000:
                raise CardDataError(CHIP_ERROR, "READ RECORD failed (SW %04X)" % sw)
            top = _parse_or_fail(data)
            if len(top) != 1 or top[0][0] != 0x70:
                raise CardDataError(CHIP_ERROR, "record is not a 70 template")
            for tag, value in _parse_or_fail(top[0][1]):
                if tag not in tags:  # the first occurrence wins; terminal data stays
                    tags[tag] = value

    card = _card_from_tags(tags, entry_mode)
    card.icc_tags = tags
    card.aid = _digits(df_name)
    card.app_label = _label(tags.get(0x9F12) or tags.get(0x50))
    card.amount_fen = amount_fen
    expiry = tags.get(0x5F24)
    if expiry and expiry < tags[0x9A]:  # both YYMMDD BCD: byte order is date order
        _tvr_set(tags, 1, 0x40)  # expired application
    if contactless:
        if 0x9F26 not in tags:
            raise CardDataError(CHIP_ERROR, "contactless card gave no cryptogram")
        if 0x9F27 not in tags:
            tags[0x9F27] = b"\x80"  # qPBOC cards may leave it out: an online cryptogram
        if tags[0x9F27][0] & 0xC0 == 0x00:
            raise CardDataError(CHIP_DECLINED)
    return card


def _cvm_results(card, pin_entered):
    """9F34: the rule performed + its result (EMV Book 4 A4; 00 unknown, 02 successful)."""
    if card.entry_mode == TAP:
        ctq = card.icc_tags.get(0x9F6C) or b"\x00"
        if pin_entered:
            return b"\x02\x00\x00"
        if ctq[0] & 0x40:
            return b"\x1e\x00\x00"
        return b"\x1f\x00\x02"
    rule = _applicable_cvm_rule(card)
    if pin_entered:
        if rule is not None and rule[0] & 0x3F == 0x02:
            return bytes([rule[0], rule[1], 0x00])
        return b"\x02\x00\x00"
    _x, _y, rules = _cvm_rules(card)
    for method_byte, condition in rules:
        if method_byte & 0x3F == 0x1E:
            return bytes([method_byte, condition, 0x00])
        if method_byte & 0x3F == 0x1F:
            return bytes([method_byte, condition, 0x02])
    return b"\x3f\x00\x01"  # no CVM performed: failed


def set_sequence_counter(card, trace):
    """Tag 9F41 (transaction sequence counter) = the trace the request
    carries. -> True if it changed (field 55 must then be built again)."""
    tags = card.icc_tags
    value = _bcd_number(trace % 100000000, 4)
    if tags is None or tags.get(0x9F41) == value:
        return False
    tags[0x9F41] = value
    return True


def build_field55(card):
    """Field 55 (ICC system related data) from the card's tags, in FIELD55_TAGS order."""
    items = []
    for tag in FIELD55_TAGS:
        value = card.icc_tags.get(tag)
        if value is not None:
            items.append((tag, value))
    return tlv.build(items)


async def generate_arqc(reader, card, pin_entered=False):
    """Cardholder verification results, then (contact) the first GENERATE AC
    asking for an ARQC; builds card.icc_data (F55). Raises CHIP_DECLINED if
    the card refuses (AAC). Contactless cards gave their cryptogram at GPO."""
    tags = card.icc_tags
    if card.entry_mode == INSERT:
        if pin_entered:
            _tvr_set(tags, 2, 0x04)  # online PIN entered
        elif pin_required(card):
            # Cardholder verification not successful; PIN required, PIN pad
            # present, but no PIN entered.
            _tvr_set(tags, 2, 0x80 | 0x08)
    tags[0x9F34] = _cvm_results(card, pin_entered)
    if card.entry_mode == INSERT:
        cdol1 = tags.get(0x8C)
        if not cdol1:
            raise CardDataError(CHIP_ERROR, "card has no CDOL1")
        try:
            cdol1_data = _dol_data(tlv.parse_dol(cdol1), tags)
        except tlv.TlvError:
            raise CardDataError(CHIP_ERROR, "bad CDOL1")
        # P1 80: ask for an ARQC (go online); we never approve offline.
        data, sw = await _exchange(reader, _apdu(0x80, 0xAE, 0x80, 0x00, cdol1_data))
        if sw != 0x9000:
            raise CardDataError(CHIP_ERROR, "GENERATE AC failed (SW %04X)" % sw)
        _store_ac_response(tags, data)
        cid = tags[0x9F27][0] & 0xC0
        if cid == 0x00:
            raise CardDataError(CHIP_DECLINED)
        if cid != 0x80:
            raise CardDataError(CHIP_ERROR, "card answered a TC to an ARQC request")
    card.icc_data = build_field55(card)
    return card


def _store_ac_response(tags, data):
    top = _parse_or_fail(data)
    if len(top) != 1:
        raise CardDataError(CHIP_ERROR, "GENERATE AC answer is not one template")
    tag, value = top[0]
    if tag == 0x80:
        # Format 1: CID (1) ATC (2) cryptogram (8) issuer application data (rest).
        if len(value) < 11:
            raise CardDataError(CHIP_ERROR, "GENERATE AC answer too short")
        tags[0x9F27] = value[0:1]
        tags[0x9F36] = value[1:3]
        tags[0x9F26] = value[3:11]
        if len(value) > 11:
            tags[0x9F10] = value[11:]
    elif tag == 0x77:
        for inner, inner_value in _parse_or_fail(value):
            tags[inner] = inner_value
        for needed in (0x9F27, 0x9F36, 0x9F26):
            if needed not in tags:
                raise CardDataError(CHIP_ERROR, "GENERATE AC answer lacks %X" % needed)
    else:
        raise CardDataError(CHIP_ERROR, "GENERATE AC answer is not 77 or 80")


async def read_chip(reader, amount_fen, now_tuple, contactless=False, pin_entered=False,
                    unpredictable_number=None, sequence_counter=0, ifd_serial="00000000",
                    transaction_type=0x00):
    """The whole chip read for a sale: read_chip_application() then
    generate_arqc() (see them for the arguments)."""
    card = await read_chip_application(reader, amount_fen, now_tuple, contactless,
                                       unpredictable_number, sequence_counter, ifd_serial,
                                       transaction_type)
    return await generate_arqc(reader, card, pin_entered)


async def complete_chip(reader, card, response_code):
    """Give the host's answer (field 39, "00" approved) to a contact card with
    the second GENERATE AC. Returns True if the card accepts (TC) and keeps it
    in card.tc; False if it declines (AAC): after a host approval the flow
    must then reverse. A contactless card was done at the tap: True.
    Raises CardDataError(CARD_REMOVED / CHIP_ERROR) if the card is gone or mute."""
    if card.entry_mode != INSERT:
        return True
    tags = card.icc_tags
    tags[0x8A] = response_code.encode()
    cdol2 = tags.get(0x8D)
    try:
        cdol2_data = _dol_data(tlv.parse_dol(cdol2), tags) if cdol2 else tags[0x8A]
    except tlv.TlvError:
        raise CardDataError(CHIP_ERROR, "bad CDOL2")
    p1 = 0x40 if response_code == "00" else 0x00  # ask for a TC only when approved
    data, sw = await _exchange(reader, _apdu(0x80, 0xAE, p1, 0x00, cdol2_data))
    if sw != 0x9000:
        raise CardDataError(CHIP_ERROR, "second GENERATE AC failed (SW %04X)" % sw)
    final = {}
    _store_ac_response(final, data)
    accepted = final[0x9F27][0] & 0xC0 == 0x40
    if accepted:
        card.tc = final[0x9F26]
    return accepted
