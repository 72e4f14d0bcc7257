"""hal/sim/card_reader.py and hal/sim/chip.py: the events the reader posts
and the APDUs the simulated chip answers.

APDU layouts: ISO/IEC 7816-4 (SELECT 00 A4 04 00, READ RECORD 00 B2 with
P2 = SFI << 3 | 4, status words 9000 / 6700 / 6A82 / 6A83 / 6985 / 6D00 /
6E00) and EMV Book 3 (GET PROCESSING OPTIONS 80 A8 with template 83,
GENERATE AC 80 AE with P1 80 ARQC / 40 TC / 00 AAC, GET DATA 80 CA).
"""

import asyncio

import pytest

from firmware import tlv
from hal import open_device
from hal.card_reader import SWIPE, INSERT, TAP, REMOVE, CardEvent
from hal.errors import CardError, DeviceError
from hal.sim import chip as simchip
from hal.sim.card_reader import SimCardReader
from hal.sim.deck import find_card

SELECT_PSE = bytes.fromhex("00A404000E") + b"1PAY.SYS.DDF01" + b"\x00"
SELECT_PPSE = bytes.fromhex("00A404000E") + b"2PAY.SYS.DDF01" + b"\x00"
SELECT_DEBIT = bytes.fromhex("00A4040008A00000033301010100")
GPO_NO_PDOL = bytes.fromhex("80A8000002830000")


def run(coro):
    return asyncio.run(coro)


def new_reader():
    reader = SimCardReader()
    events = []
    reader.set_listener(events.append)
    return reader, events


def send(reader, hex_or_bytes):
    apdu = bytes.fromhex(hex_or_bytes) if isinstance(hex_or_bytes, str) else hex_or_bytes
    response = run(reader.transceive(apdu))
    return response[:-2], response[-2:].hex().upper()


# ---------------------------------------------------------------- the reader

def test_opened_by_address():
    reader = open_device("card_reader", "sim:")
    assert isinstance(reader, SimCardReader)
    with pytest.raises(DeviceError):
        open_device("card_reader", "sim:/dev/ttyS0")
    with pytest.raises(DeviceError):
        open_device("card_reader", "sim:?speed=fast")


def test_swipe_posts_track2_and_keeps_nothing():
    reader, events = new_reader()
    reader.swipe("debit-mag")
    assert len(events) == 1
    kind, event = events[0]
    assert kind == "card" and event.action == SWIPE and event.error is None
    assert event.track2 == find_card("debit-mag").track2
    assert not reader.card_present()
    with pytest.raises(CardError):
        run(reader.transceive(SELECT_PSE))


def test_garbled_track_is_posted_as_read():
    reader, events = new_reader()
    reader.swipe(find_card("garbled"))
    assert events[0][1].track2 == "6222620000?=3O1#"


def test_unknown_card_name_is_refused_with_the_names():
    reader, _ = new_reader()
    with pytest.raises(KeyError) as e:
        reader.swipe("no-such-card")
    assert "chip-pin" in str(e.value)


def test_insert_chip_card():
    reader, events = new_reader()
    reader.insert("chip-pin")
    assert [e[1].action for e in events] == [INSERT]
    assert events[0][1].error is None and events[0][1].track2 is None
    assert reader.card_present()
    _, sw = send(reader, SELECT_PSE)
    assert sw == "9000"


def test_insert_card_without_chip_reports_a_chip_error():
    reader, events = new_reader()
    reader.insert("debit-mag")
    assert events[0][1].action == INSERT and events[0][1].error == "NO_CHIP"
    assert reader.card_present()  # it is in the slot, it just has no chip
    with pytest.raises(CardError):
        run(reader.transceive(SELECT_PSE))
    assert reader.remove() is True
    assert events[-1][1].action == REMOVE


def test_tap_without_contactless_is_not_detected():
    reader, events = new_reader()
    assert reader.tap("debit-mag") is False
    assert events == [] and not reader.card_present()


def test_tap_contactless_card():
    reader, events = new_reader()
    assert reader.tap("credit-chip") is True
    assert [e[1].action for e in events] == [TAP]
    _, sw = send(reader, SELECT_PPSE)
    assert sw == "9000"


def test_remove_posts_once():
    reader, events = new_reader()
    assert reader.remove() is False and events == []
    reader.insert("chip-pin")
    assert reader.remove() is True
    assert reader.remove() is False
    assert [e[1].action for e in events] == [INSERT, REMOVE]
    assert not reader.card_present()
    with pytest.raises(CardError):
        run(reader.transceive(SELECT_PSE))


def test_a_second_card_takes_the_first_out():
    reader, events = new_reader()
    reader.insert("chip-pin")
    reader.tap("credit-chip")
    assert [e[1].action for e in events] == [INSERT, REMOVE, TAP]
    assert reader.chip.pan == find_card("credit-chip").pan


def test_mute_chip_raises_card_error():
    reader, _ = new_reader()
    reader.insert("chip-pin", fault="mute")
    with pytest.raises(CardError):
        run(reader.transceive(SELECT_PSE))
    with pytest.raises(ValueError):
        reader.insert("chip-pin", fault="on-fire")


