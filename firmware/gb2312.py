"""Unicode <-> GB2312 (EUC-CN) for the printer, without a codec library.

MicroPython has no codecs beyond UTF-8 (asking its str.encode for gb18030
silently returns UTF-8), so the mapping comes from firmware/assets/gb2312.bin,
which tools/build_gb2312.py derives from CPython's own 'gb2312' codec. The
file holds sorted arrays; a look-up is a binary search.

    table = load_table()              # nothing is read yet
    data = encode("消费 SALE", table)  # first use reads the file, once
    text = decode(data, table)

Rules:
- ASCII (U+0000..U+007F) passes through as one byte, both ways.
- A character with no GB2312 code becomes b"?" when encoding. Beyond CPython's
  codec, three look-alikes are mapped on purpose (U+00B7 middle dot, U+2014
  em dash, U+00A5 yen sign; see tools/build_gb2312.py), because CPython's
  gb2312 refuses them and they are common in text.
- Decoding: a lead byte 0xA1..0xF7 followed by 0xA1..0xFE is one character
  ("?" if that slot is empty); any other byte >= 0x80 becomes "?".
"""

ASSET_NAME = "gb2312.bin"
MAGIC = b"GB23"
REPLACEMENT = 0x3F  # "?"


def asset_path(name):
    """Path of a file in firmware/assets/, found from this module's location
    (works under MicroPython, which has no os.path)."""
    here = __file__
    cut = here.rfind("/")
    folder = here[:cut] if cut >= 0 else "."
    return folder + "/assets/" + name


def _read_file(path):
    with open(path, "rb") as f:
        return f.read()


class GB2312Table:
    """The mapping, read from disk on first use and kept on this object."""

    def __init__(self, path=None, read_bytes=None):
        self.path = path or asset_path(ASSET_NAME)
        self._read_bytes = read_bytes or _read_file
        self._data = None

    def _load(self):
        data = self._read_bytes(self.path)
        if data[:4] != MAGIC:
            raise ValueError("%s is not a GB2312 table" % self.path)
        n_enc = (data[4] << 8) | data[5]
        n_dec = (data[6] << 8) | data[7]
        if len(data) != 8 + 4 * (n_enc + n_dec):
            raise ValueError("%s has the wrong size" % self.path)
        self._n_enc = n_enc
        self._n_dec = n_dec
        # Byte offsets of the four arrays.
        self._enc_keys = 8
        self._enc_values = 8 + 2 * n_enc
        self._dec_keys = 8 + 4 * n_enc
        self._dec_values = self._dec_keys + 2 * n_dec
        self._data = data

    def _search(self, keys, values, count, key):
        data = self._data
        lo = 0
        hi = count - 1
        while lo <= hi:
            mid = (lo + hi) >> 1
            at = keys + 2 * mid
            found = (data[at] << 8) | data[at + 1]
            if found < key:
                lo = mid + 1
            elif found > key:
                hi = mid - 1
            else:
                at = values + 2 * mid
                return (data[at] << 8) | data[at + 1]
        return -1

    def gb_code(self, code_point):
        """EUC-CN code (hi << 8 | lo) of a non-ASCII code point, or -1."""
        if self._data is None:
            self._load()
        return self._search(self._enc_keys, self._enc_values, self._n_enc, code_point)

    def code_point(self, gb):
        """Code point of an EUC-CN code (hi << 8 | lo), or -1."""
        if self._data is None:
            self._load()
        return self._search(self._dec_keys, self._dec_values, self._n_dec, gb)


def load_table(path=None, read_bytes=None):
    """A GB2312Table for `path` (default: the firmware asset). Nothing is
    read until the first encode/decode. `read_bytes(path) -> bytes` replaces
    the file read (e.g. for a storage device)."""
    return GB2312Table(path, read_bytes)


def encode(text, table):
    """str -> GB2312 bytes; unmappable characters become b"?"."""
    out = bytearray()
    for ch in text:
        cp = ord(ch)
        if cp < 0x80:
            out.append(cp)
            continue
        gb = table.gb_code(cp)
        if gb < 0:
            out.append(REPLACEMENT)
        else:
            out.append(gb >> 8)
            out.append(gb & 0xFF)
    return bytes(out)


def decode(data, table):
    """GB2312 bytes -> str; bytes that are not GB2312 become "?"."""
    parts = []
    i = 0
    n = len(data)
    while i < n:
        b = data[i]
        if b < 0x80:
            parts.append(chr(b))
            i += 1
            continue
        if 0xA1 <= b <= 0xF7 and i + 1 < n and 0xA1 <= data[i + 1] <= 0xFE:
            cp = table.code_point((b << 8) | data[i + 1])
            parts.append(chr(cp) if cp >= 0 else "?")
            i += 2
            continue
        parts.append("?")
        i += 1
    return "".join(parts)
