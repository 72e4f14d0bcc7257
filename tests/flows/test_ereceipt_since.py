"""The e-receipt of a sale after what the host booked against it since
(docs/ESIGN.md, "The electronic receipt"): a void marks it voided, refunds
are listed with what is left, a reversal takes the receipt away (404, the
answer to a wrong code), and the receipt of a void or refund names its
sale. Real requests over TCP to a running host, the page fetched over
HTTP and drawn by `pos-host receipt` from the ledger file: both the same
PNG."""

from emulator.host import ereceipt, signatures
from emulator.host.cli import main as pos_host
from tests.flows.test_ereceipt import get, slip_code
from tests.flows.test_esign_host import (DEBIT, Sale, host, short_signature,  # noqa: F401 (fixtures)
                                         signature_image, term)


def page(port, txn, kind="sale"):
    """GET the link of txn's QR code: -> (status, body)."""
    status, _, body = get(port, "/receipt?t=%s&r=%s&c=%s" % (txn.term.tid, txn.rrn, slip_code(txn, kind=kind)))
    return status, body


def wrong_code_page(port, txn):
    code = slip_code(txn)
    status, _, body = get(port, "/receipt?t=%s&r=%s&c=%012d" % (txn.term.tid, txn.rrn, (int(code) + 1) % 10 ** 12))
    return status, body


def slip_text(host, txn):
    record = signatures.receipt_of(host.ledger, tid=txn.term.tid, rrn=txn.rrn)
    above, below = ereceipt.slip_lines(record, ereceipt.gb2312.load_table())
    return "\n".join(text for _, text in above + below)


def drawn_by_pos_host(host, rrn, tmp_path, capsys):
    """`pos-host receipt` from the ledger file: -> (exit status, PNG bytes or None, stderr)."""
    out = tmp_path / ("%s.png" % rrn)
    status = pos_host(["receipt", "--rrn", rrn, "--ledger", host.ledger.db_path, "--out", str(out)])
    return status, out.read_bytes() if out.exists() else None, capsys.readouterr().err


def booked_at(reply):
    """A reply's host date and time as the slip shows them."""
    date, time = reply[13], reply[12]
    return "%s/%s %s:%s:%s" % (date[:2], date[2:], time[:2], time[2:4], time[4:])


def test_a_voided_sale_says_voided_and_its_void_names_it(host, term, tmp_path, capsys):
    sale = Sale(term)
    assert set(sale.upload(signature_image())) == {"00"}
    port = host.start_receipts_in_thread()
    status, before = page(port, sale)
    assert status == 200 and "VOIDED" not in slip_text(host, sale)
    void_request = term.void_fields(DEBIT, sale.amount, sale.trace, orig_rrn=sale.rrn)
    mti, reply = term.exchange("0200", void_request)
    assert reply[39] == "00"
    status, after = page(port, sale)
    assert status == 200 and after != before and after == host.ereceipt_png(sale.rrn, term.tid)
    text = slip_text(host, sale)
    assert text.index("*** 已撤销 VOIDED ***") < text.index("商户名称")
    assert "撤销日期/时间 VOID DATE/TIME:\n%s\n" % booked_at(reply) in text
    assert "撤销凭证号 VOID VOUCHER:%s\n撤销参考号 VOID REF:%s" % (reply[11], reply[37]) in text
    assert drawn_by_pos_host(host, sale.rrn, tmp_path, capsys)[:2] == (0, after)
    # The void's own e-receipt (uploaded like any approved transaction) names the sale it voided.
    void = Sale(term, sale.amount, reply=reply, kind="void")
    assert void.upload(short_signature()) == ["00"]
    status, void_page = page(port, void, kind="void")
    assert status == 200 and void_page == host.ereceipt_png(void.rrn, term.tid)
    assert "原凭证号 ORIG VOUCHER:%s\n原参考号 ORIG REF:%s" % (sale.trace, sale.rrn) in slip_text(host, void)
    # The void reversed (its answer never reached the terminal): the sale stands again, the void never was.
    assert term.reverse(void_request)[1][39] == "00"
    assert page(port, sale) == (200, before)
    assert page(port, void, kind="void") == wrong_code_page(port, void)
    assert drawn_by_pos_host(host, void.rrn, tmp_path, capsys)[0] == 1


