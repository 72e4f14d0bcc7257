"""Sales of settled batches that a refund may still need, on disk.

RAM holds only the current batch and the work still owed
(firmware/terminal.py); an older sale is looked up here by its RRN: what
it was (batch, trace, amount, card), what was refunded against it so far
and whether it was voided.

One file a generation, `sales.<gen>.idx`, of fixed-width ASCII lines sorted
by RRN, so a lookup is a binary search by seek (O(log n) reads of one line,
whatever the size):

    rrn 12 | batch 6 | trace 6 | amount 12 | refunded 12 | voided 1 | gen 6 |
    masked pan 20 | expiry 4 | entry mode 8 | sealed pan (hex) 64 | CRC-32 (hex) 8 | \\n

Crash safety: a file is never changed once written. A settlement writes the
next generation beside it (the old one merged with the batch just settled),
then the journal's snapshot names the new generation in the same atomic
replace that starts the journal again; only then is the old file removed.
A power cut before that replace leaves the old journal naming the old file,
after it the new journal naming the new one: never a mix. A line whose CRC
fails is treated as absent (the host still checks every refund).
"""

from hal.compat import crc32
from hal.errors import StorageError

LINE = 160
RRN = 12
_FORMAT = "%-12s%06d%06d%012d%012d%1s%06d%-20s%-4s%-8s%-64s"
WRITE_CHUNK = 16 * 1024


def index_name(gen):
    return "sales.%d.idx" % gen


def encode_line(entry):
    body = _FORMAT % (entry["rrn"], entry["batch"], entry["trace"], entry["amount"], entry.get("refunded", 0),
                      "V" if entry.get("voided") else "-", entry["gen"], _fit(entry.get("pan"), 20),
                      _fit(entry.get("exp"), 4), _fit(entry.get("mode"), 8), _fit(entry.get("pan_sealed"), 64))
    data = body.encode()
    return data + ("%08x\n" % crc32(data)).encode()


def _fit(value, width):
    """A text field, or "" when it is missing or would not fit (a sealed
    PAN of an odd length: the refund then compares the masked card)."""
    if not value or len(value) > width:
        return ""
    return value


def decode_line(line):
    """-> the entry dict, or None if the line is damaged."""
    if len(line) != LINE or line[-1:] != b"\n":
        return None
    body = line[:LINE - 9]
    try:
        if int(line[LINE - 9:LINE - 1], 16) != crc32(body):
            return None
        text = body.decode()
        entry = {"rrn": text[0:12].strip(), "batch": int(text[12:18]), "trace": int(text[18:24]),
                 "amount": int(text[24:36]), "refunded": int(text[36:48]), "voided": text[48] == "V",
                 "gen": int(text[49:55])}
    except (ValueError, UnicodeError):
        return None
    at = 55
    for name, width in (("pan", 20), ("exp", 4), ("mode", 8), ("pan_sealed", 64)):
        value = text[at:at + width].strip()
        if value:
            entry[name] = value
        at += width
    return entry


class SaleIndex:
    def __init__(self, storage):
        self._storage = storage
        self.gen = 0
        self.count = 0

    def use(self, gen):
        """Use generation `gen` (0: none yet), as the journal's snapshot says."""
        self.gen = gen
        self.count = self._storage.size(index_name(gen)) // LINE if gen else 0

    def _line(self, number):
        return decode_line(self._storage.read_at(index_name(self.gen), number * LINE, LINE))

    def find(self, rrn):
        """The entry of the sale with this RRN, or None. O(log n) reads."""
        low, high = 0, self.count - 1
        key = rrn.encode()
        while low <= high:
            middle = (low + high) // 2
            line = self._storage.read_at(index_name(self.gen), middle * LINE, LINE)
            found = line[:RRN].rstrip()
            if found == key:
                return decode_line(line)
            if found < key:
                low = middle + 1
            else:
                high = middle - 1
        return None

    def lines(self):
        """Every entry in RRN order, read in chunks (a damaged line: skipped)."""
        name = index_name(self.gen)
        per_chunk = WRITE_CHUNK // LINE
        for first in range(0, self.count, per_chunk):
            chunk = self._storage.read_at(name, first * LINE, per_chunk * LINE)
            for at in range(0, len(chunk) - LINE + 1, LINE):
                entry = decode_line(chunk[at:at + LINE])
                if entry is not None:
                    yield entry

    def find_trace(self, trace):
        """Newest sale with this trace: a scan (only the void flow's error
        message asks, for a trace not in the current batch)."""
        best = None
        for entry in self.lines():
            if entry["trace"] == trace and (best is None or entry["gen"] > best["gen"]):
                best = entry
        return best

    def write_next(self, added, refunds, keep):
        """Write generation gen+1: this one's entries (with `refunds`, rrn ->
        fen refunded since, folded in) merged with `added` (encoded lines of
        new entries, generation gen+1), the newest `keep` sales in all. ->
        the new generation. Raises StorageError (the old one is untouched)."""
        gen = self.gen + 1
        name = index_name(gen)
        self._storage.remove(name)   # a leftover of a settlement a power cut stopped
        added.sort()                 # lines begin with the RRN
        oldest = self._oldest_gen_kept(len(added), keep)
        out = []

        def flush():
            if out:
                self._storage.append(name, b"".join(out))
                del out[:]

        new_at = 0
        for entry in self.lines():
            if entry["gen"] < oldest:
                continue
            rrn = entry["rrn"].encode()
            while new_at < len(added) and added[new_at][:RRN].rstrip() < rrn:
                out.append(added[new_at])
                new_at += 1
            if entry["rrn"] in refunds:
                entry["refunded"] += refunds[entry["rrn"]]
            out.append(encode_line(entry))
            if len(out) * LINE >= WRITE_CHUNK:
                flush()
        while new_at < len(added):
            out.append(added[new_at])
            new_at += 1
            if len(out) * LINE >= WRITE_CHUNK:
                flush()
        flush()
        if self._storage.size(name) == 0:
            self._storage.append(name, b"")
        return gen

    def _oldest_gen_kept(self, adding, keep):
        """The oldest generation that still fits in `keep` sales with
        `adding` new ones: whole generations are dropped, oldest first."""
        if self.count + adding <= keep:
            return 0
        per_gen = {}
        for entry in self.lines():
            per_gen[entry["gen"]] = per_gen.get(entry["gen"], 0) + 1
        room = keep - adding
        oldest = self.gen + 1
        for gen in sorted(per_gen, reverse=True):
            if per_gen[gen] > room:
                break
            room -= per_gen[gen]
            oldest = gen
        return oldest

    def remove(self, gen):
        """Remove generation `gen` (once the journal names a newer one)."""
        if gen:
            try:
                self._storage.remove(index_name(gen))
            except StorageError:
                pass
