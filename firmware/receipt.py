"""Receipts (签购单), settlement reports and reversal slips.

Layout first (a list of (style, text) lines, easy to test and to read),
then ESC/POS bytes for the 58 mm printer. Both copies of a receipt come
from the same journal record, so a reprint is the same slip with the
重打印凭证 REPRINT mark. The card number is always the masked one kept in
the journal: a receipt cannot show what the terminal does not keep.
"""

from firmware import escpos
from firmware.texts import format_amount

MERCHANT_COPY = "merchant"
CARDHOLDER_COPY = "cardholder"

COPY_LABELS = {MERCHANT_COPY: "商户存根 MERCHANT COPY", CARDHOLDER_COPY: "持卡人存根 CARDHOLDER COPY"}
TYPE_LABELS = {"sale": "消费 SALE", "void": "消费撤销 VOID", "refund": "退货 REFUND"}
MODE_MARKS = {"swipe": "S", "insert": "I", "tap": "C"}
RULE = "-" * escpos.LINE_COLUMNS


def _date_time(stamp):
    """'YYYYMMDDhhmmss' -> 'YYYY/MM/DD hh:mm:ss'."""
    return "%s/%s/%s %s:%s:%s" % (stamp[0:4], stamp[4:6], stamp[6:8], stamp[8:10], stamp[10:12], stamp[12:14])


# -- verification codes ----------------------------------------------------------
# Every slip carries a code: a MAC (the key store's receipt_mac, keyed from
# the master key the acquirer shares) over what makes the slip this slip:
# terminal, batch, trace, RRN, amount, host date, type, copy and reprint
# number (0 the original). The acquirer recomputes it (pos-host verify), so
# an edited amount or trace, or a copy passed off as another, does not verify.

VERIFY_VERSION = "V1"
CODE_DIGITS = 12


def verification_data(terminal_id, batch, trace, rrn, amount, date, kind, copy, reprint):
    """The bytes a slip's code covers; `date` is the host's MMDD."""
    return ("%s|%s|%06d|%06d|%s|%d|%s|%s|%s|%d" % (VERIFY_VERSION, terminal_id, batch, trace, rrn or "",
                                                   amount, date or "", kind, copy, reprint)).encode()


def txn_verification_data(settings, txn, copy, reprint):
    return verification_data(settings.terminal_id, txn["batch"], txn["trace"], txn.get("rrn"), txn["amount"],
                             txn.get("host_date") or txn.get("time", "")[4:8], txn["type"], copy, reprint)


def code_from_mac(mac):
    """The first 6 bytes of the MAC as 12 decimal digits."""
    number = 0
    for b in mac[:6]:
        number = (number << 8) | b
    return "%0*d" % (CODE_DIGITS, number % (10 ** CODE_DIGITS))


def spaced(code):
    return " ".join(code[i:i + 4] for i in range(0, len(code), 4))


# The wallets of QR payments (firmware/qrpay.py) as the slip names them.
CHANNEL_LABELS = {"wechat": "微信支付 WECHAT PAY", "alipay": "支付宝 ALIPAY", "unionpay": "银联二维码 UNIONPAY QR"}