def test_partial_refunds_are_listed_with_what_is_left(host, term, tmp_path, capsys):
    sale = Sale(term, amount=12345)
    assert set(sale.upload(signature_image())) == {"00"}
    port = host.start_receipts_in_thread()
    refunds = []
    for amount in (2000, 3045):
        mti, reply = term.refund(DEBIT, amount, sale.rrn, sale.date)
        assert reply[39] == "00"
        refunds.append(reply)
    # A third one reversed (the host undoes it): it changed nothing and is not listed.
    undone_request = term.refund_fields(DEBIT, 1000, sale.rrn, sale.date)
    undone = term.exchange("0220", undone_request)[1]
    assert undone[39] == "00" and term.reverse(undone_request)[1][39] == "00"
    assert host.ledger.refunded(host.ledger.find_by_rrn(sale.rrn)[0]["id"]) == 5045
    status, body = page(port, sale)
    assert status == 200 and body == host.ereceipt_png(sale.rrn, term.tid)
    text = slip_text(host, sale)
    assert text.index("*** 部分退货 PARTLY REFUNDED ***") < text.index("商户名称")
    assert ("1. %s RMB -20.00\n   参考号 REF NO:%s\n2. %s RMB -30.45\n   参考号 REF NO:%s\n"
            % (booked_at(refunds[0]), refunds[0][37], booked_at(refunds[1]), refunds[1][37])) in text
    assert "已退金额 REFUNDED:RMB 50.45\n剩余金额 REMAINING:RMB 73.00" in text
    assert undone[37] not in text and "\n3. " not in text
    assert drawn_by_pos_host(host, sale.rrn, tmp_path, capsys)[:2] == (0, body)
    # The rest refunded: the slip says fully refunded, nothing left.
    assert term.refund(DEBIT, 7300, sale.rrn, sale.date)[1][39] == "00"
    text = slip_text(host, sale)
    assert "*** 全额退货 FULLY REFUNDED ***" in text and "剩余金额 REMAINING:RMB 0.00" in text
    # A refund's own e-receipt names the sale it refunded (RRN and date, as the refund asked).
    refund = Sale(term, 2000, reply=refunds[0], kind="refund")
    assert refund.upload(short_signature(), cvm="W") == ["00"]
    assert page(port, refund, kind="refund")[0] == 200
    assert "原参考号 ORIG REF:%s\n原交易日期 ORIG DATE:%s" % (sale.rrn, sale.date) in slip_text(host, refund)


def test_a_reversed_sale_has_no_receipt_and_says_nothing_more_than_a_wrong_code(host, term, tmp_path, capsys):
    sale_request = term.sale_fields(DEBIT, 12345)
    mti, reply = term.exchange("0200", sale_request)
    sale = Sale(term, reply=reply)
    assert set(sale.upload(signature_image())) == {"00"}
    port = host.start_receipts_in_thread()
    assert page(port, sale)[0] == 200
    assert term.reverse(sale_request, reason="06")[1][39] == "00"
    assert host.ledger.find_by_rrn(sale.rrn)[0]["status"] == "reversed"
    not_found = page(port, sale)
    assert not_found[0] == 404 and b"PNG" not in not_found[1]
    assert not_found == wrong_code_page(port, sale)
    assert host.ereceipt_png(sale.rrn, term.tid) is None
    status, png, err = drawn_by_pos_host(host, sale.rrn, tmp_path, capsys)
    unknown = drawn_by_pos_host(host, "999999999999", tmp_path, capsys)
    assert (status, png) == (1, None) and err == unknown[2].replace("999999999999", sale.rrn)
