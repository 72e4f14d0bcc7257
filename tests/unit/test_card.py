"""firmware/card.py: every deck card through swipe, insert and tap on the
simulated reader; track 2, Luhn, expiry, masking, F22, PIN rules; the chip
read's APDUs and field 55; the same read under MicroPython.

Published vectors: the Luhn example 79927398713 (ISO/IEC 7812-1 Annex B,
also Wikipedia "Luhn algorithm"); field 22 values 021/022/051/052/071/072/
801/802 as public UnionPay terminal code defines them (e.g.
TransFieldConstant.INPUT_TYPE_* in public POS apps).
"""

import asyncio
import os
import subprocess
import sys

import pytest

from firmware import card as cards
from firmware import tlv
from hal.card_reader import SWIPE, INSERT, TAP
from hal.sim import chip as simchip
from hal.sim.card_reader import SimCardReader
from hal.sim import deck
from hal.sim.deck import find_card
from hal.errors import CardError
from tests.support import micropython_path

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOW = (2025, 6, 15, 10, 30, 0)
UN = b"\x12\x34\x56\x78"


def run(coro):
    return asyncio.run(coro)


def reader_with_events():
    reader = SimCardReader()
    events = []
    reader.set_listener(events.append)
    return reader, events


def swipe(name):
    reader, events = reader_with_events()
    reader.swipe(name)
    (kind, event), = events
    assert kind == "card" and event.action == SWIPE
    return cards.parse_track2(event.track2)


# ----------------------------------------------------------------- numbers

def test_luhn_published_example():
    assert cards.luhn_ok("79927398713")
    assert not cards.luhn_ok("79927398710")
    assert not cards.luhn_ok("")
    assert not cards.luhn_ok("7992739871a")


def test_luhn_on_deck():
    for card in deck.test_deck():
        assert cards.luhn_ok(card.pan) == (card.name != "bad-luhn"), card.name


def test_mask_pan():
    assert cards.mask_pan("6222020000000017") == "622202******0017"
    assert cards.mask_pan("6222021000000000017") == "622202*********0017"
    assert cards.mask_pan("1234567890") == "******7890"
    assert cards.mask_pan("") == ""


# ----------------------------------------------------------------- track 2

def test_parse_track2_fields():
    card = cards.parse_track2("6222021000000000017=30121010000000000")
    assert (card.pan, card.expiry, card.service_code, card.entry_mode) == (
        "6222021000000000017", "3012", "101", "swipe")
    assert card.card_seq is None and card.icc_data is None and not card.fallback
    assert card.track2 == "6222021000000000017=30121010000000000"


def test_parse_track2_sentinels_and_chip_separator():
    card = cards.parse_track2(";6222021000000000017=3012101?")
    assert card.track2 == "6222021000000000017=3012101"
    card = cards.parse_track2("6217000000000000038D310622000000")
    assert card.service_code == "220" and card.track2 == "6217000000000000038=310622000000"


@pytest.mark.parametrize("text", [
    None, "", "6222620000?=3O1#", "6222021000000000017", "6222021000000000017=30",
    "62220210000000000170000=3012101", "6222021000000000017=3013101",
    "6222021000000000017=3000101", "6222021000000000017=30121010000000000000000000",
    "6222021000000000017=3012=101", "abc=3012101",
])
def test_unreadable_track2(text):
    with pytest.raises(cards.CardDataError) as e:
        cards.parse_track2(text)
    assert e.value.code == "CARD_READ"


def test_error_messages_hold_no_card_data():
    for text in ("6222021000000000017=3013101", "6230580000000000071=30121010000000000"):
        with pytest.raises(cards.CardDataError) as e:
            cards.parse_track2(text)
        assert "6222021" not in str(e.value) and "623058" not in str(e.value)


def test_check_expiry_boundaries():
    card = cards.parse_track2("6222021000000000017=30121010000000000")
    cards.check_expiry(card, (2030, 12, 31, 23, 59, 59))  # valid through its month
    with pytest.raises(cards.CardDataError) as e:
        cards.check_expiry(card, (2031, 1, 1, 0, 0, 0))
    assert e.value.code == "CARD_EXPIRED"


# ------------------------------------------------------ every deck card, swiped

