"""The electronic receipt (电子签购单) the host draws from an uploaded
signature: golden PNGs of the slip, the HTTP API the QR code points at
(good code -> PNG, anything else 404/400, hostile requests), `pos-host
receipt`, and `pos-host --http` as a process.

A slip changed on purpose: run with UPDATE_GOLDEN=1, look at the PNGs in
tests/golden/ereceipt/, commit them."""

import io
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request

import pytest
from PIL import Image

from firmware import ereceipt as terminal_ereceipt
from firmware import esign, esign_message, gb2312, receipt
from hal import crypto
from emulator.host import ereceipt, web
from emulator.host.cli import main as pos_host
from emulator.host.server import DEFAULT_MASTER_KEY
from emulator.imagediff import compare_images
from tests.flows.test_esign_host import (SMALL_PACKET, Sale, host, short_signature,  # noqa: F401 (fixtures)
                                         signature_image, term)
from tests.unit.test_host_cli import start_host
from tests.unit.test_host_terminal import Terminal

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GOLDEN = os.path.join(ROOT, "tests", "golden", "ereceipt")


# -- the slip, golden ------------------------------------------------------------------------

def booked(kind, trace, rrn, amount, host_date="1201", host_time="093000", orig_id=None):
    """A ledger row as the host books it (the columns the slip reads)."""
    return {"kind": kind, "mid": "898100012340001", "tid": "10000001", "batch": 1, "trace": trace, "rrn": rrn,
            "auth_code": "094028", "amount": amount, "host_date": host_date, "host_time": host_time,
            "status": "approved", "orig_id": orig_id}


ORIGINAL_SALE = booked("sale", 8, "093000000008", 12345, host_date="1130", host_time="180512")


def record(kind="sale", cvm="S", image=None, paper=0, extra=None, original=None, voids=(), refunds=()):
    """A completed signature as signatures.receipt_of gives it, from fixed data."""
    table = gb2312.load_table()
    fields = {0xFF00: gb2312.encode("测试商户 TEST SHOP", table), 0xFF01: {"sale": b"22", "void": b"23",
                                                                          "refund": b"25"}[kind],
              0xFF02: b"01", 0xFF03: b"I", 0xFF04: b"622202*********0017", 0xFF05: b"2812",
              0xFF06: b"000001", 0xFF07: b"20261201093000", 0xFF08: b"094028",
              0xFF20: bytes.fromhex("A000000333010101"), 0xFF21: bytes.fromhex("1122334455667788"),
              0xFF30: cvm.encode(), 0xFF40: b"183781510621",
              0xFF70: esign.feature_code("1201", "093000000012").encode()}
    fields.update(extra or {})
    txn = booked(kind, 12, "093000000012", 12345, orig_id=1 if original else None)
    return {"txn": txn, "signature": {"cvm": cvm, "paper": paper, "image": image}, "fields": fields,
            "original": original, "voids": list(voids), "refunds": list(refunds),
            "refunded": sum(refund["amount"] for refund in refunds)}


GOLDEN_SLIPS = {
    "sale-signed": lambda: record(image=signature_image()),
    "sale-quick-pass": lambda: record(cvm="N", extra={0xFF03: b"C"}),
    "refund-paper": lambda: record(kind="refund", cvm="W", paper=1, original=ORIGINAL_SALE,
                                   extra={0xFF0A: b"0930000000081130"}),
    # What happened to the sale since: the slip says so, from the host's books.
    "sale-voided": lambda: record(image=signature_image(), voids=[
        booked("void", 13, "093105000014", 12345, host_time="093105", orig_id=1)]),
    "sale-refunded-twice": lambda: record(cvm="N", extra={0xFF03: b"C"}, refunds=[
        booked("refund", 40, "101500000041", 2000, host_date="1202", host_time="101500", orig_id=1),
        booked("refund", 3, "163000000057", 3045, host_date="1205", host_time="163000", orig_id=1)]),
    "void-signed": lambda: record(kind="void", image=short_signature(),
                                  original=booked("sale", 11, "092512000011", 12345, host_time="092512")),
}


