"""firmware/iso8583.py: golden messages built by hand from the host protocol
(DESIGN.md "Host protocol", the UnionPay POS terminal field table), a real
acquirer message, cross-decoding with pyiso8583 both ways, and fuzzing.

The real message is the 0200 request posted at cnblogs q/128930 together
with the MAC the acquirer's host generated for it (also checked in
test_crypto.py); it carries a 19-digit F60.
"""

import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firmware import iso8583
from firmware.iso8583 import Iso8583Error, field60, frame, mac_data, pack, parse_field60, unframe, unpack
from hal import crypto
from tests.pyiso_spec import PY_SPEC, to_pyiso
from tests.support import micropython_path, run_script

pyiso = pytest.importorskip("iso8583")

H = bytes.fromhex

# --- Golden messages built by hand ---------------------------------------------------------

SIGN_ON_FIELDS = {11: "000001", 41: "12345678", 42: "123456789012345", 60: "00000001003", 63: "01 "}
SIGN_ON_BODY = H(
    "0800"                                    # MTI, BCD
    "0020000000C00012"                        # bitmap: 11 | 41 42 | 60 63
    "000001"                                  # F11 trace n6
    "3132333435363738"                        # F41 terminal id ans8, ASCII
    "313233343536373839303132333435"          # F42 merchant id ans15, ASCII
    "0011" "000000010030"                     # F60 LLL 11 digits: 60.1 00, 60.2 000001, 60.3 003 + pad 0
    "0003" "303120"                           # F63 LLL 3 chars: operator "01 "
)

SALE_FIELDS = {
    2: "6222020200112233445", 3: "000000", 4: "000000012345", 11: "000123", 14: "2512",
    22: "051", 23: "001", 25: "00", 26: "12",
    35: "6222020200112233445=25122011234567890",
    41: "12345678", 42: "123456789012345", 49: "156",
    52: H("1122334455667788"), 53: "2600000000000000", 55: H("9F26081122334455667788"),
    60: "2200000100050", 64: b"1A2B3C4D",
}
SALE_BODY = H(
    "0200"                                    # MTI
    "702406C020C09A11"                        # bitmap: 2 3 4 | 11 14 | 22 23 | 25 26 | 35 | 41 42 | 49 52 53 55 | 60 64
    "19" "62220202001122334450"               # F2 LLVAR 19 digits, left-aligned, trailing pad 0
    "000000"                                  # F3 processing code n6
    "000000012345"                            # F4 amount n12 (123.45 yuan)
    "000123"                                  # F11 trace n6
    "2512"                                    # F14 expiry YYMM n4
    "0510"                                    # F22 n3 "051": LEFT-aligned, pad nibble last
    "0001"                                    # F23 n3 "001": right-aligned, leading 0
    "00"                                      # F25 n2
    "12"                                      # F26 n2
    "37" "6222020200112233445D25122011234567890" "0"  # F35 LLVAR 37: '=' as nibble D, pad 0
    "3132333435363738"                        # F41
    "313233343536373839303132333435"          # F42
    "313536"                                  # F49 currency "156", ASCII
    "1122334455667788"                        # F52 PIN block b8
    "2600000000000000"                        # F53 n16
    "0011" "9F26081122334455667788"           # F55 LLL 11 bytes
    "0013" "22000001000500"                   # F60 LLL 13 digits 22 000001 000 5 0 + pad 0
    "3141324233433444"                        # F64 b8
)

REAL_FRAME = H(
    "007f" "6000030000" "603210320072"        # length 127, TPDU, header
    "0200" "3020048000c08015"                 # MTI, bitmap: 3 4 | 11 | 22 | 25 | 41 42 | 49 | 60 62 64
    "000000" "000000001234" "000002"          # F3, F4 (12.34 yuan), F11
    "0300" "99"                               # F22 "030" left-aligned, F25
    "3030303030303031" "393532373138313832323137383735" "313536"  # F41, F42, F49
    "0019" "26000001000600000000"             # F60: 19 digits + pad 0
    "0043" "5f0112323834343132333435363738393031323334" "5f0306313630303336"
    "5f0406323030383236" "5c023031"           # F62 43 bytes
    "4233413039324145")                       # F64 "B3A092AE"


def test_golden_sign_on_request():
    assert pack("0800", SIGN_ON_FIELDS) == SIGN_ON_BODY
    assert unpack(SIGN_ON_BODY) == ("0800", SIGN_ON_FIELDS)


