"""The e-signature upload's wire layout (firmware/esign_message.py):
hand-computed vectors, hostile input to the parse functions, the 0820
packed by firmware.iso8583 and cross-decoded by pyiso8583, and the same
bytes under MicroPython."""

import binascii
import hashlib

import pytest

from firmware import esign, esign_message as em, iso8583
from tests.pyiso_spec import PY_SPEC, to_pyiso
from tests.support import micropython_path, run_script

pyiso = pytest.importorskip("iso8583")


class Settings:
    terminal_id = "10000001"
    merchant_id = "898100012340001"


SALE = {"batch": 1, "trace": 12, "type": "sale", "amount": 12345, "state": "approved", "time": "20261201093015",
        "op": "01", "pan": "622202*********0017", "exp": "3012", "mode": "insert", "rrn": "120000123456",
        "auth": "A1B2C3", "aid": "A000000333010101", "tc": "0102030405060708"}


# --- TLVs -----------------------------------------------------------------------------------

def test_build_tlvs_by_hand():
    assert em.build_tlvs([(0xFF01, b"22"), (0xFF30, b"S"), (0xFF09, b"")]) == bytes.fromhex(
        "FF01023232" "FF300153" "FF0900")


def test_parse_tlvs_by_hand_keeps_unknown_tags_in_order():
    data = bytes.fromhex("FF0606303030303031" "ABCD0201FF" "FF300157")
    assert em.parse_tlvs(data) == [(0xFF06, b"000001"), (0xABCD, b"\x01\xff"), (0xFF30, b"W")]
    assert em.parse_tlvs(b"") == []


@pytest.mark.parametrize("data, says", [
    (b"\xff", "cut short"), (b"\xff\x01", "cut short"),
    (b"\xff\x01\x03ab", "only 2 left"), (b"\xff\x01\x80" + b"x" * 128, "over 127"),
    (b"\xff\x01\x01a\xff", "cut short"),
])
def test_parse_tlvs_refuses_hostile_input_clearly(data, says):
    with pytest.raises(em.EsignMessageError, match=says):
        em.parse_tlvs(data)


def test_parse_tlvs_refuses_what_is_not_bytes():
    with pytest.raises(em.EsignMessageError):
        em.parse_tlvs("FF0100")


def test_build_tlvs_refuses_a_value_over_127_bytes():
    with pytest.raises(em.EsignMessageError):
        em.build_tlvs([(0xFF00, b"x" * 128)])


def test_receipt_tlvs_of_a_chip_sale_by_hand():
    name = "测试商户 TEST SHOP".encode("gb2312")
    data = em.receipt_tlvs(SALE, name, em.SIGNED, "123456789012")
    # feature code: BCD 12 01 12 00 | 00 12 34 56 -> 12 13 26 56 (F15 falls back to the local date 1201)
    expected = (b"\xff\x00" + bytes([len(name)]) + name + b"\xff\x01\x0222" + b"\xff\x02\x0201" + b"\xff\x03\x01I"
                + b"\xff\x04\x13622202*********0017" + b"\xff\x05\x043012" + b"\xff\x06\x06000001"
                + b"\xff\x07\x0e20261201093015" + b"\xff\x08\x06A1B2C3"
                + b"\xff\x20\x08\xa0\x00\x00\x03\x33\x01\x01\x01" + b"\xff\x21\x08\x01\x02\x03\x04\x05\x06\x07\x08"
                + b"\xff\x30\x01S" + b"\xff\x40\x0c123456789012" + b"\xff\x70\x0812132656")
    assert data == expected
    items = em.parse_tlvs(data)
    assert em.tlv_value(items, em.FEATURE_CODE) == esign.feature_code("1201", "120000123456").encode()
    assert em.tlv_value(items, 0xFF09) is None


