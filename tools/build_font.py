"""Build firmware/assets/font16.bin, the screen font, from GNU Unifont.

Run at development time under CPython (the output is committed):

    apt-get install unifont            # gives /usr/share/unifont/unifont.hex(.gz)
    python tools/build_font.py [--hex PATH] [--out PATH]

Which characters (all must be in the Basic Multilingual Plane):
- ASCII 0x20..0x7E;
- all of GB2312 (its 682 symbols and 6763 hanzi, levels 1 and 2): what the
  printer can print, the screen can show, merchant names included; plus the
  look-alikes firmware/gb2312.py maps (U+00B7, U+2014, U+00A5);
- fullwidth forms U+FF01..U+FF5E and CJK punctuation U+3000..U+3011;
- every non-ASCII character in firmware/**/*.py, so strings written later
  are covered by re-running this tool.

Licence: GNU Unifont is free software, "GPLv2 or later with the GNU font
embedding exception", and since Unifont 13.0.04 also under the SIL Open Font
License 1.1 (Debian's package states GPL-2+; the upstream site states the dual
licence). Both allow redistributing a subset of its glyphs, which is what
font16.bin is; its derivative glyphs are under those same terms, and this
tool plus the public unifont.hex are its source. The licence travels with
the file in firmware/font.py's docstring.

File layout (integers unsigned, big-endian):

    offset 0    b"FNT1"
    offset 4    height (u8, 16), reserved (u8), n_narrow (u16), n_wide (u16),
                reserved (u16)
    offset 12   narrow code points [n_narrow] (u16, sorted)
                wide code points [n_wide] (u16, sorted)
                narrow bitmaps, 16 bytes each (8x16: a byte a row)
                wide bitmaps, 32 bytes each (16x16: two bytes a row)
    Rows top to bottom; in each byte the most significant bit is the
    leftmost pixel (as in unifont.hex).
"""

import gzip
import os
import sys

MAGIC = b"FNT1"
HEIGHT = 16
HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, ".."))
DEFAULT_OUT = os.path.join(ROOT, "firmware", "assets", "font16.bin")
HEX_CANDIDATES = (
    "/usr/share/unifont/unifont.hex",
    "/usr/share/unifont/unifont.hex.gz",
)
# The look-alikes that firmware/gb2312.py prints (see tools/build_gb2312.py).
GB2312_ALIASES = (0x00B7, 0x2014, 0x00A5)


def find_hex():
    for path in HEX_CANDIDATES:
        if os.path.exists(path):
            return path
    raise SystemExit("GNU Unifont not found: apt-get install unifont")


def read_hex(path):
    """unifont.hex -> {code point: bitmap bytes (16 or 32)}."""
    opener = gzip.open if path.endswith(".gz") else open
    glyphs = {}
    with opener(path, "rt", encoding="ascii") as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            code, bitmap = line.split(":")
            if len(bitmap) not in (32, 64):
                continue  # other heights are not used here
            glyphs[int(code, 16)] = bytes.fromhex(bitmap)
    return glyphs


def gb2312_chars():
    chars = set()
    for hi in range(0xA1, 0xF8):
        for lo in range(0xA1, 0xFF):
            try:
                chars.add(ord(bytes((hi, lo)).decode("gb2312")))
            except UnicodeDecodeError:
                pass
    return chars


def firmware_chars(root=ROOT):
    """Every non-ASCII character in firmware/**/*.py."""
    chars = set()
    for folder, _dirs, files in os.walk(os.path.join(root, "firmware")):
        for name in files:
            if name.endswith(".py"):
                with open(os.path.join(folder, name), encoding="utf-8") as f:
                    chars.update(ord(ch) for ch in f.read() if ord(ch) > 0x7F)
    return chars


def wanted_chars(root=ROOT):
    chars = set(range(0x20, 0x7F))
    chars |= gb2312_chars()
    chars |= set(GB2312_ALIASES)
    chars |= set(range(0xFF01, 0xFF5F))
    chars |= set(range(0x3000, 0x3012))
    chars |= firmware_chars(root)
    return chars


def build(glyphs, chars):
    """-> (file bytes, sorted list of code points that Unifont lacks)."""
    narrow = []
    wide = []
    missing = []
    for cp in sorted(chars):
        bitmap = glyphs.get(cp)
        if bitmap is None or cp > 0xFFFF:
            missing.append(cp)
        elif len(bitmap) == 16:
            narrow.append((cp, bitmap))
        else:
            wide.append((cp, bitmap))
    out = bytearray(MAGIC)
    out += bytes((HEIGHT, 0))
    out += len(narrow).to_bytes(2, "big") + len(wide).to_bytes(2, "big") + b"\0\0"
    for cp, _ in narrow + wide:
        out += cp.to_bytes(2, "big")
    for _, bitmap in narrow + wide:
        out += bitmap
    return bytes(out), missing


def main(argv):
    hex_path = None
    out_path = DEFAULT_OUT
    args = list(argv[1:])
    while args:
        arg = args.pop(0)
        if arg == "--hex":
            hex_path = args.pop(0)
        elif arg == "--out":
            out_path = args.pop(0)
        else:
            raise SystemExit("usage: build_font.py [--hex unifont.hex] [--out font16.bin]")
    glyphs = read_hex(hex_path or find_hex())
    data, missing = build(glyphs, wanted_chars())
    with open(out_path, "wb") as f:
        f.write(data)
    print("wrote %s: %d bytes" % (out_path, len(data)))
    if missing:
        print("no glyph for: " + " ".join("U+%04X" % cp for cp in missing))


if __name__ == "__main__":
    main(sys.argv)
