"""Unicode <-> GB2312 (EUC-CN) for the printer, without a codec library.

MicroPython has no codecs beyond UTF-8 (asking its str.encode for gb18030
silently returns UTF-8), so the mapping comes from firmware/assets/gb2312.bin,
which tools/build_gb2312.py derives from CPython's own 'gb2312' codec. The
file holds sorted arrays; a look-up is a binary search in the file itself
(seek and read 2 bytes a probe), so the 59 KB table is never in RAM: on a
handset's 1 MiB heap, fragmented after a day of transactions, one 59 KB
block could not be had (MemoryError at the first receipt, seen under
MicroPython -X heapsize=1M). Characters already looked up are kept in a
small cache: a receipt uses the same few dozen again and again.

    table = load_table()              # nothing is opened yet
    data = encode("消费 SALE", table)  # first use opens the file and keeps it open
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


CACHE_LIMIT = 512   # code points remembered per direction; cleared when full


class GB2312Table:
    """The mapping, searched in the file, which is opened on first use and
    kept open on this object."""

    def __init__(self, path=None, open_file=None):
        self.path = path or asset_path(ASSET_NAME)
        self._open_file = open_file or _open_binary
        self._file = None
        self._encoded = {}
        self._decoded = {}

    def _load(self):
        f = self._open_file(self.path)
        header = f.read(8)
        if header[:4] != MAGIC:
            f.close()
            raise ValueError("%s is not a GB2312 table" % self.path)
        n_enc = (header[4] << 8) | header[5]
        n_dec = (header[6] << 8) | header[7]
        f.seek(0, 2)
        if f.tell() != 8 + 4 * (n_enc + n_dec):
            f.close()
            raise ValueError("%s has the wrong size" % self.path)
        # (byte offset of the keys, of the values, count) of each direction.
        dec_keys = 8 + 4 * n_enc
        self._arrays = ((8, 8 + 2 * n_enc, n_enc), (dec_keys, dec_keys + 2 * n_dec, n_dec))
        self._file = f

    def _read16(self, at):
        f = self._file
        f.seek(at)
        pair = f.read(2)
        return (pair[0] << 8) | pair[1]

    def _search(self, keys, values, count, key):
        lo = 0
        hi = count - 1
        while lo <= hi:
            mid = (lo + hi) >> 1
            found = self._read16(keys + 2 * mid)
            if found < key:
                lo = mid + 1
            elif found > key:
                hi = mid - 1
            else:
                return self._read16(values + 2 * mid)
        return -1

    def _look_up(self, cache, direction, key):
        value = cache.get(key)
        if value is None:
            if self._file is None:
                self._load()
            keys, values, count = self._arrays[direction]
            value = self._search(keys, values, count, key)
            if len(cache) >= CACHE_LIMIT:
                cache.clear()
            cache[key] = value
        return value

    def gb_code(self, code_point):
        """EUC-CN code (hi << 8 | lo) of a non-ASCII code point, or -1."""
        return self._look_up(self._encoded, 0, code_point)

    def code_point(self, gb):
        """Code point of an EUC-CN code (hi << 8 | lo), or -1."""
        return self._look_up(self._decoded, 1, gb)

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None


def _open_binary(path):
    return open(path, "rb")


def load_table(path=None, open_file=None):
    """A GB2312Table for `path` (default: the firmware asset). Nothing is
    opened until the first encode/decode. `open_file(path) -> file` replaces
    the plain open (e.g. for a storage device)."""
    return GB2312Table(path, open_file)


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
