"""The boot stage: picks a firmware slot, counts trial boots, rolls back.

On the handset this file is installed OUTSIDE the slots, beside the
trusted keys (docs/FLASHING.md):

    /opt/pos/boot.py              this file (never replaced by a bundle)
    /opt/pos/trusted_keys.json    the vendor's public keys
    /opt/pos/boot.json            the boot state record
    /opt/pos/slot-a/, slot-b/     the firmware (.mpy files, assets, manifest.json + manifest.sig)
    /opt/pos/upload/              a bundle being uploaded

and runs as `micropython /opt/pos/boot.py /etc/pos.json`. It imports
nothing from the slots until it has chosen one, so it cannot share hal/
(which lives in the slots): its few file helpers are its own.

The boot state record says which slot is good, which one is on trial and
how many trial boots are left. A trial boot is paid for BEFORE the app
starts (tries left - 1, written durably), so a build that hangs or kills
the handset still runs out of tries; after the last one the good slot
boots again and the app says "update failed, previous version restored".
The app marks its slot good only after its health check (firmware/update/
health.py). The picture is in docs/FLASHING.md.

The emulator and the tests use the same code in-process (Flash, BootState).
"""

import json
import os
import sys

RECORD = "boot.json"
SLOTS = ("a", "b")
RECORD_FORMAT = 1
DEFAULT_TRIES = 3
DEFAULT_HEALTH_TIMEOUT_MS = 180000
MANIFEST = "manifest.json"
SIGNATURE = "manifest.sig"


class PowerCut(BaseException):
    """Raised by a Flash that simulates a power cut (tests only). A
    BaseException: no handler of the firmware may catch it, as none runs
    when the power goes."""


def slot_dir(slot):
    return "slot-" + slot


def other_slot(slot):
    return SLOTS[1] if slot == SLOTS[0] else SLOTS[0]


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _is_dir(path):
    try:
        return os.stat(path)[0] & 0o170000 == 0o040000
    except OSError:
        return False


# hal.compat.fsync_file / fsync_dir live in the slots; the boot stage cannot
# import them, so it has the same two steps in short: os.fsync (CPython),
# else libc's fsync through `ffi` (Debian's MicroPython), else nothing
# (PyPI's unix port: the page cache survives a killed process only).

def _libc(name, result, args):
    try:
        import ffi
    except ImportError:
        return None
    for libname in ("libc.so.6", "libc.so"):
        try:
            return ffi.open(libname).func(result, name, args)
        except OSError:
            continue
    return None


def _fsync(f):
    f.flush()
    fsync = getattr(os, "fsync", None)
    if fsync is not None:
        fsync(f.fileno())
        return
    libc_fsync = _libc("fsync", "i", "i")
    if libc_fsync is not None and libc_fsync(f.fileno()) < 0:
        raise OSError("fsync failed")


def _fsync_dir(path):
    if hasattr(os, "open") and hasattr(os, "fsync"):
        try:
            fd = os.open(path, os.O_RDONLY)
        except OSError:
            return
        try:
            os.fsync(fd)
        except OSError:
            pass
        finally:
            os.close(fd)
        return
    libc_open = _libc("open", "i", "si")
    if libc_open is None:
        return
    fd = libc_open(path, 0)  # O_RDONLY
    if fd >= 0:
        _libc("fsync", "i", "i")(fd)
        _libc("close", "i", "i")(fd)


