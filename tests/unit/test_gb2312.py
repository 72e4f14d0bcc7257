"""firmware.gb2312 against CPython's own 'gb2312' codec (the reference).

The reference here is CPython's codec, which implements GB 2312-80 in EUC-CN
form; every one of its 7445 characters must round trip through our table.
A sample is also run under MicroPython, which must give the same bytes.
"""

import os
import subprocess
import sys

import pytest

from firmware import gb2312
from tests.support import micropython_path

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def table():
    return gb2312.load_table()


def all_gb2312_chars():
    chars = []
    for hi in range(0xA1, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.append(bytes((hi, lo)).decode("gb2312"))
            except UnicodeDecodeError:
                pass
    return chars


def test_every_gb2312_char_round_trips_like_cpython(table):
    chars = all_gb2312_chars()
    assert len(chars) == 7445  # 6763 hanzi + 682 symbols
    text = "".join(chars)
    data = gb2312.encode(text, table)
    assert data == text.encode("gb2312")
    assert gb2312.decode(data, table) == text


def test_ascii_passes_through(table):
    text = "".join(chr(i) for i in range(128))
    assert gb2312.encode(text, table) == text.encode("ascii")
    assert gb2312.decode(text.encode("ascii"), table) == text


def test_known_codes(table):
    # GB 2312 code points of a few receipt words (EUC-CN = row/cell + 0xA0).
    assert gb2312.encode("消费", table) == b"\xcf\xfb\xb7\xd1"
    assert gb2312.encode("退货", table) == b"\xcd\xcb\xbb\xf5"
    assert gb2312.encode("￥", table) == b"\xa3\xa4"
    assert gb2312.encode("，。", table) == b"\xa3\xac\xa1\xa3"


def test_unmappable_becomes_question_mark(table):
    # Emoji, traditional-only 錢, euro sign: none is in GB2312.
    assert gb2312.encode("a😀錢€b", table) == b"a???b"


def test_aliases_cpython_refuses(table):
    # CPython's gb2312 has U+30FB / U+2015 at A1A4 / A1AA; text uses U+00B7 / U+2014.
    assert gb2312.encode("\u00b7\u2014\u00a5", table) == b"\xa1\xa4\xa1\xaa\xa3\xa4"
    assert gb2312.decode(b"\xa1\xa4\xa1\xaa", table) == b"\xa1\xa4\xa1\xaa".decode("gb2312")


def test_bad_bytes_decode_to_question_mark(table):
    assert gb2312.decode(b"A\x80B", table) == "A?B"
    assert gb2312.decode(b"A\xcf", table) == "A?"           # truncated pair
    assert gb2312.decode(b"\xa2\xa1", table) == "?"          # empty slot in row 2
    assert gb2312.decode(b"\xcf\x41", table) == "?A"         # bad trail byte


class CountingFile:
    """A file that counts the bytes read from it."""

    def __init__(self, path, opened):
        self.f = open(path, "rb")
        self.read_bytes = 0
        opened.append(self)

    def read(self, n=-1):
        data = self.f.read(n)
        self.read_bytes += len(data)
        return data

    def seek(self, *args):
        return self.f.seek(*args)

    def tell(self):
        return self.f.tell()

    def close(self):
        self.f.close()


def test_table_is_lazy_and_never_read_whole():
    opened = []
    table = gb2312.load_table(open_file=lambda path: CountingFile(path, opened))
    assert opened == []
    text = "消费撤销 退货 重打印凭证 商户存根 持卡人存根 本人确认以上交易,同意将其记入本卡账户"
    data = gb2312.encode(text, table)
    assert gb2312.decode(data, table) == text
    assert len(opened) == 1
    # A binary search reads a few dozen bytes a character, never the 59 KB
    # table: a handset's fragmented heap may have no 59 KB block left.
    first = opened[0].read_bytes
    assert first < 60 * 2 * 2 * 16
    # Characters seen before come from the cache: no more reads.
    assert gb2312.decode(gb2312.encode(text, table), table) == text
    assert opened[0].read_bytes == first
    table.close()


def test_asset_matches_builder():
    sys.path.insert(0, os.path.join(ROOT, "tools"))
    try:
        import build_gb2312
    finally:
        sys.path.pop(0)
    with open(gb2312.asset_path(gb2312.ASSET_NAME), "rb") as f:
        assert f.read() == build_gb2312.build(), "run tools/build_gb2312.py"




def test_micropython_gives_the_same_bytes():
    mp = micropython_path()
    if mp is None:
        pytest.skip("no micropython interpreter")
    # Every 7th GB2312 char plus ASCII and an unmappable one.
    sample = "".join(all_gb2312_chars()[::7]) + "SALE 12.34 😀"
    code = (
        "import sys; sys.path.insert(0, '')\n"
        "from firmware import gb2312\n"
        "import binascii\n"
        "t = gb2312.load_table()\n"
        "s = open('/dev/stdin', 'rb').read().decode('utf-8')\n"
        "b = gb2312.encode(s, t)\n"
        "print(binascii.hexlify(b).decode())\n"
        "print(gb2312.decode(b, t) == s.replace(chr(0x1F600), '?'))\n"
    )
    out = subprocess.run([mp, "-c", code], input=sample.encode("utf-8"), cwd=ROOT,
                         capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    hex_bytes, same = out.stdout.decode().split()
    expected = sample.encode("gb2312", errors="replace")
    assert bytes.fromhex(hex_bytes) == expected
    assert same == "True"