def txn_lines(settings, txn, copy, reprint=False, code=None, reprint_no=0, with_qr=False, signature=None,
              feature=None):
    """The slip of one transaction as (style, text) lines. `code`: its
    verification code (12 digits), printed as digits and, `with_qr`, as a
    QR code holding the verification data and the code. `signature`: the
    cardholder's e-signature as (width, height, bits) (firmware/esign.decode),
    printed under the signature line on both copies with its `feature` code
    (特征码); without one the merchant copy has the line to sign on."""
    sign = -1 if txn["type"] in ("void", "refund") else 1
    lines = [
        ("title", "签购单 POS SALES SLIP"),
        ("center", COPY_LABELS[copy]),
        ("rule", RULE),
        ("normal", "商户名称 MERCHANT NAME:"),
        ("normal", settings.merchant_name),
        ("normal", "商户编号 MERCHANT NO:"),
        ("normal", settings.merchant_id),
        ("normal", "终端编号 TERMINAL NO:" + settings.terminal_id),
        ("normal", "操作员号 OPERATOR NO:" + txn.get("op", "01")),
        ("rule", RULE),
    ]
    if txn.get("order"):
        # A QR payment: the wallet and its order number stand where a card would.
        lines += [("normal", "支付方式 PAID BY:"),
                  ("bold", CHANNEL_LABELS.get(txn.get("channel"), "扫码 QR")),
                  ("normal", "订单号 ORDER NO:"),
                  ("bold", txn["order"])]
    else:
        lines += [("normal", "卡号 CARD NO:"),
                  ("bold", "%s %s" % (txn.get("pan", ""), MODE_MARKS.get(txn.get("mode"), "")))]
    expiry = txn.get("exp")
    if expiry:
        lines.append(("normal", "有效期 EXP DATE:20%s/%s" % (expiry[0:2], expiry[2:4])))
    lines += [
        ("normal", "交易类型 TRANS TYPE:"),
        ("bold", TYPE_LABELS[txn["type"]]),
        ("normal", "批次号 BATCH NO:%06d" % txn["batch"]),
        ("normal", "凭证号 VOUCHER NO:%06d" % txn["trace"]),
        ("normal", "参考号 REF NO:" + txn.get("rrn", "")),
        ("normal", "授权码 AUTH NO:" + txn.get("auth", "")),
        ("normal", "日期/时间 DATE/TIME:"),
        ("normal", _date_time(txn["time"])),
        ("normal", "金额 AMOUNT:"),
        ("big", "RMB " + format_amount(sign * txn["amount"])),
    ]
    orig = txn.get("orig") or {}
    if txn["type"] == "void":
        lines.append(("normal", "原凭证号 ORIG VOUCHER:%06d" % orig.get("trace", 0)))
    if txn["type"] == "refund":
        lines.append(("normal", "原参考号 ORIG REF:" + orig.get("rrn", "")))
        lines.append(("normal", "原交易日期 ORIG DATE:" + orig.get("date", "")))
    if txn.get("aid"):
        lines.append(("normal", "AID:" + txn["aid"]))
    if txn.get("tc"):
        lines.append(("normal", "TC:" + txn["tc"]))
    lines.append(("rule", RULE))
    if reprint:
        lines.append(("title", "重打印凭证 REPRINT"))
        if reprint_no:
            lines.append(("center", "第%d次重打印 REPRINT NO.%d" % (reprint_no, reprint_no)))
    if code:
        lines.append(("normal", "验证码 VERIFY CODE:"))
        lines.append(("bold", spaced(code)))
        if with_qr:
            data = txn_verification_data(settings, txn, copy, reprint_no).decode()
            lines.append(("qr", data + "|" + code))
    cvm = txn.get("cvm")
    if cvm == "no_pin_no_signature":
        # 小额双免: the cardholder neither keyed a PIN nor signs.
        lines.append(("bold", "免密免签 NO PIN, NO SIGNATURE REQUIRED"))
    elif cvm == "no_signature":
        lines.append(("bold", "免签 NO SIGNATURE REQUIRED"))
    else:
        if cvm == "no_pin":
            # At or below the no-PIN limit, above the no-signature limit:
            # the signature is the cardholder's verification.
            lines.append(("bold", "免密 NO PIN REQUIRED"))
        if signature is not None:
            lines += [("normal", "持卡人签名 CARDHOLDER SIGNATURE:"), ("image", signature)]
            if feature:
                lines.append(("normal", "特征码 FEATURE CODE:" + feature))
            lines.append(("rule", RULE))
        elif copy == MERCHANT_COPY:
            lines += [
                ("normal", "持卡人签名 CARDHOLDER SIGNATURE:"),
                ("normal", ""),
                ("normal", ""),
                ("rule", RULE),
            ]
    lines += [
        ("normal", "本人确认以上交易,同意将其记入本卡账户"),
        ("normal", "I ACKNOWLEDGE SATISFACTORY RECEIPT OF RELATIVE GOODS/SERVICES"),
    ]
    return lines


