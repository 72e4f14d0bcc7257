"""The printer simulator on a pty hands a real receipt to the paper view."""

import asyncio

from emulator.peripherals.printer import EscPosPrinterSim
from firmware import escpos, receipt
from firmware.gb2312 import load_table
from hal import open_device


def test_a_receipt_through_the_driver_reaches_the_paper_view(tmp_path):
    table = load_table()
    lines = [("title", "签购单 SALE"), ("text", "商户名称: 测试商户"), ("text", "AMOUNT: RMB 12.34")]
    data = receipt.to_escpos(lines, table)
    with EscPosPrinterSim() as peer:
        printer = open_device("printer", "escpos:%s?line_ms=0" % peer.path)
        try:
            asyncio.run(printer.print_job(data))
            asyncio.run(printer.print_job(data))
        finally:
            printer.close()
        assert bytes(peer.printed) == data + data
        assert peer.slips() == [data, data]
        assert "AMOUNT: RMB 12.34" in escpos.decode_text(peer.slips()[0], table)
        path = peer.save_png(str(tmp_path / "paper.png"), table)
    from PIL import Image
    image = Image.open(path)
    assert image.width == escpos.PAPER_DOTS and image.height > 100
