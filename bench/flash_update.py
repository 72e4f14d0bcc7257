"""Flashing throughput against the line rate: this tree's firmware, built
into a bundle, uploaded and installed by pos-flash into a handset running
under MicroPython (its boot stage and slots), over a cable paced as a
115200-baud UART (10 bits a byte: 11,520 bytes/s).

Effective throughput = firmware bytes installed (the files, uncompressed)
/ seconds from the first request to the end of the install. The peer is
the line rate itself; the same bundle without compression is measured in
the same run (full run only) to show what compression buys. Goal: above
150 % of the line rate (issue 15).

    python -m bench flash           (or bench/flash_update.py [--quick])
"""

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from bench.figures import Figure, text_table  # noqa: E402

BAUD = 115200
LINE_RATE = BAUD / 10


def _flash_once(micropython, work, factory, bundle_path, trust, cable_baud):
    from hosttools.flash import Device, upload
    from tests.update.support import Cable, MicroPythonHandset
    cable = Cable(cable_baud)
    handset = MicroPythonHandset(micropython, work, factory, trust, 1, cable)
    handset.power_on()
    device = None
    try:
        device = Device.open(cable.bench_end, BAUD, reply_timeout_s=60)
        deadline = time.monotonic() + 60
        while True:     # wait for the boot: nothing answers until the port is open
            try:
                device.reply_timeout_s = 2
                if device.request("hello").get("ok"):
                    break
            except Exception:  # noqa: BLE001 - not up yet
                if time.monotonic() > deadline:
                    raise
        device.reply_timeout_s = 60
        data = Path(bundle_path).read_bytes()
        start = time.monotonic()
        upload(device, data)
        reply = device.request("install")
        took = time.monotonic() - start
        if not reply.get("ok"):
            raise RuntimeError("install refused: %s" % reply.get("error"))
        return took
    finally:
        if device is not None:
            device.close()
        handset.stop()
        cable.close()


def figures(quick=False):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from hosttools import bundle as tool
    from tests.support import micropython_path
    micropython = micropython_path()
    if micropython is None:
        return [Figure("flashing at 115200 baud", 0, "B/s", "no micropython interpreter", None, "> 150 % of line")]
    key = Ed25519PrivateKey.generate()
    trust = [tool.raw_public(key.public_key())]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        mpy_cross = tool.default_mpy_cross()
        files = tool.compile_files(ROOT, mpy_cross, str(tmp / "mpy"))
        mpy = tool.mpy_cross_version(mpy_cross)
        firmware_bytes = sum(len(data) for _, data in files)
        factory = tmp / "factory.bundle"
        factory.write_bytes(tool.build(key, "0.0.1", files, mpy=mpy))
        out = []
        variants = [("zlib", "compressed")] if quick else [("zlib", "compressed"), ("none", "uncompressed")]
        for compression, label in variants:
            bundle = tmp / ("%s.bundle" % compression)
            bundle.write_bytes(tool.build(key, "0.1.0", files, mpy=mpy, compression=compression))
            work = tmp / compression
            work.mkdir()
            took = _flash_once(micropython, work, str(factory), str(bundle), trust, BAUD)
            rate = firmware_bytes / took
            ratio = rate / LINE_RATE
            out.append(Figure("flashing at 115200 baud, %s bundle (MicroPython handset)" % label, rate, "B/s",
                              "line rate 11,520 B/s", LINE_RATE, "> 150 % of line" if compression == "zlib" else "report",
                              ratio > 1.5 if compression == "zlib" else None,
                              "%d KB of firmware in a %d KB bundle, %.1f s upload + install"
                              % (firmware_bytes // 1024, bundle.stat().st_size // 1024, took), ratio=ratio))
    return out


if __name__ == "__main__":
    print(text_table(figures("--quick" in sys.argv)))