def test_transceive_wants_bytes():
    reader, _ = new_reader()
    reader.insert("chip-pin")
    with pytest.raises(TypeError):
        run(reader.transceive("00A40400"))


def test_card_event_repr_hides_track():
    event = CardEvent(SWIPE, track2=find_card("debit-mag").track2)
    assert find_card("debit-mag").pan not in repr(event)
    assert find_card("debit-mag").pan not in str(event)


# ---------------------------------------------------------------- the chip, APDU by APDU

def test_pse_and_its_directory():
    reader, _ = new_reader()
    reader.insert("chip-pin")
    fci, sw = send(reader, SELECT_PSE)
    assert sw == "9000"
    assert tlv.find(fci, 0x84) == b"1PAY.SYS.DDF01"
    assert tlv.find(fci, 0x88) == b"\x01"  # directory in SFI 1
    record, sw = send(reader, "00B2010C00")
    assert sw == "9000" and tlv.parse(record)[0][0] == 0x70
    assert tlv.find(record, 0x4F) == simchip.DEBIT_AID
    assert tlv.find(record, 0x87) == b"\x01"
    _, sw = send(reader, "00B2020C00")
    assert sw == "6A83"


def test_ppse_only_contactless_and_pse_only_contact():
    reader, _ = new_reader()
    reader.insert("chip-pin")
    assert send(reader, SELECT_PPSE)[1] == "6A82"
    reader.tap("chip-pin")
    assert send(reader, SELECT_PSE)[1] == "6A82"
    fci, sw = send(reader, SELECT_PPSE)
    assert sw == "9000"
    directory = tlv.find(fci, 0xBF0C)
    assert tlv.find(directory, 0x4F) == simchip.DEBIT_AID


def test_select_aid_fci_and_partial_selection():
    reader, _ = new_reader()
    reader.insert("credit-chip")
    assert send(reader, SELECT_DEBIT)[1] == "6A82"
    fci, sw = send(reader, "00A4040007A000000333010100")  # partial AID (7 bytes)
    assert sw == "9000"
    assert tlv.find(fci, 0x84) == simchip.CREDIT_AID
    assert tlv.find(fci, 0x50) == b"UnionPay Credit"
    assert tlv.find(fci, 0x9F38) is None  # contact: no PDOL
    assert send(reader, "00A4040207A000000333010100")[1] == "6A82"  # "next": there is none


def test_contactless_fci_has_the_qpboc_pdol():
    reader, _ = new_reader()
    reader.tap("chip-pin")
    fci, _ = send(reader, SELECT_DEBIT)
    assert tlv.parse_dol(tlv.find(fci, 0x9F38)) == [(0x9F66, 4)] + list(simchip.CRYPTOGRAM_INPUT)


def test_gpo_needs_a_selected_application_and_right_pdol_length():
    reader, _ = new_reader()
    reader.insert("chip-pin")
    assert send(reader, GPO_NO_PDOL)[1] == "6985"
    send(reader, SELECT_DEBIT)
    assert send(reader, "80A80000038301AA00")[1] == "6700"  # PDOL data the card did not ask for
    assert send(reader, "00B2010C00")[1] == "6985"          # records only after GPO
    answer, sw = send(reader, GPO_NO_PDOL)
    assert sw == "9000"
    assert tlv.find(answer, 0x82) == simchip.AIP
    assert tlv.find(answer, 0x94) == bytes.fromhex("08010200")
    assert send(reader, GPO_NO_PDOL)[1] == "6985"           # once per transaction


def test_records_hold_the_card_data():
    reader, _ = new_reader()
    reader.insert("chip-pin")
    send(reader, SELECT_DEBIT)
    send(reader, GPO_NO_PDOL)
    one, sw1 = send(reader, "00B2010C00")
    two, sw2 = send(reader, "00B2020C00")
    assert (sw1, sw2) == ("9000", "9000")
    assert tlv.find(one, 0x57) == bytes.fromhex("6217000000000000038D310622000000")
    assert tlv.find(two, 0x5A) == bytes.fromhex("6217000000000000038F")
    assert tlv.find(two, 0x5F24) == bytes.fromhex("310630")  # June has 30 days
    assert tlv.find(two, 0x5F34) == b"\x01"
    assert tlv.find(two, 0x8E) == simchip.CVM_ONLINE_PIN
    assert send(reader, "00B2030C00")[1] == "6A83"
    assert send(reader, "00B2010800")[1] == "6A86"          # P2 without the "SFI" bits 100


def test_generate_ac_sequence():
    reader, _ = new_reader()
    reader.insert("chip-pin")
    send(reader, SELECT_DEBIT)
    send(reader, GPO_NO_PDOL)
    cdol1_data = bytes(29)
    assert send(reader, bytes.fromhex("80AE80001C") + bytes(28) + b"\x00")[1] == "6700"
    first, sw = send(reader, bytes.fromhex("80AE80001D") + cdol1_data + b"\x00")
    assert sw == "9000"
    assert tlv.find(first, 0x9F27) == b"\x80"
    atc = tlv.find(first, 0x9F36)
    assert tlv.find(first, 0x9F26) == simchip.sim_cryptogram("6217000000000000038", atc, cdol1_data)
    assert tlv.find(first, 0x9F10)[4] == 0xA0  # CVR: ARQC in 1st GAC, 2nd not requested
    second, sw = send(reader, bytes.fromhex("80AE40000B") + b"00" + bytes(9) + b"\x00")
    assert sw == "9000" and tlv.find(second, 0x9F27) == b"\x40"
    assert tlv.find(second, 0x9F36) == atc
    assert send(reader, bytes.fromhex("80AE40000B") + b"00" + bytes(9) + b"\x00")[1] == "6985"


