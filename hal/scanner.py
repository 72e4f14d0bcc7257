"""Scanner: the 2D code reader that reads a customer's payment code off
their phone. Posts ("scan", text) for each code read.

A backend calls self.scanned(text). What a code means (WeChat, Alipay,
UnionPay QR, or nothing we take) is the firmware's business
(firmware/qrpay.py), not the scanner's.
"""

from hal.device import Device

MAX_CODE_LENGTH = 512   # a line longer than this is noise, not a code


class Scanner(Device):
    event_kind = "scan"

    def scanned(self, text):
        if not isinstance(text, str):
            raise ValueError("a scanned code is text, not %s" % type(text).__name__)
        text = text.strip()
        if text and len(text) <= MAX_CODE_LENGTH:
            self._post(text)
