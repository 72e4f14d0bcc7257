"""The power-cut matrix, after MCUboot's simulator: count every write a
clean update makes (upload, verify, install, boot-state changes, the first
boot, mark-good), then repeat the update cutting the power at each one in
turn, in-process. The cut write itself is torn: half its bytes land, no
rename, no removal.

After every cut the handset boots the old version or the new one, whole
(every file as its signed manifest says, no file of the other version), and
the journal outside the slots is intact. Then pos-flash runs again, resumes
and the update completes.
"""

import shutil

import pytest

from firmware import boot as bootstage
from firmware.journal import Journal
from hal.storage import DirStorage
from hosttools.flash import Device, FlashError, upload
from tests.update.support import DeviceModel, LoopbackPort, make_bundle, make_image, new_key, sample_files

OLD, NEW = "1.0.0", "1.1.0"
CHUNK = 4096


class CutFlash(bootstage.Flash):
    """A Flash whose power fails at write number `cut_at` (1-based), half
    done. `log` lists every write as (op, name)."""

    def __init__(self, root, cut_at=None):
        bootstage.Flash.__init__(self, root)
        self.cut_at = cut_at
        self.log = []

    def _mutate(self, op, name, data):
        self.log.append((op, name))
        if len(self.log) == self.cut_at:
            self._torn(op, name, data)
            raise bootstage.PowerCut("power cut at write %d (%s %s)" % (self.cut_at, op, name))
        return bootstage.Flash._apply(self, op, name, data)

    def _torn(self, op, name, data):
        if op == "stream":
            self._stream(self.path(name), data[0], data[1], stop_after=data[1] // 2)
        elif op in ("write", "append"):
            with open(self.path(name), "wb" if op == "write" else "ab") as f:
                f.write(data[:len(data) // 2])
        elif op == "replace":
            with open(self.path(name) + ".tmp", "wb") as f:
                f.write(data[:len(data) // 2])
        # remove, rmdir, mkdir: the cut comes first, nothing happens


class Bench:
    """One handset image with a journal beside it, and the update to make."""

    def __init__(self, tmp_path):
        self.key = new_key()
        self.template = tmp_path / "template"
        make_image(self.template / "image", self.key, OLD)
        journal = Journal(DirStorage(str(self.template / "data")))
        journal.load()
        for trace in range(1, 6):
            journal.append({"kind": "sale", "trace": trace, "amount": 100 * trace})
        self.journal_bytes = (self.template / "data" / "journal.dat").read_bytes()
        self.bundle = make_bundle(self.key, NEW, sample_files(NEW, size=40000))
        self.work = tmp_path / "work"

    def fresh(self):
        if self.work.exists():
            shutil.rmtree(self.work)
        shutil.copytree(self.template, self.work)
        return str(self.work / "image")

    def update(self, flash):
        """A clean update, as pos-flash and the handset do it, through the
        first boot's health check and mark-good."""
        device = DeviceModel(flash.root, flash=flash)
        client = Device(LoopbackPort(device), reply_timeout_s=1)
        if device.boot.version == OLD:
            upload(client, self.bundle, chunk=CHUNK)
            reply = client.request("install")
            if not reply["ok"]:
                raise FlashError(reply["error"])
            assert client.request("reboot")["ok"]
            device.reboot()                              # the boot stage: tries left - 1
        self.first_boot(device.boot)
        return device

    def first_boot(self, boot):
        """The app's health check: the journal loads and verifies, then mark good."""
        journal = Journal(DirStorage(str(self.work / "data")))
        journal.load()
        assert not journal.broken
        if boot.on_trial:
            boot.mark_good()

    def check_whole(self, root):
        """Boot after a cut: one version, whole, and the journal intact."""
        boot = bootstage.choose(bootstage.Flash(root), log=lambda m: None)
        assert boot is not None, "no bootable firmware after the cut"
        assert boot.version in (OLD, NEW)
        assert bootstage.check_slot(boot.flash, boot.slot) is None
        for name, data in sample_files(boot.version, size=40000 if boot.version == NEW else 20000):
            assert boot.flash.read(bootstage.slot_dir(boot.slot) + "/" + name) == data, name
        assert (self.work / "data" / "journal.dat").read_bytes() == self.journal_bytes
        return boot


@pytest.fixture(scope="module")
def clean_writes(tmp_path_factory):
    bench = Bench(tmp_path_factory.mktemp("clean"))
    flash = CutFlash(bench.fresh())
    device = bench.update(flash)
    assert device.boot.version == NEW and not device.boot.on_trial
    return bench, flash.log


def test_a_clean_update_counts_its_writes(clean_writes):
    _, log = clean_writes
    ops = [op for op, _ in log]
    chunks = sum(1 for op, name in log if op == "append")
    # upload: state + header + one append a chunk; install: slot emptied and
    # filled, manifest last; boot state: trial, first boot, mark good
    assert chunks >= 5
    assert log[-2:] == [("replace", "boot.json"), ("replace", "boot.json")]   # first boot, mark good
    assert ("write", "slot-b/manifest.json") in log
    assert ("stream", "slot-b/firmware/assets/font16.bin") in log
    assert log.index(("write", "slot-b/manifest.json")) < log.index(("replace", "boot.json"))
    print("clean update: %d writes (%d chunk appends), ops %s" % (len(log), chunks, sorted(set(ops))))


def test_power_cut_at_every_write(clean_writes, tmp_path):
    bench, log = clean_writes
    outcomes = {OLD: 0, NEW: 0}
    resumed = 0
    for cut_at in range(1, len(log) + 1):
        root = bench.fresh()
        with pytest.raises(bootstage.PowerCut):
            bench.update(CutFlash(root, cut_at))
        boot = bench.check_whole(root)
        outcomes[boot.version] += 1
        # power back on: pos-flash again; it resumes and completes
        flash = CutFlash(root)
        device = DeviceModel(root, flash=flash)
        if device.boot.version == OLD:
            held = flash.size("upload/bundle.part") or 0
            client = Device(LoopbackPort(device), reply_timeout_s=1)
            start = upload(client, bench.bundle, chunk=CHUNK)
            if start > 0 and start == held and held > 0:
                resumed += 1
            assert client.request("install")["ok"], log[cut_at - 1]
            device.reboot()
        bench.first_boot(device.boot)
        final = bench.check_whole(root)
        assert final.version == NEW and not final.on_trial, "cut at write %d" % cut_at
    assert outcomes[OLD] and outcomes[NEW]
    print("power-cut matrix: %d cut points; booted %s after the cut; %d uploads resumed"
          % (len(log), outcomes, resumed))
