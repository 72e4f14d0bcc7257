"""firmware.escpos: command bytes and reading receipts back.

Command vectors are from the Epson ESC/POS command reference (ESC @ 1B 40,
ESC a n 1B 61 n, ESC E n 1B 45 n, GS ! n 1D 21 n, ESC d n 1B 64 n,
GS V m 1D 56 m, GS ( k for QR, DLE EOT n 10 04 n), the same values as
python-escpos's src/escpos/constants.py (which also gives the DLE EOT 4
reply masks: 18 = paper present, 30 = near end, 114 = no paper); FS & 1C 26
and FS . 1C 2E are the Chinese-mode commands of Chinese-ROM printers.
"""

import os
import subprocess

import pytest

from firmware import escpos, gb2312
from tests.support import micropython_path

HERE = os.path.dirname(os.path.abspath(__file__))
GOLDEN = os.path.join(HERE, "golden")
ROOT = os.path.dirname(os.path.dirname(HERE))




@pytest.fixture(scope="module")
def table():
    return gb2312.load_table()


def test_command_bytes():
    assert escpos.init() == b"\x1b\x40"
    assert escpos.chinese_on() == b"\x1c\x26"
    assert escpos.chinese_off() == b"\x1c\x2e"
    assert escpos.start() == b"\x1b\x40\x1c\x26"
    assert escpos.align("left") == b"\x1b\x61\x00"
    assert escpos.align("center") == b"\x1b\x61\x01"
    assert escpos.align(escpos.RIGHT) == b"\x1b\x61\x02"
    assert escpos.bold() == b"\x1b\x45\x01"
    assert escpos.bold(False) == b"\x1b\x45\x00"
    assert escpos.double() == b"\x1d\x21\x11"
    assert escpos.double(False) == b"\x1d\x21\x00"
    assert escpos.size(2, 1) == b"\x1d\x21\x10"   # double width only
    assert escpos.size(1, 2) == b"\x1d\x21\x01"   # double height only
    assert escpos.line_feed() == b"\x0a"
    assert escpos.feed(4) == b"\x1b\x64\x04"
    assert escpos.cut() == b"\x1d\x56\x01"
    assert escpos.cut(partial=False) == b"\x1d\x56\x00"
    assert escpos.end(3) == b"\x1b\x64\x03"
    assert escpos.end(3, with_cut=True) == b"\x1b\x64\x03\x1d\x56\x01"
    assert escpos.status_request() == b"\x10\x04\x04"
    assert escpos.status_request(1) == b"\x10\x04\x01"


def test_qr_bytes():
    # GS ( k: fn 65 model 2, fn 67 module size, fn 69 error level (49 = M),
    # fn 80 store (pL pH = len + 3), fn 81 print.
    assert escpos.qr("AB", 4, "M") == (
        b"\x1d\x28\x6b\x04\x00\x31\x41\x32\x00"
        b"\x1d\x28\x6b\x03\x00\x31\x43\x04"
        b"\x1d\x28\x6b\x03\x00\x31\x45\x31"
        b"\x1d\x28\x6b\x05\x00\x31\x50\x30AB"
        b"\x1d\x28\x6b\x03\x00\x31\x51\x30"
    )


def test_bad_arguments_are_refused():
    for call in (lambda: escpos.align("middle"), lambda: escpos.align(3),
                 lambda: escpos.size(9, 1), lambda: escpos.feed(256),
                 lambda: escpos.status_request(5), lambda: escpos.qr("x", 0),
                 lambda: escpos.qr("x", 4, "Z")):
        with pytest.raises(ValueError):
            call()


def test_text_is_gb2312_and_ends_the_line(table):
    assert escpos.text("消费 SALE", table) == b"\xcf\xfb\xb7\xd1 SALE\n"
    assert escpos.text("12.34", table, newline=False) == b"12.34"
    assert escpos.text("a😀b", table) == b"a?b\n"


def test_text_cannot_smuggle_commands(table):
    # An ESC or LF inside a field (a merchant name, say) must not act.
    assert escpos.text("A\x1b@B\nC", table) == b"A?@B?C\n"


def test_columns_and_justify():
    assert escpos.text_columns("金额 12.34") == 10
    line = escpos.justify("金额:", "12.34")
    assert escpos.text_columns(line) == escpos.LINE_COLUMNS
    assert line == "金额:" + " " * 22 + "12.34"
    assert escpos.justify("x" * 30, "12.34") == "x" * 30 + " 12.34"


def test_wrap_in_printer_columns():
    assert escpos.wrap("本人确认以上交易,同意将其记入本卡账户") == [
        "本人确认以上交易,同意将其记入本", "卡账户"]
    assert escpos.wrap("I ACKNOWLEDGE SATISFACTORY RECEIPT OF RELATIVE GOODS") == [
        "I ACKNOWLEDGE SATISFACTORY", "RECEIPT OF RELATIVE GOODS"]
    assert escpos.wrap("x" * 40, 20) == ["x" * 20, "x" * 20]
    assert escpos.wrap("") == [""]


@pytest.mark.parametrize("reply, state", [
    (0x12, escpos.PAPER_OK),        # 18
    (0x1E, escpos.PAPER_NEAR_END),  # 30
    (0x72, escpos.PAPER_OUT),       # 114
    (0x7E, escpos.PAPER_OUT),       # near end and out
    (b"\x12", escpos.PAPER_OK),
])
def test_paper_status(reply, state):
    assert escpos.parse_paper_status(reply) == state


