"""The journal's frame format does not change with the speed of its append:
a journal written before (tests/unit/golden/journal_frames.dat, made by the
journal of commit 2b7aa69, which encoded each record with json.dumps and the
HMAC with the key each time) loads as it was, and the same records appended
now give the same bytes. A failed write in the middle of a frame is undone,
and the records that follow land where they should."""

import errno
import json
import os

import pytest

from firmware.journal import Journal, encode_frame, ZERO_MAC
from firmware.terminal import TerminalState
from hal.compat import json_encoder, keyed_hmac_sha256
from hal.errors import StorageError, StorageFullError
from hal.storage import DirStorage
from tests.support import micropython_path, run_script

GOLDEN = os.path.join(os.path.dirname(__file__), "golden", "journal_frames.dat")
GOLDEN_KEY = bytes(range(32))
# What the golden file holds, in order: most kinds, nested objects, a list,
# null, booleans, and text that JSON escapes (Chinese, a newline, a quote).
RECORDS = [
    {"k": "snapshot", "batch": 3, "last_trace": 41, "settled": [1, 2], "last_settlement": None, "index": 2},
    {"k": "txn", "batch": 3, "trace": 42, "type": "sale", "mti": "0200", "amount": 12345, "state": "sent",
     "time": "20261201120000", "op": "01", "req": {"3": "000000", "4": "000000012345", "55": {"hex": "9f2608"}},
     "pan": "622202*********0017", "exp": "2912", "mode": "chip", "pan_sealed": "5a" * 32, "aid": "A000000333010101"},
    {"k": "reply", "batch": 3, "trace": 42, "state": "approved", "rc": "00", "rrn": "000000000042",
     "auth": "123456", "host_date": "1201", "host_time": "120000", "code_text": "交易成功 approved\n\"ok\""},
    {"k": "printing", "batch": 3, "trace": 42, "copy": "merchant", "reprint": 0},
    {"k": "printed", "batch": 3, "trace": 42, "copy": "merchant", "all": False},
    {"k": "printed", "batch": 3, "trace": 42, "copy": None, "all": True},
    {"k": "settle", "batch": 3, "report": {"batch": 3, "time": "20261201230000", "balanced": True,
     "totals": {"sale_amount": 12345, "sale_count": 1, "void_amount": 0, "void_count": 0,
                "refund_amount": 0, "refund_count": 0}}},
]


def golden_bytes():
    with open(GOLDEN, "rb") as f:
        return f.read()


def test_a_journal_written_before_loads_whole(tmp_path):
    storage = DirStorage(str(tmp_path / "data"))
    storage.write_atomic("journal.dat", golden_bytes())
    journal = Journal(storage, mac=keyed_hmac_sha256(GOLDEN_KEY))
    assert journal.load() == RECORDS
    assert journal.problems == [] and journal.dropped_bytes == 0
    assert journal.next_seq == len(RECORDS) + 1


def test_the_same_records_appended_now_are_the_same_bytes(tmp_path):
    storage = DirStorage(str(tmp_path / "data"))
    journal = Journal(storage, mac=keyed_hmac_sha256(GOLDEN_KEY))
    for record in RECORDS:
        journal.append(record)
    assert storage.read("journal.dat") == golden_bytes()


def test_a_journal_goes_on_after_one_written_before(tmp_path):
    storage = DirStorage(str(tmp_path / "data"))
    storage.write_atomic("journal.dat", golden_bytes())
    journal = Journal(storage, mac=keyed_hmac_sha256(GOLDEN_KEY))
    journal.load()
    journal.append({"k": "batch", "batch": 4})
    again = Journal(storage, mac=keyed_hmac_sha256(GOLDEN_KEY))
    assert again.load() == RECORDS + [{"k": "batch", "batch": 4}]
    assert again.problems == []


@pytest.mark.parametrize("value", [
    RECORDS[1], RECORDS[2], {}, [], "text", 7, None, True, {"f": 1.5, "n": -3, "l": [[], {}, [None]]},
    {"e": float("inf"), "u": "\u2028\x00\ud83d\ude00"},
])
def test_the_json_encoder_gives_what_json_dumps_gives(value):
    assert json_encoder()(value) == json.dumps(value).encode()


def c_encoder_of_another_version(*args):
    raise TypeError("c_make_encoder() takes other arguments")


@pytest.mark.parametrize("c_encoder", [None, c_encoder_of_another_version])
def test_without_a_c_encoder_it_uses_json_dumps(monkeypatch, c_encoder):
    import json.encoder
    expected = json.dumps(RECORDS[2]).encode()
    monkeypatch.setattr(json.encoder, "c_make_encoder", c_encoder)
    encode = json_encoder()
    monkeypatch.undo()
    assert encode(RECORDS[2]) == expected


def test_the_json_encoder_refuses_what_json_dumps_refuses():
    encode = json_encoder()
    with pytest.raises(TypeError):
        encode({"pan": b"6222"})
    assert encode({"pan": "6222"}) == b'{"pan": "6222"}'   # a refusal leaves nothing behind