class Flash:
    """The image's files under `root`, written durably. Every change goes
    through _mutate(): the power-cut matrix (tests/update) counts them
    there and cuts the power at any one of them.

    `capacity` (bytes) makes a small disk for tests; else free space comes
    from statvfs."""

    def __init__(self, root, capacity=None):
        self.root = root
        self.capacity = capacity

    def path(self, name):
        if name.startswith("/") or ".." in name.split("/"):
            raise ValueError("bad file name %r" % name)
        return self.root + "/" + name if name else self.root

    def exists(self, name):
        return _exists(self.path(name))

    def read(self, name):
        """The file's bytes, or None if it does not exist."""
        path = self.path(name)
        if not _exists(path):
            return None
        with open(path, "rb") as f:
            return f.read()

    def size(self, name):
        try:
            return os.stat(self.path(name))[6]
        except OSError:
            return None

    def open_read(self, name):
        return open(self.path(name), "rb")

    def listdir(self, name=""):
        path = self.path(name)
        if not _is_dir(path):
            return []
        return sorted(os.listdir(path))

    def walk_files(self, name):
        """Every file under folder `name`, as names relative to it."""
        found = []
        for entry in self.listdir(name):
            sub = name + "/" + entry if name else entry
            if _is_dir(self.path(sub)):
                for inner in self.walk_files(sub):
                    found.append(entry + "/" + inner)
            else:
                found.append(entry)
        return found

    def used_bytes(self, name=""):
        total = 0
        for entry in self.walk_files(name):
            total += self.size((name + "/" if name else "") + entry) or 0
        return total

    def free_bytes(self):
        if self.capacity is not None:
            return self.capacity - self.used_bytes()
        try:
            st = os.statvfs(self.root)
        except (AttributeError, OSError):
            return None
        return st[0] * st[4]

    # -- changes: each one is a "write" of the power-cut matrix --------------

    def write_atomic(self, name, data):
        """Replace a small file: the old or the new survives a power cut."""
        self._mutate("replace", name, data)

    def write_file(self, name, data):
        """Create (or overwrite) a file, flushed to disk."""
        self._mutate("write", name, data)

    def append(self, name, data):
        self._mutate("append", name, data)

    def write_from(self, name, read, size):
        """Create a file of `size` bytes from read(n) in blocks, flushed to
        disk, without holding it in RAM (a 250 KB font on a small heap).
        -> the SHA-256 of what was written, to compare with the manifest."""
        return self._mutate("stream", name, (read, size))

    def remove(self, name):
        if self.exists(name):
            self._mutate("remove", name, None)

    def remove_tree(self, name):
        """A folder and everything in it, deepest first."""
        for entry in reversed(self.walk_files(name)):
            self.remove(name + "/" + entry)
        for entry in self._dirs_deepest_first(name):
            self._mutate("rmdir", entry, None)
        if _is_dir(self.path(name)):
            self._mutate("rmdir", name, None)

    def _dirs_deepest_first(self, name):
        found = []
        for entry in self.listdir(name):
            sub = name + "/" + entry
            if _is_dir(self.path(sub)):
                found.extend(self._dirs_deepest_first(sub))
                found.append(sub)
        return found

    def makedirs(self, name):
        current = ""
        for part in name.split("/"):
            current = current + "/" + part if current else part
            if not _is_dir(self.path(current)):
                self._mutate("mkdir", current, None)

    def _mutate(self, op, name, data):
        return self._apply(op, name, data)

    def _apply(self, op, name, data):
        path = self.path(name)
        if op == "stream":
            return self._stream(path, data[0], data[1])
        if op == "replace":
            self._room(len(data) - (self.size(name) or 0))
            tmp = path + ".tmp"
            with open(tmp, "wb") as f:
                f.write(data)
                _fsync(f)
            os.rename(tmp, path)
            _fsync_dir(path.rsplit("/", 1)[0])
        elif op == "write" or op == "append":
            self._room(len(data))
            with open(path, "wb" if op == "write" else "ab") as f:
                f.write(data)
                _fsync(f)
            if op == "write":
                _fsync_dir(path.rsplit("/", 1)[0])
        elif op == "remove":
            os.remove(path)
        elif op == "rmdir":
            os.rmdir(path)
        elif op == "mkdir":
            if not _is_dir(self.root):
                os.mkdir(self.root)
            os.mkdir(path)
        else:
            raise ValueError(op)

    def _stream(self, path, read, size, stop_after=None):
        import hashlib
        import binascii
        self._room(size)
        digest = hashlib.sha256()
        left = size if stop_after is None else stop_after
        with open(path, "wb") as f:
            while left > 0:
                block = read(min(left, 8192))
                if not block:
                    break
                digest.update(block)
                f.write(block)
                left -= len(block)
            _fsync(f)
        if stop_after is None:
            _fsync_dir(path.rsplit("/", 1)[0])
        return binascii.hexlify(digest.digest()).decode()

    def _room(self, extra):
        if self.capacity is not None and extra > 0 and extra > self.free_bytes():
            raise OSError(28, "no space left on device")