SWIPE_EXPECT = {
    "debit-mag": None,
    "debit-pin": None,
    "chip-pin": "USE_CHIP",
    "credit-chip": "USE_CHIP",
    "low-funds": None,
    "expired": "CARD_EXPIRED",
    "bad-luhn": "BAD_LUHN",
    "unknown": None,
    "garbled": "CARD_READ",
}


def swipe_and_check(name):
    """What a sale does with a swipe; returns CardData or raises CardDataError."""
    card = swipe(name)
    cards.check_swiped_card(card)
    cards.check_expiry(card, NOW)
    return card


@pytest.mark.parametrize("name", sorted(SWIPE_EXPECT))
def test_every_deck_card_swiped(name):
    expected = SWIPE_EXPECT[name]
    if expected is None:
        card = swipe_and_check(name)
        deck_card = find_card(name)
        assert (card.pan, card.expiry, card.service_code) == (
            deck_card.pan, deck_card.expiry, deck_card.service_code)
        assert cards.entry_mode_code(card, True) == "021"
        assert cards.entry_mode_code(card, False) == "022"
        assert cards.ic_condition_code(card) == "0"
    else:
        with pytest.raises(cards.CardDataError) as e:
            swipe_and_check(name)
        assert e.value.code == expected


def test_chip_card_swiped_after_chip_failure_falls_back():
    card = swipe("chip-pin")
    with pytest.raises(cards.CardDataError):
        cards.check_swiped_card(card, chip_failed=True, fallback_allowed=False)
    cards.check_swiped_card(card, chip_failed=True, fallback_allowed=True)
    assert card.fallback
    assert cards.entry_mode_code(card, True) == "801"
    assert cards.entry_mode_code(card, False) == "802"
    assert cards.ic_condition_code(card) == "2"
    assert "fallback" in repr(card)


def test_service_code_requires_chip():
    assert cards.service_code_requires_chip(swipe("chip-pin"))       # 220
    assert cards.service_code_requires_chip(swipe("credit-chip"))    # 201
    assert not cards.service_code_requires_chip(swipe("debit-mag"))  # 101
    assert cards.service_code_requires_chip(cards.parse_track2("6222021000000000017=3012601"))


def test_pin_required_from_service_code():
    assert not cards.pin_required(swipe("debit-mag"))  # 101: no restriction
    assert cards.pin_required(swipe("chip-pin"))       # 220: PIN required
    for digit, wanted in (("0", True), ("1", False), ("2", False), ("3", True), ("4", False),
                          ("5", True), ("6", True), ("7", True)):
        card = cards.parse_track2("6222021000000000017=301210" + digit)
        assert cards.pin_required(card) == wanted, digit


# ------------------------------------------------------ every deck card, inserted / tapped

def test_every_deck_card_inserted():
    for deck_card in deck.test_deck():
        reader, events = reader_with_events()
        reader.insert(deck_card)
        (_, event), = events
        assert event.action == INSERT
        if not deck_card.chip:
            assert event.error == "NO_CHIP"
            with pytest.raises(cards.CardDataError) as e:
                run(cards.read_chip(reader, 100, NOW, unpredictable_number=UN))
            assert e.value.code == "CHIP_ERROR"
            assert e.value.code in cards.FALLBACK_CODES
            continue
        assert event.error is None
        card = run(cards.read_chip(reader, 100, NOW, unpredictable_number=UN))
        assert (card.pan, card.expiry, card.service_code, card.card_seq) == (
            deck_card.pan, deck_card.expiry, deck_card.service_code, deck_card.card_seq)
        assert card.entry_mode == "insert"
        assert card.track2 == deck_card.track2[:len(card.track2)]
        assert cards.entry_mode_code(card, True) == "051"
        assert cards.entry_mode_code(card, False) == "052"


def test_every_deck_card_tapped():
    for deck_card in deck.test_deck():
        reader, events = reader_with_events()
        tapped = reader.tap(deck_card)
        if not deck_card.contactless:
            assert tapped is False and events == []
            continue
        (_, event), = events
        assert event.action == TAP
        card = run(cards.read_chip(reader, 100, NOW, contactless=True, unpredictable_number=UN))
        assert (card.pan, card.expiry, card.card_seq) == (
            deck_card.pan, deck_card.expiry, deck_card.card_seq)
        assert card.entry_mode == "tap"
        assert cards.entry_mode_code(card, True) == "071"
        assert cards.entry_mode_code(card, False) == "072"


