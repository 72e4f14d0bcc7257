"""The journal attacked: every bit of a small journal flipped, the file cut
at every length, deleted, restored from an old copy, a record edited (CRC
fixed), deleted in the middle, two records swapped. After each, a boot:

  - never raises;
  - loses only the damaged record (the records it keeps are the original
    ones less at most that one, in order);
  - never gives a trace number that was used before;
  - reports what it found (a torn tail is cut; an edit, a deletion, a
    reordering are named in `problems`).

The checks run as one script, under CPython and under MicroPython (the
firmware's interpreter), so recovery is proven where it runs.
"""

import json
import os
import shutil
import sys
import tempfile

import pytest

from tests.support import micropython_path, run_script

DAMAGE_SCRIPT = r"""
import json, os
from firmware.journal import Journal, HEADER_SIZE, MAC_SIZE
from firmware.terminal import TerminalState
from hal.compat import crc32
from hal.sim.keystore import SimKeyStore
from hal.storage import DirStorage

ROOT = %(root)r


def rm_tree(path):
    try:
        names = os.listdir(path)
    except OSError:
        return
    for name in names:
        os.remove(path + "/" + name)
    os.rmdir(path)


rm_tree(ROOT)
storage = DirStorage(ROOT)
keys = SimKeyStore(storage)


def boot():
    journal = Journal(storage, mac=keys.journal_mac)
    state = TerminalState(journal).load()
    return journal, state


def frames_of(data):
    # (start, end) of each frame of an intact journal
    spans = []
    at = 0
    while at < len(data):
        end = at + HEADER_SIZE + ((data[at + 2] << 8) | data[at + 3]) + MAC_SIZE
        spans.append((at, end))
        at = end
    return spans


# A small journal: a sale approved, a trace for a settlement, a sale sent.
_, state = boot()
state.record("batch", batch=5)
state.record("txn", batch=5, trace=1, type="sale", amount=1200, state="sent")
state.record("reply", batch=5, trace=1, state="approved", rc="00", rrn="000000000001")
state.record("trace", trace=2)
state.record("txn", batch=5, trace=3, type="sale", amount=800, state="sent")
state.record("printed", batch=5, trace=1)
USED = 3
original = storage.read("journal.dat")
original_mark = storage.read("trace.mark")
records = Journal(storage, mac=keys.journal_mac).load()
spans = frames_of(original)
assert len(spans) == len(records) == 6

report = {"flips": 0, "lost_more_than_one": [], "reused_trace": [], "unreported": [], "raised": []}


def reset(data, mark=True):
    for side in ("journal.dat.torn", "journal.dat.damaged", "journal.dat.quarantine", "trace.mark"):
        storage.remove(side)
    if data is None:
        storage.remove("journal.dat")
    else:
        put("journal.dat", data)
    if mark:
        put("trace.mark", original_mark)


def put(name, data):
    # a plain write: thousands of boots, no fsync needed between them
    with open(ROOT + "/" + name, "wb") as f:
        f.write(data)


def at_most_one_lost(kept):
    if kept == records:
        return True
    if len(kept) != len(records) - 1:
        return False
    for i in range(len(records)):
        if records[:i] + records[i + 1:] == kept:
            return True
    return False


def check(label, data, expect_report=True, mark=True, lose_ok=False):
    reset(data, mark)
    try:
        journal, state = boot()
    except Exception as e:
        report["raised"].append("%%s: %%s %%s" %% (label, type(e).__name__, e))
        return None
    kept = Journal(storage, mac=keys.journal_mac).load()   # what this boot left on disk, reread
    if not lose_ok and not at_most_one_lost(kept):
        report["lost_more_than_one"].append(label)
    if state.next_trace() <= USED:
        report["reused_trace"].append(label)
    if expect_report and not (state.problems or journal.dropped_bytes):
        report["unreported"].append(label)
    return journal, state


# 1. every bit of the journal flipped
for index in range(len(original)):
    for bit in range(8):
        damaged = bytearray(original)
        damaged[index] ^= 1 << bit
        check("flip %%d.%%d" %% (index, bit), bytes(damaged))
        report["flips"] += 1

# 2. cut at every length (a power cut mid-append, or a truncated copy)
for size in range(len(original)):
    result = check("cut %%d" %% size, original[:size], expect_report=False, lose_ok=True)
    if result is not None:
        kept = Journal(storage, mac=keys.journal_mac).load()
        if kept != records[:len(kept)]:
            report["lost_more_than_one"].append("cut %%d: not a prefix" %% size)

# 3. deleted, and deleted together with the trace mark's directory entry kept
check("deleted", None, expect_report=False, lose_ok=True)

# 4. restored from an old copy (the first three records), mark kept
check("old copy", original[:spans[2][1]], expect_report=False, lose_ok=True)

# 5. a record edited, CRC fixed: the amount of the first sale
start, end = spans[1]
frame = bytearray(original[start:end])
text = bytes(frame[HEADER_SIZE:len(frame) - MAC_SIZE]).replace(b"1200", b"9900")
frame[HEADER_SIZE:len(frame) - MAC_SIZE] = text
crc = crc32(bytes(frame[2:8]) + bytes(frame[HEADER_SIZE:]))
frame[8:12] = bytes(((crc >> 24) & 255, (crc >> 16) & 255, (crc >> 8) & 255, crc & 255))
result = check("edited", original[:start] + bytes(frame) + original[end:])
edited = result and [p for p in result[0].problems if "edited" in p]
amount = result and result[1].find(5, 1) and result[1].find(5, 1)["amount"]
report["edit"] = {"named": bool(edited), "applied_amount": amount}

# 6. a record deleted in the middle, two records swapped
s2, s3, s4 = spans[2], spans[3], spans[4]
result = check("middle deleted", original[:s3[0]] + original[s3[1]:])
report["deleted_named"] = bool(result and [p for p in result[0].problems if "missing" in p])
swapped = original[:s2[0]] + original[s3[0]:s3[1]] + original[s2[0]:s2[1]] + original[s4[0]:]
result = check("swapped", swapped, lose_ok=True)
report["swap_named"] = bool(result and [p for p in result[0].problems if "order" in p])

print(json.dumps(report))
"""


@pytest.fixture
def scratch(tmp_path):
    """A directory for thousands of boots: in RAM (/dev/shm) where there is
    one (fsync-bound otherwise: 3x slower), else under tmp_path."""
    if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        path = tempfile.mkdtemp(prefix="pos-damage-", dir="/dev/shm")
        yield path
        shutil.rmtree(path, ignore_errors=True)
    else:
        yield str(tmp_path)


def run_damage(interpreter, scratch):
    out = run_script(interpreter, DAMAGE_SCRIPT % {"root": scratch + "/data"}, timeout=300)
    return json.loads(out.strip().splitlines()[-1])


def check_report(report):
    assert report["flips"] > 4000
    assert report["raised"] == []
    assert report["lost_more_than_one"] == []
    assert report["reused_trace"] == []
    assert report["unreported"] == []
    assert report["edit"] == {"named": True, "applied_amount": None}   # detected, quarantined
    assert report["deleted_named"] and report["swap_named"]


def test_damage_loses_one_record_never_a_trace_and_names_edits(scratch):
    check_report(run_damage(sys.executable, scratch))


@pytest.mark.skipif(micropython_path() is None, reason="no micropython interpreter")
def test_damage_under_micropython(scratch):
    check_report(run_damage(micropython_path(), scratch))
