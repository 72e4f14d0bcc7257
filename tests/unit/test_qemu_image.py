"""The virtual handset's image builder (emulator/qemu/image.py): the pieces
that need no download."""

import os
import struct

import pytest

from emulator.qemu import image


def read_newc(data):
    """[(name, mode, bytes)] of a newc cpio archive."""
    entries = []
    at = 0
    while True:
        assert data[at:at + 6] == b"070701"
        fields = [int(data[at + 6 + 8 * i:at + 14 + 8 * i], 16) for i in range(13)]
        mode, size, name_size = fields[1], fields[6], fields[11]
        name_at = at + 110
        name = data[name_at:name_at + name_size - 1].decode()
        body_at = (name_at + name_size + 3) & ~3
        entries.append((name, mode, data[body_at:body_at + size]))
        at = (body_at + size + 3) & ~3
        if name == "TRAILER!!!":
            return entries


def test_the_initramfs_archive_is_newc_the_kernel_can_unpack(tmp_path):
    tree = tmp_path / "tree"
    (tree / "lib").mkdir(parents=True)
    (tree / "lib" / "libc.so.6").write_bytes(b"\x7fELF...")
    os.symlink("libc.so.6", tree / "lib" / "libc.so")
    archive = image.Cpio()
    archive.directory("bin")
    archive.file("init", b"#!/bin/sh\n", 0o755)
    archive.symlink("bin/sh", "busybox")
    archive.add_tree(str(tree), "usr")
    entries = {name: (mode, body) for name, mode, body in read_newc(archive.finish())}
    assert entries["init"] == (0o100755, b"#!/bin/sh\n")
    assert entries["bin/sh"] == (0o120777, b"busybox")
    assert entries["usr/lib/libc.so.6"][1] == b"\x7fELF..."
    assert entries["usr/lib/libc.so"] == (0o120777, b"libc.so.6")
    assert entries["bin"][0] == 0o40755


def fake_module(path, depends):
    """A minimal ELF64 file with a .modinfo section, as modinfo() reads it."""
    modinfo = b"license=GPL\0depends=%s\0name=x\0" % depends.encode()
    names = b"\0.modinfo\0.shstrtab\0"
    body = modinfo + names
    shoff = 64 + len(body)
    header = bytearray(64)
    header[:5] = b"\x7fELF\x02"
    struct.pack_into("<Q", header, 0x28, shoff)
    struct.pack_into("<HHH", header, 0x3A, 64, 3, 2)
    sections = bytes(64)
    sections += struct.pack("<IIQQQQ", 1, 1, 0, 0, 64, len(modinfo)) + bytes(24)
    sections += struct.pack("<IIQQQQ", 10, 3, 0, 0, 64 + len(modinfo), len(names)) + bytes(24)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(bytes(header) + body + sections)


def test_modules_load_after_what_they_depend_on(tmp_path):
    fake_module(tmp_path / "kernel" / "gpu.ko", "drm,dma")
    fake_module(tmp_path / "kernel" / "drm.ko", "dma")
    fake_module(tmp_path / "kernel" / "dma.ko", "")
    fake_module(tmp_path / "kernel" / "virtio_pci.ko", "")
    (tmp_path / "modules.builtin").write_text("kernel/virtio_pci.ko\n")
    order = image.module_load_order(str(tmp_path), ("gpu", "virtio_pci"))
    assert order == ["kernel/dma.ko", "kernel/drm.ko", "kernel/gpu.ko"]   # virtio_pci is built in
    with pytest.raises(image.ImageError, match="not in the kernel package"):
        image.module_load_order(str(tmp_path), ("nosuch",))


def test_missing_host_tools_are_named_not_skipped(monkeypatch):
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(image.shutil, "which", lambda tool, path=None: None)
    monkeypatch.setattr(image.os, "geteuid", lambda: 1000)
    with pytest.raises(image.ImageError) as error:
        image.ensure_host_packages(log=lambda message: None)
    assert "qemu-system-arm" in str(error.value) and "apt-get install" in str(error.value)