def test_aids_and_labels():
    reader = SimCardReader()
    reader.insert("chip-pin")
    card = run(cards.read_chip(reader, 100, NOW, unpredictable_number=UN))
    assert card.aid == "A000000333010101" and card.app_label == "UnionPay Debit"
    reader.insert("credit-chip")
    card = run(cards.read_chip(reader, 100, NOW, unpredictable_number=UN))
    assert card.aid == "A000000333010102" and card.app_label == "UnionPay Credit"


def test_pin_required_from_chip():
    reader = SimCardReader()
    for name, contactless, wanted in (("chip-pin", False, True), ("credit-chip", False, False),
                                      ("chip-pin", True, True), ("credit-chip", True, False)):
        if contactless:
            reader.tap(name)
        else:
            reader.insert(name)
        card = run(cards.read_chip_application(reader, 100, NOW, contactless=contactless))
        assert cards.pin_required(card) == wanted, (name, contactless)


def test_cvm_rule_amount_conditions():
    card = cards.CardData("6222021000000000017", "3012", entry_mode="insert")
    # X = 100.00 yuan; online PIN if over X, else no CVM.
    card.icc_tags[0x8E] = bytes.fromhex("00002710" "00000000" "0207" "1F00")
    card.amount_fen = 20000
    assert cards.pin_required(card)
    card.amount_fen = 5000
    assert not cards.pin_required(card)
    # 42: a failed PIN falls through to the next rule, so the PIN is not demanded.
    card.icc_tags[0x8E] = bytes.fromhex("0000000000000000" "4203" "1E03")
    assert not cards.pin_required(card)
    card.icc_tags = {}
    assert not cards.pin_required(card)


# ------------------------------------------------------ the chip read itself

def field55_tags(card):
    return tlv.parse(card.icc_data)


def test_contact_read_apdu_sequence():
    reader = SimCardReader()
    reader.insert("chip-pin")
    run(cards.read_chip(reader, 12345, NOW, unpredictable_number=UN))
    commands = [c.hex().upper() for c in reader.chip.commands]
    assert commands[0] == "00A404000E315041592E5359532E444446303100"  # SELECT PSE
    assert commands[1] == "00B2010C00"                                # directory record 1, SFI 1
    assert commands[2] == "00B2020C00"                                # -> 6A83, end of directory
    assert commands[3] == "00A4040008A00000033301010100"              # SELECT AID
    assert commands[4] == "80A8000002830000"                          # GPO, no PDOL
    assert commands[5:7] == ["00B2010C00", "00B2020C00"]              # AFL: SFI 1 records 1-2
    gac = reader.chip.commands[7]
    assert gac[:5] == bytes.fromhex("80AE80001D")                     # GENERATE AC, ARQC, 29 bytes
    assert gac[5:11] == bytes.fromhex("000000012345")                 # 9F02 amount
    assert gac[-5:-1] == UN                                           # 9F37
    assert len(commands) == 8


def test_contactless_read_apdu_sequence():
    reader = SimCardReader()
    reader.tap("credit-chip")
    run(cards.read_chip(reader, 500, NOW, contactless=True, unpredictable_number=UN))
    commands = [c.hex().upper() for c in reader.chip.commands]
    assert commands[0] == "00A404000E325041592E5359532E444446303100"  # SELECT PPSE
    assert commands[1] == "00A4040008A00000033301010200"
    # GPO with the PDOL data: TTQ (CVM required: the default), amount, other amount,
    # country, TVR, currency, date, type, UN.
    assert commands[2] == ("80A8000023" "8321" "36C00000" "000000000500" "000000000000" "0156"
                           "8000000000" "0156" "250615" "00" "12345678" "00")
    assert commands[3:] == ["00B2020C00"]  # only record 2: the rest came with GPO