def test_golden_sale_request():
    assert pack("0200", SALE_FIELDS) == SALE_BODY
    assert unpack(SALE_BODY) == ("0200", SALE_FIELDS)


def test_real_acquirer_message():
    length = (REAL_FRAME[0] << 8) | REAL_FRAME[1]
    assert length == len(REAL_FRAME) - 2
    tpdu, header, body = unframe(REAL_FRAME[2:])
    assert tpdu == H("6000030000") and header == H("603210320072")
    mti, fields = unpack(body)
    assert mti == "0200"
    assert fields[22] == "030" and fields[25] == "99" and fields[49] == "156"
    assert fields[60] == "2600000100060000000"          # 19 digits
    assert parse_field60(fields[60]) == {"type_code": "26", "batch": "000001", "network_code": "000",
                                         "read_capability": "6", "ic_flag": "0", "rest": "000000"}
    assert len(fields[62]) == 43 and fields[64] == b"B3A092AE"
    assert pack(mti, fields) == body
    assert frame(body, tpdu, header) == REAL_FRAME
    mak = H("0723C80DB5F4CD3D0723C80DB5F4CD3D")
    assert crypto.mac_unionpay_ecb(mak, mac_data(mti, fields)) == fields[64]


# --- Alignment and padding -----------------------------------------------------------------

def test_fixed_odd_numeric_alignment():
    assert pack("0200", {22: "071"})[10:] == H("0710")   # F22 left-aligned
    assert pack("0200", {23: "001"})[10:] == H("0001")   # F23 right-aligned


def with_bitmap(mti, bits, data):
    bitmap = 0
    for bit in bits:
        bitmap |= 1 << (64 - bit)
    return H(mti) + bitmap.to_bytes(8, "big") + data


@pytest.mark.parametrize("data, field, value", [
    (H("19") + H("6222020200112233445F"), 2, "6222020200112233445"),
    (H("19") + H("62220202001122334450"), 2, "6222020200112233445"),
    (H("37") + H("6222020200112233445D25122011234567890F"), 35, "6222020200112233445=25122011234567890"),
    (H("0013") + H("2200000100050F"), 60, "2200000100050"),
    (H("0710"), 22, "071"),
    (H("071F"), 22, "071"),
])
def test_read_accepts_pad_nibble_0_or_f(data, field, value):
    assert unpack(with_bitmap("0200", [field], data))[1] == {field: value}


def test_read_refuses_other_pad_nibbles_and_bad_bcd():
    with pytest.raises(Iso8583Error, match="field 2"):
        unpack(with_bitmap("0200", [2], H("19") + H("62220202001122334457")))
    with pytest.raises(Iso8583Error, match="field 3"):
        unpack(with_bitmap("0200", [3], H("00A000")))
    with pytest.raises(Iso8583Error, match="field 2"):
        unpack(with_bitmap("0200", [2], H("1A") + bytes(10)))
    with pytest.raises(Iso8583Error, match="MTI"):
        unpack(H("0A00") + bytes(8))


def test_track_nibbles_other_than_d_are_refused():
    with pytest.raises(Iso8583Error, match="field 35"):
        unpack(with_bitmap("0200", [35], H("04") + H("12E4")))


# --- Lengths ----------------------------------------------------------------------------------

def test_field60_of_19_digits_and_not_20():
    assert unpack(pack("0200", {60: "1" * 19}))[1][60] == "1" * 19
    with pytest.raises(Iso8583Error, match="field 60"):
        pack("0200", {60: "1" * 20})
    with pytest.raises(Iso8583Error, match="field 60"):
        unpack(with_bitmap("0200", [60], H("0020") + bytes(10)))


def test_field59_long_text_with_gbk_bytes_round_trips():
    raw = bytes(range(0x20, 0x100)) * 2 + b"QR" * 76          # 448 + 152 = 600 bytes
    text = "".join(chr(b) for b in raw)
    body = pack("0210", {59: text})
    assert body[10:12] == H("0600") and body[12:] == raw
    assert unpack(body)[1][59] == text
    with pytest.raises(Iso8583Error, match="field 59"):
        pack("0210", {59: text + "x"})


def test_unicode_beyond_one_byte_is_refused():
    with pytest.raises(Iso8583Error, match="field 63"):
        pack("0200", {63: "中文"})


