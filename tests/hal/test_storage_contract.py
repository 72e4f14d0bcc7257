"""The storage contract, for the backends a handset can have: `dir:` on a
file system with fsync, and the same on an interpreter without it (PyPI's
MicroPython), which keeps every rule but durability and says so."""

import pytest

from hal import open_device
from hal.errors import StorageError, StorageFullError


@pytest.fixture(params=["fsync", "no-fsync"])
def storage(request, tmp_path, monkeypatch):
    import hal.storage
    if request.param == "no-fsync":
        monkeypatch.setattr(hal.storage, "can_fsync", lambda: False)
    device = open_device("storage", "dir:%s?capacity=4096" % (tmp_path / "data"))
    assert device.durable is (request.param == "fsync")
    return device


def test_appends_read_back_in_order(storage):
    storage.append("journal.dat", b"one;")
    storage.append("journal.dat", b"two;")
    assert storage.read("journal.dat") == b"one;two;"
    assert storage.size("journal.dat") == 8
    assert storage.read("missing.dat") is None


def test_an_atomic_write_replaces_and_a_crashed_one_leaves_the_old(storage, tmp_path):
    storage.write_atomic("settings.json", b"old")
    (tmp_path / "data" / "settings.json.tmp").write_bytes(b"half-written")  # a power cut mid-write
    assert storage.read("settings.json") == b"old"
    storage.write_atomic("settings.json", b"new")
    assert storage.read("settings.json") == b"new"


def test_a_full_disk_refuses_and_loses_nothing(storage):
    storage.append("journal.dat", b"x" * 1000)
    with pytest.raises(StorageFullError):
        storage.append("journal.dat", b"y" * 5000)
    assert storage.read("journal.dat") == b"x" * 1000
    with pytest.raises(StorageFullError):
        storage.append("journal.dat", b"z" * 10, reserve=4000)
    assert storage.read("journal.dat") == b"x" * 1000


def test_a_torn_tail_is_cut(storage):
    storage.append("journal.dat", b"whole;torn")
    storage.truncate("journal.dat", 6)
    assert storage.read("journal.dat") == b"whole;"


def test_names_that_leave_the_folder_are_refused(storage):
    for name in ("../etc/passwd", ".hidden", "a/b"):
        with pytest.raises(StorageError):
            storage.append(name, b"x")


def test_a_folder_shares_the_disk_and_lists_only_whole_files(storage, tmp_path):
    folder = storage.folder("sig")
    assert storage.folder("sig").names() == []          # made once, found again
    folder.write_atomic("000001-000002.sg", b"x" * 100)
    (tmp_path / "data" / "sig" / "000001-000003.sg.tmp").write_bytes(b"half")   # a power cut mid-write
    assert folder.names() == ["000001-000002.sg"] and folder.read("000001-000002.sg") == b"x" * 100
    assert "sig" not in storage.names()                  # a folder is not a file
    # One disk: the folder's bytes count against the parent's room, and its
    # writes refuse what would not leave the reserve free.
    assert storage.free_bytes() == 4096 - 100 - 4
    with pytest.raises(StorageFullError):
        folder.write_atomic("000001-000004.sg", b"y" * 100, reserve=4000)
    assert folder.names() == ["000001-000002.sg"]
    folder.remove("000001-000002.sg")
    assert folder.names() == []
    for name in ("../x", ".hidden", "a/b"):
        with pytest.raises(StorageError):
            folder.write_atomic(name, b"x")