def test_field55_content_and_order():
    reader = SimCardReader()
    reader.insert("chip-pin")
    card = run(cards.read_chip(reader, 12345, NOW, pin_entered=True, unpredictable_number=UN,
                               sequence_counter=123, ifd_serial="SIM00001"))
    items = field55_tags(card)
    tags = [t for t, _ in items]
    assert tags == [0x9F26, 0x9F27, 0x9F10, 0x9F37, 0x9F36, 0x95, 0x9A, 0x9C, 0x9F02, 0x5F2A,
                    0x82, 0x9F1A, 0x9F03, 0x9F33, 0x9F34, 0x9F35, 0x9F1E, 0x84, 0x9F09, 0x9F41]
    values = dict(items)
    assert values[0x9F27] == b"\x80"                         # ARQC
    assert values[0x9F37] == UN
    assert values[0x95] == bytes.fromhex("8000040000")      # no ODA; online PIN entered
    assert values[0x9A] == bytes.fromhex("250615")
    assert values[0x9C] == b"\x00"
    assert values[0x9F02] == bytes.fromhex("000000012345")
    assert values[0x5F2A] == values[0x9F1A] == b"\x01\x56"
    assert values[0x9F34] == bytes.fromhex("020300")        # online PIN, result unknown
    assert values[0x9F1E] == b"SIM00001"
    assert values[0x84] == bytes.fromhex("A000000333010101")
    assert values[0x9F41] == bytes.fromhex("00000123")
    assert len(values[0x9F10]) == 19 and values[0x9F10][:3] == b"\x07\x01\x01"
    # The cryptogram is the simulator's, over what field 55 says: the host
    # simulator can check it the same way.
    expected = simchip.sim_cryptogram(card.pan, values[0x9F36],
                                      simchip.cryptogram_input_from_tags(values))
    assert values[0x9F26] == expected


def test_contactless_cryptogram_checks_from_field55():
    reader = SimCardReader()
    reader.tap("chip-pin")
    card = run(cards.read_chip(reader, 800, NOW, contactless=True, unpredictable_number=UN))
    values = dict(field55_tags(card))
    assert values[0x9F26] == simchip.sim_cryptogram(
        card.pan, values[0x9F36], simchip.cryptogram_input_from_tags(values))


def test_cryptogram_depends_on_amount_and_atc_increments():
    reader = SimCardReader()
    reader.insert("chip-pin")
    first = run(cards.read_chip(reader, 100, NOW, unpredictable_number=UN))
    reader.remove()
    reader.insert("chip-pin")
    second = run(cards.read_chip(reader, 200, NOW, unpredictable_number=UN))
    a, b = dict(field55_tags(first)), dict(field55_tags(second))
    assert int.from_bytes(b[0x9F36], "big") == int.from_bytes(a[0x9F36], "big") + 1
    assert a[0x9F26] != b[0x9F26]


def test_pin_not_entered_on_a_pin_card_flags_tvr():
    reader = SimCardReader()
    reader.insert("chip-pin")
    card = run(cards.read_chip(reader, 100, NOW, pin_entered=False, unpredictable_number=UN))
    values = dict(field55_tags(card))
    assert values[0x95] == bytes.fromhex("8000880000")
    assert values[0x9F34] == bytes.fromhex("3F0001")


def test_signature_card_cvm_results():
    reader = SimCardReader()
    reader.insert("credit-chip")
    card = run(cards.read_chip(reader, 100, NOW, unpredictable_number=UN))
    assert dict(field55_tags(card))[0x9F34] == bytes.fromhex("1E0300")


def test_read_split_around_the_pin_prompt():
    reader = SimCardReader()
    reader.insert("chip-pin")
    card = run(cards.read_chip_application(reader, 100, NOW, unpredictable_number=UN))
    assert card.icc_data is None and cards.pin_required(card)
    run(cards.generate_arqc(reader, card, pin_entered=True))
    assert card.icc_data is not None


def test_expired_chip_card_flags_tvr_and_check_expiry_refuses():
    reader = SimCardReader()
    reader.insert(simchip_card("expired-chip", "6214830000000000064", "2001"))
    card = run(cards.read_chip(reader, 100, NOW, unpredictable_number=UN))
    assert dict(field55_tags(card))[0x95][1] & 0x40
    with pytest.raises(cards.CardDataError) as e:
        cards.check_expiry(card, NOW)
    assert e.value.code == "CARD_EXPIRED"