def test_receipt_tlvs_of_void_refund_and_qr():
    void = dict(SALE, type="void", orig={"batch": 1, "trace": 7}, settle_date="1202", aid=None, tc=None)
    items = dict(em.parse_tlvs(em.receipt_tlvs(void, b"SHOP", em.NO_SIGNATURE)))
    assert items[em.TXN_TYPE] == b"23" and items[em.ORIG_TRACE] == b"000007" and items[em.CVM] == b"O"
    assert em.AID not in items and em.RECEIPT_CODE not in items
    assert items[em.FEATURE_CODE] == esign.feature_code("1202", SALE["rrn"]).encode()   # F15 of the reply wins
    refund = dict(SALE, type="refund", orig={"rrn": "120000000001", "date": "1130"})
    assert dict(em.parse_tlvs(em.receipt_tlvs(refund, b"SHOP", em.PIN)))[em.ORIG_RRN_DATE] == b"1200000000011130"
    qr = {"batch": 2, "trace": 3, "type": "sale", "amount": 100, "state": "approved", "time": "20261201093015",
          "op": "02", "order": "WX123", "channel": "wechat", "rrn": "120000000002"}
    items = dict(em.parse_tlvs(em.receipt_tlvs(qr, b"SHOP", em.NO_PIN_NO_SIGNATURE)))
    assert items[em.ENTRY] == b"Q" and em.CARD_NO not in items and items[em.OPERATOR] == b"02"


def test_merchant_name_is_cut_at_40_bytes_without_splitting_a_character():
    name = ("商" * 30).encode("gb2312")           # 60 bytes
    assert em.cut_gb(name) == name[:40]
    odd = b"A" + name                                 # a 2-byte character would straddle byte 40
    assert em.cut_gb(odd) == odd[:39]
    items = dict(em.parse_tlvs(em.receipt_tlvs(SALE, odd, em.SIGNED)))
    assert len(items[em.MERCHANT_NAME]) == 39


def test_receipt_tlvs_refuses_an_unknown_mark():
    with pytest.raises(em.EsignMessageError):
        em.receipt_tlvs(SALE, b"SHOP", "X")


# --- packets ------------------------------------------------------------------------------------

def test_packets_by_hand():
    image = bytes(range(10))
    assert em.packets(image, 4) == [b"\x01\x03\x00\x01\x02\x03", b"\x02\x03\x04\x05\x06\x07", b"\x03\x03\x08\x09"]
    assert em.packets(image, 10) == [b"\x01\x01" + image]
    assert em.packets(b"", 400) == [b"\x01\x01"] == em.packets(None, 400)


def test_packets_of_a_real_signature_round_trip():
    bits = esign.rasterize([[(10, 10), (200, 80), (40, 90)], [(5, 50), (250, 40)]])
    image = esign.encode(bits, esign.IMAGE_WIDTH, esign.IMAGE_HEIGHT)
    f62s = em.packets(image, 64)
    assert len(f62s) == (len(image) + 63) // 64
    assert all(len(f) <= 66 for f in f62s)
    assert em.reassemble(reversed(f62s)) == image
    assert [em.packet_header(f)[:2] for f in f62s] == [(n + 1, len(f62s)) for n in range(len(f62s))]


def test_packets_refuse_sizes_f62_cannot_carry():
    with pytest.raises(em.EsignMessageError):
        em.packets(b"x", 511)
    with pytest.raises(em.EsignMessageError):
        em.packets(b"x", 0)
    with pytest.raises(em.EsignMessageError):
        em.packets(b"x" * 256, 1)   # 256 packets: the count is one byte


@pytest.mark.parametrize("f62, says", [
    (b"", "no packet header"), (b"\x01", "no packet header"), (b"\x00\x01x", "packet 0 of 1"),
    (b"\x03\x02x", "packet 3 of 2"), (b"\x01\x00", "packet 1 of 0"), (b"\x01\x02", "no image bytes"),
    ("0101", "must be bytes"),
])
def test_packet_header_refuses_hostile_input_clearly(f62, says):
    with pytest.raises(em.EsignMessageError, match=says):
        em.packet_header(f62)


def test_packet_header_of_the_empty_upload():
    assert em.packet_header(b"\x01\x01") == (1, 1, b"")
    assert em.reassemble([b"\x01\x01"]) == b""


@pytest.mark.parametrize("f62s, says", [
    ([], "no packets"), ([b"\x01\x02a"], "missing"), ([b"\x01\x02a", b"\x01\x02a"], "twice"),
    ([b"\x01\x02a", b"\x02\x03b"], "says 3 packets"),
])
def test_reassemble_refuses_incomplete_or_inconsistent_uploads(f62s, says):
    with pytest.raises(em.EsignMessageError, match=says):
        em.reassemble(f62s)


# --- F2 and the 0820 ---------------------------------------------------------------------------