@pytest.mark.parametrize("name", sorted(GOLDEN_SLIPS))
def test_golden_ereceipt(name, tmp_path):
    actual = ereceipt.render(GOLDEN_SLIPS[name]())
    path = os.path.join(GOLDEN, name + ".png")
    if os.environ.get("UPDATE_GOLDEN"):
        actual.save(path, "PNG", optimize=True)
    with Image.open(path) as reference:
        result = compare_images(actual, reference)
    if result.differing:
        actual.save(str(tmp_path / (name + ".png")))
        result.diff_image(actual).save(str(tmp_path / (name + "-diff.png")))
    assert not result.differing, "%s: %s; actual and diff in %s; UPDATE_GOLDEN=1 to accept" % (
        name, result.summary(), tmp_path)


def test_the_slip_says_what_the_cardholder_did():
    table = gb2312.load_table()
    texts = {}
    for name, make in GOLDEN_SLIPS.items():
        above, below = ereceipt.slip_lines(make(), table)
        texts[name] = "\n".join(text for _, text in above + below)
    assert "持卡人签名" in texts["sale-signed"] and "特征码 FEATURE CODE:12010922" in texts["sale-signed"]
    assert "免密免签" in texts["sale-quick-pass"] and "持卡人签名" not in texts["sale-quick-pass"]
    assert "已纸质签名" in texts["refund-paper"] and "RMB -123.45" in texts["refund-paper"]
    assert "原参考号 ORIG REF:093000000008" in texts["refund-paper"]
    assert "1837 8151 0621" in texts["sale-signed"]


def slip_text(record_):
    above, below = ereceipt.slip_lines(record_, gb2312.load_table())
    return "\n".join(text for _, text in above + below)


def test_the_slip_says_what_happened_to_the_sale_since():
    """A voided sale says so under the title and names its void; a refunded
    one lists each refund and what is left; a plain sale says neither."""
    voided = slip_text(GOLDEN_SLIPS["sale-voided"]())
    assert voided.index("*** 已撤销 VOIDED ***") < voided.index("商户名称")
    assert "撤销日期/时间 VOID DATE/TIME:\n12/01 09:31:05" in voided
    assert "撤销凭证号 VOID VOUCHER:000013" in voided and "撤销参考号 VOID REF:093105000014" in voided
    assert "退货" not in voided
    refunded = slip_text(GOLDEN_SLIPS["sale-refunded-twice"]())
    assert refunded.index("*** 部分退货 PARTLY REFUNDED ***") < refunded.index("商户名称")
    assert ("1. 12/02 10:15:00 RMB -20.00\n   参考号 REF NO:101500000041\n"
            "2. 12/05 16:30:00 RMB -30.45\n   参考号 REF NO:163000000057\n") in refunded
    assert "已退金额 REFUNDED:RMB 50.45\n剩余金额 REMAINING:RMB 73.00" in refunded
    assert "撤销" not in refunded
    whole = slip_text(record(refunds=[booked("refund", 40, "101500000041", 12345, orig_id=1)]))
    assert "*** 全额退货 FULLY REFUNDED ***" in whole and "剩余金额 REMAINING:RMB 0.00" in whole
    plain = slip_text(record())
    assert "*** " not in plain and "撤销" not in plain and "退货" not in plain


def test_a_void_or_refund_names_its_original_from_the_books():
    """The host's books say which sale a void or refund undid; the uploaded
    FF09 / FF0A stand in only where they name none."""
    void = slip_text(GOLDEN_SLIPS["void-signed"]())
    assert "原凭证号 ORIG VOUCHER:000011\n原参考号 ORIG REF:092512000011" in void
    uploaded = slip_text(record(kind="void", extra={0xFF09: b"000099"}, original=booked("sale", 11, "092512000011",
                                                                                      12345)))
    assert "000099" not in uploaded and "ORIG VOUCHER:000011" in uploaded
    assert "原凭证号 ORIG VOUCHER:000099" in slip_text(record(kind="void", extra={0xFF09: b"000099"}))
    refund = slip_text(record(kind="refund", original=ORIGINAL_SALE, extra={0xFF0A: b"9999999999990101"}))
    assert "原参考号 ORIG REF:093000000008\n原交易日期 ORIG DATE:1130" in refund and "9999" not in refund


