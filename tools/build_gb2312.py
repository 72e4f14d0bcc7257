"""Build firmware/assets/gb2312.bin from CPython's own 'gb2312' codec.

Run at development time under CPython (the output is committed):

    python tools/build_gb2312.py [output_path]

Why a table of our own: MicroPython has no codecs beyond UTF-8, and
"中文".encode("gb18030") there silently returns UTF-8, which a printer
prints as garbage. firmware/gb2312.py reads this file instead.

File layout (all integers unsigned 16-bit big-endian):

    offset 0   b"GB23"                      magic
    offset 4   n_enc, n_dec                 entry counts
    offset 8   enc_unicode[n_enc]           sorted code points
               enc_gb[n_enc]                EUC-CN code (hi << 8 | lo) of each
               dec_gb[n_dec]                sorted EUC-CN codes
               dec_unicode[n_dec]           code point of each

The decode half is exactly CPython's codec (7445 entries). The encode half is
the same plus ENCODE_ALIASES: characters CPython's gb2312 refuses but which
mean the same as a GB2312 glyph and turn up in everyday text (its A1A4 is
U+30FB and A1AA is U+2015, where GB18030 and most text use U+00B7 and U+2014).
"""

import sys

MAGIC = b"GB23"

# code point -> EUC-CN code; each target is a GB2312 glyph that printers
# with a GB18030/GB2312 ROM print as the aliased character.
ENCODE_ALIASES = {
    0x00B7: 0xA1A4,  # MIDDLE DOT -> the GB2312 middle dot (CPython: U+30FB)
    0x2014: 0xA1AA,  # EM DASH -> the GB2312 dash (CPython: U+2015)
    0x00A5: 0xA3A4,  # YEN SIGN -> FULLWIDTH YEN SIGN (RMB sign on receipts)
}


def codec_pairs():
    """Every (code point, EUC-CN code) that CPython's gb2312 codec decodes."""
    pairs = []
    for hi in range(0xA1, 0xFF):
        for lo in range(0xA1, 0xFF):
            try:
                text = bytes((hi, lo)).decode("gb2312")
            except UnicodeDecodeError:
                continue
            if len(text) != 1:
                raise SystemExit("unexpected decode of %02X%02X: %r" % (hi, lo, text))
            pairs.append((ord(text), (hi << 8) | lo))
    return pairs


def build():
    pairs = codec_pairs()
    for code_point, gb in pairs:
        # The codec must agree with itself both ways, or the table lies.
        if chr(code_point).encode("gb2312") != bytes((gb >> 8, gb & 0xFF)):
            raise SystemExit("codec is not a bijection at U+%04X" % code_point)
    decode_pairs = sorted((gb, cp) for cp, gb in pairs)
    encode_map = dict(pairs)
    for code_point, gb in ENCODE_ALIASES.items():
        if code_point in encode_map:
            raise SystemExit("alias U+%04X is already in the codec" % code_point)
        encode_map[code_point] = gb
    encode_pairs = sorted(encode_map.items())
    if max(cp for cp, _ in encode_pairs) > 0xFFFF:
        raise SystemExit("code point beyond 16 bits")

    out = bytearray(MAGIC)
    out += len(encode_pairs).to_bytes(2, "big") + len(decode_pairs).to_bytes(2, "big")
    for column in (0, 1):
        for pair in encode_pairs:
            out += pair[column].to_bytes(2, "big")
    for column in (0, 1):
        for pair in decode_pairs:
            out += pair[column].to_bytes(2, "big")
    return bytes(out)


def main(argv):
    import os
    here = os.path.dirname(os.path.abspath(__file__))
    default = os.path.join(here, "..", "firmware", "assets", "gb2312.bin")
    path = argv[1] if len(argv) > 1 else default
    data = build()
    with open(path, "wb") as f:
        f.write(data)
    print("wrote %s: %d bytes" % (os.path.normpath(path), len(data)))


if __name__ == "__main__":
    main(sys.argv)