def signing_slip_lines(settings, txn):
    """The paper the cardholder signs when the e-signature could not be
    taken or sent: the merchant copy's lines with the signature line, under
    a heading of its own (it is no receipt copy: no verification code, and
    it cannot pass for an original)."""
    lines = [("title", "签名联 SIGNATURE SLIP"), ("center", "电子签名未上送 NOT UPLOADED")]
    body = txn_lines(settings, dict(txn, cvm=None), MERCHANT_COPY)
    return lines + body[1:]


def settlement_lines(settings, report, reprint=False):
    """The settlement report (结算单) as (style, text) lines."""
    lines = [
        ("title", "结算单 SETTLEMENT"),
        ("rule", RULE),
        ("normal", "商户名称 MERCHANT NAME:"),
        ("normal", settings.merchant_name),
        ("normal", "商户编号 MERCHANT NO:" + settings.merchant_id),
        ("normal", "终端编号 TERMINAL NO:" + settings.terminal_id),
        ("normal", "批次号 BATCH NO:%06d" % report["batch"]),
        ("normal", "日期/时间 DATE/TIME:"),
        ("normal", _date_time(report["time"])),
        ("rule", RULE),
        ("normal", escpos.justify("类型 TYPE", "笔数 COUNT   金额 AMOUNT")),
    ]
    totals = report["totals"]
    for kind, label in (("sale", "消费 SALE"), ("void", "撤销 VOID"), ("refund", "退货 REFUND")):
        lines.append(("normal", escpos.justify(label, "%d   %s" % (
            totals[kind + "_count"], format_amount(totals[kind + "_amount"])))))
    channels = report.get("channels") or {}
    if channels:
        lines.append(("rule", RULE))
        lines.append(("normal", "扫码收款 QR PAYMENTS"))
        for channel in sorted(channels):
            row = channels[channel]
            lines.append(("normal", escpos.justify(CHANNEL_LABELS.get(channel, channel), "%d   %s" % (
                row["count"], format_amount(row["amount"])))))
    lines.append(("rule", RULE))
    lines.append(("bold", "对账平 BALANCED" if report["balanced"] else "对账不平 UNBALANCED"))
    fee_rows = report.get("fees")
    if fee_rows:
        # What the acquirer keeps (费率): per class, computed per transaction
        # in fen, half up (firmware/fees.py). Cards are balanced above; this
        # is the merchant's own arithmetic of what reaches the bank account.
        lines.append(("rule", RULE))
        lines.append(("normal", escpos.justify("手续费 FEES", "交易额/手续费/净额")))
        for name, label in (("debit", "借记卡 DEBIT"), ("credit", "贷记卡 CREDIT"), ("qr", "扫码 QR"),
                            ("total", "合计 TOTAL")):
            row = fee_rows.get(name)
            if row is None:
                continue
            lines.append(("normal", label))
            lines.append(("normal", escpos.justify("", "%s/%s/%s" % (
                format_amount(row["gross"]), format_amount(row["fee"]), format_amount(row["net"])))))
    unconfirmed = report.get("unconfirmed") or []
    if unconfirmed:
        # Refunds the host answered 94 on a resend: not in the totals, not
        # known to be paid. The merchant settles them with the acquirer.
        lines.append(("rule", RULE))
        lines.append(("bold", "未确认退货 UNCONFIRMED REFUNDS"))
        for item in unconfirmed:
            lines.append(("normal", escpos.justify("凭证号 %06d" % item["trace"],
                                                   "-" + format_amount(item["amount"]))))
        lines.append(("normal", "请联系收单机构 CALL THE ACQUIRER"))
    if reprint:
        lines.append(("title", "重打印凭证 REPRINT"))
    return lines


