"""pos-flash against a handset in-process (the boot stage, the update
service and the client, with only the cable replaced by a loopback):
the whole update, resume after a cut cable, every refusal, rollback."""

import json

import pytest

from firmware import boot as bootstage
from firmware.update import bundle as fmt
from hosttools import bundle as tool
from hosttools.flash import Device, FlashError, upload
from tests.update.support import (DeviceModel, LoopbackPort, make_bundle, make_image, new_key,
                                  sample_files)


@pytest.fixture
def key():
    return new_key()


@pytest.fixture
def device(tmp_path, key):
    make_image(tmp_path / "image", key, "1.0.0")
    return DeviceModel(tmp_path / "image")


def client(device, **port_options):
    return Device(LoopbackPort(device, **port_options), reply_timeout_s=1)


def install(device, data):
    c = client(device)
    upload(c, data)
    reply = c.request("install")
    assert reply["ok"], reply
    return reply


def test_factory_image_boots_slot_a_good(device):
    assert (device.boot.slot, device.boot.version, device.boot.on_trial) == ("a", "1.0.0", False)
    hello = client(device).request("hello")
    assert hello["ok"] and hello["version"] == "1.0.0" and hello["good"] == "a" and hello["protocol"] == 1


def test_update_installs_to_the_inactive_slot_and_boots_it_on_trial(device, key):
    reply = install(device, make_bundle(key, "1.1.0"))
    assert (reply["slot"], reply["version"]) == ("b", "1.1.0")
    assert device.boot.slot == "a"                      # nothing changes until the reboot
    boot = device.reboot()
    assert (boot.slot, boot.version, boot.on_trial) == ("b", "1.1.0", True)
    assert bootstage.BootState(device.flash).load().tries == 2   # paid before the app starts
    for name, data in sample_files("1.1.0"):
        assert device.flash.read("slot-b/" + name) == data
    boot.mark_good()
    assert device.reboot().slot == "b" and not device.boot.on_trial
    assert bootstage.BootState(device.flash).load().as_dict() == {"good": "b", "trial": None, "tries": 0,
                                                                  "restored": None, "notice": False}


def test_a_trial_that_never_passes_rolls_back_after_three_tries(device, key):
    install(device, make_bundle(key, "1.1.0"))
    for _ in range(3):
        assert device.reboot().slot == "b" and device.boot.on_trial   # health check fails: no mark_good
    boot = device.reboot()
    assert (boot.slot, boot.version, boot.on_trial, boot.restored) == ("a", "1.0.0", False, "1.1.0")
    boot.acknowledge_restored()
    assert device.reboot().restored is None          # told once
    assert client(device).request("status")["restored"] == "1.1.0"    # pos-flash still sees it


def test_resume_after_a_cut_cable_starts_where_it_stopped(device, key):
    data = make_bundle(key, "1.1.0", sample_files("1.1.0", size=200000))
    cut_at = int(len(data) * 0.7)
    with pytest.raises(FlashError, match="cable"):
        upload(client(device, cut_after=cut_at), data, chunk=4096)
    held = device.flash.size("upload/bundle.part")
    assert cut_at - 3 * 4200 < held <= cut_at            # all but the chunks on the line (and the base64 of the header)
    second = client(device)
    resumed_at = upload(second, data, chunk=4096)
    assert resumed_at == held
    assert second.port.sent < len(data) - held + 10000     # only the rest went over the cable
    assert second.request("install")["ok"]


