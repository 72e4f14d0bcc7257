"""A simulated EMV chip: one PBOC / UnionPay application on a test card.

It answers the command APDUs a UnionPay terminal sends, with the byte layouts
of EMV Book 1 (SELECT, READ RECORD) and Book 3 (GET PROCESSING OPTIONS,
GENERATE AC, GET DATA) and ISO 7816-4 status words:

    SELECT 1PAY.SYS.DDF01 (contact PSE; its directory is read with READ RECORD)
    SELECT 2PAY.SYS.DDF01 (contactless PPSE; the directory is in the FCI)
    SELECT the AID        A000000333010101 debit / A000000333010102 credit
    GET PROCESSING OPTIONS  contact: AIP + AFL (format 2, template 77);
                            contactless (qPBOC): AIP + AFL + the online cryptogram
    READ RECORD           SFI 1: 57 track 2 equivalent, 5A PAN, 5F24 expiry,
                          5F34 sequence number, 8C/8D CDOL1/2, 8E CVM list, ...
    GENERATE AC           1st: ARQC (9F27 = 80); 2nd: TC if the host approved, else AAC
    GET DATA              9F36 ATC, 9F13 last online ATC, 9F17 PIN try counter

THIS IS A SIMULATION, NOT EMV CRYPTOGRAPHY. The "cryptogram" 9F26 is the
first 8 bytes of SHA-256 over a per-card sim key, the terminal data the card
is given (amount, country, TVR, currency, date, type, unpredictable number)
and the ATC. It is deterministic so that tests and the host simulator can
check it (see sim_cryptogram()); it has nothing to do with issuer keys. No
offline data authentication: the card carries no certificates.

MicroPython-compatible; it imports nothing from firmware/ (hal/ never does),
so it has its own few lines of TLV encoding.
"""

from hal.compat import sha256

DEBIT_AID = b"\xa0\x00\x00\x03\x33\x01\x01\x01"
CREDIT_AID = b"\xa0\x00\x00\x03\x33\x01\x01\x02"
PSE_NAME = b"1PAY.SYS.DDF01"
PPSE_NAME = b"2PAY.SYS.DDF01"

CHIP_FAULTS = (None, "mute", "no_app", "bad_sfi")

SW_OK = b"\x90\x00"
SW_WRONG_LENGTH = b"\x67\x00"
SW_CONDITIONS_NOT_SATISFIED = b"\x69\x85"
SW_FILE_NOT_FOUND = b"\x6a\x82"
SW_RECORD_NOT_FOUND = b"\x6a\x83"
SW_WRONG_P1P2 = b"\x6a\x86"
SW_DATA_NOT_FOUND = b"\x6a\x88"
SW_INS_NOT_SUPPORTED = b"\x6d\x00"
SW_CLA_NOT_SUPPORTED = b"\x6e\x00"

# The terminal data both cryptograms cover, in this order; CDOL1 asks for
# exactly these (29 bytes), and the contactless PDOL asks for 9F66 + these.
CRYPTOGRAM_INPUT = (
    (0x9F02, 6),  # amount, authorised (n12)
    (0x9F03, 6),  # amount, other
    (0x9F1A, 2),  # terminal country code
    (0x95, 5),    # terminal verification results
    (0x5F2A, 2),  # transaction currency code
    (0x9A, 3),    # transaction date YYMMDD
    (0x9C, 1),    # transaction type
    (0x9F37, 4),  # unpredictable number
)
CDOL2 = ((0x8A, 2), (0x95, 5), (0x9F37, 4))
TTQ = (0x9F66, 4)  # terminal transaction qualifiers, asked for by the qPBOC PDOL

AIP = b"\x7c\x00"  # SDA, DDA, cardholder verification, terminal risk mgmt, issuer auth
APP_VERSION = b"\x00\x30"  # 9F08, PBOC 3.0

