"""ISO 8583 pack + unpack of a sale request (firmware.iso8583, CPython).

    python bench/iso8583_codec.py
"""

import os
import sys
import timeit

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from firmware import iso8583  # noqa: E402

SALE = {2: "6222021000000000017", 3: "000000", 4: "000000001234", 11: "000123", 14: "3012", 22: "021",
        25: "00", 35: "6222021000000000017=30121010000000000", 41: "10000001", 42: "898100012340001",
        49: "156", 53: "0600000000000000", 60: "22000001000500", 64: b"ABCD1234"}


def ours():
    iso8583.unpack(iso8583.pack("0200", SALE))


def main():
    n = 2000
    t = min(timeit.repeat(ours, number=n, repeat=5)) / n * 1e6
    print("firmware.iso8583 pack+unpack of a sale: %.1f us" % t)


if __name__ == "__main__":
    main()