def test_resume_with_a_damaged_partial_upload_starts_over(device, key):
    data = make_bundle(key, "1.1.0", sample_files("1.1.0", size=100000))
    with pytest.raises(FlashError):
        upload(client(device, cut_after=len(data) // 2), data, chunk=2048)
    part = device.flash.path("upload/bundle.part")
    with open(part, "r+b") as f:
        f.seek(-10, 2)
        f.write(b"XXXXXXXXXX")
    c = client(device)
    assert upload(c, data) == fmt.header_size(data)       # from the header on, not from the damaged part
    assert c.request("install")["ok"]


def test_refused_unknown_key(device):
    stranger = new_key()
    with pytest.raises(FlashError, match="unknown key"):
        upload(client(device), make_bundle(stranger, "1.1.0"))


def test_refused_forged_manifest(device, key):
    data = bytearray(make_bundle(key, "1.1.0"))
    at = data.index(b'"version":"1.1.0"')
    data[at + 11:at + 16] = b"9.9.9"
    with pytest.raises(FlashError, match="signature is not valid"):
        upload(client(device), bytes(data))


def test_refused_other_target(device, key):
    with pytest.raises(FlashError, match="for pos-kiosk, this handset is pos-handset"):
        upload(client(device), make_bundle(key, "1.1.0", target="pos-kiosk"))


def test_refused_downgrade_unless_signed_as_one(device, key):
    with pytest.raises(FlashError, match="older than the installed 1.0.0"):
        upload(client(device), make_bundle(key, "0.9.0"))
    assert install(device, make_bundle(key, "0.9.0", downgrade=True))["version"] == "0.9.0"


def test_refused_mpy_version_mismatch(device, key):
    device.service.mpy = "6.3"
    with pytest.raises(FlashError, match="mpy version 6.1"):
        upload(client(device), make_bundle(key, "1.1.0", mpy="6.1"))


def test_refused_corrupt_chunk_then_the_good_one_goes_on(device, key):
    from firmware.update import proto
    data = make_bundle(key, "1.1.0")
    c = client(device)
    c.request("begin", size=len(data), sha256=__import__("hashlib").sha256(data).hexdigest(),
              header=__import__("base64").b64encode(data[:fmt.header_size(data)]).decode())
    offset = fmt.header_size(data)
    frame = bytearray(proto.encode_chunk(offset, data[offset:offset + 1000]))
    frame[-10] ^= 0xFF                                  # data damaged before the CRC was made: hash differs
    body = bytes(frame[1:-4])
    import zlib
    frame[-4:] = zlib.crc32(body).to_bytes(4, "big")
    reply = c._exchange(bytes(frame))
    assert not reply["ok"] and "damaged (SHA-256 differs)" in reply["error"]
    assert device.flash.size("upload/bundle.part") == offset     # nothing of it kept
    line_damage = bytearray(proto.encode_chunk(offset, data[offset:offset + 1000]))
    line_damage[50] ^= 0xFF                             # damaged on the line: CRC
    reply = c._exchange(bytes(line_damage))
    assert not reply["ok"] and "CRC" in reply["error"]
    assert upload(c, data) == offset
    assert c.request("install")["ok"]


def test_refused_no_space(tmp_path, key):
    make_image(tmp_path / "image", key, "1.0.0")
    used = bootstage.Flash(str(tmp_path / "image")).used_bytes()
    small = DeviceModel(tmp_path / "image", capacity=used + 30000)
    with pytest.raises(FlashError, match="no space on the handset.*KB needed"):
        upload(client(small), make_bundle(key, "1.1.0", sample_files("1.1.0", size=60000)))


def test_refused_while_busy_with_a_transaction_and_while_owing_the_host(device, key):
    device.app.idle_event.clear()
    with pytest.raises(FlashError, match="busy with a transaction"):
        upload(client(device), make_bundle(key, "1.1.0"))
    device.app.idle_event.set()
    device.app.reversals.append({"trace": 7})
    with pytest.raises(FlashError, match="owes the host 1 reversal"):
        upload(client(device), make_bundle(key, "1.1.0"))
    device.app.reversals.clear()
    c = client(device)
    upload(c, make_bundle(key, "1.1.0"))
    device.app.idle_event.clear()                       # a sale started during the upload
    assert "busy" in c.request("install")["error"]
    assert "busy" in c.request("reboot")["error"]
    device.app.idle_event.set()
    assert c.request("install")["ok"] and c.request("reboot")["ok"]
    assert device.boot.reboot_requested


def test_refused_while_a_trial_runs(device, key):
    install(device, make_bundle(key, "1.1.0"))
    device.reboot()
    with pytest.raises(FlashError, match="on trial"):
        upload(client(device), make_bundle(key, "1.2.0"))


def test_bench_mark_good_and_rollback(device, key):
    install(device, make_bundle(key, "1.1.0"))
    device.reboot()
    c = client(device)
    assert c.request("mark_good")["slot"] == "b"
    assert not c.request("mark_good")["ok"]
    assert c.request("rollback")["slot"] == "a"
    assert device.reboot().version == "1.0.0"
    assert client(device).request("rollback")["slot"] == "b"


def test_refused_a_build_that_would_write_a_journal_the_installed_one_cannot_read(device, key):
    newer = {"journal": [1, 2, 2], "settings": [1, 1, 1], "keys": [1, 1, 1]}
    with pytest.raises(FlashError, match="writes journal format 2.*cannot read after a rollback"):
        upload(client(device), make_bundle(key, "1.1.0", data_formats=newer))
    # the two-step path: first a build that reads format 2, then one that writes it
    install(device, make_bundle(key, "1.1.0", data_formats={"journal": [1, 2, 1], "settings": [1, 1, 1],
                                                             "keys": [1, 1, 1]}))
    device.reboot().mark_good()
    device.reboot()
    assert install(device, make_bundle(key, "1.2.0", data_formats=newer))["ok"]
    cannot_read_new = {"journal": [1, 1, 1], "settings": [1, 1, 1], "keys": [1, 1, 1]}
    device.reboot().mark_good()
    device.reboot()
    with pytest.raises(FlashError, match="cannot read the journal"):
        upload(client(device), make_bundle(key, "1.3.0", data_formats=cannot_read_new))


def test_install_refuses_a_file_that_does_not_match_its_signed_hash(device, key):
    files = sample_files("1.1.0")
    data = make_bundle(key, "1.1.0", files)
    manifest = json.loads(fmt.split_header(data)[0])
    manifest["files"][1]["sha256"] = "00" * 32
    # re-signed by the trusted key but lying about a file: the installer catches it
    manifest_bytes = fmt.canonical_json(manifest)
    size = fmt.header_size(data)
    forged = fmt.MAGIC + len(manifest_bytes).to_bytes(4, "big") + manifest_bytes + key.sign(manifest_bytes) + data[size:]
    c = client(device)
    upload(c, forged)
    reply = c.request("install")
    assert not reply["ok"] and "does not match its signed hash" in reply["error"]
    assert bootstage.read_manifest(device.flash, "b") is None
    assert device.reboot().slot == "a"


def test_inspect_and_keygen_command_line(tmp_path, capsys):
    stem = str(tmp_path / "vendor")
    assert tool.main(["keygen", "-o", stem]) == 0
    assert tool.main(["keygen", "-o", stem]) == 1        # never overwrites a key
    assert "exists already" in capsys.readouterr().err
    data = tool.build(tool.load_private(stem + ".key"), "2.0.0", sample_files("2.0.0"))
    (tmp_path / "app.bundle").write_bytes(data)
    assert tool.main(["inspect", str(tmp_path / "app.bundle"), "--key", stem + ".pub"]) == 0
    out = capsys.readouterr().out
    assert "version:     2.0.0" in out and "signature GOOD" in out and "firmware/app.mpy" in out
    tool.main(["keygen", "-o", str(tmp_path / "other")])
    assert tool.main(["inspect", str(tmp_path / "app.bundle"), "--key", str(tmp_path / "other.pub")]) == 1
    assert "signed by an unknown key" in capsys.readouterr().err


def test_why_every_journal_change_is_a_new_format():
    """Rule 1 of the compatibility rule (firmware/update/formats.py): the
    journal reader quarantines what it does not know, so a record a newer
    build wrote with one more field, or a new kind, would be lost to an
    older build after a rollback unless the formats say it cannot happen."""
    from firmware.records import RecordSchemas
    schemas = RecordSchemas()
    assert schemas.problem({"k": "batch", "batch": 7}) is None
    assert "unexpected field" in schemas.problem({"k": "batch", "batch": 7, "added_in_v2": 1})
    assert "unknown kind" in schemas.problem({"k": "added_in_v2"})


def test_bytes_lost_on_the_line_are_sent_again_from_what_the_handset_holds(device, key, monkeypatch):
    """A line without flow control may drop a chunk: the handset refuses the
    next one (wrong offset), pos-flash asks how far it got and goes on."""
    import hosttools.flash
    monkeypatch.setattr(hosttools.flash.time, "sleep", lambda s: None)
    data = make_bundle(key, "1.1.0", sample_files("1.1.0", size=100000))

    class LossyPort(LoopbackPort):
        def __init__(self, *args):
            LoopbackPort.__init__(self, *args)
            self.chunks = 0

        def write(self, data):
            if data[1:2] == b"C":
                self.chunks += 1
                if self.chunks == 3:
                    return len(data)          # lost on the line
            return LoopbackPort.write(self, data)

    c = Device(LossyPort(device), reply_timeout_s=1)
    upload(c, data, chunk=4096)
    assert c.port.chunks > (len(data) - fmt.header_size(data)) // 4096 + 1   # the lost one went again
    assert c.request("install")["ok"]


def test_a_handset_that_stopped_reading_ends_in_a_message_not_a_blocked_write(monkeypatch):
    """Nothing reads the other end of the line (a hung handset, a UART
    closed in a reboot): once the line's buffer is full a write would block
    for ever. pos-flash says the port failed instead."""
    import os
    from hosttools import flash
    monkeypatch.setattr(flash, "WRITE_TIMEOUT_S", 0.5)
    master, slave = os.openpty()
    device = Device.open(os.ttyname(slave))
    try:
        with pytest.raises(FlashError, match="the port failed"):
            for offset in range(0, 256 * flash.CHUNK, flash.CHUNK):   # far more than a pty holds
                device.send_chunk(offset, bytes(flash.CHUNK))
    finally:
        device.close()
        os.close(master)
        os.close(slave)
