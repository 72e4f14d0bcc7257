"""BER-TLV (firmware/tlv.py) against published examples.

Sources:
- PSE FCI "6F1A840E315041592E5359532E4444463031A5088801025F2D02656E": the
  sample of the EMVLab TLV decoder (https://www.emvlab.org/tlvutils/), used
  as a test vector by many public TLV libraries.
- PPSE response of a Visa debit card "6F2F840E325041592E...8701019000",
  likewise an EMVLab example (without its status word 9000 here).
- Length 201 = 81 C9: ITU-T X.690 (ISO/IEC 8825-1) 8.1.3.5, note 2.
- Padding bytes 00 between objects: EMV Book 3 Annex B1.
- qVSDC PDOL "9F66049F02069F03069F1A0295055F2A029A039C019F3704": the PDOL
  published in EMV Contactless Book C-3 (Kernel 3) examples and card dumps.
- Three-byte tag DF8129 (Outcome Parameter Set): EMV Contactless Book C-2.
"""

import pytest

from firmware import tlv

PSE_FCI = bytes.fromhex("6F1A840E315041592E5359532E4444463031A5088801025F2D02656E")
VISA_PPSE = bytes.fromhex(
    "6F2F840E325041592E5359532E4444463031A51DBF0C1A61184F07A0000000031010"
    "500A56495341204445424954870101")


def test_pse_fci_top_level():
    assert tlv.parse(PSE_FCI) == [(0x6F, PSE_FCI[2:])]


def test_pse_fci_walk_opens_templates_in_order():
    tags = [tag for tag, _ in tlv.walk(PSE_FCI)]
    assert tags == [0x6F, 0x84, 0xA5, 0x88, 0x5F2D]


def test_pse_fci_find_nested_values():
    assert tlv.find(PSE_FCI, 0x84) == b"1PAY.SYS.DDF01"
    assert tlv.find(PSE_FCI, 0x88) == b"\x02"
    assert tlv.find(PSE_FCI, 0x5F2D) == b"en"
    assert tlv.find(PSE_FCI, 0x9F38) is None


def test_pse_fci_rebuilt_from_nested_items():
    built = tlv.build([(0x6F, [
        (0x84, b"1PAY.SYS.DDF01"),
        (0xA5, [(0x88, b"\x02"), (0x5F2D, b"en")]),
    ])])
    assert built == PSE_FCI


def test_visa_ppse_directory_entry():
    assert tlv.find(VISA_PPSE, 0x4F) == bytes.fromhex("A0000000031010")
    assert tlv.find(VISA_PPSE, 0x50) == b"VISA DEBIT"
    assert tlv.find(VISA_PPSE, 0x87) == b"\x01"
    directory = tlv.find(VISA_PPSE, 0xBF0C)
    assert tlv.parse(directory)[0][0] == 0x61


def test_visa_ppse_round_trip_through_walk():
    (tag, value), = tlv.parse(VISA_PPSE)
    assert tlv.build([(tag, value)]) == VISA_PPSE


def test_x690_long_form_length_201():
    assert tlv.encode_length(201) == b"\x81\xc9"
    value = bytes(range(201))
    encoded = tlv.build([(0x70, value)])
    assert encoded[:3] == b"\x70\x81\xc9"
    assert tlv.parse(encoded) == [(0x70, value)]


def test_lengths_at_the_form_boundaries():
    assert tlv.encode_length(0) == b"\x00"
    assert tlv.encode_length(127) == b"\x7f"
    assert tlv.encode_length(128) == b"\x81\x80"
    assert tlv.encode_length(255) == b"\x81\xff"
    assert tlv.encode_length(256) == b"\x82\x01\x00"
    assert tlv.encode_length(435) == b"\x82\x01\xb3"
    value = bytes(300)
    assert tlv.parse(tlv.build([(0x9F10, value)])) == [(0x9F10, value)]


def test_multi_byte_tags():
    assert tlv.encode_tag(0x9F26) == b"\x9f\x26"
    assert tlv.encode_tag(0x5F2A) == b"\x5f\x2a"
    assert tlv.encode_tag(0xBF0C) == b"\xbf\x0c"
    assert tlv.encode_tag(0xDF8129) == b"\xdf\x81\x29"
    data = bytes.fromhex("DF8129081000F0FFFF000000" "9F2701" "80")
    assert tlv.parse(data) == [(0xDF8129, bytes.fromhex("1000F0FFFF000000")), (0x9F27, b"\x80")]


