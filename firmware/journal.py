"""The transaction journal: the truth on the terminal.

An append-only file of frames, one a record:

    MAGIC (2) | length (2) | seq (4) | CRC-32 (4) | payload (length) | MAC (16)

all big-endian. The payload is a JSON object (its kinds: firmware/records.py).
`seq` counts records up by one for the life of the terminal (compaction
carries it on), so a record missing in the middle shows as a gap. The CRC
covers length, seq, payload and MAC: it finds damage. The MAC finds edits:

    MAC = HMAC-SHA256(journal key, previous record's MAC | seq | payload)[:16]

a chain keyed inside the key store (KeyStore.journal_mac), so whoever edits a
record and fixes its CRC cannot fix its MAC, nor the chain after a deleted
or moved record. The first record of a file chains from 16 zero bytes.

append() returns only after the frame is flushed to the disk (fsync where the
interpreter has it), so the next step that depends on it (sending a request,
printing "approved") can rely on it.

load() reads the file in chunks (a large journal never has to fit in RAM)
and never stops at damage:
  - a frame that fails its CRC (or its magic, or its length) is skipped: the
    reader resynchronises at the next intact frame. The damaged bytes go to a
    side file (`<name>.damaged`), the loss to `problems`; later records are
    kept.
  - bytes after the last intact frame are a torn tail (a power cut during an
    append): cut off, as before, and kept in `<name>.torn`.
  - a gap or a step back in seq, and a MAC that does not verify, are
    reported in `problems`. A record whose MAC fails right after intact
    records was edited: it is quarantined (`<name>.quarantine`), not applied.
    One right after damage or a gap cannot be checked (its predecessor is
    gone): it is applied, reported, and the chain goes on from it.
"""

import json

from hal.compat import crc32, json_encoder, sha256
from hal.errors import StorageError

MAGIC = b"\xa5\x4a"
HEADER_SIZE = 12
MAC_SIZE = 16
MAX_PAYLOAD = 0xFFFF
ZERO_MAC = bytes(MAC_SIZE)
READ_CHUNK = 1024   # small: a 1 MiB heap fragmented by a boot has no room for big buffers
SIDE_FILE_MAX = 64 * 1024   # evidence kept in a side file; beyond it, only reported


class JournalError(StorageError):
    """The journal cannot take records (damaged, or a repair failed): no
    step that needs one may go on."""
    code = "JOURNAL"


def unkeyed_mac(data):
    """The chain without a key store (tools and tests that open a journal
    on its own): finds damage and reordering, not a deliberate edit."""
    return sha256(data)


def _u32(value):
    return value.to_bytes(4, "big")


def chain_mac(mac, prev_mac, seq, payload):
    """The 16-byte MAC of a record: `mac` is the keyed function (bytes -> bytes)."""
    return mac(prev_mac + _u32(seq) + payload)[:MAC_SIZE]


def encode_frame(payload, seq, prev_mac, mac):
    """-> (frame bytes, its MAC). Every append waits on this, mostly on a
    CPU that has just woken from the last fsync (cold caches): each piece
    is made once, with as few calls as will do (the CRC run once over the
    bytes it covers; int.to_bytes, not struct: measured cheaper cold)."""
    if len(payload) > MAX_PAYLOAD:
        raise JournalError("journal record too large (%d bytes)" % len(payload))
    seq_bytes = seq.to_bytes(4, "big")
    record_mac = mac(prev_mac + seq_bytes + payload)[:MAC_SIZE]
    covered = len(payload).to_bytes(2, "big") + seq_bytes + payload + record_mac
    return MAGIC + covered[:6] + crc32(covered).to_bytes(4, "big") + covered[6:], record_mac


def encode_record(record, seq=1, prev_mac=ZERO_MAC, mac=unkeyed_mac):
    """One record as a frame (tests and tools; the journal chains its own)."""
    return encode_frame(json.dumps(record).encode(), seq, prev_mac, mac)[0]