class BootState:
    """The boot state record: {"format", "good", "trial", "tries",
    "restored", "notice"}. `restored` is the version that failed its
    trial (pos-flash reads it, until the next update); `notice` is true
    until the app has told the merchant."""

    def __init__(self, flash):
        self.flash = flash
        self.good = SLOTS[0]
        self.trial = None
        self.tries = 0
        self.restored = None
        self.notice = False

    def load(self):
        data = self.flash.read(RECORD)
        if data:
            try:
                record = json.loads(data)
            except ValueError:
                record = {}  # replaced atomically, so never torn; a damaged one means factory state
            if record.get("format") == RECORD_FORMAT:
                self.good = record.get("good") if record.get("good") in SLOTS else SLOTS[0]
                self.trial = record.get("trial") if record.get("trial") in SLOTS else None
                self.tries = record.get("tries") or 0
                self.restored = record.get("restored")
                self.notice = record.get("notice") is True
        return self

    def save(self):
        record = {"format": RECORD_FORMAT, "good": self.good, "trial": self.trial, "tries": self.tries,
                  "restored": self.restored, "notice": self.notice}
        self.flash.write_atomic(RECORD, json.dumps(record).encode())

    def as_dict(self):
        return {"good": self.good, "trial": self.trial, "tries": self.tries, "restored": self.restored,
                "notice": self.notice}


def read_manifest(flash, slot):
    """The slot's manifest as a dict, or None when the slot holds no
    complete firmware (manifest.json is written last by the installer)."""
    data = flash.read(slot_dir(slot) + "/" + MANIFEST)
    if not data:
        return None
    try:
        manifest = json.loads(data)
    except ValueError:
        return None
    return manifest if isinstance(manifest, dict) else None


def check_slot(flash, slot):
    """None if every file of the slot matches its manifest (size and
    SHA-256), else what is wrong."""
    import hashlib
    import binascii
    manifest = read_manifest(flash, slot)
    if manifest is None:
        return "slot %s holds no complete firmware" % slot
    for entry in manifest.get("files", ()):
        name = slot_dir(slot) + "/" + entry["name"]
        if flash.size(name) != entry["size"]:
            return "%s: missing or wrong size" % entry["name"]
        digest = hashlib.sha256()
        with flash.open_read(name) as f:
            while True:
                block = f.read(4096)
                if not block:
                    break
                digest.update(block)
        if binascii.hexlify(digest.digest()).decode() != entry["sha256"]:
            return "%s: damaged (SHA-256 differs)" % entry["name"]
    return None


class Boot:
    """What the boot stage chose, handed to the app (firmware.main.run):
    the slot, its manifest, whether it runs on trial, and the calls the
    app and the updater make into the boot state record."""

    def __init__(self, flash, slot, on_trial, manifest, restored=None, log=None):
        self.flash = flash
        self.slot = slot
        self.on_trial = on_trial
        self.manifest = manifest or {}
        self.restored = restored          # version that failed and was rolled back, still to tell the merchant
        self.reboot_requested = False
        self.marked_good = False
        self._log = log
        self._wake = None                 # set by the boot loop: called when a reboot is requested
        self.idle = None                  # set by the app: True when no transaction runs (a reboot waits for it)

    @property
    def version(self):
        return self.manifest.get("version")

    def state(self):
        return BootState(self.flash).load()

    def mark_good(self):
        """The app passed its health check: this slot becomes the good one."""
        state = self.state()
        if state.trial == self.slot:
            state.good = self.slot
            state.trial = None
            state.tries = 0
            state.save()
        self.on_trial = False
        self.marked_good = True

    def start_trial(self, slot, tries=DEFAULT_TRIES):
        """After an install: the next boot runs `slot` on trial."""
        state = self.state()
        state.trial = slot
        state.tries = tries
        state.restored = None
        state.notice = False
        state.save()

    def rollback(self):
        """Bench: abandon a trial, or go back to the other slot's firmware.
        -> the slot that will boot next, or None if there is nothing to go back to."""
        state = self.state()
        if state.trial is not None:
            state.trial = None
            state.tries = 0
            state.save()
            return state.good
        back = other_slot(state.good)
        if check_slot(self.flash, back) is not None:
            return None
        state.good = back
        state.save()
        return back

    def acknowledge_restored(self):
        """The merchant has seen "update failed, previous version restored"."""
        state = self.state()
        if state.notice:
            state.notice = False
            state.save()
        self.restored = None

    def request_reboot(self):
        self.reboot_requested = True
        if self._wake is not None:
            self._wake()


