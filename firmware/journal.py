"""The transaction journal: the truth on the terminal.

An append-only file of records. Each record is

    0xA5 | length (2 bytes, big-endian) | CRC-32 of the payload (4 bytes, big-endian) | payload

with a JSON object as payload. append() returns only after the record is
flushed to the disk (fsync where the interpreter has it), so the next step
that depends on it (sending a request, printing "approved") can rely on it.

After a power cut the last record may be torn: a short header, a short
payload or a payload whose CRC does not match. load() drops it, and
everything before it is kept. The dropped bytes are appended to a side file
(`<name>.torn`) rather than thrown away, so a support engineer can look.
"""

import json

from hal.compat import crc32
from hal.errors import StorageError

MAGIC = 0xA5
HEADER_SIZE = 7
MAX_PAYLOAD = 0xFFFF


class JournalError(StorageError):
    """The journal cannot take records (damaged, or a repair failed): no
    step that needs one may go on."""
    code = "JOURNAL"


def encode_record(record):
    payload = json.dumps(record).encode()
    if len(payload) > MAX_PAYLOAD:
        raise JournalError("journal record too large (%d bytes)" % len(payload))
    crc = crc32(payload)
    header = bytes((MAGIC, len(payload) >> 8, len(payload) & 0xFF,
                    (crc >> 24) & 0xFF, (crc >> 16) & 0xFF, (crc >> 8) & 0xFF, crc & 0xFF))
    return header + payload


def decode_records(data):
    """-> (records, good_length). Stops at the first record that is
    incomplete or damaged; good_length is where the intact part ends."""
    records = []
    offset = 0
    end = len(data)
    while offset < end:
        if end - offset < HEADER_SIZE or data[offset] != MAGIC:
            break
        length = (data[offset + 1] << 8) | data[offset + 2]
        crc = (data[offset + 3] << 24) | (data[offset + 4] << 16) | (data[offset + 5] << 8) | data[offset + 6]
        start = offset + HEADER_SIZE
        if start + length > end:
            break
        payload = bytes(data[start:start + length])
        if crc32(payload) != crc:
            break
        try:
            record = json.loads(payload)
        except ValueError:
            break
        # Intact JSON that is not a record object is kept for the schema
        # check (firmware/terminal.py quarantines it) rather than cutting
        # everything after it.
        records.append(record)
        offset = start + length
    return records, offset


class Journal:
    def __init__(self, storage, name="journal.dat"):
        self._storage = storage
        self._name = name
        self.dropped_bytes = 0
        self.broken = None  # why appends are refused, or None

    def load(self):
        """Read every intact record; cut off a torn tail. -> list of dicts.
        If the tail cannot be cut (a full disk), the records are still
        returned but appends are refused: a record written behind the torn
        bytes would be lost at the next boot."""
        data = self._storage.read(self._name) or b""
        records, good = decode_records(data)
        self.dropped_bytes = len(data) - good
        if self.dropped_bytes:
            try:
                self._storage.append(self._name + ".torn", data[good:])
            except StorageError:
                pass  # keeping the evidence must not stop the terminal from booting
            try:
                self._storage.truncate(self._name, good)
            except StorageError as e:
                self.broken = "torn tail cannot be cut: %s" % e
        return records

    def file_names(self):
        """The journal and its side files (for the support export)."""
        return [self._name, self._name + ".torn", self._name + ".quarantine"]

    def quarantine(self, record):
        """Keep a record that decodes but cannot be applied in a side file
        (`<name>.quarantine`), once however often the terminal boots with
        it, for a support engineer. Never raises: keeping the evidence must
        not stop the boot."""
        name = self._name + ".quarantine"
        try:
            data = encode_record(record)
            if data not in (self._storage.read(name) or b""):
                self._storage.append(name, data)
        except StorageError:
            pass

    def append(self, record, reserve=0):
        """Write one record durably. Raises StorageError (StorageFullError on
        a full disk, JournalError when the journal is damaged): the caller
        must not go on with the step it guards. `reserve`: bytes that must
        stay free after it (records that open new work leave room for the
        ones that close it: reversals, settlement)."""
        if self.broken:
            raise JournalError("journal refuses records: %s" % self.broken)
        data = encode_record(record)
        size_before = self._storage.size(self._name)
        try:
            self._storage.append(self._name, data, reserve)
        except StorageError:
            # A half-written record would hide every later one from load():
            # put the file back as it was before reporting the failure.
            try:
                if self._storage.size(self._name) != size_before:
                    self._storage.truncate(self._name, size_before)
            except StorageError as e:
                self.broken = "a failed write could not be undone: %s" % e
            raise

    def replace(self, records):
        """Start the journal again from these records, atomically (a power
        cut leaves the old journal or the new one, never a mix)."""
        if self.broken:
            raise JournalError("journal refuses records: %s" % self.broken)
        self._storage.write_atomic(self._name, b"".join(encode_record(r) for r in records))

    def size(self):
        return self._storage.size(self._name)

    @property
    def durable(self):
        return self._storage.durable
