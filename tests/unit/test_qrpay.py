"""firmware/qrpay.py: payment-code families by shape, at their boundaries,
and field 59's TLVs both ways."""

import pytest

from firmware import qrpay


@pytest.mark.parametrize("code, channel", [
    ("10" + "3" * 16, qrpay.WECHAT), ("15" + "0" * 16, qrpay.WECHAT),
    ("25" + "1" * 14, qrpay.ALIPAY), ("28" + "1" * 16, qrpay.ALIPAY), ("30" + "9" * 22, qrpay.ALIPAY),
    ("62" + "2" * 17, qrpay.UNIONPAY_QR),
])
def test_payment_code_families(code, channel):
    assert qrpay.channel_of(code) == channel


@pytest.mark.parametrize("code", [
    "09" + "3" * 16,           # WeChat starts 10-15
    "16" + "3" * 16,
    "13" + "3" * 15,           # 17 digits
    "13" + "3" * 17,           # 19 digits, not 62
    "24" + "1" * 16,           # Alipay starts 25-30
    "31" + "1" * 16,
    "25" + "1" * 13,           # 15 digits
    "25" + "1" * 23,           # 25 digits
    "62" + "2" * 16,           # UnionPay QR is 19 digits
    "6222021000000000017=3012",  # a card's track, not a payment code
    "", "abc", "13345678901234567X", "１３" + "3" * 16,
])
def test_anything_else_is_refused_with_a_message_code(code):
    with pytest.raises(qrpay.QrPayError) as caught:
        qrpay.channel_of(code)
    assert caught.value.code == "QR_CODE_UNKNOWN"


def test_field59_round_trip():
    code = "134567890123456789"
    text = qrpay.field59([("A2", qrpay.device_info("SN00012345", "1.2.0")), ("A3", code)])
    assert text.startswith("A2") and "A3018" + code in text
    parsed = qrpay.parse_field59(text)
    assert parsed["A3"] == code
    assert parsed["A2"] == {"01": qrpay.DEVICE_TYPE_SCANNER, "02": "SN00012345", "03": "1.2.0"}
    assert qrpay.field59({"A4": "ORDER1", "A3": code}) == "A3018" + code + "A4006ORDER1"


@pytest.mark.parametrize("bad", ["A3", "A301", "A3x12abc", "A3010short", "A3003abcA"])
def test_malformed_field59_is_a_format_error(bad):
    with pytest.raises(qrpay.QrPayError) as caught:
        qrpay.parse_tlvs(bad)
    assert caught.value.code == "QR_FORMAT"


def test_values_that_cannot_be_sent_are_refused():
    with pytest.raises(qrpay.QrPayError):
        qrpay.tlv("A33", "x")
    with pytest.raises(qrpay.QrPayError):
        qrpay.tlv("A3", "x" * 1000)
    with pytest.raises(qrpay.QrPayError):
        qrpay.device_info("S" * 51, "1.0")
