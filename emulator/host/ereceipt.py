"""The electronic receipt (电子签购单): what the cardholder's phone shows
after scanning the terminal's QR code, drawn as a PNG from the host's
books and the uploaded signature (emulator/host/signatures.py).

    record = signatures.receipt_of(ledger, tid, rrn)      # None: no such receipt
    data = png_bytes(record)

The slip is laid out like the printed 签购单 (firmware/receipt.py's
styles) and drawn the way the emulator draws paper (emulator/paper.py:
the firmware's own bitmap font, no system fonts), so it looks like the
paper it replaces: the receipt fields, the cardholder's signature from its
image, the feature code (特征码) that ties the signature to the
transaction, and 免密免签 / 免签 / 已纸质签名 where no signature was drawn.

What the host booked against the transaction since comes from its books
too (signatures.receipt_of: the voids and refunds that stand): a voided
sale says 已撤销 VOIDED under the title with the void's date, time, trace
and RRN; a refunded one lists its refunds and what is left; a void or
refund names its original sale. A reversed transaction has no receipt.

Money, terminal, batch, trace and RRN come from the host's own books; the
rest (merchant name, operator, card as masked, entry, date and time, AID,
TC, codes) from the receipt fields the terminal uploaded (F55, FF00-FF70).
Uploaded text is shown, never trusted: control characters become "?" and
every line wraps at the paper's width.
"""

import io

from PIL import Image, ImageDraw, ImageFilter

from firmware import escpos, esign, gb2312, receipt
from firmware.card import mask_pan
from firmware import esign_message as em
from firmware.texts import format_amount
from emulator import paper

ENTRY_MARKS = ("S", "I", "C")
CVM_NOTES = {em.NO_PIN_NO_SIGNATURE: "免密免签 NO PIN, NO SIGNATURE REQUIRED",
             em.NO_SIGNATURE: "免签 NO SIGNATURE REQUIRED",
             em.PAPER: "已纸质签名 SIGNED ON PAPER",
             em.UNSIGNED: "持卡人未签名 NOT SIGNED"}

# The slip on a page: paper white, a grey desk around it.
DESK = 232
SHADOW = 200
MARGIN = 24
PADDING = 12               # paper beyond the printed width, each side


def _ascii(value):
    return bytes(value).decode("latin-1")


def _text(fields, tag, default=""):
    value = fields.get(tag)
    return _ascii(value) if value is not None else default


def _date_time(stamp):
    if len(stamp) == 14 and stamp.isdigit():
        return receipt._date_time(stamp)
    return stamp


def _shown_card(card):
    """The card number as the page may show it: the terminal uploads it
    masked; one that came in clear (digits only, spaces aside) is masked
    here, since whoever holds the link sees the page."""
    digits = card.replace(" ", "")
    if digits.isdigit() and len(digits) > 4:
        return mask_pan(digits)
    return card


def _host_date_time(row):
    """A booked row's host date and time: 'MM/DD hh:mm:ss' (F13 has no year)."""
    date, time = row["host_date"], row["host_time"]
    return "%s/%s %s:%s:%s" % (date[0:2], date[2:4], time[0:2], time[2:4], time[4:6])


def _remaining(record):
    return record["txn"]["amount"] - record["refunded"]


def _standing_mark(record):
    """Under the title, where the eye lands first: a sale voided or
    refunded since is not the sale it was."""
    if record["voids"]:
        return [("title", "*** 已撤销 VOIDED ***")]
    if record["refunds"]:
        if _remaining(record) <= 0:
            return [("title", "*** 全额退货 FULLY REFUNDED ***")]
        return [("title", "*** 部分退货 PARTLY REFUNDED ***")]
    return []