# CVM lists (8E): amounts X and Y (0), then 2-byte rules (method, condition).
# 02 03: online enciphered PIN if the terminal supports it (no fall-through:
# a bypassed PIN fails verification); 1E 03 signature; 1F 03 no CVM.
CVM_ONLINE_PIN = b"\x00\x00\x00\x00\x00\x00\x00\x00\x02\x03"
CVM_SIGNATURE = b"\x00\x00\x00\x00\x00\x00\x00\x00\x1e\x03\x1f\x03"
# 02 00: online enciphered PIN, always (no fall-through): an issuer that
# wants the PIN at every amount.
CVM_ONLINE_PIN_ALWAYS = b"\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00"

# qPBOC: the terminal's "CVM required" (TTQ 9F66 byte 2 bit 7) and the card's
# answer in its card transaction qualifiers (9F6C byte 1): bit 8 online PIN
# required, bit 7 signature required.
TTQ_CVM_REQUIRED = 0x40
CTQ_ONLINE_PIN = b"\x80\x00"
CTQ_SIGNATURE = b"\x40\x00"
CTQ_NO_CVM = b"\x00\x00"


def _tlv(tag, value):
    out = bytearray()
    if tag > 0xFF:
        out.append(tag >> 8)
    out.append(tag & 0xFF)
    if len(value) < 0x80:
        out.append(len(value))
    else:
        out.append(0x81)
        out.append(len(value))
    out.extend(value)
    return bytes(out)


def _dol(entries):
    out = bytearray()
    for tag, length in entries:
        out.extend(_tlv(tag, b"")[:-1])  # the tag's bytes, without the 00 length
        out.append(length)
    return bytes(out)


def _bcd(digits):
    """'6217000000000000038' -> packed BCD, padded with F to whole bytes."""
    if len(digits) % 2:
        digits = digits + "F"
    return bytes.fromhex(digits)


def _last_day(yy, mm):
    if mm == 2:
        return 29 if yy % 4 == 0 else 28
    return 30 if mm in (4, 6, 9, 11) else 31


def sim_cryptogram(pan, atc, terminal_data):
    """The simulated application cryptogram (8 bytes).

    `terminal_data` is the CRYPTOGRAM_INPUT values concatenated (29 bytes),
    `atc` the 2-byte counter. A host simulator rebuilds terminal_data from
    the tags in field 55 to check an ARQC.
    """
    key = sha256(b"sim-chip-key:" + pan.encode())
    return sha256(key + bytes(terminal_data) + bytes(atc))[:8]


def cryptogram_input_from_tags(tags):
    """terminal_data for sim_cryptogram() from a {tag: value} dict (field 55)."""
    out = bytearray()
    for tag, length in CRYPTOGRAM_INPUT:
        value = tags.get(tag)
        if value is None or len(value) != length:
            raise ValueError("tag %X missing or not %d bytes" % (tag, length))
        out.extend(value)
    return bytes(out)