def test_the_keyed_hmac_is_hmac_sha256():
    import hashlib
    import hmac
    # RFC 4231 test case 2, and keys shorter than, as long as, and longer than a block.
    assert keyed_hmac_sha256(b"Jefe")(b"what do ya want for nothing?").hex() == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
    for key in (b"", GOLDEN_KEY, b"k" * 64, b"k" * 65, bytes(range(131))):
        mac = keyed_hmac_sha256(key)
        for data in (b"", b"data", bytes(range(256)) * 3):
            assert mac(data) == hmac.new(key, data, hashlib.sha256).digest()


class FailingFile:
    """The journal's open file on a disk that fails part-way through a
    frame: the first `good` bytes reach the file, then the error."""

    def __init__(self, real, good, error):
        self.real = real
        self.good = good
        self.error = error

    def write(self, data):
        self.real.write(data[:self.good])
        raise OSError(self.error, os.strerror(self.error))

    def fileno(self):
        return self.real.fileno()

    def close(self):
        self.real.close()


@pytest.mark.parametrize("error, raised", [(errno.ENOSPC, StorageFullError), (errno.EIO, StorageError)])
def test_a_write_that_fails_mid_frame_is_undone_and_the_state_is_unchanged(tmp_path, error, raised):
    storage = DirStorage(str(tmp_path / "data"))
    journal = Journal(storage, mac=keyed_hmac_sha256(GOLDEN_KEY))
    state = TerminalState(journal).load()
    state.record("txn", batch=1, trace=1, type="sale", amount=100, state="sent")
    before = storage.read("journal.dat")
    seq, chain = journal.next_seq, journal._last_mac
    journal._file._file = FailingFile(journal._file._file, 10, error)
    with pytest.raises(raised):
        state.record("reply", batch=1, trace=1, state="approved", rc="00", rrn="000000000001")
    assert storage.read("journal.dat") == before          # the half frame is gone
    assert (journal.next_seq, journal._last_mac) == (seq, chain)
    assert state.find(1, 1)["state"] == "sent"             # nothing applied
    state.record("reply", batch=1, trace=1, state="approved", rc="00", rrn="000000000002")
    again = TerminalState(Journal(storage, mac=keyed_hmac_sha256(GOLDEN_KEY))).load()
    assert again.problems == []
    assert again.find(1, 1)["rrn"] == "000000000002"


class ShortWrites:
    """A file whose writes take a few bytes at a time, as write(2) may."""

    def __init__(self, real):
        self.real = real
        self.calls = 0

    def write(self, data):
        self.calls += 1
        return self.real.write(data[:7])

    def fileno(self):
        return self.real.fileno()

    def close(self):
        self.real.close()


def test_short_writes_still_make_the_whole_frame(tmp_path):
    storage = DirStorage(str(tmp_path / "data"))
    journal = Journal(storage, mac=keyed_hmac_sha256(GOLDEN_KEY))
    journal.append(RECORDS[0])
    short = journal._file._file = ShortWrites(journal._file._file)
    for record in RECORDS[1:]:
        journal.append(record)
    assert short.calls > len(RECORDS)
    journal.close()
    assert storage.read("journal.dat") == golden_bytes()


def test_encode_frame_makes_the_documented_layout():
    import binascii
    import hashlib
    import hmac
    payload = b'{"k": "batch", "batch": 1}'
    frame, mac = encode_frame(payload, 0x01020304, ZERO_MAC, keyed_hmac_sha256(GOLDEN_KEY))
    assert mac == hmac.new(GOLDEN_KEY, ZERO_MAC + b"\x01\x02\x03\x04" + payload, hashlib.sha256).digest()[:16]
    length = len(payload).to_bytes(2, "big")
    crc = binascii.crc32(length + b"\x01\x02\x03\x04" + payload + mac).to_bytes(4, "big")
    assert frame == b"\xa5\x4a" + length + b"\x01\x02\x03\x04" + crc + payload + mac


# --- MicroPython --------------------------------------------------------------------------
# Its json.dumps orders keys its own way and writes Chinese as UTF-8, so its
# frames are not CPython's bytes; what must hold: it reads the journal written
# before, and CPython reads what it appends, MACs and chain included.

MICROPYTHON_SCRIPT = """
import sys
sys.path.insert(0, '')
import json
from firmware.journal import Journal
from hal.compat import keyed_hmac_sha256
from hal.storage import DirStorage
folder = %r
storage = DirStorage(folder + '/old')
with open(%r, 'rb') as f:
    storage.write_atomic('journal.dat', f.read())
journal = Journal(storage, mac=keyed_hmac_sha256(bytes(range(32))))
records = journal.load()
fresh = Journal(DirStorage(folder + '/new'), mac=keyed_hmac_sha256(bytes(range(32))))
for record in records:
    fresh.append(record)
fresh.close()
print(json.dumps({"records": records, "problems": journal.problems, "next_seq": journal.next_seq}))
"""


@pytest.mark.skipif(micropython_path() is None, reason="no micropython interpreter")
def test_micropython_reads_the_old_journal_and_cpython_reads_what_it_appends(tmp_path):
    out = run_script(micropython_path(), MICROPYTHON_SCRIPT % (str(tmp_path), GOLDEN))
    result = json.loads(out.strip().splitlines()[-1])
    assert result == {"records": RECORDS, "problems": [], "next_seq": len(RECORDS) + 1}
    journal = Journal(DirStorage(str(tmp_path / "new")), mac=keyed_hmac_sha256(GOLDEN_KEY))
    assert journal.load() == RECORDS
    assert journal.problems == [] and journal.dropped_bytes == 0
