"""The screen font: 8x16 and 16x16 bitmaps from firmware/assets/font16.bin.

tools/build_font.py makes the file (layout described there) from GNU Unifont:
ASCII, all of GB2312, fullwidth punctuation and every character in the
firmware's strings. A character it lacks is drawn as a box.

Glyphs: GNU Unifont, GPLv2+ with the GNU font embedding exception, and
(Unifont 13.0.04 and later) SIL Open Font License 1.1. font16.bin is a subset
of those glyphs, redistributed under the same terms.

Nothing is read at import. The first look-up reads the header and the sorted
code point index (about 15 KB); bitmaps are read from the open file when a
glyph is first drawn and kept in a bounded cache, so the 250 KB of bitmaps
never sit in RAM at once.
"""

ASSET_NAME = "font16.bin"
MAGIC = b"FNT1"
HEADER_SIZE = 12
HEIGHT = 16
CACHE_LIMIT = 512  # glyphs; a full screen uses far fewer

# Drawn for characters the font lacks: an outlined box, narrow or wide.
BOX_NARROW = b"\x00\x00\x7e\x42\x42\x42\x42\x42\x42\x42\x42\x42\x42\x7e\x00\x00"
BOX_WIDE = (b"\x00\x00\x7f\xfe" + b"\x40\x02" * 12 + b"\x7f\xfe\x00\x00")


def asset_path(name):
    """Path of a file in firmware/assets/, from this module's location."""
    here = __file__
    cut = here.rfind("/")
    folder = here[:cut] if cut >= 0 else "."
    return folder + "/assets/" + name


def _is_wide_when_missing(cp):
    # East Asian scripts and symbols from U+1100 on are full width.
    return cp >= 0x1100


class Font:
    """A bitmap font; glyph(cp) -> (width, bitmap rows)."""

    height = HEIGHT

    def __init__(self, path=None):
        self.path = path or asset_path(ASSET_NAME)
        self._file = None
        self._index = None
        self._cache = {}

    def _load(self):
        f = open(self.path, "rb")
        head = f.read(HEADER_SIZE)
        if head[:4] != MAGIC or head[4] != HEIGHT:
            f.close()
            raise ValueError("%s is not a 16-pixel font file" % self.path)
        self._n_narrow = (head[6] << 8) | head[7]
        self._n_wide = (head[8] << 8) | head[9]
        self._index = f.read(2 * (self._n_narrow + self._n_wide))
        self._narrow_base = HEADER_SIZE + len(self._index)
        self._wide_base = self._narrow_base + 16 * self._n_narrow
        self._file = f

    def _find(self, first, count, cp):
        """Position of cp among index entries [first, first + count), or -1."""
        index = self._index
        lo = first
        hi = first + count - 1
        while lo <= hi:
            mid = (lo + hi) >> 1
            found = (index[2 * mid] << 8) | index[2 * mid + 1]
            if found < cp:
                lo = mid + 1
            elif found > cp:
                hi = mid - 1
            else:
                return mid - first
        return -1

    def _locate(self, cp):
        """-> (width, file offset of the bitmap) or (width, -1) if missing."""
        if self._index is None:
            self._load()
        pos = self._find(0, self._n_narrow, cp)
        if pos >= 0:
            return 8, self._narrow_base + 16 * pos
        pos = self._find(self._n_narrow, self._n_wide, cp)
        if pos >= 0:
            return 16, self._wide_base + 32 * pos
        return (16 if _is_wide_when_missing(cp) else 8), -1

    def glyph(self, cp):
        """(width, bitmap) for a code point; bitmap is 16 rows of width/8
        bytes, most significant bit leftmost. Missing -> a box."""
        hit = self._cache.get(cp)
        if hit is not None:
            return hit
        width, offset = self._locate(cp)
        if offset < 0:
            bitmap = BOX_WIDE if width == 16 else BOX_NARROW
        else:
            self._file.seek(offset)
            bitmap = self._file.read(width * 2)
        if len(self._cache) >= CACHE_LIMIT:
            self._cache = {}
        self._cache[cp] = (width, bitmap)
        return width, bitmap

    def has_glyph(self, cp):
        return self._locate(cp)[1] >= 0

    def char_width(self, ch):
        cp = ord(ch)
        hit = self._cache.get(cp)
        if hit is not None:
            return hit[0]
        return self._locate(cp)[0]

    def text_width(self, text):
        width = 0
        for ch in text:
            width += self.char_width(ch)
        return width

    def close(self):
        if self._file is not None:
            self._file.close()
        self._file = None
        self._index = None
        self._cache = {}


def load_font(path=None):
    """A Font on `path` (default: the firmware asset); read on first use."""
    return Font(path)