def simchip_card(name, pan, expiry):
    from hal.sim.deck import TestCard
    return TestCard(name, "Debit chip", pan, expiry, service_code="220", chip=True,
                    contactless=True)


def test_complete_chip_approved_and_declined():
    reader = SimCardReader()
    reader.insert("chip-pin")
    card = run(cards.read_chip(reader, 100, NOW, unpredictable_number=UN))
    assert run(cards.complete_chip(reader, card, "00")) is True
    assert card.tc is not None and len(card.tc) == 8
    assert reader.chip.commands[-1][:5] == bytes.fromhex("80AE40000B")  # CDOL2: 8A 95 9F37

    reader.insert("chip-pin")
    card = run(cards.read_chip(reader, 100, NOW, unpredictable_number=UN))
    assert run(cards.complete_chip(reader, card, "51")) is False
    assert card.tc is None


def test_complete_chip_on_contactless_is_a_no_op():
    reader = SimCardReader()
    reader.tap("chip-pin")
    card = run(cards.read_chip(reader, 100, NOW, contactless=True, unpredictable_number=UN))
    count = len(reader.chip.commands)
    assert run(cards.complete_chip(reader, card, "00")) is True
    assert len(reader.chip.commands) == count


@pytest.mark.parametrize("fault,code", [("mute", "CHIP_ERROR"), ("no_app", "NO_APP"),
                                        ("bad_sfi", "CHIP_ERROR")])
def test_chip_faults_allow_fallback(fault, code):
    reader = SimCardReader()
    reader.insert("chip-pin", fault=fault)
    with pytest.raises(cards.CardDataError) as e:
        run(cards.read_chip(reader, 100, NOW))
    assert e.value.code == code and code in cards.FALLBACK_CODES
    # The cardholder then swipes: fallback.
    card = swipe("chip-pin")
    cards.check_swiped_card(card, chip_failed=True)
    assert cards.entry_mode_code(card, True) == "801"


def test_transaction_type_and_sequence_counter_reach_field_55():
    reader = SimCardReader()
    reader.insert("chip-pin")
    card = run(cards.read_chip(reader, 100, NOW, unpredictable_number=UN, sequence_counter=123,
                               transaction_type=cards.TRANSACTION_TYPES["refund"]))
    tags = dict(tlv.walk(cards.build_field55(card)))
    assert tags[0x9C] == b"\x20" and tags[0x9F41] == bytes.fromhex("00000123")
    assert cards.set_sequence_counter(card, 124) is True
    assert cards.set_sequence_counter(card, 124) is False
    assert dict(tlv.walk(cards.build_field55(card)))[0x9F41] == bytes.fromhex("00000124")


def test_no_app_lists_every_supported_aid_then_gives_up():
    reader = SimCardReader()
    reader.insert("chip-pin", fault="no_app")
    with pytest.raises(cards.CardDataError):
        run(cards.read_chip(reader, 100, NOW))
    selected = [c[5:-1] for c in reader.chip.commands if c[:2] == b"\x00\xa4"]
    assert selected == [b"1PAY.SYS.DDF01"] + list(cards.SUPPORTED_AIDS)


def test_card_pulled_out_mid_read():
    reader = SimCardReader()
    reader.insert("chip-pin")

    async def pull():
        reader.remove()

    async def both():
        return await asyncio.gather(cards.read_chip(reader, 100, NOW), pull(),
                                    return_exceptions=True)

    result, _ = run(both())
    assert isinstance(result, cards.CardDataError) and result.code == "CARD_REMOVED"


class ScriptedReader:
    """A reader answering fixed responses: for chips that misbehave."""

    def __init__(self, answers):
        self.answers = list(answers)

    async def transceive(self, apdu):
        if not self.answers:
            raise CardError("mute")
        return self.answers.pop(0)

    def card_present(self):
        return True