@pytest.mark.parametrize("reply", [0x00, 0xFF, 0x13, 0x92, b"", b"\x12\x12"])
def test_paper_status_rejects_non_status_bytes(reply):
    with pytest.raises(ValueError):
        escpos.parse_paper_status(reply)


def test_paper_states_match_hal_printer():
    from hal import printer
    assert escpos.PAPER_OUT == printer.PAPER_OUT
    assert escpos.PAPER_OK == printer.PAPER_OK


# Run by CPython here and by MicroPython below: both must give the golden bytes.
SAMPLE_SOURCE = """
def sample_receipt(escpos, table):
    # A receipt using every command we emit (made-up merchant and card).
    return b"".join([
        escpos.start(),
        escpos.align("center"), escpos.double(), escpos.text("银联POS签购单", table),
        escpos.double(False), escpos.text("商户存根 MERCHANT COPY", table),
        escpos.align("left"),
        escpos.text("商户名称:测试商户", table),
        escpos.text(escpos.justify("卡号:", "622202******0017"), table),
        escpos.text("交易类型:消费 SALE", table),
        escpos.bold(), escpos.text("金额:", table, newline=False),
        escpos.size(2, 1), escpos.text("RMB 12.34", table),
        escpos.size(1, 1), escpos.bold(False),
        escpos.line_feed(),
        escpos.text("本人确认以上交易,同意将其记入本卡账户", table),
        escpos.align("right"), escpos.text("持卡人签名", table),
        escpos.align("center"), escpos.qr("https://example.cn/r/000123", 4, "M"),
        escpos.end(4, with_cut=True),
    ])
"""


def sample_receipt(table):
    scope = {}
    exec(SAMPLE_SOURCE, scope)
    return scope["sample_receipt"](escpos, table)


def test_golden_receipt_bytes(table):
    data = sample_receipt(table)
    path = os.path.join(GOLDEN, "escpos_sample_receipt.bin")
    if os.environ.get("UPDATE_GOLDEN"):
        with open(path, "wb") as f:
            f.write(data)
    with open(path, "rb") as f:
        assert data == f.read(), "ESC/POS bytes changed; UPDATE_GOLDEN=1 if on purpose"


def test_decode_text_reads_the_receipt_back(table):
    lines = escpos.decode_text(sample_receipt(table), table)
    assert lines == [
        "银联POS签购单",
        "商户存根 MERCHANT COPY",
        "商户名称:测试商户",
        "卡号:" + " " * 11 + "622202******0017",
        "交易类型:消费 SALE",
        "金额:RMB 12.34",
        "",
        "本人确认以上交易,同意将其记入本卡账户",
        "持卡人签名",
        "[QR:https://example.cn/r/000123]",
        "", "", "", "",
    ]


def test_parse_keeps_alignment_and_style(table):
    lines = escpos.parse(sample_receipt(table), table)
    assert lines[0].align == escpos.CENTER
    assert lines[0].segments == [("银联POS签购单", False, 2, 2)]
    assert lines[1].segments == [("商户存根 MERCHANT COPY", False, 1, 1)]
    assert lines[2].align == escpos.LEFT
    assert lines[5].segments == [("金额:", True, 1, 1), ("RMB 12.34", True, 2, 1)]
    assert lines[8].align == escpos.RIGHT
    assert lines[9].qr == b"https://example.cn/r/000123"


def test_parse_without_chinese_mode_shows_garbage(table):
    # A printer not told FS & prints code page glyphs, not hanzi: we show "?".
    data = escpos.init() + escpos.text("消费", table)
    assert escpos.decode_text(data, table) == ["????"]


def test_parse_other_common_commands(table):
    data = (b"\x1b@\x1c&\x1b!\x38" + "大".encode("gb2312") + b"\x1b!\x00\r\n"
            + b"\x1c!\x0c" + "字".encode("gb2312") + b"\x1c!\x00\n"
            + b"\x1ba\x31x\n\x10\x04\x04" + b"tail")
    lines = escpos.parse(data, table)
    assert lines[0].segments == [("大", True, 2, 2)]
    assert lines[1].segments == [("字", False, 2, 2)]
    assert lines[2].align == escpos.CENTER
    assert [line.text for line in lines] == ["大", "字", "x", "tail"]


def test_feed_counts_lines(table):
    assert escpos.decode_text(b"a" + escpos.feed(2) + b"b" + escpos.feed(0), table) == ["a", "", "b"]


@pytest.mark.parametrize("data", [b"\x1bZ\x00", b"\x1d\x99\x00", b"\x07", b"\x1b", b"\x1d(k\x09\x001P0ab"])
def test_parse_refuses_unknown_or_short_commands(table, data):
    with pytest.raises(ValueError):
        escpos.parse(data, table)


def test_micropython_gives_the_golden_bytes(table):
    mp = micropython_path()
    if mp is None:
        pytest.skip("no micropython interpreter")
    code = (
        "import sys; sys.path.insert(0, '')\n"
        "from firmware import escpos, gb2312\n"
        "import binascii\n"
        + SAMPLE_SOURCE +
        "t = gb2312.load_table()\n"
        "d = sample_receipt(escpos, t)\n"
        "print(binascii.hexlify(d).decode())\n"
        "print(len(escpos.decode_text(d, t)))\n"
    )
    out = subprocess.run([mp, "-c", code], cwd=ROOT, capture_output=True, timeout=60)
    assert out.returncode == 0, out.stderr.decode()
    hex_line, line_count = out.stdout.decode().split()
    assert int(line_count) == 14
    with open(os.path.join(GOLDEN, "escpos_sample_receipt.bin"), "rb") as f:
        assert bytes.fromhex(hex_line) == f.read()