@pytest.mark.parametrize("pan, f2", [
    ("6222021234567890017", "6222020000000000017"), ("622202*********0017", "6222020000000000017"),
    ("6222020012340017", "6222020000000017"), ("12345678", "00005678"),
])
def test_masked_f2(pan, f2):
    assert em.masked_f2(pan) == f2


@pytest.mark.parametrize("pan", ["", "62220212345678900171", "62A202*********0017"])
def test_masked_f2_refuses(pan):
    with pytest.raises(em.EsignMessageError):
        em.masked_f2(pan)


def test_upload_fields_of_packet_one_and_two():
    tlvs = em.receipt_tlvs(SALE, b"SHOP", em.SIGNED, "123456789012")
    first = em.upload_fields(Settings, SALE, b"\x01\x02abc", tlvs)
    assert first == {2: "6222020000000000017", 4: "000000012345", 11: "000012", 15: "1201", 37: "120000123456",
                     41: "10000001", 42: "898100012340001", 55: tlvs, 60: "07000001800", 62: b"\x01\x02abc"}
    second = em.upload_fields(Settings, SALE, b"\x02\x02def")
    assert 55 not in second and second[11] == "000012" and second[62] == b"\x02\x02def"
    qr = dict(SALE, order="WX1", pan=None)
    assert 2 not in em.upload_fields(Settings, qr, b"\x01\x01")


def full_upload_messages(packet_bytes=400):
    bits = esign.rasterize([[(x, 40 + (x * 7) % 50) for x in range(0, 250, 3)], [(20, 90), (240, 5)]])
    image = esign.encode(bits, esign.IMAGE_WIDTH, esign.IMAGE_HEIGHT)
    tlvs = em.receipt_tlvs(SALE, "测试商户 TEST SHOP".encode("gb2312"), em.SIGNED, "123456789012")
    out = []
    for n, f62 in enumerate(em.packets(image, packet_bytes)):
        fields = em.upload_fields(Settings, SALE, f62, tlvs if n == 0 else None)
        fields[64] = b"\x11" * 8
        out.append(fields)
    return image, out


@pytest.mark.parametrize("packet_bytes", [64, 400, 500])
def test_the_0820_packs_and_pyiso8583_decodes_it(packet_bytes):
    image, messages = full_upload_messages(packet_bytes)
    for fields in messages:
        body = iso8583.pack(em.UPLOAD_MTI, fields)
        assert iso8583.unpack(body) == (em.UPLOAD_MTI, fields)
        decoded, _ = pyiso.decode(bytearray(body), PY_SPEC)
        assert decoded["t"] == "0820"
        got = {int(k): v for k, v in decoded.items() if k.isdigit() and k not in ("1",)}
        assert got == {n: to_pyiso(v, n) for n, v in fields.items()}
    assert em.reassemble([m[62] for m in messages]) == image


def test_the_largest_packet_fits_f62_and_f55_fits_its_255():
    image = bytes(range(256)) * 4
    for f62 in em.packets(image, 500):
        iso8583.pack("0820", {62: f62})
    with pytest.raises(iso8583.Iso8583Error):
        iso8583.pack("0820", {62: b"\x01\x01" + image[:511]})
    long_name = ("商" * 20).encode("gb2312")
    refund = dict(SALE, type="refund", orig={"rrn": "120000000001", "date": "1130"}, settle_date="1201")
    tlvs = em.receipt_tlvs(refund, long_name, em.SIGNED, "123456789012")
    assert len(tlvs) <= 255
    iso8583.pack("0820", {55: tlvs})