def _original_lines(record):
    """A void's or refund's reference to the sale it undoes: from the
    host's books, the uploaded fields only where the books name none."""
    txn, original, fields = record["txn"], record["original"], record["fields"]
    if txn["kind"] == "void":
        if original is None:
            return [("normal", "原凭证号 ORIG VOUCHER:" + _text(fields, em.ORIG_TRACE))]
        return [("normal", "原凭证号 ORIG VOUCHER:%06d" % original["trace"]),
                ("normal", "原参考号 ORIG REF:" + (original["rrn"] or ""))]
    if txn["kind"] == "refund":
        uploaded = _text(fields, em.ORIG_RRN_DATE)
        rrn, date = (original["rrn"] or "", original["host_date"]) if original else (uploaded[:12], uploaded[12:16])
        return [("normal", "原参考号 ORIG REF:" + rrn), ("normal", "原交易日期 ORIG DATE:" + date)]
    return []


def _since_lines(record):
    """What the host booked against this transaction since: its void, its
    refunds with what is left (voids and refunds reversed since are not
    listed: they changed nothing)."""
    lines = []
    for void in record["voids"]:
        lines += [("rule", receipt.RULE), ("bold", "已撤销 VOIDED"),
                  ("normal", "撤销日期/时间 VOID DATE/TIME:"),
                  ("normal", _host_date_time(void)),
                  ("normal", "撤销凭证号 VOID VOUCHER:%06d" % void["trace"]),
                  ("normal", "撤销参考号 VOID REF:" + (void["rrn"] or ""))]
    if record["refunds"]:
        lines += [("rule", receipt.RULE), ("bold", "已退货 REFUNDS:")]
        for number, refund in enumerate(record["refunds"], 1):
            lines += [("normal", "%d. %s RMB %s" % (number, _host_date_time(refund), format_amount(-refund["amount"]))),
                      ("normal", "   参考号 REF NO:" + (refund["rrn"] or ""))]
        lines += [("normal", "已退金额 REFUNDED:RMB " + format_amount(record["refunded"])),
                  ("bold", "剩余金额 REMAINING:RMB " + format_amount(_remaining(record)))]
    return lines


def slip_lines(record, table):
    """-> (lines above the signature, lines below it), (style, text) as in
    firmware/receipt.py."""
    txn, signature, fields = record["txn"], record["signature"], record["fields"]
    kind = txn["kind"]
    sign = -1 if kind in ("void", "refund") else 1
    merchant = gb2312.decode(fields[em.MERCHANT_NAME], table) if em.MERCHANT_NAME in fields else ""
    above = [
        ("title", "签购单 POS SALES SLIP"),
        ("center", "电子签购单 E-RECEIPT"),
    ]
    above += _standing_mark(record)
    above += [
        ("rule", receipt.RULE),
        ("normal", "商户名称 MERCHANT NAME:"),
        ("normal", merchant),
        ("normal", "商户编号 MERCHANT NO:"),
        ("normal", txn["mid"]),
        ("normal", "终端编号 TERMINAL NO:" + txn["tid"]),
        ("normal", "操作员号 OPERATOR NO:" + _text(fields, em.OPERATOR)),
        ("rule", receipt.RULE),
    ]
    card = _shown_card(_text(fields, em.CARD_NO))
    entry = _text(fields, em.ENTRY)
    entry = entry if entry in ENTRY_MARKS else ""
    if card:
        above += [("normal", "卡号 CARD NO:"), ("bold", "%s %s" % (card, entry))]
    else:
        above += [("normal", "支付方式 PAID BY:"), ("bold", "扫码 QR")]
    expiry = _text(fields, em.EXPIRY)
    if len(expiry) == 4:
        above.append(("normal", "有效期 EXP DATE:20%s/%s" % (expiry[0:2], expiry[2:4])))
    above += [
        ("normal", "交易类型 TRANS TYPE:"),
        ("bold", receipt.TYPE_LABELS.get(kind, kind)),
        ("normal", "批次号 BATCH NO:%06d" % txn["batch"]),
        ("normal", "凭证号 VOUCHER NO:%06d" % txn["trace"]),
        ("normal", "参考号 REF NO:" + (txn["rrn"] or "")),
        ("normal", "授权码 AUTH NO:" + _text(fields, em.AUTH_CODE, txn["auth_code"] or "")),
        ("normal", "日期/时间 DATE/TIME:"),
        ("normal", _date_time(_text(fields, em.DATE_TIME))),
        ("normal", "金额 AMOUNT:"),
        ("big", "RMB " + format_amount(sign * txn["amount"])),
    ]
    above += _original_lines(record)
    if em.AID in fields:
        above.append(("normal", "AID:" + bytes(fields[em.AID]).hex().upper()))
    if em.TC in fields:
        above.append(("normal", "TC:" + bytes(fields[em.TC]).hex().upper()))
    above += _since_lines(record)
    above.append(("rule", receipt.RULE))
    code = _text(fields, em.RECEIPT_CODE)
    if code:
        above += [("normal", "验证码 VERIFY CODE:"), ("bold", receipt.spaced(code))]
    feature = _text(fields, em.FEATURE_CODE)
    if feature:
        above.append(("normal", "特征码 FEATURE CODE:" + feature))
    cvm = signature["cvm"]
    if signature["paper"]:
        cvm = em.PAPER
    below = []
    if signature["image"]:
        above.append(("normal", "持卡人签名 CARDHOLDER SIGNATURE:"))
        below.append(("rule", receipt.RULE))
    if cvm in CVM_NOTES:
        below.append(("bold", CVM_NOTES[cvm]))
    below += [
        ("normal", "本人确认以上交易,同意将其记入本卡账户"),
        ("normal", "I ACKNOWLEDGE SATISFACTORY RECEIPT OF RELATIVE GOODS/SERVICES"),
    ]
    return above, below