@pytest.mark.parametrize("card, ttq, ctq", [
    ("chip-pin", "36C00000", "8000"),          # CVM required: online PIN
    ("chip-pin", "36800000", "0000"),          # a QuickPass amount: no CVM
    ("credit-chip", "36C00000", "4000"),       # CVM required: signature
    ("credit-chip", "36800000", "0000"),
    ("chip-pin-always", "36800000", "8000"),   # its issuer wants the PIN at every amount
    ("chip-pin-always", "36C00000", "8000"),
])
def test_a_tapped_card_answers_the_terminals_cvm_required_with_its_ctq(card, ttq, ctq):
    reader, _ = new_reader()
    reader.tap(card)
    send(reader, "00A4040008" + reader.chip.aid.hex() + "00")
    pdol_data = bytes.fromhex(ttq) + bytes(29)
    answer, sw = send(reader, bytes.fromhex("80A80000238321") + pdol_data + b"\x00")
    assert sw == "9000"
    assert tlv.find(answer, 0x9F6C).hex() == ctq


def test_the_pin_always_card_says_online_pin_always_in_its_cvm_list():
    chip = simchip.SimChip.from_card(find_card("chip-pin-always"))
    assert chip.pin_always and chip.online_pin
    assert chip._cvm_list()[8:] == b"\x02\x00"       # 02 online PIN, 00 always


def test_second_generate_ac_declined_by_host_gives_aac():
    reader, _ = new_reader()
    reader.insert("chip-pin")
    send(reader, SELECT_DEBIT)
    send(reader, GPO_NO_PDOL)
    send(reader, bytes.fromhex("80AE80001D") + bytes(29) + b"\x00")
    second, _ = send(reader, bytes.fromhex("80AE40000B") + b"51" + bytes(9) + b"\x00")
    assert tlv.find(second, 0x9F27) == b"\x00"


def test_contactless_gpo_carries_the_cryptogram_and_no_generate_ac():
    reader, _ = new_reader()
    reader.tap("chip-pin")
    send(reader, SELECT_DEBIT)
    pdol_data = bytes.fromhex("36C00000") + bytes(29)    # TTQ: CVM required
    answer, sw = send(reader, bytes.fromhex("80A8000023") + bytes.fromhex("8321") + pdol_data + b"\x00")
    assert sw == "9000"
    assert tlv.find(answer, 0x94) == bytes.fromhex("08020200")
    assert tlv.find(answer, 0x9F6C) == b"\x80\x00"  # online PIN required
    atc = tlv.find(answer, 0x9F36)
    assert tlv.find(answer, 0x9F26) == simchip.sim_cryptogram("6217000000000000038", atc, bytes(29))
    assert send(reader, bytes.fromhex("80AE80001D") + bytes(29) + b"\x00")[1] == "6985"


def test_get_data_and_unknown_commands():
    reader, _ = new_reader()
    reader.insert("chip-pin")
    atc, sw = send(reader, "80CA9F3600")
    assert sw == "9000" and tlv.parse(atc)[0][0] == 0x9F36
    assert send(reader, "80CA9F1700")[0] == bytes.fromhex("9F170103")
    assert send(reader, "80CA9F4F00")[1] == "6A88"
    assert send(reader, "0084000008")[1] == "6D00"   # GET CHALLENGE: not in this applet
    assert send(reader, "A0A4040000")[1] == "6E00"   # unknown class
    assert send(reader, "00A4")[1] == "6700"          # shorter than a header
    assert send(reader, "00A404000E3150")[1] == "6700"  # Lc says 14, 2 bytes follow


def test_atc_counts_on_across_insertions():
    reader, _ = new_reader()
    counts = []
    for _ in range(3):
        reader.insert("chip-pin")
        send(reader, SELECT_DEBIT)
        answer, _ = send(reader, GPO_NO_PDOL)
        counts.append(int.from_bytes(send(reader, "80CA9F3600")[0][3:], "big"))
        reader.remove()
    assert counts[1] == counts[0] + 1 and counts[2] == counts[1] + 1


def test_chip_from_card_without_label_prefix_defaults_to_debit():
    chip = simchip.SimChip.from_card(find_card("chip-pin"))
    assert chip.aid == simchip.DEBIT_AID and chip.online_pin
    chip = simchip.SimChip.from_card(find_card("credit-chip"))
    assert chip.aid == simchip.CREDIT_AID and not chip.online_pin
    with pytest.raises(ValueError):
        simchip.SimChip("6217000000000000038", "3106", fault="smoke")