def test_malformed_chip_answers_are_chip_read_errors():
    fci = tlv.build([(0x6F, [(0x84, bytes.fromhex("A000000333010101"))])]) + b"\x90\x00"
    for answers in (
        [bytes.fromhex("6F0384" "9000")],                # PSE FCI with a truncated TLV
        [bytes.fromhex("90")],                           # shorter than a status word
        [b"\x6a\x82", fci, bytes.fromhex("7003820100" "9000")],  # GPO answer not 77 / 80
        [b"\x6a\x82", fci, bytes.fromhex("6A81")],                # GPO refused
        [b"\x6a\x82", fci, bytes.fromhex("770782027C00940108" "9000")],  # AFL not 4n bytes
        [b"\x6a\x82", fci, bytes.fromhex("770A82027C00940408010100" "9000"),
         bytes.fromhex("6A83")],                         # a record the AFL names is missing
    ):
        with pytest.raises(cards.CardDataError) as e:
            run(cards.read_chip(ScriptedReader(answers), 100, NOW))
        assert e.value.code == "CHIP_ERROR", answers


def test_format1_gpo_and_generate_ac_answers():
    # A card answering in format 1 (tag 80) to GPO and GENERATE AC.
    aid = bytes.fromhex("A000000333010101")
    records = tlv.build([(0x70, [(0x57, bytes.fromhex("6222021000000000017D3012201000000F")),
                                 (0x5A, bytes.fromhex("6222021000000000017F")),
                                 (0x5F24, bytes.fromhex("301231")),
                                 (0x5F34, b"\x02"),
                                 (0x8C, bytes.fromhex("9F02069F37049F3602"))])])
    answers = [
        bytes.fromhex("6A82"),                                            # no PSE
        tlv.build([(0x6F, [(0x84, aid), (0xA5, [(0x50, b"UP")])])]) + b"\x90\x00",
        tlv.build([(0x80, bytes.fromhex("7C00" "08010100"))]) + b"\x90\x00",
        records + b"\x90\x00",
        tlv.build([(0x80, bytes.fromhex("80" "0021" "1122334455667788" "0701010300000001"))])
        + b"\x90\x00",
    ]
    card = run(cards.read_chip(ScriptedReader(answers), 100, NOW, unpredictable_number=UN))
    assert card.pan == "6222021000000000017" and card.card_seq == "002"
    assert card.expiry == "3012" and card.service_code == "201"
    values = dict(tlv.parse(card.icc_data))
    assert values[0x9F26] == bytes.fromhex("1122334455667788")
    assert values[0x9F36] == b"\x00\x21"
    assert values[0x9F10] == bytes.fromhex("0701010300000001")
    assert values[0x82] == b"\x7c\x00"


def test_card_declining_with_aac():
    aid = bytes.fromhex("A000000333010101")
    records = tlv.build([(0x70, [(0x57, bytes.fromhex("6222021000000000017D3012201000000F")),
                                 (0x8C, bytes.fromhex("9F0206"))])])
    answers = [
        bytes.fromhex("6A82"),
        tlv.build([(0x6F, [(0x84, aid)])]) + b"\x90\x00",
        tlv.build([(0x77, [(0x82, b"\x7c\x00"), (0x94, bytes.fromhex("08010100"))])]) + b"\x90\x00",
        records + b"\x90\x00",
        tlv.build([(0x77, [(0x9F27, b"\x00"), (0x9F36, b"\x00\x01"),
                           (0x9F26, bytes(8))])]) + b"\x90\x00",
    ]
    with pytest.raises(cards.CardDataError) as e:
        run(cards.read_chip(ScriptedReader(answers), 100, NOW))
    assert e.value.code == "CHIP_DECLINED"


def test_pan_mismatch_between_57_and_5a_is_refused():
    aid = bytes.fromhex("A000000333010101")
    records = tlv.build([(0x70, [(0x57, bytes.fromhex("6222021000000000017D3012201000000F")),
                                 (0x5A, bytes.fromhex("6222021000000000058F"))])])
    answers = [
        bytes.fromhex("6A82"),
        tlv.build([(0x6F, [(0x84, aid)])]) + b"\x90\x00",
        tlv.build([(0x77, [(0x82, b"\x7c\x00"), (0x94, bytes.fromhex("08010100"))])]) + b"\x90\x00",
        records + b"\x90\x00",
    ]
    with pytest.raises(cards.CardDataError) as e:
        run(cards.read_chip_application(ScriptedReader(answers), 100, NOW))
    assert e.value.code == "CARD_READ"


# ------------------------------------------------------ nothing leaks