def _paper_lines(lines, table):
    """(style, text) lines -> PrintedLines, through the same ESC/POS bytes
    a printer would get (so a hostile text is what it would print)."""
    printed = escpos.parse(receipt.to_escpos(lines, table), table)
    while printed and not printed[-1].text and printed[-1].qr is None:
        printed.pop()    # the feed past the tear bar: no paper here
    return printed


def signature_picture(image_bytes):
    """The uploaded image (firmware/esign format) -> an "L" picture as
    wide as the paper (256 x 96 -> 384 x 144), ink black."""
    width, height, bits = esign.decode(image_bytes)
    picture = Image.new("L", (width, height), paper.PAPER)
    picture.putdata([paper.INK if bit else paper.PAPER for bit in bits])
    # At most as tall as the paper is wide: an uploaded 1 x 512 image
    # scaled by width alone would be 384 x 196608 (seconds and ~100 MB for
    # every request of that receipt). A real one (256 x 96) keeps its shape.
    target = (paper.PAPER_WIDTH, max(1, min(height * paper.PAPER_WIDTH // width, paper.PAPER_WIDTH)))
    # Scaled smoothly, then each stroke widened by a dot: a pen's line, not
    # the 1-dot trace of the touch panel with uneven steps.
    return picture.resize(target, Image.BILINEAR).filter(ImageFilter.MinFilter(3))


def render(record, table=None, font=None):
    """The e-receipt of a completed signature (signatures.receipt_of) as
    an "L" image: the slip on a grey page."""
    table = table or gb2312.load_table()
    renderer = paper.PaperRenderer(font)
    above, below = slip_lines(record, table)
    parts = [renderer.render(_paper_lines(above, table))]
    if record["signature"]["image"]:
        parts.append(signature_picture(record["signature"]["image"]))
    parts.append(renderer.render(_paper_lines(below, table)))
    slip_width = paper.PAPER_WIDTH + 2 * PADDING
    slip_height = sum(part.size[1] for part in parts) + 2 * PADDING
    page = Image.new("L", (slip_width + 2 * MARGIN, slip_height + 2 * MARGIN), DESK)
    draw = ImageDraw.Draw(page)
    draw.rectangle((MARGIN + 3, MARGIN + 3, MARGIN + slip_width + 2, MARGIN + slip_height + 2), fill=SHADOW)
    draw.rectangle((MARGIN, MARGIN, MARGIN + slip_width - 1, MARGIN + slip_height - 1), fill=paper.PAPER)
    y = MARGIN + PADDING
    for part in parts:
        page.paste(part, (MARGIN + PADDING + (paper.PAPER_WIDTH - part.size[0]) // 2, y))
        y += part.size[1]
    return page


def png_bytes(record, table=None, font=None):
    out = io.BytesIO()
    render(record, table, font).save(out, "PNG", optimize=True)
    return out.getvalue()
