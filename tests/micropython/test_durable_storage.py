"""Under MicroPython the journal's fsync goes through `ffi` (libc fsync)
where the build has it (Debian's), and the storage says it is not durable
where it has neither os.fsync nor ffi (PyPI's unix port, this one).

PyPI's interpreter has no `ffi`, so the first test gives it a recording
stand-in module named ffi: it proves the calls the storage makes (fsync of
the file's descriptor after each append, of the directory after a new
file); the virtual ARM handset runs the real one."""

import json

from tests.micropython.conftest import ROOT
from tests.support import run_script

FAKE_FFI = '''
calls = []

class _Lib:
    def func(self, result, name, args):
        def call(*values):
            calls.append([name] + [v if isinstance(v, int) else str(v) for v in values])
            return 7 if name == "open" else 0
        return call

def open(name):
    return _Lib()
'''

PROBE = '''
import sys, json
sys.path.insert(0, %(root)r)
%(extra)s
from hal.storage import DirStorage
storage = DirStorage(%(data)r)
storage.append("journal.dat", b"record one")
storage.append("journal.dat", b"record two")
calls = []
try:
    import ffi
    calls = ffi.calls
except ImportError:
    pass
print(json.dumps({"durable": storage.durable, "calls": calls, "data": storage.read("journal.dat").decode()}))
'''


def probe(micropython, tmp_path, with_ffi):
    extra = ""
    if with_ffi:
        (tmp_path / "ffi.py").write_text(FAKE_FFI)
        extra = "sys.path.insert(0, %r)" % str(tmp_path)
    out = run_script(micropython, PROBE % {"root": ROOT, "extra": extra, "data": str(tmp_path / "data")})
    return json.loads(out.strip().splitlines()[-1])


def test_with_ffi_every_append_is_fsynced_through_libc(micropython, tmp_path):
    result = probe(micropython, tmp_path, with_ffi=True)
    assert result["durable"] is True
    assert result["data"] == "record onerecord two"
    fsyncs = [c for c in result["calls"] if c[0] == "fsync"]
    # one per append, plus the directory once for the new file
    assert len(fsyncs) == 3, result["calls"]
    assert ["open", str(tmp_path / "data"), 0] in result["calls"]


def test_without_fsync_or_ffi_the_storage_says_it_is_not_durable(micropython, tmp_path):
    result = probe(micropython, tmp_path, with_ffi=False)
    assert result["durable"] is False and result["calls"] == []
    assert result["data"] == "record onerecord two"