class _Reader:
    """Bytes of a file by offset, read in chunks through storage.read_at."""

    def __init__(self, storage, name, size):
        self._storage = storage
        self._name = name
        self.size = size
        self._start = 0
        self._buffer = b""

    def get(self, offset, n):
        end = offset + n
        if offset < self._start or end > self._start + len(self._buffer):
            want = n if n > READ_CHUNK else READ_CHUNK
            self._buffer = self._storage.read_at(self._name, offset, want)
            self._start = offset
        return self._buffer[offset - self._start:end - self._start]

    def frame_at(self, offset):
        """-> (seq, payload, mac, end) of an intact frame at `offset`, or None."""
        if offset + HEADER_SIZE + MAC_SIZE > self.size:
            return None
        header = self.get(offset, HEADER_SIZE)
        if header[:2] != MAGIC:
            return None
        length = (header[2] << 8) | header[3]
        end = offset + HEADER_SIZE + length + MAC_SIZE
        if end > self.size:
            return None
        body = self.get(offset + HEADER_SIZE, length + MAC_SIZE)
        if crc32(body, crc32(header[2:8])) != int.from_bytes(header[8:12], "big"):
            return None
        return int.from_bytes(header[4:8], "big"), body[:length], body[length:], end

    def next_frame(self, offset):
        """-> (offset, frame) of the next intact frame at or after `offset`,
        or None: the resynchronisation after damage."""
        while offset < self.size:
            chunk = self.get(offset, READ_CHUNK if self.size - offset > READ_CHUNK else self.size - offset)
            at = chunk.find(MAGIC[:1])
            if at < 0:
                offset += len(chunk)
                continue
            offset += at
            frame = self.frame_at(offset)
            if frame is not None:
                return offset, frame
            offset += 1
        return None