def decommission_lines(settings, time_text, batch, last_trace):
    """The slip a returned terminal prints before its wipe (退机凭条)."""
    return [
        ("title", "退机凭条 DEVICE RETURN"),
        ("rule", RULE),
        ("normal", "商户名称 MERCHANT NAME:"),
        ("normal", settings.merchant_name),
        ("normal", "商户编号 MERCHANT NO:" + settings.merchant_id),
        ("normal", "终端编号 TERMINAL NO:" + settings.terminal_id),
        ("normal", "日期/时间 DATE/TIME:"),
        ("normal", _date_time(time_text)),
        ("normal", "已结算,无未完成交易 SETTLED, NOTHING OWED"),
        ("normal", "下一批次 NEXT BATCH:%06d" % batch),
        ("normal", "最后凭证号 LAST VOUCHER:%06d" % last_trace),
        ("rule", RULE),
        ("normal", "密钥及数据将被清除 KEYS AND DATA WIPED"),
    ]


def unconfirmed_refund_lines(settings, txn):
    """A refund resend answered 94: the host holds another request under
    its trace. Not a receipt (nothing says it was paid): a note for the
    merchant to settle it with the acquirer."""
    return [
        ("title", "退货未确认 REFUND NOT CONFIRMED"),
        ("rule", RULE),
        ("normal", "终端编号 TERMINAL NO:" + settings.terminal_id),
        ("normal", "卡号 CARD NO:" + txn.get("pan", "")),
        ("normal", "批次号 BATCH NO:%06d" % txn["batch"]),
        ("normal", "凭证号 VOUCHER NO:%06d" % txn["trace"]),
        ("normal", "原参考号 ORIG REF:" + (txn.get("orig") or {}).get("rrn", "")),
        ("big", "RMB -" + format_amount(txn["amount"])),
        ("normal", "请联系收单机构"),
        ("normal", "CALL THE ACQUIRER"),
    ]


def reversal_slip_lines(settings, txn):
    return [
        ("title", "冲正未完成 REVERSAL PENDING"),
        ("rule", RULE),
        ("normal", "终端编号 TERMINAL NO:" + settings.terminal_id),
        ("normal", "卡号 CARD NO:" + txn.get("pan", "")),
        ("normal", "交易类型 TRANS TYPE:" + TYPE_LABELS.get(txn["type"], txn["type"])),
        ("normal", "批次号 BATCH NO:%06d" % txn["batch"]),
        ("normal", "凭证号 VOUCHER NO:%06d" % txn["trace"]),
        ("normal", "日期/时间 DATE/TIME:" + _date_time(txn["time"])),
        ("big", "RMB " + format_amount(txn["amount"])),
        ("normal", "终端将自动重发冲正"),
        ("normal", "THE TERMINAL RETRIES AUTOMATICALLY"),
    ]


def to_escpos(lines, table):
    """(style, text) lines -> ESC/POS bytes for one slip."""
    out = [escpos.start()]
    for style, text_line in lines:
        # Wrap here, between words, rather than let the printer cut a word
        # at column 32 (double size: 16 columns).
        if style == "qr":
            out.append(escpos.align(escpos.CENTER) + escpos.qr(text_line, 4) + escpos.align(escpos.LEFT))
            continue
        if style == "image":
            width, height, bits = text_line
            out.append(escpos.align(escpos.CENTER) + escpos.raster(bits, width, height) + escpos.align(escpos.LEFT))
            continue
        columns = escpos.LINE_COLUMNS // 2 if style == "big" else escpos.LINE_COLUMNS
        for line in (escpos.wrap(text_line, columns) if text_line else [""]):
            out.append(_styled(style, line, table))
    out.append(escpos.end())
    return b"".join(out)


def _styled(style, line, table):
    """One printed row in its style; every style ends back at the default."""
    if style == "title":
        return (escpos.align(escpos.CENTER) + escpos.bold(True) + escpos.text(line, table)
                + escpos.bold(False) + escpos.align(escpos.LEFT))
    if style == "center":
        return escpos.align(escpos.CENTER) + escpos.text(line, table) + escpos.align(escpos.LEFT)
    if style == "bold":
        return escpos.bold(True) + escpos.text(line, table) + escpos.bold(False)
    if style == "big":
        return escpos.double(True) + escpos.text(line, table) + escpos.double(False)
    return escpos.text(line, table)