def test_same_bytes_under_micropython():
    interpreter = micropython_path()
    if interpreter is None:
        pytest.skip("no micropython interpreter")
    image, messages = full_upload_messages(64)
    script = (
        "import sys\nsys.path.insert(0, '')\nimport binascii, hashlib\n"
        "from firmware import esign, esign_message as em, iso8583\n"
        "class S:\n terminal_id = '10000001'\n merchant_id = '898100012340001'\n"
        "txn = %r\n"
        "image = binascii.unhexlify(%r)\nname = binascii.unhexlify(%r)\n"
        "tlvs = em.receipt_tlvs(txn, name, em.SIGNED, '123456789012')\n"
        "h = hashlib.sha256()\n"
        "for n, f62 in enumerate(em.packets(image, 64)):\n"
        " f = em.upload_fields(S, txn, f62, tlvs if n == 0 else None)\n f[64] = b'\\x11' * 8\n"
        " h.update(iso8583.pack('0820', f))\n"
        "print(binascii.hexlify(h.digest()).decode(), binascii.hexlify(tlvs).decode(), em.masked_f2(txn['pan']))\n"
        "for bad in (b'\\xff', b'\\xff\\x01\\x05ab', b'\\x00\\x01'):\n"
        " for f in (em.parse_tlvs, em.packet_header):\n"
        "  try:\n   f(bad)\n  except em.EsignMessageError:\n   print('refused')\n"
    ) % (SALE, image.hex(), "测试商户 TEST SHOP".encode("gb2312").hex())
    out = run_script(interpreter, script).split()
    digest = hashlib.sha256(b"".join(iso8583.pack("0820", m) for m in messages)).hexdigest()
    tlvs = em.receipt_tlvs(SALE, "测试商户 TEST SHOP".encode("gb2312"), em.SIGNED, "123456789012")
    assert out[:3] == [digest, binascii.hexlify(tlvs).decode(), "6222020000000000017"]
    assert out[3:] == ["refused"] * 6


# --- the 0830 names its packet -------------------------------------------------------------------

def test_the_answer_carries_the_packet_header_only():
    assert em.answer_f62(b"\x02\x03" + b"image bytes") == b"\x02\x03"
    assert em.answer_f62(b"\x01\x01") == b"\x01\x01"


def test_check_answer_takes_the_answer_naming_the_packet_sent():
    assert em.check_answer(b"\x02\x03abc", {39: "00", 62: b"\x02\x03"}) == (2, 3)
    assert em.check_answer(b"\x01\x01", {39: "96", 62: bytearray(b"\x01\x01")}) == (1, 1)


@pytest.mark.parametrize("reply, says", [
    ({39: "00"}, "names no packet"),                          # a host that does not echo F62
    ({39: "00", 62: b"\x01\x03"}, "names packet 1 of 3, sent packet 2 of 3"),   # packet 1's answer replayed
    ({39: "00", 62: b"\x02\x04"}, "names packet 2 of 4"),     # another upload of the transaction
    ({39: "00", 62: b"\x02"}, "an F62 of 1 bytes"),
    ({39: "00", 62: b"\x02\x03abc"}, "an F62 of 5 bytes"),    # the whole packet echoed is not the header
    ({39: "00", 62: "0203"}, "not bytes"),
])
def test_check_answer_refuses_an_answer_to_another_packet(reply, says):
    with pytest.raises(em.EsignMessageError, match=says):
        em.check_answer(b"\x02\x03abc", reply)


def test_check_answer_refuses_a_packet_that_was_never_one():
    with pytest.raises(em.EsignMessageError):
        em.check_answer(b"\x04\x03abc", {39: "00", 62: b"\x04\x03"})


def test_the_answer_check_under_micropython():
    interpreter = micropython_path()
    if interpreter is None:
        pytest.skip("no micropython interpreter")
    cases = [(b"\x02\x03abc", b"\x02\x03"), (b"\x02\x03abc", b"\x01\x03"), (b"\x02\x03abc", None),
             (b"\x01\x01", b"\x01\x01"), (b"\x01\x01", b"\x01\x01\x00"), (b"\x05\x03", b"\x05\x03")]
    script = (
        "import sys\nsys.path.insert(0, '')\n"
        "from firmware import esign_message as em\n"
        "for f62, echoed in %r:\n"
        " reply = {39: '00'}\n"
        " if echoed is not None:\n  reply[62] = echoed\n"
        " try:\n  print('%%d/%%d' %% em.check_answer(f62, reply), em.answer_f62(f62) == echoed)\n"
        " except em.EsignMessageError:\n  print('refused', em.answer_f62(f62) == echoed)\n"
    ) % (cases,)
    out = run_script(interpreter, script).splitlines()
    expected = []
    for f62, echoed in cases:
        reply = {39: "00"} if echoed is None else {39: "00", 62: echoed}
        try:
            expected.append("%d/%d %s" % (em.check_answer(f62, reply) + (em.answer_f62(f62) == echoed,)))
        except em.EsignMessageError:
            expected.append("refused %s" % (em.answer_f62(f62) == echoed))
    assert out == expected
    assert expected == ["2/3 True", "refused False", "refused False", "1/1 True", "refused False", "refused True"]