def test_repr_and_str_never_show_the_card_number_or_track():
    reader, events = reader_with_events()
    for deck_card in deck.test_deck():
        reader.swipe(deck_card)
        reader.insert(deck_card)
        reader.tap(deck_card)
    reader.remove()
    for _, event in events:
        for text in (repr(event), str(event)):
            for deck_card in deck.test_deck():
                assert deck_card.pan[:12] not in text and deck_card.track2 not in text
    for name in ("debit-mag", "chip-pin"):
        card = swipe(name)
        for text in (repr(card), str(card), "%s" % card, "%r" % [card]):
            assert card.pan not in text and card.track2 not in text
            assert card.masked_pan in text
    reader = SimCardReader()
    reader.insert("chip-pin")
    card = run(cards.read_chip(reader, 100, NOW))
    assert repr(card) == "CardData(621700*********0038, insert)"


# ------------------------------------------------------ MicroPython gives the same

MP_SCRIPT = """
import sys; sys.path.insert(0, '')
import asyncio
from hal.sim.card_reader import SimCardReader
from firmware import card as cards
from firmware.errors import PosError
from hal.compat import hexlify
from hal.sim.deck import find_card
NOW = (2025, 6, 15, 10, 30, 0)
async def main():
    reader = SimCardReader()
    out = []
    for name, contactless in (('chip-pin', False), ('credit-chip', False),
                              ('chip-pin', True), ('credit-chip', True)):
        if contactless:
            reader.tap(name)
        else:
            reader.insert(name)
        c = await cards.read_chip(reader, 12345, NOW, contactless=contactless, pin_entered=True,
                                  unpredictable_number=b'\\x12\\x34\\x56\\x78', sequence_counter=9)
        ok = await cards.complete_chip(reader, c, '00')
        out.append('|'.join([repr(c), c.pan, c.expiry, str(c.service_code), str(c.card_seq),
                             c.track2, c.aid, str(cards.pin_required(c)),
                             cards.entry_mode_code(c, True), hexlify(c.icc_data), str(ok),
                             hexlify(c.tc) if c.tc else '-']))
    c = cards.parse_track2('6222021000000000017=30121010000000000')
    out.append('|'.join([repr(c), cards.mask_pan(c.pan), cards.entry_mode_code(c, False)]))
    codes = []
    for name in ('garbled', 'bad-luhn', 'expired', 'chip-pin'):
        reader.swipe(name)
        try:
            c = cards.parse_track2(find_card(name).track2)
            cards.check_swiped_card(c)
            cards.check_expiry(c, NOW)
            codes.append('ok')
        except PosError as e:
            codes.append(e.code)
    for fault in ('mute', 'no_app'):
        reader.insert('chip-pin', fault=fault)
        try:
            await cards.read_chip(reader, 1, NOW)
        except cards.CardDataError as e:
            codes.append(e.code)
    out.append(' '.join(codes))
    return out
for line in asyncio.run(main()):
    print(line)
"""




def test_micropython_reads_chips_the_same():
    mp = micropython_path()
    if mp is None:
        pytest.skip("no micropython interpreter")
    mine = subprocess.run([sys.executable, "-c", MP_SCRIPT], cwd=ROOT, capture_output=True,
                          timeout=60)
    theirs = subprocess.run([mp, "-c", MP_SCRIPT], cwd=ROOT, capture_output=True, timeout=60)
    assert mine.returncode == 0, mine.stderr.decode()
    assert theirs.returncode == 0, theirs.stderr.decode()
    lines = mine.stdout.decode().splitlines()
    assert len(lines) == 6
    assert lines[-1] == "CARD_READ BAD_LUHN CARD_EXPIRED USE_CHIP CHIP_ERROR NO_APP"
    assert theirs.stdout.decode() == mine.stdout.decode()


def test_a_reader_that_hangs_is_a_chip_error_not_a_frozen_flow():
    import asyncio
    from firmware import card as cardmod
    from hal.card_reader import CardReader

    class HangingReader(CardReader):
        apdu_timeout_ms = 50

        async def _transceive(self, apdu):
            await asyncio.sleep(3600)

        def card_present(self):
            return True

    with pytest.raises(cardmod.CardDataError) as caught:
        asyncio.run(cardmod.read_chip(HangingReader(), 100, (2026, 11, 22, 10, 0, 0)))
    assert caught.value.code == cardmod.CHIP_ERROR