def test_constructed_bit():
    assert tlv.is_constructed(0x6F)
    assert tlv.is_constructed(0x70)
    assert tlv.is_constructed(0xBF0C)
    assert not tlv.is_constructed(0x9F26)
    assert not tlv.is_constructed(0x5A)


def test_zero_padding_between_objects_is_skipped():
    data = b"\x00\x00" + bytes.fromhex("5A0862220210000000") + b"\x00" + bytes.fromhex("9F360200AB") + b"\x00"
    assert tlv.parse(data) == [(0x5A, bytes.fromhex("6222021000000000")), (0x9F36, b"\x00\xab")]


def test_parse_dol_qvsdc_pdol():
    pdol = bytes.fromhex("9F66049F02069F03069F1A0295055F2A029A039C019F3704")
    assert tlv.parse_dol(pdol) == [
        (0x9F66, 4), (0x9F02, 6), (0x9F03, 6), (0x9F1A, 2), (0x95, 5),
        (0x5F2A, 2), (0x9A, 3), (0x9C, 1), (0x9F37, 4)]


@pytest.mark.parametrize("bad", [
    "9F",                # tag cut short
    "9F26",              # no length
    "9F2608AABB",        # value shorter than its length
    "7080",              # indefinite length: not EMV
    "5A85000000000001",  # 5-byte length
    "5A8201",            # long length cut short
])
def test_malformed_input_raises_tlv_error(bad):
    with pytest.raises(tlv.TlvError):
        tlv.parse(bytes.fromhex(bad))


def test_tlv_error_is_a_value_error():
    assert issubclass(tlv.TlvError, ValueError)


@pytest.mark.parametrize("bad_tag", [0x9F, 0x1F26 << 8, 0x9FA6, 0x5A5A])
def test_invalid_tags_refused_on_build(bad_tag):
    with pytest.raises(tlv.TlvError):
        tlv.encode_tag(bad_tag)


def test_build_refuses_non_bytes_value():
    with pytest.raises(tlv.TlvError):
        tlv.build([(0x5A, "6222")])


def test_find_in_malformed_nested_data_raises():
    # A template whose content is cut short.
    with pytest.raises(tlv.TlvError):
        tlv.find(bytes.fromhex("7004" "9F2608"), 0x9F26)


MP_SCRIPT = """
import sys; sys.path.insert(0, '')
from firmware import tlv
pse = bytes.fromhex('6F1A840E315041592E5359532E4444463031A5088801025F2D02656E')
print([(hex(t), v.hex()) for t, v in tlv.walk(pse)])
print(tlv.find(pse, 0x5F2D), tlv.encode_length(201).hex(), tlv.encode_length(435).hex())
print(tlv.build([(0x6F, [(0x84, b'1PAY.SYS.DDF01'), (0xA5, [(0x88, bytes([2]))])])]).hex())
print(tlv.parse(bytes.fromhex('00DF812902AABB009F270180')))
print(tlv.parse_dol(bytes.fromhex('9F66049F02069F3704')))
for bad in ('9F2608AABB', '7080', '9F'):
    try:
        tlv.parse(bytes.fromhex(bad))
        print('parsed?')
    except ValueError as e:
        print(type(e).__name__)
"""


def test_micropython_parses_the_same():
    import os
    import shutil
    import subprocess
    import sys
    mp = None
    for candidate in (os.environ.get("MICROPYTHON"),
                      os.path.join(os.path.dirname(sys.executable), "micropython"),
                      shutil.which("micropython")):
        if candidate and os.path.exists(candidate):
            mp = candidate
            break
    if mp is None:
        pytest.skip("no micropython interpreter")
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    mine = subprocess.run([sys.executable, "-c", MP_SCRIPT], cwd=root, capture_output=True)
    theirs = subprocess.run([mp, "-c", MP_SCRIPT], cwd=root, capture_output=True, timeout=60)
    assert mine.returncode == 0, mine.stderr.decode()
    assert theirs.returncode == 0, theirs.stderr.decode()
    assert theirs.stdout.decode() == mine.stdout.decode()
    assert mine.stdout.decode().splitlines()[-3:] == ["TlvError"] * 3
