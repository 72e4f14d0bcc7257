"""The UnionPay-style ISO 8583 variant described for pyiso8583 (`import
iso8583`): the independent decoder of the unit tests and the peer of the
codec benchmark. Written out from the UnionPay table, not derived from
firmware.iso8583.FIELDS, so that a wrong entry in either shows up.
"""


def bcd(max_len, len_type, pad="right"):
    spec = {"data_enc": "b", "len_enc": "bcd", "len_type": len_type, "max_len": max_len,
            "len_count": "nibbles", "desc": ""}
    spec["left_pad" if pad == "left" else "right_pad"] = "0"
    return spec


def chars(max_len, len_type):
    return {"data_enc": "latin-1", "len_enc": "bcd", "len_type": len_type, "max_len": max_len, "desc": ""}


def binary(max_len, len_type):
    return {"data_enc": "b", "len_enc": "bcd", "len_type": len_type, "max_len": max_len, "desc": ""}


PY_SPEC = {
    "h": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 0, "desc": ""},
    "t": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 2, "desc": ""},
    "p": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 8, "desc": ""},
    "1": {"data_enc": "b", "len_enc": "b", "len_type": 0, "max_len": 8, "desc": ""},
    "2": bcd(19, 1), "3": bcd(6, 0), "4": bcd(12, 0), "11": bcd(6, 0), "12": bcd(6, 0),
    "13": bcd(4, 0), "14": bcd(4, 0), "15": bcd(4, 0), "22": bcd(3, 0, "right"), "23": bcd(3, 0, "left"),
    "25": bcd(2, 0), "26": bcd(2, 0), "32": bcd(11, 1), "35": bcd(37, 1), "36": bcd(104, 2),
    "37": chars(12, 0), "38": chars(6, 0), "39": chars(2, 0), "41": chars(8, 0), "42": chars(15, 0),
    "44": chars(25, 1), "48": bcd(322, 2), "49": chars(3, 0), "52": binary(8, 0), "53": bcd(16, 0),
    "54": chars(20, 2), "55": binary(255, 2), "59": chars(600, 2), "60": bcd(19, 2), "61": bcd(29, 2),
    "62": binary(512, 2), "63": chars(163, 2), "64": binary(8, 0),
}


def to_pyiso(value, number):
    """A field value as firmware.iso8583 takes it -> as pyiso8583 takes it:
    binary fields as hex text, track separators as the nibble D."""
    kind = KINDS.get(number)
    if kind == "b":
        return value.hex().upper()
    if kind == "z":
        return value.replace("=", "D")
    return value


# Which fields are binary (b) and track data (z); the rest are as they are.
KINDS = dict([(n, "b") for n in (52, 55, 62, 64)] + [(n, "z") for n in (35, 36)])