def test_hostile_receipt_fields_print_as_text():
    """Uploaded text with control bytes, escape sequences, bad GB2312 and
    overlong values draws as a slip, never as a printer command or a crash."""
    hostile = record(image=short_signature(), extra={0xFF00: b"\x1b@\x1dV\x00\xff\xfe" + b"X" * 100,
                                                     0xFF02: b"\n\r\x00", 0xFF07: b"not a date",
                                                     0xFF04: "é€".encode("utf-8")})
    image = ereceipt.render(hostile)
    assert image.size[0] == ereceipt.paper.PAPER_WIDTH + 2 * (ereceipt.MARGIN + ereceipt.PADDING)


def test_a_card_number_uploaded_in_clear_is_masked_on_the_page():
    """The page is public to whoever holds the link: a terminal that
    uploaded FF04 unmasked (a bug, another vendor's firmware) must not put
    a full card number on it. A masked one shows as uploaded."""
    table = gb2312.load_table()
    for uploaded in (b"6222021000000000017", b"6222 0210 0000 0000 017"):
        above, below = ereceipt.slip_lines(record(extra={0xFF04: uploaded}), table)
        text = "\n".join(line for _, line in above + below)
        assert "1000000000" not in text.replace(" ", "") and "622202*********0017" in text
    above, _ = ereceipt.slip_lines(record(), table)
    assert "622202*********0017 I" in [line for _, line in above]


def test_a_hostile_image_shape_draws_no_giant_slip():
    """A 1 x 512 image (valid SG2, within the host's 1024 x 512) scaled to the
    paper's width was a 384 x 196608 picture: seconds of drawing and ~100 MB
    for every GET of that receipt, one drawing at a time for all
    cardholders. The signature's picture is at most as tall as the paper is wide."""
    bits = bytearray(512)
    bits[::7] = b"\x01" * len(bits[::7])
    thin = esign.encode(bits, 1, 512)
    assert ereceipt.signature_picture(thin).size[1] <= ereceipt.paper.PAPER_WIDTH
    page = ereceipt.render(record(image=thin))
    assert page.size[1] < 3 * ereceipt.render(record(image=signature_image())).size[1]
    # a real signature keeps its proportions (256 x 96 -> 384 x 144)
    assert ereceipt.signature_picture(signature_image()).size == (ereceipt.paper.PAPER_WIDTH, 144)


# -- the HTTP API --------------------------------------------------------------------------------

def slip_code(sale, copy=receipt.CARDHOLDER_COPY, reprint=0, kind="sale"):
    """The code the terminal prints and puts in the QR code (KeyStore.receipt_mac)."""
    data = receipt.verification_data(sale.term.tid, sale.term.batch, int(sale.trace), sale.rrn, sale.amount,
                                     sale.reply[13], kind, copy, reprint)
    return receipt.code_from_mac(crypto.receipt_mac(DEFAULT_MASTER_KEY, data))


class TerminalLink:
    """The settings firmware/ereceipt.link reads."""

    def __init__(self, terminal_id, ereceipt_url):
        self.terminal_id = terminal_id
        self.ereceipt_url = ereceipt_url