class SimChip:
    """One card's chip. The reader creates it once per card (the ATC then
    keeps counting across insertions) and calls reset() when the card is
    powered up again.

    fault: None, "mute" (the reader raises CardError on every APDU: a dirty
    or dead chip), "no_app" (the card answers but has no UnionPay
    application: every SELECT is 6A82) or "bad_sfi" (its PSE names a
    directory SFI of 0x81, which no READ RECORD can address). Each lets a
    test reach fallback.
    """

    def __init__(self, pan, expiry, service_code="201", card_seq="001", aid=DEBIT_AID,
                 online_pin=False, contactless=False, fault=None, label="UnionPay", pin_always=False):
        if fault not in CHIP_FAULTS:
            raise ValueError("unknown chip fault %r (known: %s)" % (fault, ", ".join(f for f in CHIP_FAULTS if f)))
        self.pan = pan
        self.expiry = expiry
        self.service_code = service_code
        self.card_seq = card_seq
        self.aid = aid
        self.online_pin = online_pin or pin_always
        # The issuer wants the PIN at every amount: CVM list 02 00, and a
        # tap answers "online PIN required" even when the terminal needs no CVM.
        self.pin_always = pin_always
        self.contactless = contactless
        self.fault = fault
        self.label = label
        self.atc = 0x0010
        self.last_online_atc = 0
        self.commands = []  # every command APDU received: what a test can check
        self.reset()

    @classmethod
    def from_card(cls, card, contactless=False, fault=None):
        """Build the chip of a hal.sim.deck.TestCard. Credit cards (label
        starting 'Credit') carry the credit AID, the rest the debit one; a
        card with a PIN asks for online PIN in its CVM list (at every
        amount and tap too with the card's pin_always)."""
        aid = getattr(card, "aid", None)
        if aid is None:
            aid = CREDIT_AID if card.label.lower().startswith("credit") else DEBIT_AID
        label = "UnionPay Credit" if aid == CREDIT_AID else "UnionPay Debit"
        return cls(card.pan, card.expiry, card.service_code, card.card_seq or "000", aid,
                   online_pin=card.pin is not None, contactless=contactless, fault=fault,
                   label=label, pin_always=getattr(card, "pin_always", False))

    def reset(self, contactless=None):
        """Power-up: nothing selected, no transaction in progress."""
        if contactless is not None:
            self.contactless = contactless
        self._selected = None  # None, "pse", "ppse" or "app"
        self._gpo_done = False
        self._gac_count = 0
        self._cid = None

    # -- card data ---------------------------------------------------------

    def _track2_equivalent(self):
        return _bcd("%sD%s%s%s" % (self.pan, self.expiry, self.service_code, "00000"))

    def _expiry_date(self):
        yy = int(self.expiry[:2])
        mm = int(self.expiry[2:4])
        return _bcd("%s%02d" % (self.expiry, _last_day(yy, mm)))

    def _records(self):
        """{(sfi, record number): record} of the selected DF."""
        if self._selected == "pse":
            entry = _tlv(0x61, _tlv(0x4F, self.aid) + _tlv(0x50, self.label.encode())
                         + _tlv(0x87, b"\x01"))
            return {(1, 1): _tlv(0x70, entry)}
        if self._selected != "app":
            return {}
        record1 = (_tlv(0x57, self._track2_equivalent())
                   + _tlv(0x5F20, b"TEST/CARD"))
        record2 = (_tlv(0x5A, _bcd(self.pan))
                   + _tlv(0x5F24, self._expiry_date())
                   + _tlv(0x5F25, b"\x20\x01\x01")
                   + _tlv(0x5F28, b"\x01\x56")
                   + _tlv(0x5F34, _bcd("%02d" % (int(self.card_seq) % 100)))
                   + _tlv(0x9F07, b"\xff\x00")
                   + _tlv(0x9F08, APP_VERSION)
                   + _tlv(0x8C, _dol(CRYPTOGRAM_INPUT))
                   + _tlv(0x8D, _dol(CDOL2))
                   + _tlv(0x8E, self._cvm_list())
                   + _tlv(0x9F0D, b"\xd8\x60\x04\xa8\x00")
                   + _tlv(0x9F0E, b"\x00\x10\x98\x00\x00")
                   + _tlv(0x9F0F, b"\xd8\x68\x04\xf8\x00"))
        return {(1, 1): _tlv(0x70, record1), (1, 2): _tlv(0x70, record2)}

    def _cvm_list(self):
        if self.pin_always:
            return CVM_ONLINE_PIN_ALWAYS
        return CVM_ONLINE_PIN if self.online_pin else CVM_SIGNATURE

    def _ctq(self, ttq):
        """9F6C for a tap: the CVM this card wants, given the terminal's TTQ.
        Without "CVM required" (a QuickPass amount) it wants none, unless
        its issuer wants the PIN always."""
        cvm_required = len(ttq) == 4 and bool(ttq[1] & TTQ_CVM_REQUIRED)
        if self.pin_always or (self.online_pin and cvm_required):
            return CTQ_ONLINE_PIN
        return CTQ_SIGNATURE if cvm_required else CTQ_NO_CVM

    def _afl(self):
        # Contactless: the GPO reply already holds 57 and 5F34, only record 2 is read.
        if self.contactless:
            return b"\x08\x02\x02\x00"
        return b"\x08\x01\x02\x00"

    def _iad(self, cvr_byte2):
        # Shaped like a PBOC 3.0 issuer application data: length 07, key index
        # 01, cryptogram version 01, CVR (03 + 3 bytes), algorithm 01, then
        # 0A + 10 bytes of issuer discretionary data.
        return (b"\x07\x01\x01\x03" + bytes([cvr_byte2]) + b"\x00\x00\x01"
                + b"\x0a\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00")

    # -- APDU dispatch -----------------------------------------------------

    def process(self, apdu):
        """One command APDU (bytes) -> response APDU (data + SW1 SW2)."""
        apdu = bytes(apdu)
        self.commands.append(apdu)
        if len(apdu) < 4:
            return SW_WRONG_LENGTH
        cla, ins, p1, p2 = apdu[0], apdu[1], apdu[2], apdu[3]
        body = apdu[4:]
        # ISO 7816-3 short APDU cases: 1 (no body), 2 (Le), 3 (Lc data), 4 (Lc data Le).
        if len(body) <= 1:
            data = b""
        else:
            lc = body[0]
            if len(body) == 1 + lc:
                data = body[1:]
            elif len(body) == 2 + lc:
                data = body[1:-1]
            else:
                return SW_WRONG_LENGTH
        handlers = {
            (0x00, 0xA4): self._select,
            (0x00, 0xB2): self._read_record,
            (0x80, 0xA8): self._get_processing_options,
            (0x80, 0xAE): self._generate_ac,
            (0x80, 0xCA): self._get_data,
        }
        handler = handlers.get((cla, ins))
        if handler is None:
            if cla not in (0x00, 0x80):
                return SW_CLA_NOT_SUPPORTED
            return SW_INS_NOT_SUPPORTED
        return handler(p1, p2, data)

    def _select(self, p1, p2, name):
        if p1 != 0x04:
            return SW_WRONG_P1P2
        if p2 not in (0x00, 0x02):
            return SW_WRONG_P1P2
        self.reset()
        if self.fault == "no_app" or p2 == 0x02 or not name:
            # p2 = 02 asks for the next application: this card has only one.
            return SW_FILE_NOT_FOUND
        if name == PSE_NAME and not self.contactless:
            self._selected = "pse"
            sfi = b"\x81" if self.fault == "bad_sfi" else b"\x01"
            fci = _tlv(0x84, PSE_NAME) + _tlv(0xA5, _tlv(0x88, sfi) + _tlv(0x5F2D, b"zhen"))
            return _tlv(0x6F, fci) + SW_OK
        if name == PPSE_NAME and self.contactless:
            self._selected = "ppse"
            entry = _tlv(0x61, _tlv(0x4F, self.aid) + _tlv(0x50, self.label.encode())
                         + _tlv(0x87, b"\x01"))
            fci = _tlv(0x84, PPSE_NAME) + _tlv(0xA5, _tlv(0xBF0C, entry))
            return _tlv(0x6F, fci) + SW_OK
        # ISO 7816-4 partial name selection: a shorter name selects the
        # application whose AID starts with it.
        if len(name) >= 5 and self.aid[:len(name)] == name:
            self._selected = "app"
            proprietary = _tlv(0x50, self.label.encode()) + _tlv(0x87, b"\x01")
            if self.contactless:
                proprietary += _tlv(0x9F38, _dol((TTQ,) + CRYPTOGRAM_INPUT))
            proprietary += _tlv(0x5F2D, b"zhen") + _tlv(0x9F11, b"\x01")
            proprietary += _tlv(0x9F12, self.label.encode())
            return _tlv(0x6F, _tlv(0x84, self.aid) + _tlv(0xA5, proprietary)) + SW_OK
        return SW_FILE_NOT_FOUND

    def _read_record(self, p1, p2, _data):
        if p2 & 0x07 != 0x04 or p1 == 0:
            return SW_WRONG_P1P2
        if self._selected == "app" and not self._gpo_done:
            return SW_CONDITIONS_NOT_SATISFIED
        record = self._records().get((p2 >> 3, p1))
        if record is None:
            return SW_RECORD_NOT_FOUND
        return record + SW_OK

    def _get_processing_options(self, p1, p2, data):
        if p1 or p2:
            return SW_WRONG_P1P2
        if self._selected != "app" or self._gpo_done:
            return SW_CONDITIONS_NOT_SATISFIED
        if len(data) < 2 or data[0] != 0x83 or data[1] != len(data) - 2:
            return SW_WRONG_LENGTH
        pdol_data = data[2:]
        expected = 0
        if self.contactless:
            expected = TTQ[1] + sum(length for _, length in CRYPTOGRAM_INPUT)
        if len(pdol_data) != expected:
            return SW_WRONG_LENGTH
        self.atc = (self.atc + 1) & 0xFFFF
        self._gpo_done = True
        reply = _tlv(0x82, AIP) + _tlv(0x94, self._afl())
        if self.contactless:
            # qPBOC online: the card decides at GPO and returns its ARQC here;
            # the terminal sends no GENERATE AC.
            atc = self.atc.to_bytes(2, "big")
            self._cid = 0x80
            self._gac_count = 1
            reply += (_tlv(0x57, self._track2_equivalent())
                      + _tlv(0x5F34, _bcd("%02d" % (int(self.card_seq) % 100)))
                      + _tlv(0x9F10, self._iad(0xA0))
                      + _tlv(0x9F26, sim_cryptogram(self.pan, atc, pdol_data[TTQ[1]:]))
                      + _tlv(0x9F27, b"\x80")
                      + _tlv(0x9F36, atc)
                      + _tlv(0x9F6C, self._ctq(pdol_data[:TTQ[1]])))
        return _tlv(0x77, reply) + SW_OK

    def _generate_ac(self, p1, p2, data):
        if p2 != 0x00 or p1 & 0x3F:
            return SW_WRONG_P1P2
        if not self._gpo_done or self.contactless or self._gac_count >= 2:
            return SW_CONDITIONS_NOT_SATISFIED
        wanted = p1 & 0xC0  # 00 AAC, 40 TC, 80 ARQC
        atc = self.atc.to_bytes(2, "big")
        if self._gac_count == 0:
            if len(data) != sum(length for _, length in CRYPTOGRAM_INPUT):
                return SW_WRONG_LENGTH
            # This card always wants to go online: a TC request gets an ARQC.
            cid = 0x00 if wanted == 0x00 else 0x80
            terminal_data = data
            cvr2 = 0x80 | (0x20 if cid == 0x80 else 0x00)
        else:
            if self._cid != 0x80:
                return SW_CONDITIONS_NOT_SATISFIED
            if len(data) != sum(length for _, length in CDOL2):
                return SW_WRONG_LENGTH
            approved = data[0:2] == b"00"
            cid = 0x40 if (wanted == 0x40 and approved) else 0x00
            terminal_data = data
            cvr2 = (0x40 if cid == 0x40 else 0x00) | 0x20
            if approved:
                self.last_online_atc = self.atc
        self._gac_count += 1
        self._cid = cid
        reply = (_tlv(0x9F27, bytes([cid])) + _tlv(0x9F36, atc)
                 + _tlv(0x9F26, sim_cryptogram(self.pan, atc, terminal_data))
                 + _tlv(0x9F10, self._iad(cvr2)))
        return _tlv(0x77, reply) + SW_OK

    def _get_data(self, p1, p2, _data):
        tag = (p1 << 8) | p2
        if tag == 0x9F36:
            return _tlv(tag, self.atc.to_bytes(2, "big")) + SW_OK
        if tag == 0x9F13:
            return _tlv(tag, self.last_online_atc.to_bytes(2, "big")) + SW_OK
        if tag == 0x9F17:
            return _tlv(tag, b"\x03") + SW_OK
        return SW_DATA_NOT_FOUND