class Journal:
    def __init__(self, storage, name="journal.dat", mac=None):
        """`mac`: the keyed function of the chain (the app passes
        KeyStore.journal_mac); None only for tools and tests."""
        self.storage = storage
        self._name = name
        self._mac = mac or unkeyed_mac
        self._encode = json_encoder()   # record -> JSON bytes, as json.dumps(record).encode()
        self.next_seq = 1
        self._last_mac = ZERO_MAC
        self.dropped_bytes = 0
        self.broken = None  # why appends are refused, or None
        self.problems = []  # what load() found: damage, gaps, failed MACs (for the log and service)
        self.last_offset = None  # where the record replayed or appended last starts
        self._file = None        # the file kept open for appends (storage.open_append)

    # -- reading -----------------------------------------------------------------

    def load(self):
        """Every record that can be applied, in order (see the module text)."""
        return list(self.replay())

    def replay(self):
        """Yield the records one by one, reading the file in chunks."""
        self.close()   # a torn tail may be cut below
        self.problems = []
        self.dropped_bytes = 0
        size = self.storage.size(self._name)
        reader = _Reader(self.storage, self._name, size)
        offset = 0
        prev_mac = ZERO_MAC
        prev_seq = None
        unsure = False   # the previous record is lost: the next MAC cannot be checked
        while offset < size:
            frame = reader.frame_at(offset)
            if frame is None:
                found = reader.next_frame(offset + 1)
                if found is None:
                    self._cut_tail(reader, offset)
                    break
                self._keep_damage(reader, offset, found[0])
                offset = found[0]
                frame = found[1]
                unsure = True
            seq, payload, record_mac, end = frame
            start = offset
            offset = end
            if prev_seq is not None and seq != prev_seq + 1:
                self.problems.append("records %d..%d missing" % (prev_seq + 1, seq - 1) if seq > prev_seq
                                     else "record %d out of order (after %d)" % (seq, prev_seq))
                unsure = True
            verified = chain_mac(self._mac, prev_mac, seq, payload) == record_mac
            prev_mac = record_mac
            prev_seq = seq
            if not verified:
                if not unsure:
                    self.problems.append("record %d edited: MAC does not verify" % seq)
                    self._quarantine_bytes(reader.get(end - len(payload) - MAC_SIZE - HEADER_SIZE,
                                                      len(payload) + MAC_SIZE + HEADER_SIZE))
                    continue
                self.problems.append("record %d cannot be verified (follows a loss)" % seq)
            unsure = False
            try:
                record = json.loads(payload)
            except ValueError:
                self.problems.append("record %d is not JSON" % seq)
                self._quarantine_bytes(payload)
                continue
            self.last_offset = start
            yield record
        self.next_seq = 1 if prev_seq is None else prev_seq + 1
        self._last_mac = prev_mac

    def _cut_tail(self, reader, offset):
        self.dropped_bytes = reader.size - offset
        self._keep(self._name + ".torn", reader.get(offset, self.dropped_bytes)
                   if self.dropped_bytes <= SIDE_FILE_MAX else b"")
        try:
            self.storage.truncate(self._name, offset)
        except StorageError as e:
            self.broken = "torn tail cannot be cut: %s" % e

    def _keep_damage(self, reader, start, end):
        self.problems.append("%d damaged bytes at %d skipped" % (end - start, start))
        if end - start <= SIDE_FILE_MAX:
            self._keep(self._name + ".damaged", ("@%d:" % start).encode() + reader.get(start, end - start))

    def _quarantine_bytes(self, data):
        self._keep(self._name + ".quarantine", data)

    def quarantine(self, record):
        """Keep a record that decodes but cannot be applied (it does not fit
        its schema) in `<name>.quarantine`, for a support engineer."""
        self._keep(self._name + ".quarantine", json.dumps(record).encode() + b"\n")

    def _keep(self, name, data):
        """Evidence for a side file, once however often the terminal boots
        with it. Never raises: keeping it must not stop the boot."""
        if not data:
            return
        try:
            if self.storage.size(name) + len(data) > SIDE_FILE_MAX or data in (self.storage.read(name) or b""):
                return
            self.storage.append(name, data)
        except StorageError:
            pass

    def file_names(self):
        """The journal and its side files (for the support export)."""
        return [self._name] + [self._name + side for side in (".torn", ".damaged", ".quarantine")]

    # -- writing -----------------------------------------------------------------

    def append(self, record, reserve=0):
        """Write one record durably. Raises StorageError (StorageFullError on
        a full disk, JournalError when the journal is damaged): the caller
        must not go on with the step it guards. `reserve`: bytes that must
        stay free after it (records that open new work leave room for the
        ones that close it: reversals, settlement)."""
        if self.broken:
            raise JournalError("journal refuses records: %s" % self.broken)
        data, record_mac = encode_frame(self._encode(record), self.next_seq, self._last_mac, self._mac)
        if self._file is None:
            self._file = self.storage.open_append(self._name)
        size_before = self._file.size
        try:
            self._file.append(data, reserve)
        except StorageError:
            # A half-written record would hide every later one from load():
            # put the file back as it was before reporting the failure (and
            # open it afresh next time: the handle knows nothing of that).
            self.close()
            try:
                if self.storage.size(self._name) != size_before:
                    self.storage.truncate(self._name, size_before)
            except StorageError as e:
                self.broken = "a failed write could not be undone: %s" % e
            raise
        self.next_seq += 1
        self._last_mac = record_mac
        self.last_offset = size_before

    def read_record(self, offset):
        """The record whose frame starts at `offset` (as replay() or append()
        gave it), or None if it is not intact there."""
        frame = _Reader(self.storage, self._name, self.storage.size(self._name)).frame_at(offset)
        if frame is None:
            return None
        try:
            return json.loads(frame[1])
        except ValueError:
            return None

    def replace(self, records):
        """Start the journal again from these records, atomically (a power
        cut leaves the old journal or the new one, never a mix). The chain
        starts again; seq goes on."""
        if self.broken:
            raise JournalError("journal refuses records: %s" % self.broken)
        frames = []
        seq = self.next_seq
        prev_mac = ZERO_MAC
        for record in records:
            frame, prev_mac = encode_frame(self._encode(record), seq, prev_mac, self._mac)
            frames.append(frame)
            seq += 1
        self.close()   # the handle would go on writing to the file replaced
        self.storage.write_atomic(self._name, b"".join(frames))
        self.next_seq = seq
        self._last_mac = prev_mac

    def close(self):
        if self._file is not None:
            self._file.close()
            self._file = None

    def size(self):
        if self._file is not None:
            return self._file.size
        return self.storage.size(self._name)

    @property
    def durable(self):
        return self.storage.durable