def choose(flash, log=None):
    """Pick the slot to boot and pay for a trial boot before it starts.
    -> Boot, or None when no slot holds a complete, intact firmware."""
    state = BootState(flash).load()
    if state.trial is not None:
        problem = check_slot(flash, state.trial)
        if state.tries > 0 and problem is None:
            state.tries -= 1
            state.save()  # durable BEFORE the app runs: a build that hangs still runs out
            return Boot(flash, state.trial, True, read_manifest(flash, state.trial), None, log)
        failed = read_manifest(flash, state.trial)
        _say(log, "boot: trial of slot %s over (%s); back to slot %s"
             % (state.trial, problem or "no tries left", state.good))
        state.restored = (failed or {}).get("version") or "?"
        state.notice = True
        state.trial = None
        state.tries = 0
        state.save()
    problem = check_slot(flash, state.good)
    if problem is not None:
        other = other_slot(state.good)
        if check_slot(flash, other) is not None:
            _say(log, "boot: no intact firmware in either slot (%s)" % problem)
            return None
        _say(log, "boot: good slot %s is damaged (%s); booting slot %s" % (state.good, problem, other))
        state.good = other
        state.save()
    return Boot(flash, state.good, False, read_manifest(flash, state.good),
                state.restored if state.notice else None, log)


def _say(log, message):
    if log is not None:
        log(message)
    else:
        print(message)


# -- the boot loop on the handset ----------------------------------------------

FIRMWARE_PACKAGES = ("firmware", "hal")


def _forget_firmware_modules():
    """A reboot inside the process: the next slot's modules must be
    imported afresh, not reused from the slot that ran before."""
    for name in list(sys.modules):
        if name.split(".")[0] in FIRMWARE_PACKAGES:
            del sys.modules[name]


async def _run_app(main_module, config, boot, health_timeout_ms):
    """Run the app until it asks for a reboot, ends, or (on trial) has not
    passed its health check in time, the watchdog's job on a handset."""
    import asyncio
    woken = asyncio.Event()
    boot._wake = woken.set
    app_task = asyncio.create_task(main_module.run(config, log_stream=sys.stdout, boot=boot))
    waited = 0
    while not boot.reboot_requested and not app_task.done():
        try:
            await _wait_ms(asyncio, woken.wait(), 1000)
        except asyncio.TimeoutError:
            pass
        waited += 1000
        if boot.on_trial and waited >= health_timeout_ms:
            _say(None, "boot: no health check passed within %d ms: reboot" % health_timeout_ms)
            break
    # Never in the middle of a transaction: a reboot waits for the idle
    # screen (checked and acted on with no await between, so no sale can
    # start in the gap), a minute at most.
    for _ in range(600):
        if app_task.done() or boot.idle is None or boot.idle():
            break
        await asyncio.sleep(0.1)
    if not app_task.done():
        app_task.cancel()
        try:
            await app_task
        except BaseException as e:  # noqa: BLE001 - the old app ends however it ends
            if not isinstance(e, asyncio.CancelledError):
                _say(None, "boot: the app ended: %r" % (e,))


async def _wait_ms(asyncio, awaitable, ms):
    if hasattr(asyncio, "wait_for_ms"):   # MicroPython
        return await asyncio.wait_for_ms(awaitable, ms)
    return await asyncio.wait_for(awaitable, ms / 1000)


def main(argv=None):
    """`micropython boot.py CONFIG.json`: boot the chosen slot, again and
    again (a reboot of the app is a new turn of this loop, a power cut
    starts it from the top)."""
    import asyncio
    argv = sys.argv[1:] if argv is None else argv
    try:
        with open(argv[0]) as f:
            config = json.load(f)
        update = config.get("update") or {}
    except (IndexError, OSError, ValueError, AttributeError) as e:
        print("boot: cannot read the configuration (%s): give its path, a JSON object" % (e,))
        sys.exit(2)
    root = update.get("root") or argv[0].rsplit("/", 1)[0]
    flash = Flash(root)
    health_timeout_ms = update.get("health_timeout_ms", DEFAULT_HEALTH_TIMEOUT_MS)
    base_path = list(sys.path)
    while True:
        boot = choose(flash)
        if boot is None:
            print("boot: no firmware to start: flash one over the service port (docs/FLASHING.md)")
            sys.exit(3)
        print("boot: slot %s, version %s%s" % (boot.slot, boot.version, " (trial)" if boot.on_trial else ""))
        _forget_firmware_modules()
        sys.path[:] = [flash.path(slot_dir(boot.slot))] + base_path
        try:
            import firmware.main as main_module
            if hasattr(asyncio, "new_event_loop"):
                asyncio.new_event_loop()  # MicroPython: forget the last app's tasks
            asyncio.run(_run_app(main_module, config, boot, health_timeout_ms))
        except Exception as e:  # noqa: BLE001 - a broken build must not stop the boot loop
            print("boot: slot %s failed: %r" % (boot.slot, e))
            if not boot.on_trial:
                import time
                time.sleep(1)  # the good slot itself fails: do not spin
        main_module = None


if __name__ == "__main__":
    main()