def http(port, request, timeout=5):
    """Raw bytes out, -> (status, headers dict, body)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(request)
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    if not data:
        return None, {}, b""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    assert int(headers["Content-Length"]) == len(body)
    return int(lines[0].split(" ")[1]), headers, body


def get(port, target):
    return http(port, ("GET %s HTTP/1.1\r\nHost: pos\r\n\r\n" % target).encode())


def test_http_serves_the_receipt_for_a_good_code_only(host, term):
    sale = Sale(term)
    assert set(sale.upload(signature_image())) == {"00"}
    port = host.start_receipts_in_thread()
    code = slip_code(sale)
    status, headers, body = get(port, "/receipt?t=%s&r=%s&c=%s" % (term.tid, sale.rrn, code))
    assert status == 200 and headers["Content-Type"] == "image/png"
    with Image.open(io.BytesIO(body)) as png:
        assert png.format == "PNG" and png.size[0] == ereceipt.paper.PAPER_WIDTH + 2 * (ereceipt.MARGIN + ereceipt.PADDING) and png.size[1] > 1000
    assert body == host.ereceipt_png(sale.rrn, term.tid)
    # The merchant copy's code and a reprint's verify too: they are slips of this transaction.
    assert get(port, "/receipt?c=%s&t=%s&r=%s" % (slip_code(sale, receipt.MERCHANT_COPY, 2), term.tid,
                                                   sale.rrn))[0] == 200
    # The link the terminal's QR code holds (firmware/ereceipt.link), opened by a real HTTP client,
    # also from an ereceipt_url with a query of its own.
    for url in ("http://127.0.0.1:%d/receipt" % port, "http://127.0.0.1:%d/receipt?lang=zh" % port):
        settings = TerminalLink(term.tid, url)
        with urllib.request.urlopen(terminal_ereceipt.link(settings, {"rrn": sale.rrn}, code), timeout=10) as page:
            assert page.status == 200 and page.headers["Content-Type"] == "image/png" and page.read() == body
    wrong = "%012d" % ((int(code) + 1) % 10 ** 12)
    for target in ("/receipt?t=%s&r=%s&c=%s" % (term.tid, sale.rrn, wrong),
                   "/receipt?t=10000002&r=%s&c=%s" % (sale.rrn, code),
                   "/receipt?t=%s&r=999999999999&c=%s" % (term.tid, code)):
        status, _, body = get(port, target)
        assert status == 404 and b"PNG" not in body, target


def test_http_404_until_the_signature_is_complete(host, term):
    sale = Sale(term)
    packets = esign_message.packets(signature_image(), SMALL_PACKET)
    assert len(packets) > 1
    assert sale.send(packets[0], sale.tlvs())[39] == "00"
    port = host.start_receipts_in_thread()
    target = "/receipt?t=%s&r=%s&c=%s" % (term.tid, sale.rrn, slip_code(sale))
    assert get(port, target)[0] == 404
    for packet in packets[1:]:
        assert sale.send(packet)[39] == "00"
    assert get(port, target)[0] == 200


def test_http_receipt_of_a_quick_pass_sale_without_image(host, term):
    sale = Sale(term, amount=500)
    assert sale.send(b"\x01\x01", sale.tlvs(cvm="N"))[39] == "00"
    port = host.start_receipts_in_thread()
    status, headers, body = get(port, "/receipt?t=%s&r=%s&c=%s" % (term.tid, sale.rrn, slip_code(sale)))
    assert status == 200


@pytest.mark.parametrize("target, status", [
    ("/receipt", 400),
    ("/receipt?t=10000001&r=093000000012", 400),
    ("/receipt?t=10000001&r=093000000012&c=12345678901", 400),
    ("/receipt?t=10000001&r=09300000001X&c=123456789012", 400),
    ("/receipt?t=10000001&r=093000000012&c=123456789012&c=123456789012", 400),
    ("/receipt?t=10000001&r=093000000012&c=123456789012&x=1&x=2&x=3&x=4&x=5&x=6", 400),   # 9 fields
    ("/receipt?t=1000%2F001&r=093000000012&c=123456789012", 400),
    ("/receipt?t=%FF%FE000001&r=093000000012&c=123456789012", 400),
    ("/receipt?t=10000001&r=%EF%BC%90" + "0" * 11 + "&c=123456789012", 400),   # a fullwidth 0
    ("/receipt?t=10000001&r=093000000012&c=123456789012", 404),
    ("/other?t=10000001&r=093000000012&c=123456789012", 404),
    ("/", 404),
])
def test_http_malformed_queries(host, target, status):
    port = host.start_receipts_in_thread()
    assert get(port, target)[0] == status


def test_http_hostile_requests(host, monkeypatch):
    monkeypatch.setattr(web, "READ_TIMEOUT_S", 0.3)
    port = host.start_receipts_in_thread()
    assert http(port, b"POST /receipt?t=1&r=2&c=3 HTTP/1.1\r\n\r\n")[0] == 405
    assert http(port, b"GET /receipt HTTP/1.1\r\nX: " + b"a" * (web.MAX_HEAD + 10) + b"\r\n\r\n")[0] == 431
    assert http(port, b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n")[0] == 400    # TLS hello-ish
    assert http(port, b"GET http://x/receipt HTTP/1.1\r\n\r\n")[0] == 400
    assert http(port, b"GET /receipt\r\n\r\n")[0] == 400
    # A client that sends half a request and waits: dropped after the read timeout, no answer.
    assert http(port, b"GET /receipt?t=", timeout=5)[0] is None
    monkeypatch.setattr(web, "MAX_CONNECTIONS", 0)
    assert get(port, "/receipt?t=10000001&r=093000000012&c=123456789012")[0] == 503
    # The ISO 8583 side kept answering all along.
    t = Terminal(host.port)
    assert t.sign_on()[1][39] == "00"


# -- pos-host receipt / pos-host --http --------------------------------------------------------

def test_pos_host_receipt_writes_the_png(host, term, tmp_path, capsys):
    sale = Sale(term)
    assert set(sale.upload(signature_image())) == {"00"}
    out = tmp_path / "slip.png"
    assert pos_host(["receipt", "--rrn", sale.rrn, "--ledger", host.ledger.db_path, "--out", str(out)]) == 0
    assert "written to %s" % out in capsys.readouterr().out
    assert out.read_bytes() == host.ereceipt_png(sale.rrn)
    assert pos_host(["receipt", "--rrn", sale.rrn, "--terminal", "10000002", "--ledger", host.ledger.db_path,
                     "--out", str(out)]) == 1
    assert "no e-receipt for RRN" in capsys.readouterr().err
    assert pos_host(["receipt", "--rrn", "12", "--ledger", host.ledger.db_path]) == 2
    assert pos_host(["receipt", "--rrn", sale.rrn, "--ledger", str(tmp_path / "none.sqlite")]) == 2
    assert "no ledger" in capsys.readouterr().err


def test_pos_host_http_as_a_process(tmp_path):
    db = tmp_path / "host.sqlite"
    proc, port = start_host("--db", str(db), "--http", "0", "-q")
    try:
        match = re.match(r"e-receipts on http://127\.0\.0\.1:(\d+)/receipt$", proc.stdout.readline().strip())
        assert match
        term = Terminal(port)
        assert term.sign_on()[1][39] == "00"
        sale = Sale(term)
        assert sale.send(esign_message.packets(short_signature(), 400)[0], sale.tlvs())[39] == "00"
        status, headers, body = get(int(match.group(1)), "/receipt?t=%s&r=%s&c=%s"
                                    % (term.tid, sale.rrn, slip_code(sale)))
        assert status == 200 and body.startswith(b"\x89PNG")
        out = tmp_path / "slip.png"
        result = subprocess.run([sys.executable, "-m", "emulator.host.cli", "receipt", "--rrn", sale.rrn,
                                 "--ledger", str(db), "--out", str(out)], cwd=ROOT, capture_output=True,
                                text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert out.read_bytes() == body
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and "Traceback" not in err


def test_receipts_are_served_again_after_the_host_goes_down_and_up(host, term):
    sale = Sale(term)
    assert sale.send(esign_message.packets(short_signature(), 400)[0], sale.tlvs())[39] == "00"
    port = host.start_receipts_in_thread()
    host.stop_thread()
    with pytest.raises(OSError):
        get(port, "/receipt?t=%s&r=%s&c=%s" % (term.tid, sale.rrn, slip_code(sale)))
    host.start_in_thread()
    assert get(port, "/receipt?t=%s&r=%s&c=%s" % (term.tid, sale.rrn, slip_code(sale)))[0] == 200


def test_pos_emulator_host_http(tmp_path):
    from tests.flows.test_emulator_cli import run_emulator
    result = run_emulator(tmp_path, "idle\n", "--host-http", "0")
    assert result.returncode == 0, result.stderr
    assert re.search(r"^e-receipts on http://127\.0\.0\.1:\d+/receipt$", result.stdout, re.M)
    result = run_emulator(tmp_path, "idle\n", "--host", "127.0.0.1:1", "--host-http", "0")
    assert result.returncode == 2 and "--host-http is for the emulator's own host" in result.stderr