@pytest.mark.parametrize("fields", [
    {3: "00000"}, {3: "0000000"}, {3: 0}, {3: "00000A"}, {2: "1" * 20}, {35: "12=3=A"},
    {41: "1234567"}, {41: b"12345678"}, {52: "11223344"}, {52: b"1234567"}, {55: bytes(256)},
    {1: b"x"}, {5: "000000000000"}, {"3": "000000"}, {65: b"x"},
])
def test_pack_refuses_values_that_do_not_fit(fields):
    with pytest.raises(Iso8583Error):
        pack("0200", fields)


@pytest.mark.parametrize("mti", ["200", "02000", "02A0", 200])
def test_pack_refuses_bad_mti(mti):
    with pytest.raises(Iso8583Error, match="MTI"):
        pack(mti, {})


# --- Malformed bodies ------------------------------------------------------------------------

def test_secondary_bitmap_is_refused_cleanly():
    body = H("0200") + H("8000000000000000") + bytes(8)
    with pytest.raises(Iso8583Error, match="secondary bitmap"):
        unpack(body)


def test_field_not_in_the_table_is_named():
    with pytest.raises(Iso8583Error) as e:
        unpack(with_bitmap("0200", [5], bytes(6)))
    assert e.value.field == 5 and e.value.offset == 10
    assert "field 5" in str(e.value) and "offset 10" in str(e.value)


def test_short_body_names_field_and_offset():
    with pytest.raises(Iso8583Error) as e:
        unpack(SALE_BODY[:45])                  # F35 (prefix at 41) is cut short
    assert e.value.field == 35 and e.value.offset == 42 and "field 35 at offset 42" in str(e.value)
    for cut in range(len(SALE_BODY)):
        with pytest.raises(Iso8583Error):
            unpack(SALE_BODY[:cut])


def test_trailing_bytes_are_refused():
    with pytest.raises(Iso8583Error, match="left over"):
        unpack(SIGN_ON_BODY + b"\x00")


def test_unpack_refuses_non_bytes():
    with pytest.raises(Iso8583Error):
        unpack("0200")


# --- MAC data, framing, TPDU ---------------------------------------------------------------

def test_mac_data_sets_bit_64_and_leaves_out_f64():
    with_mac = pack("0200", SALE_FIELDS)
    data = mac_data("0200", SALE_FIELDS)
    assert data == with_mac[:-8]
    without = dict(SALE_FIELDS)
    del without[64]
    assert mac_data("0200", without) == data
    assert pack("0200", without)[9] == data[9] & 0xFE      # only bit 64 differs


def test_frame_and_unframe():
    tpdu, header = H("6000000000"), H("603100310000")
    framed = frame(SIGN_ON_BODY, tpdu, header)
    assert framed[:2] == (len(SIGN_ON_BODY) + 11).to_bytes(2, "big")
    assert unframe(framed[2:]) == (tpdu, header, SIGN_ON_BODY)
    with pytest.raises(Iso8583Error):
        frame(SIGN_ON_BODY, tpdu[:4], header)
    with pytest.raises(Iso8583Error):
        frame(SIGN_ON_BODY, tpdu, header + b"\x00")
    with pytest.raises(Iso8583Error):
        frame(bytes(70000), tpdu, header)
    with pytest.raises(Iso8583Error):
        unframe(framed[2:12])


def test_reply_tpdu_swaps_destination_and_source():
    assert iso8583.reply_tpdu(H("6000120034")) == H("6000340012")
    with pytest.raises(Iso8583Error):
        iso8583.reply_tpdu(H("60001200"))


# --- Field 60 helpers ------------------------------------------------------------------------

def test_field60_build():
    assert field60("22", 1, "000") == "22000001000"
    assert field60("22", "000001", "000", "5", "0") == "2200000100050"
    assert field60(0, 123456, 3, 6) == "001234560036"
    for bad in [("2", 1, "000"), ("22", 1234567, "000"), ("22", "1", "000"), ("22", 1, "00x")]:
        with pytest.raises(Iso8583Error):
            field60(*bad)
    with pytest.raises(Iso8583Error, match="60.4"):
        field60("22", 1, "000", None, "0")


def test_parse_field60():
    assert parse_field60("00000001003") == {"type_code": "00", "batch": "000001", "network_code": "003",
                                            "read_capability": None, "ic_flag": None, "rest": None}
    assert parse_field60("22")["batch"] is None
    for bad in ["2", "220000", "22000001", "22x", 22, ""]:
        if bad == "22000001":
            assert parse_field60(bad)["network_code"] is None
            continue
        with pytest.raises(Iso8583Error):
            parse_field60(bad)


# --- Cross-decoding with pyiso8583 ------------------------------------------------------------
# The spec (tests/pyiso_spec.py) is written out from the UnionPay table, not
# derived from iso8583.FIELDS, so that a wrong entry in either shows up.

def field_value(number):
    kind, length, prefix, _ = iso8583.FIELDS[number]
    size = st.just(length) if prefix == 0 else st.integers(0, length)
    if kind == "n":
        return size.flatmap(lambda n: st.text("0123456789", min_size=n, max_size=n))
    if kind == "z":
        return size.flatmap(lambda n: st.text("0123456789=", min_size=n, max_size=n))
    if kind == "a":
        return size.flatmap(lambda n: st.text(st.characters(min_codepoint=0, max_codepoint=255),
                                              min_size=n, max_size=n))
    return size.flatmap(lambda n: st.binary(min_size=n, max_size=n))


messages = st.tuples(
    st.text("0123456789", min_size=4, max_size=4),
    st.sets(st.sampled_from(sorted(iso8583.FIELDS))).flatmap(
        lambda numbers: st.fixed_dictionaries({n: field_value(n) for n in numbers})),
)


SETTINGS = settings(max_examples=150, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(messages)
def test_pyiso8583_decodes_what_we_pack(message):
    mti, fields = message
    body = pack(mti, fields)
    decoded, _ = pyiso.decode(bytearray(body), PY_SPEC)
    assert decoded["t"] == mti
    got = {int(k): v for k, v in decoded.items() if k not in ("t", "p", "h")}
    assert got == {n: to_pyiso(v, n) for n, v in fields.items()}
    assert unpack(body) == (mti, fields)


@SETTINGS
@given(messages)
def test_we_decode_what_pyiso8583_packs(message):
    mti, fields = message
    doc = {"t": mti}
    for n, v in fields.items():
        doc[str(n)] = to_pyiso(v, n)
    body, _ = pyiso.encode(doc, PY_SPEC)
    assert unpack(bytes(body)) == (mti, fields)


# --- Fuzzing: only Iso8583Error may come out of unpack -----------------------------------------

@settings(max_examples=300, deadline=None, database=None)
@given(st.binary(max_size=120))
def test_fuzz_random_bytes(data):
    try:
        unpack(data)
    except Iso8583Error:
        pass


@settings(max_examples=300, deadline=None, database=None)
@given(st.sampled_from([SALE_BODY, SIGN_ON_BODY, unframe(REAL_FRAME[2:])[2]]),
       st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=4),
       st.integers(0, 400))
def test_fuzz_mutated_messages(body, flips, cut):
    data = bytearray(body)
    for index, value in flips:
        if index < len(data):
            data[index] = value
    data = bytes(data[:max(cut, 10)])
    try:
        mti, fields = unpack(data)
    except Iso8583Error:
        return
    # Whatever is accepted packs back to a message that unpacks the same.
    assert unpack(pack(mti, fields)) == (mti, fields)


# --- MicroPython ------------------------------------------------------------------------------

MICROPYTHON_SCRIPT = """
import sys
sys.path.insert(0, '')
import binascii
from firmware import iso8583
from hal import crypto
fields = {2: '6222020200112233445', 3: '000000', 4: '000000012345', 11: '000123', 22: '051', 23: '001',
          35: '6222020200112233445=25122011234567890', 41: '12345678', 42: '123456789012345',
          49: '156', 52: b'12345678', 55: bytes(range(40)), 59: chr(200) + 'QR', 60: '2600000100060000000',
          63: 'CUP', 64: bytes(8)}
body = iso8583.pack('0200', fields)
mti, back = iso8583.unpack(body)
assert back == fields and mti == '0200'
mac = crypto.mac_unionpay_ecb(binascii.unhexlify('0123456789ABCDEFFEDCBA9876543210'), iso8583.mac_data(mti, fields))
framed = iso8583.frame(body, b'\\x60\\x00\\x00\\x00\\x00', b'\\x60\\x31\\x00\\x31\\x00\\x00')
errors = []
for cut in range(0, len(body), 7):
    try:
        iso8583.unpack(body[:cut])
    except iso8583.Iso8583Error as e:
        errors.append(str(e))
print(binascii.hexlify(framed).decode(), mac.decode(), iso8583.parse_field60(back[60])['rest'])
print('|'.join(errors))
"""



MICROPYTHON = micropython_path()




@pytest.mark.skipif(MICROPYTHON is None, reason="no micropython interpreter")
def test_same_results_under_micropython():
    assert run_script(MICROPYTHON, MICROPYTHON_SCRIPT) == run_script(sys.executable, MICROPYTHON_SCRIPT)
